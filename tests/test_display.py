"""The library as a notebook user meets it: one shape of call, results that show themselves."""

from __future__ import annotations

import inspect
import json
import sys
from pathlib import Path

import pytest

import optimizer
from optimizer import (
    check,
    load_scenario,
    parse_axis,
    sensitivity,
    solve,
    sweep,
    uncertainty,
)
from optimizer.display import SHOWN_ROWS, Result, Table, brief
from optimizer.output.report import to_json

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
GOPHER = SCENARIOS / "chinchilla_gopher.yaml"
README = Path(__file__).resolve().parent.parent / "README.md"


@pytest.fixture(scope="module")
def results():
    scenario = load_scenario(GOPHER)
    plan = solve(scenario)
    uncertain = scenario.replace({"uncertainty": {"fields": {
        "law.alpha": {"dist": "normal", "mean": scenario.law.alpha, "sd": 0.01}}}})
    return {
        "plan": plan,
        "certificate": plan.certificate,
        "check": check(scenario, {"N": plan.allocation["N"] * 2,
                                  "D": plan.allocation["D"] / 2}),
        "sweep": sweep(scenario, "objective.budget=1e21:1e24:log:30"),
        "sensitivity": sensitivity(plan),
        "uncertainty": uncertainty(uncertain, 40, seed=0, sobol=False),
    }


KINDS = ["plan", "certificate", "check", "sweep", "sensitivity", "uncertainty"]


@pytest.mark.parametrize("kind", KINDS)
def test_repr_is_one_short_line_of_the_results_own_figures(results, kind):
    result = results[kind]
    text = repr(result)
    assert isinstance(result, Result)
    assert text.startswith(type(result).__name__ + "(")
    assert "\n" not in text
    assert len(text) < 300, text
    for key, value in result.summary().items():
        assert f"{key}={brief(value)}" in text


def test_a_plans_repr_carries_its_amounts(results):
    plan = results["plan"]
    text = repr(plan)
    assert f"N={plan.allocation['N']:.4g}" in text
    assert f"loss={plan.loss:.4g}" in text
    assert "optimal=True" in text


@pytest.mark.parametrize("kind", KINDS)
def test_html_is_a_table_of_the_summary(results, kind):
    result = results[kind]
    page = result._repr_html_()
    assert page.startswith("<table>")
    for key in result.summary():
        assert f">{key}<" in page


@pytest.mark.parametrize("kind", KINDS)
def test_to_dict_is_plain_json_ready_data(results, kind):
    data = results[kind].to_dict()
    assert json.loads(to_json(data)) is not None  # raises on anything not plain


def test_to_dict_agrees_with_the_objects(results):
    plan, found = results["plan"], results["check"]
    data = plan.to_dict()
    assert data["allocation"] == plan.allocation
    assert data["loss"] == plan.loss
    assert data["certificate"]["shadow_price"] == plan.certificate.shadow_price
    assert found.to_dict()["status"] == found.status == "not_optimal"
    assert found.to_dict()["savings"] == found.savings > 0


@pytest.mark.parametrize("kind", ["sweep", "sensitivity", "uncertainty"])
def test_tables_become_dataframes_row_for_row(results, kind):
    pandas = pytest.importorskip("pandas")
    result = results[kind]
    assert isinstance(result, Table)
    frame = result.to_pandas()
    records = result.records()
    assert isinstance(frame, pandas.DataFrame)
    assert len(frame) == len(records)
    assert list(frame.columns) == list(records[0])
    first = records[0]
    for column, value in first.items():
        if isinstance(value, float):
            assert frame[column].iloc[0] == pytest.approx(value, nan_ok=True)


def test_a_sweeps_frame_has_its_budgets_and_allocations(results):
    pytest.importorskip("pandas")
    result = results["sweep"]
    frame = result.to_pandas()
    assert frame["objective.budget"].tolist() == pytest.approx(result.axes[0].values.tolist())
    assert frame["N"].tolist() == pytest.approx(result.table["N"].tolist())


def test_to_pandas_without_pandas_says_how_to_get_it(results, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas now raises
    with pytest.raises(ImportError, match="pip install pandas"):
        results["sweep"].to_pandas()


def test_long_tables_show_a_page_and_count_the_rest(results):
    result = results["sweep"]
    page = result._repr_html_()
    assert len(result) > SHOWN_ROWS
    assert page.count("<tr>") == 1 + SHOWN_ROWS + len(result.summary())
    assert f"{len(result) - SHOWN_ROWS} more rows" in page


def test_sweep_takes_specs_or_axes_alike():
    scenario = load_scenario(GOPHER)
    spec = "objective.budget=1e21:1e23:log:3"
    by_spec = sweep(scenario, [spec])
    by_axis = sweep(scenario, [parse_axis(spec)])
    assert by_spec.table["N"].tolist() == by_axis.table["N"].tolist()


ANALYSES = [optimizer.solve, optimizer.check, optimizer.sweep, optimizer.uncertainty,
            optimizer.sensitivity]


@pytest.mark.parametrize("entry", ANALYSES, ids=lambda f: f.__name__)
def test_every_analysis_takes_a_scenario_or_plan_then_options(entry):
    parameters = list(inspect.signature(entry).parameters.values())
    assert parameters[0].name in ("scenario", "plan")
    # After the subject and at most one datum it acts on (axes, the plan to check,
    # a sample count), everything is a keyword option with a default.
    rest = parameters[2:]
    assert all(p.default is not inspect.Parameter.empty for p in rest), entry.__name__
    assert parameters[0].name in (entry.__doc__ or "")


def test_the_readmes_library_names_import_from_the_package():
    text = README.read_text()
    block = text.split("## Library", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    imported = [line for line in block.splitlines() if line.startswith("from optimizer import")]
    assert imported
    for line in imported:
        for name in line.removeprefix("from optimizer import").split(","):
            assert hasattr(optimizer, name.strip()), name
            assert name.strip() in optimizer.__all__


def test_the_readmes_library_example_runs(monkeypatch):
    pytest.importorskip("pandas")
    text = README.read_text()
    block = text.split("## Library", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(README.parent)
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102
    assert namespace["plan"].certificate.optimal
    assert len(namespace["frontier"]) == 30


def test_a_scenario_shows_its_name_law_objective_and_blocks():
    scenario = load_scenario(SCENARIOS / "chinchilla_gopher_dollars.yaml")
    text = repr(scenario)
    assert text.startswith("Scenario(name=")
    assert "\n" not in text
    assert len(text) < 300
    assert f"budget {scenario.objective.budget:.4g}" in text
    assert "'hardware'" in text
    assert scenario._repr_html_().startswith("<table>")
    assert scenario.to_dict()["law"]["form"] == "chinchilla"
