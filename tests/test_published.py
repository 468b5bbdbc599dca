"""Published results, recomputed from each paper's inputs (sources cited per test).

Every expected number below is a figure printed in the cited source. The code path
only receives the paper's inputs (constants, budgets, demands); the optimum is also
cross-checked against an independent root of the loss's slope along the budget.

Tolerances: a figure printed in a paper is checked to half a unit of its last printed
digit (``abs=``), since that is all the paper says; a number recomputed here is checked
to about 10-100 times the error the code achieves, or to the stated limit of the
independent check where that is coarser.
"""

import itertools
import math

import numpy as np
import pytest
from scipy.optimize import brentq, minimize_scalar

from optimizer import load_scenario, solve
from optimizer.analysis.findings import inference_shift

from .conftest import CHINCHILLA, ROOT, build, scenario

GOPHER_FLOPS = 5.76e23  # Hoffmann et al. 2022, section 3.4 / Rae et al. 2021: Gopher's compute


def iso_flop_optimum(law: dict, flops: float) -> tuple[float, float]:
    """Independent check: the root in log N of the slope of L(N, C/6N),
    -alpha A N^-alpha + beta B D^-beta, by bracketing (not the closed form); a root is
    located to rounding, where a minimum found by comparing losses is only located to
    about the square root of it (1e-8)."""
    def slope(log_n: float) -> float:
        N = math.exp(log_n)
        D = flops / (6 * N)
        return -law["alpha"] * law["A"] * N ** -law["alpha"] + law["beta"] * law["B"] * (
            D ** -law["beta"])

    log_n = brentq(slope, math.log(1e6), math.log(flops / 6 / 1e6), xtol=1e-15, rtol=1e-15)
    N = math.exp(log_n)
    return N, flops / (6 * N)


def chinchilla_plan(**law):
    return solve(scenario(CHINCHILLA, **{f"law.{k}": v for k, v in law.items()},
                          **{"objective.budget": GOPHER_FLOPS}))


def test_hoffmann_eq4_printed_constants_give_32b_not_40b():
    """Hoffmann et al. 2022, eq. 4 with the eq. 10 constants as printed (alpha 0.34,
    beta 0.28). The closed form gives 32.2B parameters at Gopher's budget, not the
    paper's "about 40B": the printed exponents are rounded (Besiroglu et al. 2024, sec. 4).
    """
    plan = chinchilla_plan(alpha=0.34, beta=0.28)
    assert plan.method == "closed_form:chinchilla"
    N, D = iso_flop_optimum(CHINCHILLA["law"], GOPHER_FLOPS)
    assert plan.allocation["N"] == pytest.approx(N, rel=1e-13)  # achieved: 1.3e-15
    assert plan.allocation["D"] == pytest.approx(D, rel=1e-13)
    assert plan.allocation["N"] == pytest.approx(32.2e9, abs=0.05e9)  # as stated above
    assert abs(plan.allocation["N"] / 40e9 - 1) > 0.15  # the documented discrepancy


def test_hoffmann_eq4_unrounded_constants_give_about_40b():
    """Hoffmann et al. 2022: at Gopher's budget their parametric fit (approach 3) gives a
    compute-optimal model of about 40B parameters. That needs the unrounded exponents
    of the paper's TeX source (alpha 0.3392, beta 0.2849, as quoted by Besiroglu et al.
    2024, sec. 4); A, B, E are as printed.
    """
    plan = chinchilla_plan(alpha=0.3392, beta=0.2849)
    law = build(CHINCHILLA, **{"law.alpha": 0.3392, "law.beta": 0.2849})["law"]
    N, _ = iso_flop_optimum(law, GOPHER_FLOPS)
    assert plan.allocation["N"] == pytest.approx(N, rel=1e-13)  # achieved: 1.8e-15
    assert plan.allocation["N"] == pytest.approx(40e9, abs=0.5e9)  # "40B", two digits
    assert plan.allocation["C"] == pytest.approx(GOPHER_FLOPS, rel=1e-13)  # 3.3e-15


def test_besiroglu_refit_implies_chinchilla_allocation():
    """Besiroglu et al. 2024, "Chinchilla Scaling: A replication attempt", Table/eq. for
    their refit: E 1.8172, A 482.01, B 2085.43, alpha 0.3478, beta 0.3658. They report that
    it agrees with Hoffmann's approaches 1 and 2, i.e. with Chinchilla itself (70B
    parameters, 1.4T tokens, about 20 tokens per parameter, at Gopher's compute).
    """
    law = {"E": 1.8172, "A": 482.01, "B": 2085.43, "alpha": 0.3478, "beta": 0.3658}
    plan = chinchilla_plan(**law)
    N, D = iso_flop_optimum(law, GOPHER_FLOPS)
    assert plan.allocation["N"] == pytest.approx(N, rel=1e-13)  # achieved: 2.4e-15
    # Not an exact answer: a refit agreeing with a trained model's size (72.2B on 1.33T
    # tokens against 70B on 1.4T), within the 5% and 6% the claim allows.
    assert plan.allocation["N"] == pytest.approx(70e9, rel=0.05)
    assert plan.allocation["D"] == pytest.approx(1.4e12, rel=0.06)
    assert 17 < plan.allocation["D"] / plan.allocation["N"] < 21


SARDANA = build(CHINCHILLA, **{
    "law.alpha": 0.336, "law.beta": 0.283,  # their utils.ChinchillaConstants defaults
    "resources": {"C": {"unit_cost": 1}},
    "inference": {"tokens": 2e12},
    "objective": {"minimize": "cost", "target_loss": 1.947}})


def test_sardana_frankle_compute_optimal_with_inference():
    """Sardana et al. 2024 (arXiv 2401.00448), released code README:
    ``compute_optimal.py --loss 1.947 --inference_tokens 2e12`` prints N = 2.418e+10,
    D = 2.657e+12, "70.96% of the parameters", "146.77% of the tokens" and "95.22%" of
    the FLOPs of an equal-quality Chinchilla-style model.
    """
    from optimizer import parse_scenario

    plan = solve(parse_scenario(SARDANA))
    assert plan.certificate.optimal
    assert plan.allocation["N"] == pytest.approx(2.418e10, abs=0.0005e10)  # as printed
    assert plan.allocation["D"] == pytest.approx(2.657e12, abs=0.0005e12)
    shift = inference_shift(plan)
    assert shift is not None
    assert round(100 * shift.parameter_ratio, 2) == 70.96
    assert round(100 * shift.token_ratio, 2) == 146.77
    assert round(100 * shift.cost_ratio, 2) == 95.22


MUENNIGHOFF_FIT = [6.255414, 7.3049974, 0.6254804, 0.3526596, 0.3526596, 15.387756, 5.309743]
"""Muennighoff et al. 2023, released fit (datablations README): a, b, e, alpha, beta,
R_D*, R_N*, with A = exp(a), B = exp(b), E = exp(e)."""


def muennighoff(**changes):
    a, b, e, alpha, beta, rd, rn = MUENNIGHOFF_FIT
    return scenario(build(CHINCHILLA, **{
        "law": {"form": "data_constrained", "E": math.exp(e), "A": math.exp(a),
                "B": math.exp(b), "alpha": alpha, "beta": beta, "R_D_star": rd,
                "R_N_star": rn},
        "data": {"unique_tokens": 25e9}}), **changes)


@pytest.mark.parametrize(("N", "D", "printed"), [
    (6.34e9, 242e9, 2.2256440889984477),
    (8.67e9, 178e9, 2.2269634075087867),
])
def test_muennighoff_effective_data_loss(N, D, printed):
    """Muennighoff et al. 2023, datablations README "Parametric Fit": the two models of
    their Figure 1 (right), with 25B unique tokens; the README prints these losses."""
    law = muennighoff().law
    assert float(law.value({"N": N, "D": D, "U": 25e9})) == pytest.approx(printed, rel=1e-14)


def test_muennighoff_data_constrained_optimum():
    """Muennighoff et al. 2023, datablations README: at the compute of the 8.67B model
    on 178B tokens with 25B unique tokens, their grid search (steps of about 0.4%)
    reports "227B tokens, 9.1 epochs, 6.8B parameters"."""
    budget = 6 * 8.67e9 * 178e9
    plan = solve(muennighoff(**{"objective.budget": budget}))
    assert plan.method.startswith("scipy:SLSQP")
    assert plan.certificate.optimal
    N, D = plan.allocation["N"], plan.allocation["D"]
    # Their answer is a grid point (steps of 0.4%: up to 0.2% from the optimum), printed
    # to two or three digits (half a unit of the last).
    assert N == pytest.approx(6.8e9, abs=0.002 * 6.8e9 + 0.05e9)
    assert D == pytest.approx(227e9, abs=0.002 * 227e9 + 0.5e9)
    assert D / 25e9 == pytest.approx(9.1, abs=0.05)  # one decimal (achieved: 0.026)
    # Independent check along the iso-FLOP curve with the law's own value.
    law = plan.scenario.law

    def loss(log_n: float) -> float:
        n = math.exp(log_n)
        return float(law.value({"N": n, "D": budget / (6 * n), "U": 25e9}))

    found = minimize_scalar(loss, bounds=(np.log(1e9), np.log(5e10)), method="bounded",
                            options={"xatol": 1e-9})
    # A minimum found by comparing losses is located only to about the square root of
    # the rounding (achieved: 2e-8), not to the plan's precision.
    assert N == pytest.approx(math.exp(found.x), rel=1e-6)
    assert plan.loss <= loss(math.log(6.8e9))  # no worse than their rounded answer


# ------------------------------------------------------------- fitting (Besiroglu)

def besiroglu_fit():
    from optimizer.fitting.fit import fit, model_for
    from optimizer.fitting.runs import read_runs

    from .conftest import shared

    runs = read_runs(shared("chinchilla_svg_extracted.csv")).drop_highest_loss(5)
    return fit(runs, model_for("chinchilla"))


def test_besiroglu_refit_lands_within_a_tenth_of_their_standard_errors():
    """Besiroglu et al. 2024 (arXiv:2404.10102), sec. 3 and table 1: Huber (delta 1e-3)
    on log residuals, fitted to the 245 runs they extracted from Hoffmann et al. 2022's
    Figure 4 less the five of highest loss, gives E 1.817 (0.026), A 482.0 (124.5),
    B 2085.4 (1293), alpha 0.3478 (0.0154), beta 0.3658 (0.0206). Our fit of the same
    runs lands within a tenth of their standard error of each estimate, as README.md
    and docs/fitting.md say (measured: 0.008, 0.034, 0.045, 0.032 and 0.067 of one)."""
    from .conftest import BESIROGLU

    result = besiroglu_fit()
    assert len(result.runs) == 240
    assert not result.problems
    for name, (estimate, error) in BESIROGLU.items():
        assert abs(result.values[name] - estimate) <= 0.1 * error, name


def test_besiroglu_bootstrap_errors_match_theirs():
    """Their standard errors come from a bootstrap of the same runs; ours (200 resamples)
    should agree with each within a factor of 1.5."""
    from optimizer.fitting.fit import bootstrap

    from .conftest import BESIROGLU

    errors = bootstrap(besiroglu_fit(), 200, seed=0, jobs=2).standard_errors()
    for name, (_, error) in BESIROGLU.items():
        assert error / 1.5 <= errors[name] <= error * 1.5, (name, errors[name], error)


def test_no_start_of_hoffmanns_grid_beats_our_fit():
    """Hoffmann et al. 2022, appendix D.2, start L-BFGS from a grid of 4,500 points
    (alpha, beta in {0, 0.5, ..., 2}, e in {-1, -0.5, ..., 1}, a, b in {0, 5, ..., 25}),
    as the public toolkits do. Every 50th start (90 of them, in their order) must end no
    better than our variable-projection fit. The benchmark runs all 4,500."""
    import itertools

    from scipy.optimize import minimize

    from optimizer.fitting.fit import huber

    result = besiroglu_fit()
    model, runs = result.model, result.runs
    logs = {r: np.log(v) for r, v in runs.amounts().items()}

    def objective(theta):
        prediction, jac, _ = model.log_predict(theta, logs)
        r = prediction - np.log(runs.loss)
        return huber(r, 1e-3).sum() / 1e-3, jac @ np.clip(r, -1e-3, 1e-3) / 1e-3

    grid = list(itertools.product(np.arange(0, 2.5, 0.5), np.arange(0, 2.5, 0.5),
                                  np.arange(-1, 1.5, 0.5), np.arange(0, 30, 5),
                                  np.arange(0, 30, 5)))
    assert len(grid) == 4500
    best = min(minimize(objective, np.array([e, a, b, alpha, beta]), jac=True,
                        method="L-BFGS-B").fun
               for alpha, beta, e, a, b in grid[::50])
    assert result.objective <= best * (1 + 1e-9)


def test_kaplan_joint_law_optimum_grows_as_c_to_one_over_one_plus_p_not_073():
    # Kaplan et al. 2020: eq. 1.5 is the joint law; eq. 1.7 / Section 6 give the
    # compute-efficient frontier N ~ C_min^0.73, which comes from L(N, S) (eq. 1.6).
    # Under C = 6ND the joint law's optimum has N* ~ C^(1 / (1 + alpha_N / alpha_D)).
    from pathlib import Path

    from optimizer import load_scenario, sweep

    kaplan = load_scenario(Path(__file__).resolve().parent.parent / "scenarios" / "kaplan.yaml")
    frontier = sweep(kaplan, "objective.budget=1e19:1e25:log:7")
    assert set(frontier.table["status"]) == {"optimal"}
    slope = np.polyfit(np.log(frontier.table["C"]), np.log(frontier.table["N"]), 1)[0]
    expected = 1 / (1 + kaplan.law.alpha_N / kaplan.law.alpha_D)
    assert slope == pytest.approx(expected, rel=1e-14)  # achieved: 4e-16
    root = Path(__file__).resolve().parent.parent  # the docs state the computed figure
    assert f"C^{expected:.3f}" in (root / "docs" / "theory.md").read_text()
    assert f"C^{expected:.3f}" in (root / "scenarios" / "kaplan.yaml").read_text()
    assert abs(slope - 0.73) > 0.15


# Muennighoff et al. 2023, datablations notebook utils/parametric_fit.ipynb (commit
# 1370131), cell 29: the base law held at the C4 fit, in the notebook's own logs.
C4_BASE = {"E": math.exp(0.6254804), "A": math.exp(6.255414), "B": math.exp(7.3049974),
           "alpha": 0.3526596, "beta": 0.3526596}
NOTEBOOK_DECAYS = {"R_D_star": 15.387756, "R_N_star": 5.309743}
NOTEBOOK_OBJECTIVE = 0.015825936570763588  # cell 29's "Min Loss" (summed Huber, delta 1e-3)


def _datablations():
    from pathlib import Path

    from optimizer.fitting.runs import read_runs

    return read_runs(Path(__file__).parent / "data" / "datablations_runs.csv")


def test_datablations_objective_is_ours_and_their_decays_a_local_minimum():
    """The notebook's 182 runs: at its published R_D*, R_N* our objective equals the
    notebook's reported minimum (the same law, loss and data), and a polish from there
    stays there: a local minimum of the same objective."""
    from optimizer.fitting.fit import constrain, fit, huber, model_for

    runs = _datablations()
    assert len(runs) == 182
    model = model_for("data_constrained")
    logs = {r: np.log(v) for r, v in runs.inputs().items()}
    theta = model.theta({**C4_BASE, **NOTEBOOK_DECAYS})
    ours = huber(model.log_predict(theta, logs)[0] - np.log(runs.loss), 1e-3).sum()
    # The notebook prints its constants to 7 or 8 digits: at the printed constants its
    # objective is 8e-8 above its minimum at the unrounded ones.
    assert ours == pytest.approx(NOTEBOOK_OBJECTIVE, rel=1e-6)
    held = constrain(model, C4_BASE)
    local = fit(runs, held, starts=0, extra=[np.log(list(NOTEBOOK_DECAYS.values()))])
    for name, value in NOTEBOOK_DECAYS.items():  # the notebook's L-BFGS stops 0.1% short
        assert local.values[name] == pytest.approx(value, rel=2e-3)


def test_datablations_global_fit_beats_the_notebooks_local_one():
    """Our search over a grid of decay constants finds a lower objective on the same
    runs than the notebook's L-BFGS (R_D* about 47, R_N* about 2.3, 0.12% lower): the
    runs leave a long valley from (10, 8) to (100, 2) that barely separates the two
    (docs/fitting.md). The bootstrap says so: R_D*'s interval spans orders of magnitude."""
    from optimizer.fitting.fit import bootstrap, constrain, fit, model_for

    runs = _datablations()
    result = fit(runs, constrain(model_for("data_constrained"), C4_BASE))
    assert not result.problems
    assert result.objective * result.delta < NOTEBOOK_OBJECTIVE * (1 - 1e-3)
    assert 30 < result.values["R_D_star"] < 70
    assert 1.5 < result.values["R_N_star"] < 3.5
    low, high = bootstrap(result, 100, seed=0).interval(0.95)["R_D_star"]
    assert low < NOTEBOOK_DECAYS["R_D_star"]
    assert high / low > 50


def _gadre():
    """Gadre et al. 2024's five RedPajama fitting runs and their two targets
    (tests/data/README.md): (N, D, loss) arrays of each."""
    import csv
    from pathlib import Path

    with (Path(__file__).parent / "data" / "gadre_rpj_runs.csv").open() as file:
        rows = list(csv.DictReader(file))

    def pick(role):
        return [np.array([float(r[k]) for r in rows if r["role"] == role])
                for k in ("N", "D", "loss")]
    return pick("fit"), pick("target")


def gadre_predicted_losses() -> np.ndarray:
    """The two targets' losses as Gadre et al.'s own estimator predicts them: their law
    alpha N^b + beta 6^(b/2) (M N)^b + E, fitted by least squares from their grid of starts
    (scaling/laws.py::curve_fit_powlaw_ours) to the five runs."""
    from scipy.optimize import curve_fit

    (N, D, loss), (N_t, D_t, _) = _gadre()

    def law(x, a, b_, b, E):
        n, m = x
        return a * n**b + b_ * 6 ** (b / 2) * (m * n) ** b + E

    best = (math.inf, None)
    for start in itertools.product([1e2, 3e2, 1e3, 3e3], [1e2, 3e2, 1e3, 3e3], [-0.1, -0.3],
                                   [0.0, 1.0, 2.0, 10.0]):
        try:
            found, _ = curve_fit(law, np.array([N, D / N]), loss, p0=start, maxfev=10000)
        except RuntimeError:
            continue
        spread = float(np.sum((loss - law(np.array([N, D / N]), *found)) ** 2))
        best = min(best, (spread, found), key=lambda pair: pair[0])
    return law(np.array([N_t, D_t / N_t]), *best[1])


def test_gadre_over_training_prediction_errors_recomputed_from_their_runs():
    """Gadre et al. 2024 (mlfoundations/scaling, scaling_explorer.ipynb output): their own
    fit (:func:`gadre_predicted_losses`) predicts the 1.4B model at M = 640 and the 6.9B at
    M = 20 with relative errors 0.7103% and 0.7320%."""
    _, (_, _, loss_t) = _gadre()
    errors = gadre_predicted_losses() / loss_t - 1
    # Printed to four decimals: ours (0.710335, 0.732046) round to the same.
    np.testing.assert_allclose(100 * errors, [0.7103, 0.7320], rtol=0, atol=5e-5)


def test_tied_fit_of_gadres_five_runs_predicts_their_targets():
    """The same five runs, `optimizer fit --tie alpha=beta` (Huber on log loss, as
    Hoffmann et al.): the two targets within 0.5% (0.40% and 0.42%), closer than the
    authors' own least-squares fit. Five runs cannot fit the free law's five parameters."""
    from optimizer.fitting.fit import FitError, constrain, fit, model_for
    from optimizer.fitting.runs import Runs

    (N, D, loss), (N_t, D_t, loss_t) = _gadre()
    runs = Runs(N, D, 6 * N * D, loss, np.arange(2, 7))
    tied = fit(runs, constrain(model_for("chinchilla"), tied=[["alpha", "beta"]]))
    assert not tied.problems
    errors = tied.law.value({"N": N_t, "D": D_t}) / loss_t - 1
    assert np.all(np.abs(errors) < 0.005)
    with pytest.raises(FitError, match="5 runs cannot determine"):
        fit(runs, model_for("chinchilla"))


LLAMA3_FLOPS = 3.8e25  # Grattafiori et al. 2024, section 3.2.1: the flagship's budget


def test_llama3_allocation_from_its_constants():
    """Grattafiori et al. 2024 ("The Llama 3 Herd of Models"), section 3.2.1: the optimal
    training tokens N*(C) = A C^alpha with (alpha, A) = (0.53, 0.29); "extrapolation ...
    to 3.8 x 10^25 FLOPs suggests training a 402B parameter model on 16.55T tokens".

    The constants as printed give 10.46T tokens and, with C = 6 N D, 605B parameters:
    the printed figures do not follow from them. Figure 3's legend gives the fit to three
    digits, alpha = 0.537 and A = 0.299, which give 16.29T tokens (1.55% below 16.55T) and
    389B parameters; and 402B x 16.55T is 3.99e25 FLOPs under C = 6 N D, not 3.8e25.
    docs/planning.md documents this.
    """
    plan = solve(load_scenario(ROOT / "scenarios" / "llama3_allocation.yaml"))
    D = 0.29 * LLAMA3_FLOPS ** 0.53  # the paper's formula, its printed constants
    assert plan.allocation["D"] == pytest.approx(D, rel=1e-14)
    assert plan.allocation["N"] == pytest.approx(LLAMA3_FLOPS / (6 * D), rel=1e-14)
    assert plan.loss != plan.loss  # no loss: NaN, reported as null
    # The figures of this docstring and docs/planning.md, to the digits they print.
    assert plan.allocation["D"] == pytest.approx(10.46e12, abs=0.005e12)
    assert plan.allocation["N"] == pytest.approx(605.3e9, abs=0.05e9)
    assert plan.allocation["D"] / 16.55e12 < 0.65  # the documented discrepancy

    legend = solve(plan.scenario.replace({"law.D.exponent": 0.537,
                                          "law.D.coefficient": 0.299}))
    assert legend.allocation["D"] == pytest.approx(16.29e12, abs=0.005e12)
    assert 1 - legend.allocation["D"] / 16.55e12 == pytest.approx(0.0155, abs=0.00005)
    assert legend.allocation["N"] == pytest.approx(389e9, abs=0.5e9)
    assert 6 * 402e9 * 16.55e12 / LLAMA3_FLOPS > 1.04  # the printed pair is not on 6ND
