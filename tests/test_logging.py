"""Logging: every logger under ``jukinet.``, structured events, nothing printed (issue 14).

The library logs through the standard :mod:`logging` module only, each module with
``logging.getLogger(__name__)``, and structured events through
:func:`jukinet._log.event` (``record.event``, ``record.fields``). It never writes
to stdout or stderr itself: the ``jukinet`` logger has a ``NullHandler``, so a
program that configured no logging sees nothing, not even warnings.
"""

from __future__ import annotations

import ast
import json
import logging
import random
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import attrs
import pytest

import jukinet
from jukinet._log import event
from jukinet.domain.changes import ChangeReason
from jukinet.domain.identity import IdentityInfo, IdentityNotice
from jukinet.domain.names import PersonName
from jukinet.domain.resident import (
    HEAD_OF_HOUSEHOLD,
    FamilyRegister,
    HouseholdMembership,
    ResidentRecord,
    Sex,
)
from jukinet.errors import IntegrityViolation
from jukinet.storage.base import Store
from jukinet.storage.memory import MemoryStore
from jukinet.storage.sqlite import SQLiteStore
from jukinet.testing.country import Country, StoreFactory, build_country
from jukinet.tiers import reconcile, wire
from jukinet.tiers.messages import CENTER, NodeId, NodeKey

CHIYODA, CHUO = "131016", "131024"
TOKYO = NodeId.prefecture("13")
SRC = Path(jukinet.__file__).parent
PRINTING_ALLOWED = {"cli.py", "demo.py"}  # the command line's own output


def _memory(node: NodeId) -> Store:
    store = MemoryStore()
    store.create_schema()
    return store


@pytest.fixture(params=["memory", "sqlite"])
def factory(request: pytest.FixtureRequest) -> Iterator[StoreFactory]:
    """Stores on the in-memory and the SQLite adapter (cheap; the events are the
    tiers', not the adapters')."""
    if request.param == "memory":
        yield _memory
        return
    with tempfile.TemporaryDirectory(prefix="jukinet-log-") as folder:
        stores: list[SQLiteStore] = []

        def sqlite(node: NodeId) -> Store:
            store = SQLiteStore(Path(folder) / f"{str(node).replace(':', '_')}-{len(stores)}.db")
            store.create_schema()
            stores.append(store)
            return store

        yield sqlite
        for store in stores:
            store.close()


def _birth(country: Country, town: str, given: str) -> ResidentRecord:
    return country.municipality(town).register_birth(
        name=PersonName(
            family="山田", given=given, family_reading="ヤマダ", given_reading="タロウ"
        ),
        birth_date=date(2026, 3, 1),
        sex=Sex.MALE,
        household=HouseholdMembership(household_id=f"H{given}", relationship=HEAD_OF_HOUSEHOLD),
        address="千代田1丁目1番1号",
        family_register=FamilyRegister(domicile="東京都千代田区千代田1番", head="山田 一郎"),
    )


def scenario(factory: StoreFactory) -> Country:
    """A small country through births, a refused notice, a forged envelope, a gap and
    its resend, a reconciliation resend, the deadlines, and a restore."""
    country = build_country(factory, [CHIYODA, CHUO], seed=3)
    network = country.network
    network.settle()
    town = country.municipality(CHIYODA)
    victim = _birth(country, CHIYODA, "一郎")
    _birth(country, CHIYODA, "二郎")
    network.settle()

    # A notice about 千代田区's resident from 中央区, past its own CS: refused (custody).
    liar = country.municipality(CHUO)
    notice = IdentityNotice(
        info=attrs.evolve(
            IdentityInfo.from_record(victim),
            name=PersonName(family="偽", given="名", family_reading="ギ", given_reading="メイ"),
        ),
        reason=ChangeReason.CLERICAL_ERROR_CORRECTION,
        event_date=country.clock.today(),
    )
    with liar.store.unit_of_work() as uow:
        liar.store.outbox.append(uow, str(TOKYO), [wire.encode_notice(notice)])
    network.settle()

    # A forged envelope: 千代田区's name, another key.
    forger = NodeKey.generate(town.node_id, random.Random(99))
    forged = forger.seal(
        TOKYO,
        first_seq=1,
        payload_type=wire.MESSAGES,
        payloads=[b"x"],
        sent_at=country.clock.now(),
    )
    with pytest.raises(IntegrityViolation):
        country.prefecture("13").receive(forged)

    # An envelope that skips ahead: the prefecture answers "gap", 千代田区 resends.
    position = country.prefecture("13").store.tracking.position(str(town.node_id))
    ahead = country.keys[town.node_id].seal(
        TOKYO,
        first_seq=position + 2,
        payload_type=wire.MESSAGES,
        payloads=[b"later"],
        sent_at=country.clock.now(),
    )
    (answer,) = country.prefecture("13").receive(ahead)
    town.receive(answer)

    # Reconciliation finds nothing; a resend of one person anyway.
    assert not reconcile.compare(
        reconcile.snapshot_of_entries(CHIYODA, town.register_entries()),
        reconcile.snapshot_of_store(country.stores[TOKYO], CHIYODA),
    )
    town.cs.resend([victim.resident_code])
    network.settle()

    # The deadlines.
    country.clock.advance(days=40)
    country.center.run_deadlines()
    country.center.expire_history()
    country.desk(CHIYODA).sweep()
    town.special_move.erase_expired()
    country.center.provision.purge_log()

    # A disaster and a restore.
    packages = country.prefecture("13").restore_package(CHIYODA)
    packages += country.center.restore_package(CHIYODA)
    lost = town.node_id
    network.crash(lost)
    country.stores[lost] = factory(lost)
    country.restart(lost)
    country.municipality(CHIYODA).restore(packages)
    return country


def _events(caplog: pytest.LogCaptureFixture) -> dict[str, list[logging.LogRecord]]:
    found: dict[str, list[logging.LogRecord]] = {}
    for record in caplog.records:
        name = getattr(record, "event", None)
        if name is not None:
            found.setdefault(name, []).append(record)
    return found


def test_events_carry_their_name_and_fields(
    factory: StoreFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="jukinet")
    scenario(factory)
    events = _events(caplog)
    for name, records in events.items():
        for record in records:
            assert record.name.startswith("jukinet."), record.name
            fields = record.fields  # type: ignore[attr-defined]
            assert isinstance(fields, dict)
            assert record.getMessage().split(" ")[0] == name
            assert name == name.lower()
            assert "." in name

    (refused,) = events["envelope.refused"]
    assert refused.levelno == logging.WARNING
    assert refused.name == "jukinet.tiers.node"
    assert refused.fields["node"] == TOKYO  # type: ignore[attr-defined]
    assert str(refused.fields["sender"]) == f"m:{CHIYODA}"  # type: ignore[attr-defined]
    assert refused.fields["error"] == "BadSignature"  # type: ignore[attr-defined]

    notices = events["notice.refused"]
    assert {r.levelno for r in notices} == {logging.WARNING}
    # The prefecture refuses it, naming 中央区; 中央区 hears of it.
    assert [(str(r.fields["node"]), str(r.fields["sender"])) for r in notices] == [  # type: ignore[attr-defined]
        (str(TOKYO), f"m:{CHUO}"),
        (f"m:{CHUO}", str(TOKYO)),
    ]
    assert "may not notify" in notices[0].fields["why"]  # type: ignore[attr-defined]

    resent = {r.fields["cause"]: r for r in events["outbox.resent"]}  # type: ignore[attr-defined]
    assert resent["gap"].levelno == logging.INFO
    assert resent["gap"].fields["destination"] == str(TOKYO)  # type: ignore[attr-defined]
    assert resent["resend"].fields["count"] == 1  # type: ignore[attr-defined]

    tasks = {r.fields["task"]: r.fields["count"] for r in events["deadlines.run"]}  # type: ignore[attr-defined]
    assert set(tasks) == {
        "jpki.move_in",
        "identity.expire",
        "card.lapse",
        "special_move.erase",
        "provision.purge_log",
    }
    assert all(isinstance(count, int) for count in tasks.values())

    assert len(events["restore.package"]) == 2
    (started,) = events["restore.started"]
    (finished,) = events["restore.finished"]
    assert started.fields["envelopes"] >= 2  # type: ignore[attr-defined]
    assert finished.levelno == logging.INFO
    assert finished.fields["registered"] == 2  # type: ignore[attr-defined]
    assert finished.fields["codes"] == 2  # type: ignore[attr-defined]
    assert {r.fields["municipality"] for r in events["designation.sent"]} == {CHIYODA, CHUO}  # type: ignore[attr-defined]
    assert "reconcile.differences" not in events  # equal snapshots say nothing


def test_no_secret_in_any_event(caplog: pytest.LogCaptureFixture) -> None:
    """No key, PIN or name (full identity information) reaches a log message."""
    caplog.set_level(logging.DEBUG, logger="jukinet")
    country = scenario(_memory)
    text = "\n".join(record.getMessage() for record in caplog.records)
    for key in country.keys.values():
        assert key.public_bytes.hex() not in text
    assert "山田" not in text
    assert "偽" not in text


def test_reconciliation_differences_are_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="jukinet")
    below = reconcile.Snapshot(CHIYODA, {"12345678903": "aa"})
    above = reconcile.Snapshot(CHIYODA, {"12345678903": "bb", "00000000051": "cc"})
    reconcile.compare(below, above)
    (record,) = caplog.records
    assert (record.name, record.levelno, record.event) == (  # type: ignore[attr-defined]
        "jukinet.tiers.reconcile",
        logging.WARNING,
        "reconcile.differences",
    )
    assert record.fields == {  # type: ignore[attr-defined]
        "municipality": CHIYODA,
        "missing_above": 0,
        "extra_above": 1,
        "differing": 1,
    }


def test_the_network_logs_drops_and_duplicates(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="jukinet.testing.network")
    country = build_country(_memory, [CHIYODA, CHUO], seed=1, drop=0.3, duplicate=0.5)
    country.network.settle()
    names = [getattr(r, "event", None) for r in caplog.records]
    stats = country.network.stats
    assert names.count("network.dropped") == stats.dropped > 0
    assert names.count("network.duplicated") == stats.duplicated > 0


def test_event_message_and_quiet_when_disabled() -> None:
    logger = logging.getLogger("jukinet.test_event")
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    handler = Keep()
    logger.addHandler(handler)
    try:
        logger.setLevel(logging.WARNING)
        event(logger, logging.INFO, "outbox.resent", count=1)
        assert seen == []
        event(logger, logging.WARNING, "relay.refused", why='a "b" = c', node=CENTER, n=2)
        (record,) = seen
        assert record.getMessage() == 'relay.refused n=2 node=c:jlis why="a \\"b\\" = c"'
        assert record.fields == {"why": 'a "b" = c', "node": CENTER, "n": 2}  # type: ignore[attr-defined]
        assert record.funcName == "test_event_message_and_quiet_when_disabled"
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)


def test_the_package_logger_has_a_null_handler() -> None:
    handlers = logging.getLogger("jukinet").handlers
    assert [type(h) for h in handlers if isinstance(h, logging.NullHandler)] == [
        logging.NullHandler
    ]


# --- static checks ---------------------------------------------------------------


def _modules() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(SRC.rglob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def test_every_logger_is_named_after_its_module() -> None:
    """Every ``getLogger`` call in the library passes ``__name__`` (so every logger is
    under ``jukinet.``); only :mod:`jukinet._log` names the package root."""
    calls = 0
    for path, tree in _modules():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and _called(node) == "getLogger"):
                continue
            calls += 1
            (arg,) = node.args
            if path.name == "_log.py" and path.parent == SRC:
                assert isinstance(arg, ast.Constant)
                assert arg.value == "jukinet"
            else:
                assert isinstance(arg, ast.Name), f"{path}:{node.lineno}"
                assert arg.id == "__name__", f"{path}:{node.lineno}"
    assert calls > 5


def _called(call: ast.Call) -> str | None:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def test_nothing_but_the_command_line_prints() -> None:
    """No module but ``cli.py`` and ``demo.py`` calls ``print`` or touches
    ``sys.stdout``/``sys.stderr`` (doctests are strings, not code, and are not seen)."""
    offenders: list[str] = []
    for path, tree in _modules():
        if path.name in PRINTING_ALLOWED and path.parent == SRC:
            continue
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("print", "breakpoint")
            ):
                offenders.append(f"{path}:{node.lineno} {node.func.id}()")
            if (
                isinstance(node, ast.Attribute)
                and node.attr in ("stdout", "stderr", "__stdout__", "__stderr__")
                and isinstance(node.value, ast.Name)
                and node.value.id == "sys"
            ):
                offenders.append(f"{path}:{node.lineno} sys.{node.attr}")
    assert offenders == []


# --- a fresh interpreter with logging as a program leaves it ---------------------

_CHILD = """
import importlib, json, logging, pkgutil, sys
asked = []
_get = logging.getLogger
def spy(name=None):
    asked.append((sys._getframe(1).f_globals.get("__name__", ""), name))
    return _get(name)
logging.getLogger = spy
sys.path.insert(0, sys.argv[1])
import jukinet
for info in pkgutil.walk_packages(jukinet.__path__, "jukinet."):
    importlib.import_module(info.name)
import test_logging
test_logging.scenario(test_logging._memory)
ours = sorted({name for module, name in asked if module.startswith("jukinet")})
made = sorted(
    name for name, logger in logging.Logger.manager.loggerDict.items()
    if isinstance(logger, logging.Logger) and name.split(".")[0] == "jukinet"
)
with open(sys.argv[2], "w") as out:
    json.dump({"ours": ours, "made": made}, out)
"""


def test_a_run_prints_nothing_and_logs_under_jukinet(tmp_path: Path) -> None:
    """In a fresh interpreter with logging left as a program leaves it (no handlers
    configured, so warnings would reach stderr through ``logging.lastResort``), a
    run with refusals, a restore and resends writes nothing to stdout or stderr, and
    every logger the library's code asked for (``logging.getLogger`` watched while
    every module is imported and the run goes) is under ``jukinet.``."""
    result_file = tmp_path / "loggers.json"
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(Path(__file__).parent), str(result_file)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    found = json.loads(result_file.read_text())
    assert found["ours"], "no module asked for a logger"
    assert all(name == "jukinet" or name.startswith("jukinet.") for name in found["ours"])
    assert "jukinet" in found["ours"]  # _log's NullHandler
    assert "jukinet.tiers.node" in found["made"]
    assert set(found["made"]) <= set(found["ours"])


def test_a_run_writes_nothing_to_stdout_in_process(capfd: pytest.CaptureFixture[str]) -> None:
    scenario(_memory)
    assert capfd.readouterr() == ("", "")
