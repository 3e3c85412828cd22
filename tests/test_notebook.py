"""The shipped notebook (docs/notebooks/tour.ipynb) runs from top to bottom.

The docs build executes it too (myst-nb, ``nb_execution_mode = "force"``); this test
catches a broken notebook without building the docs. It needs nbclient and an
IPython kernel (both in the ``dev`` extra), plus pandas and matplotlib.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parent.parent / "docs" / "notebooks" / "tour.ipynb"
_NEEDED = ("nbclient", "nbformat", "ipykernel", "pandas", "matplotlib")
_MISSING = [name for name in _NEEDED if importlib.util.find_spec(name) is None]


@pytest.mark.slow
@pytest.mark.skipif(
    bool(_MISSING),
    reason=f"the notebook test needs {', '.join(_MISSING)} (pip install -e '.[dev]')",
)
def test_the_tour_notebook_runs() -> None:
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(NOTEBOOK, as_version=4)  # type: ignore[no-untyped-call]
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), (
        "store the notebook without outputs"
    )
    client = NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()
    errors = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "error"
    ]
    assert not errors
    images = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if "image/png" in output.get("data", {})
    ]
    assert len(images) >= 3  # the 別表 counts, notices per tier, provisions by agency
