import copy
import csv
import io
import json
import math

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer import load_scenario, solve
from optimizer.analysis.sweep import Axis, bands, parse_axis, sweep
from optimizer.errors import OptimizerError, ScenarioError
from optimizer.model.scenario import get_path, numeric_paths
from optimizer.output.tables import table_text
from optimizer.solvers import many
from optimizer.solvers.many import optimal_rows, solve_points

from .conftest import CHINCHILLA, EXPLORE, POWER, ROOT, scenario
from .test_cli import run

GOPHER = ROOT / "scenarios" / "chinchilla_gopher.yaml"


@pytest.mark.parametrize(("spec", "values"), [
    ("objective.budget=1e19:1e21:log:3", [1e19, 1e20, 1e21]),
    ("law.alpha=0.3:0.4:3", [0.3, 0.35, 0.4]),
    ("law.alpha=0.3:0.4:lin:3", [0.3, 0.35, 0.4]),
    ("objective.budget=1e20,3e20", [1e20, 3e20]),
])
def test_axis_specs(spec, values):
    np.testing.assert_allclose(parse_axis(spec).values, values, rtol=1e-14)  # achieved: 0


@pytest.mark.parametrize(("spec", "message"), [
    ("objective.budget", "write PATH=START:STOP:log:COUNT"),
    ("objective.budget=1e21:1e19:log:3", "empty or inverted"),
    ("objective.budget=1e19:1e19:3", "empty or inverted"),
    ("objective.budget=1e19:1e21:log:0", "count must be at least 1"),
    ("objective.budget=-1:1e21:log:3", "log range must be positive"),
    ("objective.budget=1e19:1e21:cubic:3", "cannot read"),
    ("objective.budget=,", "the list is empty"),
])
def test_bad_axis_specs(spec, message):
    with pytest.raises(ScenarioError, match=message):
        parse_axis(spec)


def test_unknown_path_suggests_the_close_one():
    with pytest.raises(ScenarioError, match="did you mean law.alpha"):
        sweep(load_scenario(GOPHER), [parse_axis("law.alpah=0.3:0.4:3")])


def test_records_are_not_inputs():
    # The uncertainty block's spreads (and a fit's provenance) describe inputs; varying them
    # would change nothing, so a sweep refuses them like any unknown path.
    with pytest.raises(ScenarioError, match="not a numeric field"):
        sweep(load_scenario(GOPHER), [parse_axis("uncertainty.fields.law.E.sd=0.01:0.02:2")])


def test_vectorised_closed_form_equals_point_by_point_solves():
    s = load_scenario(GOPHER)
    axis = parse_axis("objective.budget=1e19:1e25:log:9")
    fast = sweep(s, [axis])
    assert fast.method == "closed_form"
    for i, budget in enumerate(axis.values):
        plan = solve(s.model_copy(update={"objective": s.objective.model_copy(
            update={"budget": float(budget)})}))
        # Achieved: 0, 0, 2e-16 and 2e-16 (both spreads are rounding).
        assert fast.table["N"][i] == pytest.approx(plan.allocation["N"], rel=1e-14)
        assert fast.table["loss"][i] == pytest.approx(plan.loss, rel=1e-14)
        assert fast.table["shadow_price"][i] == pytest.approx(
            plan.certificate.shadow_price, rel=1e-14)
        assert fast.table["spread"][i] == pytest.approx(
            plan.certificate.max_relative_spread, abs=1e-14)
    assert set(fast.table["status"]) == {"optimal"}


@pytest.mark.parametrize("mode", [{}, {"objective": {"minimize": "cost", "target_loss": 2.3}}])
def test_vectorised_law_sweep_equals_point_by_point_solves(mode):
    """The law's own numbers vary as arrays (the bootstrap's plans under its refits):
    each point as its own validated, solved scenario gives the same plan."""
    s = scenario(CHINCHILLA, **mode)
    axes = [parse_axis("law.alpha=0.28,0.34,0.4"), parse_axis("law.B=300,410.7"),
            parse_axis("law.E=1.6,1.69")]
    fast = sweep(s, axes)
    assert fast.method == "closed_form"
    slow = solve_points(s, {a.path: fast.table[a.path] for a in axes}, np.arange(len(fast)),
                        1e-6, jobs=1, progress=None)
    for key in ("N", "D", "loss", "cost", "shadow_price"):
        np.testing.assert_allclose(fast.table[key], slow[key], rtol=1e-13,  # 3e-15
                                   err_msg=key)
    assert set(fast.table["status"]) == {"optimal"}


def test_vectorised_law_points_the_schema_refuses_are_re_solved():
    s = scenario(CHINCHILLA)
    result = sweep(s, [parse_axis("law.alpha=0.3,20,0.35")])  # an exponent of 20 is refused
    assert list(result.table["status"]) == ["optimal", "invalid", "optimal"]
    assert "law.alpha" in result.table["reason"][1]


def test_power_law_budget_sweep_by_closed_form():
    s = scenario(POWER)
    result = sweep(s, [parse_axis("objective.budget=1e3:1e6:log:4"),
                       parse_axis("resources.N.unit_cost=100,200")])
    assert result.method == "closed_form"
    assert len(result) == 8
    # Elasticity identity: d log (L*-E) / d log budget = -sum |a| (E = 0 here).
    loss = result.table["loss"].reshape(4, 2)[:, 0]
    slope = np.diff(np.log(loss)) / np.diff(np.log([1e3, 1e4, 1e5, 1e6]))
    np.testing.assert_allclose(slope, -(0.076 + 0.095 + 0.050), rtol=1e-14)  # 4e-16


def test_law_sweep_solves_each_point_and_records_infeasible_ones():
    s = scenario(CHINCHILLA, **{"objective": {"minimize": "cost", "target_loss": 1.9}})
    result = sweep(s, [parse_axis("law.E=1.7,1.95,1.8")])
    assert result.method == "closed_form"  # the point the schema refuses is re-solved
    assert list(result.table["status"]) == ["optimal", "invalid", "optimal"]
    assert "irreducible loss" in result.table["reason"][1]
    assert np.isnan(result.table["N"][1])


def test_bound_points_fall_back_to_full_solves():
    s = scenario(CHINCHILLA, **{"resources.N.max": 3e10})
    result = sweep(s, [parse_axis("objective.budget=1e22:1e25:log:4")])
    assert result.method == "closed_form"
    assert list(result.table["status"]) == ["optimal"] * 4
    assert result.table["N"][-1] == pytest.approx(3e10, rel=1e-14)  # achieved: 0
    assert not result.table["method"][-1].startswith("closed_form")


def test_general_sweep_in_parallel_matches_serial():
    s = load_scenario(ROOT / "scenarios" / "kaplan.yaml")
    axes = [parse_axis("objective.budget=1e19:1e22:log:4"), parse_axis("law.alpha_N=0.07,0.08")]
    serial = sweep(s, axes)
    parallel = sweep(s, axes, jobs=2)
    np.testing.assert_array_equal(serial.table["N"], parallel.table["N"])
    assert len(serial) == 8


def test_tables_as_csv_and_json():
    result = sweep(load_scenario(GOPHER), [parse_axis("objective.budget=1e20,1e21")])
    rows = list(csv.reader(io.StringIO(table_text(result, "t.csv"))))
    assert rows[0] == ["objective.budget", "N", "D", "C", "loss", "cost", "shadow_price",
                       "spread", "status", "method", "reason"]
    assert len(rows) == 3
    assert float(rows[2][1]) == result.table["N"][1]  # floats read back exactly
    data = json.loads(table_text(result, "t.json"))
    assert data["command"] == "sweep"
    assert data["rows"][1]["objective.budget"] == 1e21
    with pytest.raises(ScenarioError, match="write the table as .csv or .parquet or .json or "
                                            ".xlsx"):
        table_text(result, "t.txt")


def test_table_as_xlsx_reads_back_with_openpyxl(tmp_path):
    openpyxl = pytest.importorskip("openpyxl", reason="openpyxl reads the workbook back")
    result = sweep(load_scenario(GOPHER), [parse_axis("objective.budget=1e20,1e21,1e22")])
    path = tmp_path / "t.xlsx"
    path.write_bytes(table_text(result, path))
    sheet = openpyxl.load_workbook(path)["Sweep"]
    header = [c.value for c in sheet[3]]
    assert header[:3] == ["objective.budget", "N", "D"]
    assert sheet.cell(row=5, column=1).value == 1e21
    assert sheet.cell(row=5, column=2).value == pytest.approx(result.table["N"][1], rel=1e-15)
    assert sheet.cell(row=6, column=header.index("status") + 1).value == "optimal"


def test_cli_sweep_writes_table_and_plots(tmp_path):
    from .test_plots import assert_png_drawn

    table, plot = tmp_path / "f.csv", tmp_path / "f.png"
    result = run("sweep", GOPHER, "--vary", "objective.budget=1e19:1e25:log:50", "-o", table,
                 "--plot", plot, "--no-band")
    assert result.exit_code == 0, result.output
    assert "50 points by closed_form" in result.output
    expected = sweep(load_scenario(GOPHER), "objective.budget=1e19:1e25:log:50").table
    rows = list(csv.DictReader(io.StringIO(table.read_text())))
    assert len(rows) == 50
    for key in ("objective.budget", "N", "D", "loss"):  # floats read back exactly
        assert [float(row[key]) for row in rows] == expected[key].tolist(), key
    assert_png_drawn(plot)
    banded = tmp_path / "b.png"
    result = run("sweep", GOPHER, "--vary", "objective.budget=1e19:1e25:log:3", "--plot",
                 banded, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    shown = sweep(load_scenario(GOPHER), "objective.budget=1e19:1e25:log:3")
    band = bands(load_scenario(GOPHER), shown)
    assert data["band"] == {key: values.tolist() for key, values in band.items()}
    assert_png_drawn(banded)
    # What a person reads: each point's plan to four figures.
    human = run("sweep", GOPHER, "--vary", "objective.budget=1e19:1e25:log:3", "--no-band")
    cells = [line.split("│")[1:-1] for line in human.stdout.splitlines()
             if line.startswith("│")]
    assert [[c.strip() for c in row[:3]] for row in cells] == [
        [f"{shown.table[k][i]:.4g}" for k in ("objective.budget", "N", "D")] for i in range(3)]
    heat = tmp_path / "h.svg"
    result = run("sweep", GOPHER, "--vary", "objective.budget=1e20:1e23:log:4", "--vary",
                 "law.alpha=0.3:0.4:3", "--plot", heat, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["points"] == 12
    assert heat.read_text().startswith("<?xml")


@pytest.mark.parametrize(("args", "message"), [
    (["--vary", "objective.budgt=1:2:3"], "did you mean objective.budget"),
    (["--vary", "objective.budget=5:1:3"], "empty or inverted"),
    (["--vary", "objective.budget=1e20:1e21:3", "-o", "t.ods"], "write the table as"),
    (["--vary", "objective.budget=1e20:1e21:3", "--plot", "t.gif"], "--plot"),
])
def test_cli_sweep_bad_input_exits_2(args, message):
    result = run("sweep", GOPHER, *args)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.stderr.split())


def test_continuation_gives_the_same_certified_plans_as_re_solving():
    s = load_scenario(ROOT / "scenarios" / "memory_capped.yaml")
    axes = [parse_axis("objective.budget=1e21:1e25:log:12")]
    warm = sweep(s, axes)
    cold = sweep(s, axes, continuation=False)
    assert "continuation+kkt" in set(warm.table["method"])
    assert "continuation+kkt" not in set(cold.table["method"])
    # Both are polished by Newton's method (solvers/refine.py) to about 1e-12, where
    # the loss is flat to first order (achieved: 0 and 0).
    np.testing.assert_allclose(warm.table["N"], cold.table["N"], rtol=1e-12)
    np.testing.assert_allclose(warm.table["loss"], cold.table["loss"], rtol=1e-14)
    assert set(warm.table["status"]) == {"optimal"}


def test_a_far_warm_start_still_gives_the_optimum():
    """A warm start from a very different plan must not be kept unless certified."""
    s = load_scenario(ROOT / "scenarios" / "kaplan.yaml")
    exact = solve(s)
    plan = solve(s, warm={"N": 1e3, "D": 1e20})
    assert plan.certificate.optimal
    assert plan.allocation["N"] == pytest.approx(exact.allocation["N"], rel=1e-12)  # as above


def test_every_bundled_scenario_sweeps_its_objective(scenario_file):
    s = load_scenario(scenario_file)
    if s.objective.minimize == "loss":
        b = s.objective.budget
        axis = parse_axis(f"objective.budget={b / 3!r}:{b * 3!r}:log:4")
    else:
        key, t = s.objective.target
        axis = parse_axis(f"objective.{key}={t!r}:{t * 1.05!r}:4")
    result = sweep(s, [axis])
    assert set(result.table["status"]) == {"optimal"}, result.table["reason"]
    if s.law.predicts_loss:
        assert np.all(np.diff(result.table["loss" if s.objective.minimize == "loss"
                                           else "cost"]) < 0)
    else:  # an allocation law predicts no loss; its amounts grow with the budget
        assert np.all(np.diff(result.table["N"]) > 0)
        assert np.all(np.diff(result.table["D"]) > 0)


def test_band_along_a_budget_sweep_matches_its_closed_form():
    # Chinchilla under C = 6ND, loss mode: with t = N/N*, D/D* = 1/t and the optimality
    # condition alpha A N*^-alpha = beta B D*^-beta, the reducible loss relative to the
    # optimum's is (beta t^-alpha + alpha t^beta) / (alpha + beta), whatever the budget.
    # The band's edges solve that = 1 + epsilon.
    from scipy.optimize import brentq

    scenario = load_scenario(GOPHER)
    alpha, beta, eps = scenario.law.alpha, scenario.law.beta, scenario.band.epsilon
    ratio = lambda t: (beta * t ** -alpha + alpha * t ** beta) / (alpha + beta) - 1 - eps  # noqa: E731
    low, high = brentq(ratio, 0.1, 1), brentq(ratio, 1, 10)
    result = sweep(scenario, [parse_axis("objective.budget=1e19:1e25:log:40")])
    found = bands(scenario, result, points=4)
    assert found["objective.budget"].tolist() == result.table["objective.budget"][
        [0, 13, 26, 39]].tolist()
    # The band's edges are found to its default accuracy, 1e-3 (achieved: 5.4e-5).
    np.testing.assert_allclose(found["N_low"] / found["N"], low, rtol=1e-3)
    np.testing.assert_allclose(found["N_high"] / found["N"], high, rtol=1e-3)
    np.testing.assert_allclose(found["D_low"] / found["D"], 1 / high, rtol=1e-3)
    np.testing.assert_allclose(found["D_high"] / found["D"], 1 / low, rtol=1e-3)


def test_band_needs_one_axis():
    scenario = load_scenario(GOPHER)
    result = sweep(scenario, [parse_axis("objective.budget=1e20,1e21"),
                              parse_axis("law.alpha=0.3,0.4")])
    with pytest.raises(ScenarioError, match="along one varied input"):
        bands(scenario, result)


def test_parquet_and_csv_read_back_exactly_and_stream_in_chunks(tmp_path, monkeypatch):
    from optimizer.output import tables

    s = scenario(CHINCHILLA, **{"resources.C.min": 3e21})  # small budgets have no plan
    result = sweep(s, "objective.budget=1e20:1e22:log:23")
    assert "optimal" in set(result.table["status"])
    assert np.isnan(result.table["N"]).any()  # some points have no plan
    whole = tmp_path / "whole.csv"
    tables.write_sweep(result, whole)
    monkeypatch.setattr(tables, "CHUNK_ROWS", 5)  # 23 rows: five chunks, the last short
    chunked = tmp_path / "chunked.csv"
    tables.write_sweep(result, chunked)
    assert chunked.read_bytes() == whole.read_bytes()
    parquet = tmp_path / "t.parquet"
    tables.write_sweep(result, parquet)
    table = pq.read_table(parquet)
    assert table.column_names == result.columns
    for name, column in result.table.items():
        values = table.column(name).to_pylist()
        if column.dtype.kind == "f":  # NaN (no plan) is a null, the rest read back exactly
            assert [math.nan if v is None else v for v in values] == pytest.approx(
                column.tolist(), rel=0, abs=0, nan_ok=True)
        else:
            assert values == column.tolist()
    rows = list(csv.DictReader(io.StringIO(whole.read_text())))
    assert [float(r["N"]) if r["N"] else math.nan for r in rows] == pytest.approx(
        result.table["N"].tolist(), rel=0, abs=0, nan_ok=True)


def test_an_interrupted_table_write_leaves_the_old_file(tmp_path, monkeypatch):
    from optimizer.output import tables

    result = sweep(load_scenario(GOPHER), "objective.budget=1e20:1e22:log:12")
    out = tmp_path / "t.csv"
    out.write_text("what the user had\n")
    monkeypatch.setattr(tables, "CHUNK_ROWS", 4)
    calls = []

    def failing(chunk, pa):
        calls.append(1)
        if len(calls) > 15:  # mid-way through the second chunk
            raise OSError("disk full")
        return real(chunk, pa)

    real = tables._arrow
    monkeypatch.setattr(tables, "_arrow", failing)
    with pytest.raises(OSError, match="disk full"):
        tables.write_sweep(result, out)
    assert out.read_text() == "what the user had\n"
    assert [p.name for p in tmp_path.iterdir()] == ["t.csv"]  # no temporary left behind


def test_sweep_to_pandas_is_the_table():
    pandas = pytest.importorskip("pandas")
    result = sweep(load_scenario(GOPHER), "objective.budget=1e20:1e22:log:5")
    frame = result.to_pandas()
    assert isinstance(frame, pandas.DataFrame)
    assert list(frame.columns) == result.columns
    np.testing.assert_array_equal(frame["N"].to_numpy(), result.table["N"])
    assert frame["status"].tolist() == ["optimal"] * 5


def test_uncertainty_samples_to_parquet_and_a_bad_extension_before_any_work(tmp_path):
    from .test_cli import run

    out = tmp_path / "samples.parquet"
    result = run("uncertainty", GOPHER, "--samples", "50", "--no-sobol", "-o", out)
    assert result.exit_code == 0, result.output
    table = pq.read_table(out)
    assert table.num_rows == 50
    assert {"law.alpha", "N", "loss", "committed_loss", "status"} <= set(table.column_names)
    bad = run("uncertainty", GOPHER, "--samples", "1000000", "-o", tmp_path / "s.txt")
    assert bad.exit_code == 2
    assert "write the table as .csv or .parquet" in bad.output


def test_optimal_rows_reads_a_constant_status_column_once():
    """A status column that is a view of one value answers as a full comparison does."""
    for value in ("optimal", "infeasible"):
        view = {"status": np.broadcast_to(np.array(value, dtype=object), (5,))}
        full = {"status": np.array([value] * 5, dtype=object)}
        np.testing.assert_array_equal(optimal_rows(view), optimal_rows(full))
        assert optimal_rows(view).all() == (value == "optimal")
    mixed = {"status": np.array(["optimal", "infeasible", "optimal"], dtype=object)}
    np.testing.assert_array_equal(optimal_rows(mixed), [True, False, True])


@pytest.mark.parametrize(("changes", "axis"), [
    ({"law": {**POWER["law"], "E": 1.5}}, "law.E=1:2:5"),
    ({"objective": {"minimize": "cost", "target_loss": 0.5}}, "resources.N.unit_cost=100:300:5"),
    ({}, "law.exponents.D=-0.12:-0.08:5"),
])
def test_power_law_sweeps_run_vectorised(monkeypatch, changes, axis):
    """A power law with a floor swept over E, and one asked for the cheapest plan swept over
    a price, crashed the vectorised form (an array where its shape asks "is E > 0?"; a
    product over levers of arrays and numbers); a swept exponent went point by point."""
    s = scenario(POWER | changes)
    monkeypatch.setattr(many, "solve_points", None)  # every point certified vectorised
    result = sweep(s, [parse_axis(axis)])
    assert result.method == "closed_form"
    assert result.solved.all()
    for i, value in enumerate(result.axes[0].values):
        plan = solve(s.replace({axis.split("=")[0]: float(value)}))
        for column, expected in {**plan.allocation, "loss": plan.loss, "cost": plan.cost}.items():
            assert result.table[column][i] == pytest.approx(expected, rel=1e-14), column


FAMILIES = {
    "chinchilla": CHINCHILLA,
    "power law": POWER,
    "power law with a floor": POWER | {"law": {**POWER["law"], "E": 1.5}},
    "allocation, D": CHINCHILLA | {"law": {"form": "allocation",
                                           "D": {"coefficient": 0.29, "exponent": 0.53}}},
    "allocation, N and D": CHINCHILLA | {"law": {
        "form": "allocation", "D": {"coefficient": 0.29, "exponent": 0.53},
        "N": {"coefficient": 1 / (6 * 0.29), "exponent": 0.47}}},
}


@st.composite
def closed_form_sweeps(draw):
    """A scenario with a closed form (any family, either objective, bounds or not) and an
    axis over one of the numbers the vectorised form takes: the law's own (its blocks'
    too), a price, FLOPs per token, the budget or target."""
    family = draw(st.sampled_from(sorted(FAMILIES)))
    data = copy.deepcopy(FAMILIES[family])
    base = solve(scenario(data))
    if not family.startswith("allocation") and draw(st.booleans()):
        data["objective"] = {"minimize": "cost",
                             "target_loss": base.loss * draw(st.floats(0.97, 0.999))}
    for r in ("N", "D"):  # a bound near the optimum: some points meet it
        kind = draw(st.sampled_from(["", "", "min", "max"]))
        if kind:
            data["resources"].setdefault(r, {})[kind] = (base.allocation[r]
                                                         * draw(st.floats(0.8, 1.25)))
    s = scenario(data)
    paths = [p for p in numeric_paths(s) if p.startswith(("law.", "objective.", "compute."))
             or p.endswith("unit_cost") and get_path(data, p)]
    path = draw(st.sampled_from(paths))
    value = get_path(s.model_dump(), path)
    return s, Axis(path, np.sort(value * np.exp(draw(st.lists(
        st.floats(-0.2, 0.2), min_size=1, max_size=5)))), False)


@settings(max_examples=250, deadline=None, derandomize=not EXPLORE)
@given(closed_form_sweeps())
def test_closed_form_sweeps_equal_a_solve_of_each_point(case):
    """Every point of a vectorised sweep, in every closed-form family with or without
    bounds, is the plan (or the refusal) of solving that point's scenario on its own."""
    s, axis = case
    result = sweep(s, [axis])
    for i, value in enumerate(axis.values):
        try:
            plan = solve(s.replace({axis.path: float(value)}))
        except OptimizerError:
            assert result.table["status"][i] != "optimal", (axis.path, value)
            continue
        assert result.table["status"][i] == "optimal", (axis.path, value,
                                                       result.table["reason"][i])
        # Closed forms agree to rounding (achieved: 0). Plans that Newton's method
        # certified (from the previous point in the sweep, from a cold start alone) agree
        # to within the certificate's tolerances (1e-6: the equal marginals, and the
        # budget spent; achieved: 4.5e-8).
        rel = 1e-14 if plan.method.startswith("closed_form") else 1e-6
        expected = {**plan.allocation, "cost": plan.cost} | (
            {"loss": plan.loss} if s.law.predicts_loss else {})
        for column, value in expected.items():
            assert result.table[column][i] == pytest.approx(value, rel=rel), column
