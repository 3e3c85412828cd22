"""``python -m jukinet demo``: the story runs end to end on SQLite and tells the truth."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import pytest

from jukinet import demo


def _args(tmp_path: Path, **overrides: object) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    demo.add_arguments(parser)
    args = parser.parse_args(["--dir", str(tmp_path), "--residents", "60", "--days", "120"])
    for name, value in overrides.items():
        setattr(args, name, value)
    return args


def test_the_demo_reconciles_provides_refuses_and_discloses(tmp_path: Path) -> None:
    out = io.StringIO()
    assert demo.run(_args(tmp_path), out) == 0
    text = out.getvalue()
    assert "Every tier agrees with the registers." in text
    assert "every message applied exactly once and acknowledged" in text
    assert "the resident code is withheld (30条の9)" in text
    assert "refused, UseNotPermitted" in text
    assert "hash chain intact" in text
    assert "6. The resident card" in text
    assert "the centre answers in_effect" in text
    assert "three wrong PINs: WrongPin, WrongPin, CardLocked" in text
    assert "in effect again = True" in text
    assert "issued → pin_reset → suspended" in text
    assert "7. Counter services between municipalities" in text
    assert "本籍 shown: False; resident code shown: False" in text
    assert "転入通知 awaited 1 → 0" in text
    assert "8. The JPKI revocation feed" in text
    assert "resident-code change(s) on the feed for デジタル庁" in text
    assert sorted(p.name for p in tmp_path.iterdir())[0].endswith(".sqlite3")


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    out = io.StringIO()
    assert demo.run(_args(tmp_path, days=0), out) == 2
    assert "must be positive" in out.getvalue()


@pytest.mark.parametrize(("residents", "days"), [(1, 1), (3, 2), (5, 3), (2, 7)])
def test_a_short_demo_restarts_the_crashed_server_and_agrees(
    tmp_path: Path, residents: int, days: int
) -> None:
    """A run shorter than the crash-and-restart window still restarts the 大阪府
    server before the end, so the counter services and reconciliation complete."""
    out = io.StringIO()
    args = _args(tmp_path, residents=residents, days=days, quiet_network=False)
    assert demo.run(args, out) == 0
    text = out.getvalue()
    assert "Every tier agrees with the registers." in text
    assert text.count("the 大阪府 server crashes") == text.count("the 大阪府 server restarts")
