"""A third party's adapter runs the shipped conformance suite.

A subclass of :class:`StoreConformance` that implements only the required hook
(``create_store``; here over a :class:`MemoryStore` whose ``reopen()`` is the base
class's, which raises NotSupportedError) is collected, runs the suite, and exactly
the tests that need a hook it left out skip, each with a reason that names the hook.
Over a store whose ``reopen()`` works, the ``reopen_store`` default uses it and only
the tests that need another hook skip. Which tests need which hook is found by
running the complete memory adapter's test class with every optional hook recording
the test that called it.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

from jukinet.testing.conformance import OPTIONAL_HOOKS, StoreConformance

pytest_plugins = ("pytester",)

_MODULE = '''
import json
import os

from jukinet.storage.base import Store
from jukinet.storage.memory import MemoryStore
from jukinet.testing.conformance import OPTIONAL_HOOKS, StoreConformance
import test_storage_memory


class TestMinimalAdapter(StoreConformance):
    """A third party's subclass: the one required hook, none of the optional ones."""

    def create_store(self) -> Store:
        store = NoReopenStore()
        store.create_schema()
        return store


class NoReopenStore(MemoryStore):
    """A store that cannot open another handle: Store.reopen's default."""

    def reopen(self) -> Store:
        return Store.reopen(self)


class TestMinimalAdapterThatReopens(StoreConformance):
    """The one required hook over a store whose reopen() works: reopen_store's default."""

    def create_store(self) -> Store:
        store = MemoryStore()
        store.create_schema()
        return store


def _recording(name):
    def hook(self, *args, **kwargs):
        _CALLS.setdefault(os.environ["PYTEST_CURRENT_TEST"].split(" ")[0], set()).add(name)
        return getattr(test_storage_memory.TestMemoryStore, name)(self, *args, **kwargs)

    return hook


_CALLS = {}


class TestRecordingAdapter(test_storage_memory.TestMemoryStore):
    """The complete memory adapter, each optional hook noting the test that calls it."""


for _name in OPTIONAL_HOOKS:
    setattr(TestRecordingAdapter, _name, _recording(_name))


def teardown_module():
    with open(os.environ["CALLS_FILE"], "w") as out:
        json.dump({k: sorted(v) for k, v in _CALLS.items()}, out)
'''


def test_the_hooks_a_subclass_may_leave_out_are_named() -> None:
    for name in OPTIONAL_HOOKS:
        assert callable(getattr(StoreConformance, name))
    assert not getattr(StoreConformance, "__abstractmethods__", None)


def test_a_subclass_without_create_store_fails_rather_than_passes() -> None:
    class TestNothing(StoreConformance):
        pass

    with pytest.raises(NotImplementedError, match="create_store"):
        TestNothing().create_store()


@pytest.mark.slow
def test_a_minimal_subclass_is_collected_and_skips_only_what_needs_a_missing_hook(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    tests = Path(__file__).parent
    calls_file = pytester.path / "calls.json"
    monkeypatch.setenv("CALLS_FILE", str(calls_file))
    monkeypatch.syspath_prepend(str(tests))
    pytester.makepyfile(test_adapter=textwrap.dedent(_MODULE))
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-q", "-rs")
    reports = result.reprec.getreports("pytest_runtest_logreport")  # type: ignore[attr-defined]
    calls: dict[str, list[str]] = json.loads(calls_file.read_text())

    def test_name(nodeid: str) -> str:
        return nodeid.split("::")[-1]

    outcomes: dict[str, dict[str, str]] = {
        "TestMinimalAdapter": {},
        "TestMinimalAdapterThatReopens": {},
        "TestRecordingAdapter": {},
    }
    reasons: dict[str, str] = {}
    for report in reports:
        cls = report.nodeid.split("::")[1]
        name = test_name(report.nodeid)
        if report.when == "call" or report.outcome != "passed":
            outcomes[cls][name] = report.outcome
        if report.skipped and cls == "TestMinimalAdapter":
            assert isinstance(report.longrepr, tuple)
            reasons[name] = report.longrepr[2]

    minimal, complete = outcomes["TestMinimalAdapter"], outcomes["TestRecordingAdapter"]
    # the minimal subclass is collected and runs the whole suite; the complete one passes
    assert set(minimal) == set(complete) != set()
    assert set(complete.values()) == {"passed"}
    assert "failed" not in minimal.values()
    # exactly the tests that call an optional hook skip, each naming one it needs
    needing = {test_name(nodeid): hooks for nodeid, hooks in calls.items()}
    skipped = {n for n, outcome in minimal.items() if outcome == "skipped"}
    assert skipped == set(needing)
    assert {n for n, outcome in minimal.items() if outcome == "passed"} == set(minimal) - skipped
    for name in skipped:
        match = re.search(r"this test needs the (\w+) hook", reasons[name])
        assert match is not None, reasons[name]
        assert match.group(1) in needing[name]
    # every optional hook is needed by some test, and some tests need none
    assert {hook for hooks in needing.values() for hook in hooks} == set(OPTIONAL_HOOKS)
    assert len(skipped) < len(minimal)
    # over a store that reopens, only the tests that need another hook skip
    reopens = outcomes["TestMinimalAdapterThatReopens"]
    assert set(reopens) == set(complete)
    assert "failed" not in reopens.values()
    needing_more = {n for n, hooks in needing.items() if set(hooks) - {"reopen_store"}}
    assert {n for n, outcome in reopens.items() if outcome == "skipped"} == needing_more
    assert needing_more < skipped  # some tests need reopen_store alone, and now run
