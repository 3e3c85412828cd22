"""The API reference (docs/api/*.md) documents every public module exactly once.

A public module is one whose dotted name has no part starting with an underscore
(``jukinet.storage.postgres.register`` is public, ``jukinet.storage.postgres._database``
and ``jukinet.__main__`` are not). The modules are found by reading the source tree
with :mod:`pkgutil`, without importing anything, so a module added later (and an
adapter whose driver is not installed) is still seen: a new module fails this test
until a page of the API reference names it in an ``automodule`` directive.
"""

from __future__ import annotations

import pkgutil
import re
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "src" / "jukinet"
API_PAGES = ROOT / "docs" / "api"

_AUTOMODULE = re.compile(r"^\s*\.\.\s+automodule::\s+(\S+)\s*$", re.MULTILINE)


def _is_public(name: str) -> bool:
    return not any(part.startswith("_") for part in name.split("."))


def public_modules(path: Path = SOURCE, prefix: str = "jukinet") -> set[str]:
    """Every public module and package under ``path``, by dotted name, read from the tree."""
    found = {prefix}
    for info in pkgutil.iter_modules([str(path)]):
        name = f"{prefix}.{info.name}"
        if not _is_public(name):
            continue
        if info.ispkg:
            found |= public_modules(path / info.name, name)
        else:
            found.add(name)
    return found


def documented_modules() -> Counter[str]:
    """How many ``automodule`` directives name each module in docs/api/*.md."""
    counts: Counter[str] = Counter()
    for page in sorted(API_PAGES.glob("*.md")):
        counts.update(_AUTOMODULE.findall(page.read_text(encoding="utf-8")))
    return counts


def test_tree_walk_sees_packages_and_skips_private_modules() -> None:
    modules = public_modules()
    assert {"jukinet.errors", "jukinet.storage.postgres", "jukinet.storage.postgres.store"} <= (
        modules
    )
    assert not {m for m in modules if not _is_public(m)}
    assert "jukinet.storage.postgres._database" not in modules
    assert "jukinet.__main__" not in modules


def test_every_public_module_is_in_the_api_reference() -> None:
    missing = sorted(public_modules() - set(documented_modules()))
    assert not missing, (
        "public modules without an `.. automodule::` directive in docs/api/*.md "
        f"(add each to the page of its package): {missing}"
    )


def test_each_module_is_documented_once() -> None:
    twice = sorted(name for name, count in documented_modules().items() if count > 1)
    assert not twice, f"modules named by more than one `.. automodule::` in docs/api/*.md: {twice}"


def test_the_api_reference_names_only_existing_public_modules() -> None:
    unknown = sorted(set(documented_modules()) - public_modules())
    assert not unknown, (
        f"docs/api/*.md documents modules that are not public modules of jukinet: {unknown}"
    )


def test_the_api_reference_has_one_page_per_package() -> None:
    pages = {page.stem for page in API_PAGES.glob("*.md")}
    assert {"index", "errors", "domain", "storage", "storage-postgres", "tiers", "card"} <= pages
    assert not (ROOT / "docs" / "api.md").exists(), "the single-page reference is split"
