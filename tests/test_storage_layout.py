"""The house of the storage wing (issue 11, docs/design: one room per concern).

Each adapter is a package of one module per concern beside its shared machinery
and its store, and so is the conformance suite: no module is over about 600 lines,
and no port module imports the module of its store (a port needs only what the
``_Database`` protocol of its package names).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import jukinet

ROOT = Path(jukinet.__file__).parent
ADAPTERS = ("memory", "sqlite", "postgres")
CONCERNS = (
    "register",
    "identity",
    "links",
    "codes",
    "audit",
    "agencies",
    "provision",
    "schedule",
    "pending",
    "cards",
    "counter",
)
MAX_LINES = 600


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_each_adapter_has_one_module_per_concern(adapter: str) -> None:
    package = ROOT / "storage" / adapter
    assert (package / "__init__.py").is_file()
    assert (package / "store.py").is_file()
    for concern in CONCERNS:
        assert (package / f"{concern}.py").is_file(), f"{adapter} has no {concern}.py"


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_no_port_module_imports_the_store_module(adapter: str) -> None:
    store_module = f"jukinet.storage.{adapter}.store"
    for concern in CONCERNS:
        imported = _imports(ROOT / "storage" / adapter / f"{concern}.py")
        assert store_module not in imported, f"{adapter}/{concern}.py imports {store_module}"


@pytest.mark.parametrize("package", [*(f"storage/{a}" for a in ADAPTERS), "testing/conformance"])
def test_no_module_is_over_about_600_lines(package: str) -> None:
    for path in sorted((ROOT / package).glob("*.py")):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        assert lines <= MAX_LINES, f"{path.relative_to(ROOT)} has {lines} lines"
