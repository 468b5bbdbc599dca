import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer import fit_scenario, load_scenario, solve, write_fit
from optimizer.analysis.uncertainty import declared, draw, uncertainty
from optimizer.errors import ScenarioError

from .conftest import CHINCHILLA, EXPLORE, ROOT, build, scenario
from .test_cli import run, write

UNCERTAIN = build(CHINCHILLA, **{"uncertainty": {
    "fields": {"law.alpha": {"dist": "normal", "mean": 0.34, "sd": 0.01},
               "law.beta": {"dist": "normal", "mean": 0.28, "sd": 0.01},
               "law.E": {"dist": "lognormal", "median": 1.69, "sigma": 0.02}},
    "correlations": [{"a": "law.alpha", "b": "law.beta", "rho": 0.6}]}})


def test_draws_follow_their_marginals_and_correlation():
    names, marginals, correlation = declared(scenario(UNCERTAIN))
    values = draw(marginals, correlation, 40000, np.random.default_rng(0))
    alpha, beta, E = values
    assert names == ["law.alpha", "law.beta", "law.E"]
    # Sampling error of 40,000 draws: each bound is about 5 standard errors of its
    # estimate (mean 5e-5, sd and log sd 0.35%, median 1.25e-4, correlation 0.0032,
    # a zero correlation 0.005).
    assert alpha.mean() == pytest.approx(0.34, abs=3e-4)
    assert alpha.std() == pytest.approx(0.01, rel=0.02)
    assert np.median(E) == pytest.approx(1.69, rel=6e-4)
    assert np.log(E).std() == pytest.approx(0.02, rel=0.02)
    assert np.corrcoef(alpha, beta)[0, 1] == pytest.approx(0.6, abs=0.02)
    assert abs(np.corrcoef(alpha, E)[0, 1]) < 0.02


def test_uncorrelated_draws_are_one_stream_input_by_input():
    """Drawn input by input, uncorrelated scores are the rows of one (k, n) draw."""
    data = build(CHINCHILLA, **{"uncertainty": {"fields": {
        "law.alpha": {"dist": "normal", "mean": 0.34, "sd": 0.01},
        "law.E": {"dist": "uniform", "low": 1.6, "high": 1.8}}}})
    _, marginals, correlation = declared(scenario(data))
    values = draw(marginals, correlation, 500, np.random.default_rng(7))
    scores = np.random.default_rng(7).standard_normal((2, 500))
    for m, column, score in zip(marginals, values, scores, strict=True):
        np.testing.assert_array_equal(column, m.from_score(score))


def test_a_distribution_outside_its_field_is_named_beside_valid_ones():
    """All fields are checked at one quantile at once; a failure names only the culprit."""
    data = build(CHINCHILLA, **{"uncertainty": {"fields": {
        "law.alpha": {"dist": "normal", "mean": 0.34, "sd": 0.01},
        "law.E": {"dist": "normal", "mean": 0.05, "sd": 0.05}}}})
    with pytest.raises(ScenarioError) as caught:
        declared(scenario(data))
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith(
        "uncertainty.fields.law.E: the normal distribution's 1% quantile, -0.0663")


def test_regret_holds_the_plan_to_each_samples_own_target_and_budget():
    """An uncertain target (here through the downstream mapping's gamma) or budget: the
    point-estimate plan misses a sample's target, or overruns its budget, by that sample's
    own numbers, not the nominal ones (it once compared with the nominal, and so reported
    that the plan never missed)."""
    gadre = load_scenario(ROOT / "scenarios" / "gadre_downstream.yaml")
    result = uncertainty(gadre, 2000, sobol=False, seed=3)
    gamma = result.inputs["downstream.gamma"]
    # Err = eps - k exp(-gamma L) at the target error: the needed loss falls as gamma
    # rises, so the nominal plan (which reaches the target at the nominal gamma) misses
    # exactly the samples with a larger gamma.
    assert gadre.downstream is not None
    expected = np.mean(gamma > gadre.downstream.gamma)
    assert 0.2 < expected < 0.8
    assert result.regret()["misses_target_share"] == pytest.approx(expected, abs=1e-15)

    shown = run("uncertainty", ROOT / "scenarios" / "gadre_downstream.yaml", "--samples",
                "400", "--no-sobol")
    assert shown.exit_code == 0, shown.output
    assert "the point estimate misses its target in" in " ".join(shown.output.split())

    budget = build(CHINCHILLA, **{"uncertainty": {"fields": {
        "objective.budget": {"dist": "lognormal", "median": 5.76e23, "sigma": 0.1}}}})
    result = uncertainty(scenario(budget), 2000, sobol=False, seed=4)
    over = np.mean(result.inputs["objective.budget"] < 5.76e23 * (1 - 1e-9))
    assert result.regret()["over_budget_share"] == pytest.approx(over, abs=1e-15)
    assert 0.3 < over < 0.7


def test_a_floor_that_does_not_move_the_plan_has_no_regret():
    """Only E is uncertain: the optimal N and D do not depend on E, so committing to the
    point estimate costs nothing, and all of L*'s variance is E's (Sobol S1 = 1)."""
    data = build(CHINCHILLA, **{"uncertainty": {"fields": {
        "law.E": {"dist": "uniform", "low": 1.6, "high": 1.8}}}})
    result = uncertainty(scenario(data), 300, seed=1)
    assert np.ptp(result.table["N"]) <= 1e-14 * result.table["N"][0]  # achieved: 0
    regret = result.regret()
    assert regret["expected"] == pytest.approx(0, abs=1e-14)  # achieved: 0
    # Saltelli's estimator on 300 samples: achieved 0.006.
    assert result.sobol["loss"]["law.E"]["S1"] == pytest.approx(1, abs=0.05)
    assert "N" not in result.sobol  # constant: nothing to apportion


def test_uncertain_exponents_quantiles_regret_and_robust_plan():
    result = uncertainty(scenario(UNCERTAIN), 400, seed=2, robust=True)
    assert result.solved.all()
    q = result.quantiles()
    nominal = result.nominal
    assert q["N"][0.05] < nominal.allocation["N"] < q["N"][0.95]
    regret = result.regret()
    assert regret["expected"] > 0
    assert regret["worst_decile_mean"] >= regret["expected"]
    assert regret["over_budget_share"] == 0.0
    # Regret of one sample, recomputed by hand: the committed plan's loss under its law.
    i = 7
    alpha, beta, E = (result.inputs[p][i] for p in ("law.alpha", "law.beta", "law.E"))
    N, D = nominal.allocation["N"], nominal.allocation["D"]
    by_hand = E + 406.4 * N**-alpha + 410.7 * D**-beta
    assert result.table["committed_loss"][i] == pytest.approx(by_hand, rel=1e-14)  # 1e-16
    assert result.table["committed_loss"][i] >= result.table["loss"][i]
    robust = result.robust
    assert robust is not None
    assert robust["expected_loss"] <= robust["nominal_expected_loss"] + 1e-12
    assert robust["C"] == pytest.approx(5.76e23, rel=1e-13)  # achieved: 1.7e-15
    assert any("independent inputs" in n for n in result.notes)


def test_bootstrap_source_from_a_fit(tmp_path):
    outcome = fit_scenario(ROOT / "scenarios" / "example_runs.csv", samples=40, budget=1e22)
    path = tmp_path / "fitted.yaml"
    write_fit(outcome, path)
    result = uncertainty(load_scenario(path), 60, scenario_path=path, seed=0)
    assert result.source == "bootstrap"
    assert set(result.inputs) == {"law.E", "law.A", "law.B", "law.alpha", "law.beta"}
    assert result.solved.all()
    assert "loss" in result.sobol


@pytest.mark.parametrize(("fields", "message"), [
    ({"law.alpha": {"dist": "normal", "mean": 0.3}},
     "law.alpha: a normal distribution takes mean and sd; missing sd"),
    ({"law.alpha": {"dist": "normal", "mean": 0.3, "sd": -1}},
     "law.alpha.sd: got -1; must be greater than 0"),
    ({"law.alpha": {"dist": "uniform", "low": 0.4, "high": 0.3}},
     "law.alpha: uniform needs low < high, got low 0.4, high 0.3"),
    ({"law.alpha": {"dist": "lognormal", "median": 0.3, "sigma": 0.1, "sd": 1}},
     "law.alpha: a lognormal distribution takes median and sigma; remove sd"),
    ({"law.alpha": {"dist": "gamma", "mean": 1}},
     "law.alpha.dist: got 'gamma'; must be 'normal', 'lognormal' or 'uniform'"),
])
def test_impossible_distributions_exit_2(tmp_path, fields, message):
    path = write(tmp_path, build(CHINCHILLA, **{"uncertainty": {"fields": fields}}))
    result = run("uncertainty", path, "--samples", "10")
    assert result.exit_code == 2, result.output
    # The whole message, after the file's name: the folder is named after this test.
    assert f"{path}: uncertainty.fields.{message}" in " ".join(result.stderr.split())


@pytest.mark.parametrize(("block", "message"), [
    ({"fields": {"law.gamma": {"dist": "normal", "mean": 1, "sd": 1}}},
     "uncertainty.fields.law.gamma: not a numeric field"),
    ({"fields": {"law.alpha": {"dist": "normal", "mean": 0.34, "sd": 0.01},
                 "law.beta": {"dist": "normal", "mean": 0.28, "sd": 0.01},
                 "law.E": {"dist": "normal", "mean": 1.69, "sd": 0.01}},
      "correlations": [{"a": "law.alpha", "b": "law.beta", "rho": 0.9},
                       {"a": "law.alpha", "b": "law.E", "rho": 0.9},
                       {"a": "law.beta", "b": "law.E", "rho": -0.9}]},
     "not positive definite"),
    ({"fields": {"law.alpha": {"dist": "normal", "mean": 0.34, "sd": 0.01}},
      "correlations": [{"a": "law.alpha", "b": "law.A", "rho": 0.5}]},
     "must be two different fields declared"),
])
def test_bad_uncertainty_blocks(block, message):
    with pytest.raises(ScenarioError, match=message):
        uncertainty(scenario(build(CHINCHILLA, uncertainty=block)), 10)


def test_no_source_and_zero_samples():
    with pytest.raises(ScenarioError, match="declares no distributions"):
        uncertainty(scenario(CHINCHILLA), 10)
    with pytest.raises(ScenarioError, match="--samples 0"):
        uncertainty(scenario(UNCERTAIN), 0)


def test_cli_uncertainty(tmp_path):
    from .test_plots import assert_png_drawn

    path = write(tmp_path, UNCERTAIN)
    chart = tmp_path / "u.png"
    result = run("uncertainty", path, "--samples", "200", "--robust", "--plot", chart, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["command"] == "uncertainty"
    assert data["solved"] == 200
    # The numbers reported are the library's at the same seed (the command's default, 0),
    # for the scenario as written (its fields in the file's order, which is the draws').
    expected = uncertainty(load_scenario(path), 200, seed=0, robust=True)
    quantiles = expected.quantiles()
    assert data["quantiles"] == {key: {str(q): v for q, v in levels.items()}
                                 for key, levels in quantiles.items()}
    assert data["regret"] == expected.regret()
    assert data["robust"]["expected_loss"] <= data["robust"]["nominal_expected_loss"]
    assert_png_drawn(chart)
    human = run("uncertainty", path, "--samples", "200", "--no-sobol")
    text = " ".join(human.output.split())
    assert "chinchilla: 200 of 200 samples solved (scenario)" in text
    regret = expected.regret()
    assert (f"regret of committing to the point estimate: expected {regret['expected']:.4g} "
            f"loss, worst decile {regret['worst_decile_mean']:.4g}, max "
            f"{regret['max']:.4g}") in text
    N = next(line.split("│")[2:-1] for line in human.output.splitlines()
             if line.startswith("│ N "))
    assert [cell.strip() for cell in N] == [f"{v:.4g}" for v in (
        expected.nominal.allocation["N"], *quantiles["N"].values())]


def test_every_bundled_scenario_has_an_uncertainty_analysis(scenario_file):
    result = uncertainty(load_scenario(scenario_file), 40, seed=3)
    assert result.source == "scenario"
    assert result.solved.mean() > 0.9
    if result.nominal.scenario.law.predicts_loss:
        assert result.regret()["expected"] >= 0
    else:  # nothing to regret without a loss
        assert result.regret() == {}
    assert result.sobol


def _power_law_cost():
    """default.yaml (a power law) asked for the cheapest plan to reach a loss."""
    data = load_scenario(ROOT / "scenarios" / "default.yaml").model_dump(exclude_unset=True)
    return scenario(data | {"objective": {"minimize": "cost", "target_loss": 0.5}})


@settings(max_examples=60, deadline=None, derandomize=not EXPLORE)
@given(case=st.sampled_from(["chinchilla_gopher.yaml", "chinchilla_cost.yaml", "default.yaml",
                             "llama3_allocation.yaml", "gadre_downstream.yaml",
                             "power law, cost"]),
       seed=st.integers(0, 2**16), spread=st.floats(0.005, 0.05))
def test_vectorised_samples_equal_the_sample_by_sample_solves(case, seed, spread):
    """The vectorised closed form of the uncertainty analysis (issue 17) and one solve per
    sample agree to 1e-14 on random draws of the law's numbers (a block's too, as a power
    law's exponents and an allocation's halves), a downstream mapping's, a price and the
    budget or target (a target error too), the committed plan's loss and cost included."""
    from optimizer.solvers import many
    from optimizer.solvers.many import solve_many, solve_points

    s = _power_law_cost() if case == "power law, cost" else load_scenario(
        ROOT / "scenarios" / case)
    rng = np.random.default_rng(seed)
    numbers = {}
    for part, model in (("law", s.law), ("downstream", s.downstream)):
        for key, value in (model.model_dump(exclude={"fit"}) if model else {}).items():
            block = value if isinstance(value, dict) else {"": value}
            numbers |= {f"{part}.{key}.{k}".rstrip("."): float(v) for k, v in block.items()
                        if isinstance(v, float) and v != 0}
    numbers["resources.C.unit_cost" if s.unit_cost("C") else "resources.N.unit_cost"] = (
        s.unit_cost("C") or s.unit_cost("N"))
    goal = ("budget", s.objective.budget) if s.objective.minimize == "loss" else (
        s.objective.target)
    numbers[f"objective.{goal[0]}"] = goal[1]
    inputs = {path: value * np.exp(spread * rng.standard_normal(60))
              for path, value in numbers.items()}
    committed = solve(s).allocation
    redone = []

    def spy(scenario, inputs, points, *args):
        redone.extend(points)
        return solve_points(scenario, inputs, points, *args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(many, "solve_points", spy)
        fast, route = solve_many(s, inputs, tol=1e-6, committed=committed)
    slow = solve_points(s, inputs, np.arange(60), 1e-6, 1, None, committed=committed)
    assert route == "closed_form"
    # The vectorised form certifies every point that has a plan (none of these meets a
    # bound); only points without one are left to the general route, to say why.
    assert not any(slow["status"][i] == "optimal" for i in redone)
    assert list(fast["status"]) == list(slow["status"])
    for name in ("N", "D", "C", "loss", "cost", "committed_loss", "committed_cost"):
        np.testing.assert_allclose(fast[name], slow[name], rtol=1e-14,  # achieved: 0
                                   err_msg=name)
