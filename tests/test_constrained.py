"""Fits with parameters held (--fix) or tied (--tie): recovery, runs counted, records."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from optimizer.cli import app
from optimizer.errors import ScenarioError
from optimizer.fitting.fit import bootstrap, cautions, constrain, fit, law_from, model_for
from optimizer.fitting.fitted import fit_scenario
from optimizer.fitting.runs import Runs


def csv_of(runs: Runs) -> str:
    return "N,D,loss\n" + "".join(f"{float(n)!r},{float(d)!r},{float(y)!r}\n"
                                   for n, d, y in zip(runs.N, runs.D, runs.loss, strict=True))


def runs_of(law, sizes=6, ratios=6, noise=0.0, seed=0) -> Runs:
    rng = np.random.default_rng(seed)
    N, ratio = np.meshgrid(np.geomspace(5e7, 5e9, sizes), np.geomspace(2, 200, ratios))
    N, D = N.ravel(), (N * ratio).ravel()
    loss = law.value({"N": N, "D": D}) * np.exp(noise * rng.standard_normal(N.size))
    return Runs(N, D, 6 * N * D, loss, np.arange(2, N.size + 2))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(E=st.floats(1.5, 2.2), A=st.floats(200, 800), B=st.floats(500, 3000),
       exponent=st.floats(0.25, 0.45), which=st.sampled_from(["tie", "fix E", "fix both"]))
def test_held_and_tied_parameters_recover_the_rest(E, A, B, exponent, which):
    truth = {"E": E, "A": A, "B": B, "alpha": exponent, "beta": exponent}
    runs = runs_of(law_from("chinchilla", truth))
    fixed, tied = {
        "tie": ({}, [["alpha", "beta"]]),
        "fix E": ({"E": E}, [["alpha", "beta"]]),
        "fix both": ({"E": E, "beta": exponent}, []),
    }[which]
    found = fit(runs, constrain(model_for("chinchilla"), fixed, tied))
    assert not found.problems
    assert found.values["alpha"] == found.values["beta"] or "beta" in fixed
    for name, value in fixed.items():
        assert found.values[name] == pytest.approx(value, rel=1e-12)
    for name, value in truth.items():
        # Noiseless runs: the fit recovers the law to about 4e-11.
        assert found.values[name] == pytest.approx(value, rel=1e-9), name


def test_kaplan_with_a_held_constant_recovers_the_others():
    truth = {"N_c": 8.8e13, "D_c": 5.4e13, "alpha_N": 0.076, "alpha_D": 0.095}
    runs = runs_of(law_from("kaplan", truth))
    for held in ("N_c", "D_c"):
        found = fit(runs, constrain(model_for("kaplan"), {held: truth[held]}))
        assert not found.problems
        for name, value in truth.items():
            # Noiseless runs: recovered to about 3e-10 (Kaplan's loss is flat in N_c).
            assert found.values[name] == pytest.approx(value, rel=1e-8), (held, name)


def test_five_runs_fit_four_free_parameters_with_a_warning():
    # Gadre et al. 2024 fit the over-training law with its exponents tied on five runs.
    truth = {"E": 1.9, "A": 400.0, "B": 1500.0, "alpha": 0.33, "beta": 0.33}
    N = np.array([5e7, 1e8, 2e8, 4e8, 8e8])
    D = N * np.array([20, 80, 5, 160, 40])
    loss = law_from("chinchilla", truth).value({"N": N, "D": D})
    runs = Runs(N, D, 6 * N * D, loss, np.arange(2, 7))
    free = model_for("chinchilla")
    with pytest.raises(ScenarioError, match="cannot determine"):
        fit(runs, free)  # five free parameters need six runs
    found = fit(runs, constrain(free, {}, [["alpha", "beta"]]))
    assert found.values["alpha"] == pytest.approx(0.33, rel=1e-8)  # noiseless: 3e-10
    (warning,) = [w for w in cautions(found) if "degree" in w]
    assert "1 degree of freedom" in warning


def test_the_bootstrap_respects_ties_and_held_values():
    truth = {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.35}
    runs = runs_of(law_from("chinchilla", truth), noise=0.005)
    model = constrain(model_for("chinchilla"), {"E": 1.8}, [["alpha", "beta"]])
    boot = bootstrap(fit(runs, model), 20, seed=0)
    assert boot.names == ("E", "A", "B", "alpha", "beta")
    column = dict(zip(boot.names, boot.samples.T, strict=True))
    assert np.all(column["E"] == 1.8)
    assert np.array_equal(column["alpha"], column["beta"])
    assert np.ptp(column["alpha"]) > 0


@pytest.mark.parametrize(("fixed", "tied", "message"), [
    ({"gamma": 1.0}, [], "parameters are E, A, B, alpha, beta"),
    ({}, [["alpha", "gamma"]], "parameters are E, A, B, alpha, beta"),
    ({}, [["alpha", "A"]], "cannot be tied to a coefficient"),
    ({"alpha": -0.3}, [], "alpha is positive"),
    ({"E": 0.0}, [], "must be positive"),
    ({"E": 1.8}, [["E", "A"]], "one tie and not also fixed"),
    ({}, [["alpha"]], "write two names"),
])
def test_bad_constraints_name_the_option_and_the_laws_parameters(fixed, tied, message):
    with pytest.raises(ScenarioError, match=message):
        constrain(model_for("chinchilla"), fixed, tied)


def test_the_command_fits_records_and_reports_constraints(tmp_path):
    truth = {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.35}
    runs = runs_of(law_from("chinchilla", truth), noise=0.002)
    csv = tmp_path / "runs.csv"
    csv.write_text(csv_of(runs))
    out = tmp_path / "fitted.yaml"
    result = CliRunner().invoke(app, ["fit", str(csv), "--law", "chinchilla", "--tie",
                                      "alpha=beta", "--fix", "E=1.8", "--bootstrap", "0",
                                      "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["law"]["E"] == 1.8
    assert data["law"]["alpha"] == data["law"]["beta"]
    assert data["options"]["fix"] == "E=1.8"
    assert data["options"]["tie"] == "alpha=beta"
    assert isinstance(data["warnings"], list)
    written = yaml.safe_load(out.read_text())
    assert written["fit"]["options"]["tie"] == "alpha=beta"
    bad = CliRunner().invoke(app, ["fit", str(csv), "--tie", "alpha=gamma"])
    assert bad.exit_code == 2
    assert "alpha, beta" in bad.output
    assert "gamma" in bad.output


def test_the_library_takes_the_same_constraints(tmp_path):
    truth = {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.35}
    runs = runs_of(law_from("chinchilla", truth))
    csv = tmp_path / "runs.csv"
    csv.write_text(csv_of(runs))
    outcome = fit_scenario(csv, fix={"E": 1.8}, tie=[("alpha", "beta")], samples=0)
    assert outcome.scenario.law.E == 1.8
    assert outcome.fit.model.size == 3


def test_uncertainty_from_a_constrained_fit_leaves_held_parameters_out(tmp_path):
    from optimizer import load_scenario, uncertainty
    from optimizer.fitting.fitted import write_fit

    truth = {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.35}
    csv = tmp_path / "runs.csv"
    csv.write_text(csv_of(runs_of(law_from("chinchilla", truth), noise=0.005)))
    out = tmp_path / "fitted.yaml"
    write_fit(fit_scenario(csv, fix={"E": 1.8}, samples=40), out)
    result = uncertainty(load_scenario(out), 30, scenario_path=out, sobol=False)
    assert "law.E" not in result.inputs
    assert {"law.A", "law.alpha"} <= set(result.inputs)
