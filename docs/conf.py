"""Sphinx configuration for the jukinet documentation.

Build (CI runs exactly this; warnings are errors)::

    python -m sphinx -W --keep-going -q -b html docs docs/_build/html

No extension here needs the network: intersphinx is deliberately not used.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version
from typing import Any

project = "jukinet"
author = "The jukinet developers"
copyright = "The jukinet developers"

try:
    release = _version("jukinet")
except PackageNotFoundError:  # building from a tree where jukinet is not installed
    release = "0.0.0+unknown"
version = ".".join(release.split(".")[:2])

language = "en"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
    "myst_nb",
]

# myst-nb provides the MyST parser for ``.md`` pages and renders ``.ipynb``
# notebooks (docs/notebooks/), executing each on every build so it never rots.
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints"]

# MyST: ``:::`` fences and definition lists; anchors for headings down to level 3
# so that ``[text](page.md#heading)`` links resolve.
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# Notebooks are stored without outputs and run at build time; an error fails the build.
nb_execution_mode = "force"
nb_execution_raise_on_error = True
nb_execution_timeout = 300
nb_execution_show_tb = True

# autodoc: signatures keep the annotations as written (jukinet modules use
# ``from __future__ import annotations``); the description shows them per field.
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_member_order = "bysource"
autodoc_default_options = {
    "members": True,
    "show-inheritance": True,
}

html_theme = "furo"
html_title = f"jukinet {release}"


def _public_bases(
    _app: object, _name: str, _obj: object, _options: object, bases: list[type]
) -> None:
    """Show only public base classes: the adapters' shared private machinery
    (``_Port``, ``_Connections``) is not part of the API."""
    bases[:] = [base for base in bases if not getattr(base, "__name__", "").startswith("_")]


def setup(app: Any) -> None:
    """Register the hooks above."""
    app.connect("autodoc-process-bases", _public_bases)
