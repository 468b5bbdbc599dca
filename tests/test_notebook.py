"""The example notebook runs, top to bottom, and shows what the library computes.

``docs/example.ipynb`` is executed in a fresh kernel (nbclient), so a change that
breaks it, or makes it show something else, fails here rather than in a reader's hands.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from optimizer import load_scenario, solve
from optimizer.display import brief

nbformat = pytest.importorskip("nbformat", reason="the notebook test needs nbformat")
nbclient = pytest.importorskip("nbclient", reason="the notebook test needs nbclient")
pytest.importorskip("ipykernel", reason="the notebook test needs a Python kernel (ipykernel)")

DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.fixture(scope="module")
def executed():
    notebook = nbformat.read(DOCS / "example.ipynb", as_version=4)
    for cell in notebook.cells:  # run from scratch: the stored outputs must not count
        if cell.cell_type == "code":
            cell.outputs = []
    # A kernel may take over a minute to start on a loaded machine (nbclient's default
    # startup_timeout, 60 s, failed once with two test runs sharing two cores).
    client = nbclient.NotebookClient(notebook, timeout=300, startup_timeout=300,
                                     kernel_name="python3",
                                     resources={"metadata": {"path": str(DOCS)}})
    client.execute()  # raises CellExecutionError, with the cell, if any cell fails
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def _data(cell, kind):
    return [o["data"][kind] for o in cell.outputs if kind in o.get("data", {})]


def test_every_cell_runs_and_the_plan_shows_as_a_table(executed):
    plan = solve(load_scenario(DOCS.parent / "scenarios" / "chinchilla_gopher.yaml"))
    (page,) = _data(executed[0], "text/html")
    assert "<table>" in page
    assert brief(plan.allocation["N"]) in page
    (text,) = _data(executed[0], "text/plain")
    assert text.startswith("Plan(")
    assert "optimal=True" in text


def test_the_notebook_draws_its_figure_and_prints_the_error(executed):
    assert any(_data(cell, "image/png") for cell in executed)
    printed = "".join(o.get("text", "") for o in executed[-1].outputs)
    assert "objective.budget" in printed
    assert "-5" in printed
