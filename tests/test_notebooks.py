"""The analysts' notebooks run top to bottom on the committed sample (nbclient, bounded time).

They use the session's model store (``SCORING_HOME`` of the ``mlflow_home`` fixture, where the
``trained`` fixture registered champions), so only ``01-retrain`` trains (a challenger).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAMES = ("01-retrain", "02-explain", "03-policy")
TIMEOUT = 300  # seconds per cell, generous for slow CI machines


def test_notebooks_are_committed_without_outputs():
    for name in NAMES:
        nb = json.loads((NOTEBOOKS / f"{name}.ipynb").read_text(encoding="utf-8"))
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert code, name
        assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), name
        assert any("SCORING_HOME" in "".join(c["source"]) for c in code[:1]), name


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs(name, trained, monkeypatch):
    nbclient = pytest.importorskip(
        "nbclient", reason="nbclient is not installed (pip install -e '.[dev]')"
    )
    import nbformat
    from support import SAMPLE_DIR

    monkeypatch.setenv("SCORING_NOTEBOOK_DATA", str(SAMPLE_DIR))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    client = nbclient.NotebookClient(
        nb,
        timeout=TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    client.execute()  # raises CellExecutionError with the failing cell and traceback
    errors = [
        o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"
    ]
    assert not errors
