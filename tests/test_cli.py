"""The command line: ``jukinet code`` and ``jukinet lg``."""

from __future__ import annotations

import argparse
import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from jukinet import cli
from jukinet._display import ProgressDisplay
from jukinet.cli import main
from jukinet.progress import Progress


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


# --- code ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "shown"),
    [
        ("12345678903", "住民票コード", "1234-5678-903"),
        ("０００００００００５１", "住民票コード", "0000-0000-051"),
        ("621498320257", "個人番号", "6214 9832 0257"),
        ("1234-5678-9018", "個人番号", "1234 5678 9018"),
        ("131016", "全国地方公共団体コード", "131016 東京都千代田区 (特別区)"),
        ("011070", "全国地方公共団体コード", "011070 北海道札幌市西区 (行政区)"),
        ("13101", "5 digits", "131016 東京都千代田区 (特別区)"),
    ],
)
def test_code_valid(capsys: pytest.CaptureFixture[str], text: str, kind: str, shown: str) -> None:
    status, out, err = run(capsys, "code", text)
    assert status == 0
    first, second = out.splitlines()
    assert kind in first
    assert first.endswith(f": {shown}")
    assert second == "valid"
    assert err == ""


@pytest.mark.parametrize(
    ("text", "kind", "reason"),
    [
        ("12345678904", "住民票コード", "expected check digit 3"),
        ("621498320258", "個人番号", "expected check digit 7"),
        ("131017", "全国地方公共団体コード", "expected check digit 6"),
        ("999997", "全国地方公共団体コード", "no local government has the code 999997"),
        ("48000", "5 digits", "no local government has the code 480002"),
    ],
)
def test_code_invalid_says_why(
    capsys: pytest.CaptureFixture[str], text: str, kind: str, reason: str
) -> None:
    status, out, _ = run(capsys, "code", text)
    assert status == 1
    first, second = out.splitlines()
    assert kind in first
    assert second.startswith("invalid: ")
    assert reason in second


@pytest.mark.parametrize("text", ["1234567", "", "1234567890123"])
def test_code_of_unknown_length_says_which_lengths_exist(
    capsys: pytest.CaptureFixture[str], text: str
) -> None:
    status, out, _ = run(capsys, "code", text)
    assert status == 1
    assert f"invalid: {len(text)} digit" in out
    for expected in ("11 digits", "12", "6", "5"):
        assert expected in out


def test_code_with_letters(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "code", "12345abc")
    assert status == 1
    assert "characters other than digits" in out


# --- lg -----------------------------------------------------------------------


def test_lg_by_code_shows_everything(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "lg", "011011")
    assert status == 0
    assert err == ""
    lines = dict(line.split(":", 1) for line in out.splitlines())
    assert {k: v.strip() for k, v in lines.items()} == {
        "code": "011011",
        "name": "札幌市中央区",
        "kana": "サッポロシチュウオウク",
        "kind": "行政区 (designated_city_ward)",
        "prefecture": "北海道 (010006)",
        "parent city": "札幌市 (011002)",
    }


def test_lg_by_five_digits_and_by_name_agree(capsys: pytest.CaptureFixture[str]) -> None:
    outputs = []
    for text in ("131016", "13101", "千代田区", "東京都千代田区"):
        status, out, _ = run(capsys, "lg", text)
        assert status == 0
        outputs.append(out)
    assert len(set(outputs)) == 1
    assert "name:        千代田区" in outputs[0]
    assert "parent city: -" in outputs[0]


def test_lg_designated_city_lists_its_wards(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "lg", "浜松市")
    assert status == 0
    assert "wards:       浜松市中央区 浜松市浜名区 浜松市天竜区" in out


def test_lg_several_matches_are_listed(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "lg", "府中市")
    assert status == 0
    assert out.splitlines() == [
        "2 local governments are called '府中市':",
        "132063  東京都府中市  市",
        "342084  広島県府中市  市",
    ]
    status, out, _ = run(capsys, "lg", "府中市", "--prefecture", "広島県")
    assert status == 0
    assert out.splitlines()[0] == "code:        342084"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["lg", "999997"], "no local government has the code 999997"),
        (["lg", "131017"], "expected check digit 6"),
        (["lg", "1234"], "expected a code of 5 or 6 digits, or a name"),
        (["lg", "東京"], "no local government is called '東京'"),
        (["lg", "府中市", "--prefecture", "48"], "no prefecture has this code or name"),
    ],
)
def test_lg_not_found(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    status, out, err = run(capsys, *argv)
    assert status == 1
    assert out == ""
    assert message in err


# --- usage --------------------------------------------------------------------


@pytest.mark.parametrize("argv", [[], ["code"], ["nonsense"], ["lg"], ["code", "1", "2"]])
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    status, _, err = run(capsys, *argv)
    assert status == 2
    assert "usage: jukinet" in err


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "--help")
    assert status == 0
    assert "code" in out
    assert "lg" in out


def test_python_dash_m_jukinet() -> None:
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "jukinet", "code", "12345678903"],
        capture_output=True,
        check=False,
        env=env,
    )
    assert result.returncode == 0
    assert result.stdout.decode("utf-8").splitlines() == [
        "resident code (住民票コード): 1234-5678-903",
        "valid",
    ]


def test_demo_with_a_bad_dir_ends_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a_file = tmp_path / "not-a-folder"
    a_file.write_text("x")
    assert main(["demo", "--dir", str(a_file)]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1
    assert "cannot use --dir" in captured.err
    assert "Traceback" not in captured.err


def test_demo_into_a_closed_pipe_ends_quietly() -> None:
    import subprocess
    import sys

    process = subprocess.Popen(
        [sys.executable, "-m", "jukinet", "demo", "--residents", "5", "--days", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    process.stdout.readline()
    process.stdout.close()  # the reader goes away, as `| head -1` does
    _, err = process.communicate(timeout=300)
    assert b"Traceback" not in err
    assert process.returncode == 1


def test_lg_suggests_what_was_probably_meant(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lg", "中央区", "--prefecture", "大阪府"]) != 0
    assert "did you mean 大阪市中央区 (271284)?" in capsys.readouterr().err
    assert main(["lg", "ほげ"]) != 0
    assert "did you mean" not in capsys.readouterr().err


# --- plain help -------------------------------------------------------------------

_MARKUP = re.compile(r"``|:(mod|class|func|meth|attr|data|exc|ref|doc):`")


def _parsers() -> Iterator[tuple[str, argparse.ArgumentParser]]:
    parser = cli._build_parser()
    yield "jukinet", parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield f"jukinet {name}", sub


def test_every_help_is_plain_words(capsys: pytest.CaptureFixture[str]) -> None:
    names = []
    for name, parser in _parsers():
        names.append(name)
        text = parser.format_help()
        assert not _MARKUP.search(text), f"{name} --help shows reStructuredText: {text}"
        argv = [*name.split()[1:], "--help"]
        status, out, _ = run(capsys, *argv)
        assert status == 0
        assert out == text
    assert names == ["jukinet", "jukinet code", "jukinet lg", "jukinet demo"]


# --- progress display -----------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_off_a_terminal_is_one_plain_line_per_task() -> None:
    log = io.StringIO()
    show = ProgressDisplay(log)
    assert not show.live
    for done in (0, 40, 80, 100):
        show(Progress("initial load", done, 100))
    show(Progress("reconciliation", 5, None, "codes"))
    show(Progress("reconciliation", 9, 9, "codes"))
    show.close()
    assert log.getvalue().splitlines() == [
        "initial load: 100 of 100 records (100%)",
        "reconciliation: 9 of 9 codes (100%)",
    ]


def test_progress_on_a_terminal_is_one_line_updated_in_place() -> None:
    screen = _Terminal()
    show = ProgressDisplay(screen)
    assert show.live
    show.labelled("東京都千代田区")(Progress("initial load", 50, 100))
    show(Progress("restore", 7, None, "versions"))
    assert "\n" not in screen.getvalue()
    show(Progress("restore", 10, 10, "versions"))
    text = screen.getvalue()
    assert text.count("\r") == 3
    assert text.endswith("\n")
    assert (
        "[############............] 東京都千代田区: initial load: 50 of 100 records (50%)" in text
    )
    assert "restore: 7 versions" in text
    # A line left half way is ended by close().
    show(Progress("designation", 1, 2, "codes"))
    show.close()
    assert screen.getvalue().endswith("(50%)\n")


def test_demo_shows_progress_on_stderr_unless_told_not_to(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["demo", "--residents", "20", "--days", "10", "--quiet-network"]
    status, out, err = run(capsys, *argv, "--dir", str(tmp_path / "a"))
    assert status == 0
    lines = err.splitlines()
    assert "東京都千代田区: initial load: 20 of 20 records (100%)" in lines
    assert "events: 10 of 10 days (100%)" in lines
    assert "reconciliation: 8 of 8 comparisons (100%)" in lines
    assert len(lines) == 6  # one line per long step off a terminal
    assert "\r" not in err
    assert "initial load" not in out

    status, quiet_out, quiet_err = run(capsys, *argv, "--dir", str(tmp_path / "b"), "--no-progress")
    assert status == 0
    assert quiet_err == ""
    # stdout tells the same story (all but the timing of the last line)
    assert quiet_out.splitlines()[3:-1] == out.splitlines()[3:-1]
