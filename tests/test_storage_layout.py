"""The house of the storage wing (issue 11, docs/design: one room per concern).

Each adapter is a package of one module per concern beside its shared machinery
and its store, and so is the conformance suite; so are the ports
(:mod:`jukinet.storage.base`) and the rows (:mod:`jukinet.storage.records`), whose
packages re-export every name from the old paths. No module under ``storage/`` or
``testing/conformance/`` is over about 600 lines, and no port module imports the
module of its store (a port needs only what the ``_Database`` protocol of its
package names; a port ABC only the unit of work).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import jukinet

ROOT = Path(jukinet.__file__).parent
ADAPTERS = ("memory", "sqlite", "postgres")
PORTS = "base"
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


def test_the_ports_have_one_module_per_concern() -> None:
    package = ROOT / "storage" / PORTS
    assert (package / "__init__.py").is_file()
    assert (package / "store.py").is_file()
    assert (package / "units.py").is_file()
    for concern in CONCERNS:
        assert (package / f"{concern}.py").is_file(), f"{PORTS} has no {concern}.py"


@pytest.mark.parametrize("package", [*ADAPTERS, PORTS])
def test_no_port_module_imports_the_store_module(package: str) -> None:
    store_module = f"jukinet.storage.{package}.store"
    for concern in CONCERNS:
        imported = _imports(ROOT / "storage" / package / f"{concern}.py")
        assert store_module not in imported, f"{package}/{concern}.py imports {store_module}"
        if package == PORTS:  # nor the package, whose __init__ imports the store
            assert f"jukinet.storage.{PORTS}" not in imported, f"{PORTS}/{concern}.py"


def test_every_storage_module_is_found() -> None:
    """The walk below sees the packages of the ports and the rows, and mapping.py."""
    found = {path.relative_to(ROOT / "storage").as_posix() for path in _storage_modules()}
    assert {"mapping.py", "base/__init__.py", "base/store.py", "records/__init__.py"} <= found
    assert "base.py" not in found
    assert "records.py" not in found


def _storage_modules() -> list[Path]:
    return sorted((ROOT / "storage").rglob("*.py"))


@pytest.mark.parametrize(
    "path",
    [*_storage_modules(), *sorted((ROOT / "testing" / "conformance").rglob("*.py"))],
    ids=lambda path: path.relative_to(ROOT).as_posix(),
)
def test_no_module_is_over_about_600_lines(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(ROOT)} has {lines} lines"


def test_the_rows_import_no_port() -> None:
    """The rows sit below the ports: no module of storage/records imports storage/base."""
    for path in sorted((ROOT / "storage" / "records").glob("*.py")):
        imported = _imports(path)
        assert not any(name.startswith("jukinet.storage.base") for name in imported), path.name
