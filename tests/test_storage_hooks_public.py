"""The conformance hooks of the built-in adapters use public API only (issue 11).

What a test author needs (another handle: ``Store.reopen()``; raw access for the
tamper and downgrade hooks: ``MemoryStore.raw_state()``,
``SQLiteStore.raw_transaction()``, ``PostgresStore.raw_transaction()``) is public
and typed. So no conformance subclass in tests/, nor a module-level helper it calls,
reaches a private attribute of a store (``store._conns``, ``database._state``, …),
and neither does anything shipped in :mod:`jukinet.testing`. Tests of an adapter's
own internals (its connections, its statement cache) are plain test functions and
are not scanned.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import jukinet

TESTS = Path(__file__).parent
TESTING = Path(jukinet.__file__).parent / "testing"
MODULES = [*sorted(TESTS.glob("test_storage_*.py")), TESTS / "test_third_party_adapter.py"]
ADAPTER_MODULES = ("test_storage_memory.py", "test_storage_sqlite.py", "test_storage_postgres.py")


def _private_attributes(node: ast.AST) -> Iterator[tuple[int, str]]:
    """Attribute accesses ``x._name`` inside ``node`` whose ``x`` is not self or cls."""
    for sub in ast.walk(node):
        if (
            isinstance(sub, ast.Attribute)
            and sub.attr.startswith("_")
            and not sub.attr.startswith("__")
            and not (isinstance(sub.value, ast.Name) and sub.value.id in ("self", "cls"))
        ):
            yield sub.lineno, ast.unparse(sub)


def _conformance_code(tree: ast.Module) -> list[ast.AST]:
    """The module's conformance subclasses (of StoreConformance, directly or through a
    class of the module) and the module-level functions they call, transitively."""
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    conformance = {"StoreConformance"}
    changed = True
    while changed:
        changed = False
        for name, cls in classes.items():
            bases = {b.id for b in cls.bases if isinstance(b, ast.Name)}
            if name not in conformance and bases & conformance:
                conformance.add(name)
                changed = True
    found: list[ast.AST] = [classes[n] for n in sorted(conformance) if n in classes]
    seen: set[str] = set()
    pending = list(found)
    while pending:
        for sub in ast.walk(pending.pop()):
            if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name):
                name = sub.func.id
                if name in functions and name not in seen:
                    seen.add(name)
                    found.append(functions[name])
                    pending.append(functions[name])
    return found


def _violations(source: str) -> list[tuple[int, str]]:
    tree = ast.parse(source)
    return sorted({hit for node in _conformance_code(tree) for hit in _private_attributes(node)})


def test_the_scan_finds_a_private_attribute_in_a_hook_and_its_helpers() -> None:
    source = (
        "class TestMine(StoreConformance):\n"
        "    def tamper_provision_log(self, store, how, seq):\n"
        "        _tamper(store)\n"
        "def _tamper(store):\n"
        "    _deeper(store)\n"
        "def _deeper(store):\n"
        "    store.database._state.provision.clear()\n"
        "def test_internals(store):\n"
        "    store._conns.close()\n"
    )
    assert _violations(source) == [(7, "store.database._state")]


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.name)
def test_no_conformance_subclass_reaches_a_private_attribute_of_a_store(module: Path) -> None:
    tree = ast.parse(module.read_text(encoding="utf-8"))
    if module.name in ADAPTER_MODULES:  # the scan has something to look at
        assert any(isinstance(n, ast.ClassDef) for n in _conformance_code(tree))
    assert _violations(module.read_text(encoding="utf-8")) == []


def test_the_shipped_testing_helpers_reach_no_private_attribute() -> None:
    found = [
        (str(path.relative_to(TESTING)), line, text)
        for path in sorted(TESTING.rglob("*.py"))
        for line, text in _private_attributes(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert found == []
