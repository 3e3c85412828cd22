"""Node keys in files (a vendor keeps them encrypted with a passphrase), the CLI's
version, and a missing optional dependency naming its extra."""

from __future__ import annotations

import os
import random
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import jukinet
from jukinet import cli
from jukinet.errors import KeyFileInvalid, MissingDependency
from jukinet.tiers.messages import NodeId, NodeKey, TrustStore

NODE = NodeId.municipality("131016")


def test_a_key_file_round_trip(tmp_path: Path) -> None:
    key = NodeKey.generate(NODE, random.Random(3))
    path = tmp_path / "m-131016.pem"
    key.save(path, b"passphrase of the vendor")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    loaded = NodeKey.load(NODE, path, b"passphrase of the vendor")
    assert loaded.public_bytes == key.public_bytes
    trust = TrustStore({NODE: key.public_bytes})
    from datetime import UTC, datetime

    envelope = loaded.seal(
        NodeId.prefecture("13"),
        first_seq=1,
        payload_type="messages",
        payloads=[b"x"],
        sent_at=datetime(2026, 4, 1, tzinfo=UTC),
    )
    trust.verify(envelope)  # the loaded key signs as the saved one
    raw = path.read_bytes()
    assert b"passphrase" not in raw
    assert key.public_bytes not in raw


@pytest.mark.parametrize("passphrase", [b"wrong", b"passphrase of the vendo"])
def test_a_wrong_passphrase_is_refused(tmp_path: Path, passphrase: bytes) -> None:
    path = tmp_path / "key.pem"
    NodeKey.generate(NODE, random.Random(3)).save(path, b"passphrase of the vendor")
    with pytest.raises(KeyFileInvalid) as caught:
        NodeKey.load(NODE, path, passphrase)
    assert passphrase.decode() not in str(caught.value)


def test_not_a_key_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyFileInvalid):
        NodeKey.from_pem(NODE, b"-----BEGIN NOTHING-----\n", b"x")
    with pytest.raises(KeyFileInvalid, match="passphrase"):
        NodeKey.generate(NODE, random.Random(3)).to_pem(b"")


def test_the_cli_says_its_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"jukinet {jukinet.__version__}"


def test_a_missing_postgres_driver_names_the_extra() -> None:
    # a fresh interpreter where psycopg cannot be imported
    code = (
        "import sys; sys.modules['psycopg'] = None\n"
        "try:\n"
        "    import jukinet.storage.postgres\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, '|', exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.startswith("MissingDependency |")
    assert "pip install 'jukinet[postgres]'" in out
    assert issubclass(MissingDependency, ImportError)
