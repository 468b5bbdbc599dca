"""``check``: what a user is told about a plan of their own, held to hand computations.

The optimum a plan is compared with comes from Hoffmann et al.'s (2022) closed forms,
written out here by hand (eq. 4 for a budget; for a target, the two terms of eq. 2 at
the shares beta/(alpha+beta) and alpha/(alpha+beta) of the reducible loss), not from
the package's own closed form.
"""

import dataclasses
import math

import pytest
import yaml

from optimizer import check, load_scenario, solve
from optimizer.errors import ScenarioError, SolverError

from .conftest import ROOT, build
from .test_cli import run

COST = ROOT / "scenarios" / "chinchilla_cost.yaml"
GOPHER = ROOT / "scenarios" / "chinchilla_gopher.yaml"
CAPPED = ROOT / "scenarios" / "memory_capped.yaml"
DOLLARS = ROOT / "scenarios" / "chinchilla_gopher_dollars.yaml"
E, A, B, ALPHA, BETA = 1.69, 406.4, 410.7, 0.34, 0.28  # Hoffmann et al. 2022, eq. 10


def loss(N, D):
    return E + A / N**ALPHA + B / D**BETA


def cheapest(target):
    """N, D and C = 6 N D of the cheapest plan whose loss is ``target``."""
    N = (A * (ALPHA + BETA) / (BETA * (target - E))) ** (1 / ALPHA)
    D = (B * (ALPHA + BETA) / (ALPHA * (target - E))) ** (1 / BETA)
    return N, D, 6 * N * D


def best(C):
    """N, D and the loss of the best plan of ``C`` FLOPs (eq. 4, k = 6)."""
    G = (ALPHA * A / (BETA * B)) ** (1 / (ALPHA + BETA))
    N = G * (C / 6) ** (BETA / (ALPHA + BETA))
    D = (C / 6) ** (ALPHA / (ALPHA + BETA)) / G
    return N, D, loss(N, D)


# Exact answers: the package's closed form and this file's differ only by rounding
# (a few ulp of each power), so savings agree to about 1e-13 of the plan's cost or loss.
EXACT = 1e-11


def test_cost_mode_savings_of_a_plan_that_beats_the_target():
    N, D = 3e10, 1.2e12
    result = check(load_scenario(COST), {"N": N, "D": D})
    assert loss(N, D) < 2.0  # beats the target: the optimum reaching it is the reference
    assert result.status == "not_optimal"
    assert result.basis == "target"
    assert result.cost == pytest.approx(6 * N * D, rel=1e-15)
    assert result.savings == pytest.approx(6 * N * D - cheapest(2.0)[2], rel=EXACT)
    assert result.savings == pytest.approx(1.0499e23, rel=1e-4)  # the figure


def test_cost_mode_savings_of_a_plan_short_of_the_target_within_tolerance():
    """Held to the cheapest plan at its own loss, not at the target it misses."""
    N0, D0, _ = cheapest(2.0)
    N, D = N0 * 0.9, D0 * 0.97
    missed = loss(N, D)
    assert 2.0 < missed < 2.0 + 0.05 * (2.0 - E)
    result = check(load_scenario(COST), {"N": N, "D": D}, feasibility_tol=0.05)
    assert result.status == "not_optimal"
    assert result.basis == "plan_loss"
    assert result.savings == pytest.approx(6 * N * D - cheapest(missed)[2], rel=EXACT)
    assert result.savings > 0


def test_loss_mode_savings_within_the_budget_and_at_the_plans_spend():
    budget = 5.76e23
    under = check(load_scenario(GOPHER), {"N": 5e10, "D": 1.5e12})  # spends 4.5e23
    assert under.basis == "budget"
    assert under.savings == pytest.approx(loss(5e10, 1.5e12) - best(budget)[2], rel=EXACT)
    N, D = 5e10, budget * 1.0004 / (6 * 5e10)  # 0.04% over: within the default 0.1%
    over = check(load_scenario(GOPHER), {"N": N, "D": D})
    assert over.certificate.feasible
    assert over.basis == "plan_spend"
    assert over.savings == pytest.approx(loss(N, D) - best(6 * N * D)[2], rel=EXACT)


def test_the_optimum_itself_saves_nothing_in_either_mode():
    for file, optimum in ((COST, cheapest(2.0)[:2]), (GOPHER, best(5.76e23)[:2])):
        result = check(load_scenario(file), dict(zip("ND", optimum, strict=True)))
        assert result.status == "optimal", file
        assert result.savings == pytest.approx(0.0, abs=1e-12 * result.cost)


def test_cli_says_what_the_optimum_saves_and_held_to_what():
    result = run("check", COST, "--plan", "N=3e10,D=1.2e12")
    assert result.exit_code == 1
    said = " ".join(result.stdout.split())
    saved = 6 * 3e10 * 1.2e12 - cheapest(2.0)[2]
    assert f"the optimum saves {saved:.6g} in cost reaching the target" in said
    assert "verdict: not optimal" in said
    assert "the plan beats the target loss" in said


# ------------------------------------------------------------------ plans past a limit

def _with(file, tmp_path, **changes):
    """A copy of scenario ``file`` with dotted-path changes, written to ``tmp_path``."""
    target = tmp_path / "scenario.yaml"
    target.write_text(yaml.safe_dump(build(yaml.safe_load(file.read_text()), **changes)))
    return target


# Each kind of limit a plan can break: (scenario, edits, resource, side, the field the
# message must name, the limit's value, the plan's other lever).
LIMITS = {
    "a lever's max": (CAPPED, {}, "N", "upper", "resources.N.max", 2e10, {"D": 2e12}),
    "a lever's min": (GOPHER, {"resources.D.min": 4e12}, "D", "lower", "resources.D.min",
                      4e12, {"N": 1e10}),
    "a memory cap": (DOLLARS, {}, "N", "upper", "hardware.memory_cap",
                     4096 * 32 * 2**30 / 16, {"D": 1e9}),
    "a deadline": (DOLLARS, {"objective.budget": 1e8}, "C", "upper", "hardware.deadline_hours",
                   4096 * 275e12 * 0.462 * 3600 * 1440, {"N": 1e11}),
    "a compute max": (GOPHER, {"resources.C.max": 1e23}, "C", "upper", "resources.C.max",
                      1e23, {"N": 1e10}),
}


def _plan_at(limit, over, other):
    """A plan that puts the limited resource ``over`` times its limit."""
    (name, value), = other.items()
    if limit[2] == "C":
        return {name: value, "D" if name == "N" else "N": limit[5] * over / (6 * value)}
    return {limit[2]: limit[5] * over, name: value}


@pytest.mark.parametrize("kind", LIMITS)
@pytest.mark.parametrize("past", [0.002, 0.75])
def test_a_plan_past_a_limit_is_infeasible_and_names_it(kind, past, tmp_path):
    file, edits, resource, side, field, value, other = LIMITS[kind]
    source = _with(file, tmp_path, **edits)
    over = 1 + past if side == "upper" else 1 - past
    plan = _plan_at(LIMITS[kind], over, other)
    result = check(load_scenario(source), plan)
    assert result.status == "infeasible", result.certificate.reasons
    assert result.savings is None
    where = "above its upper" if side == "upper" else "below its lower"
    reason = result.certificate.reasons[0]  # limits come first
    assert reason.startswith(f"{resource} = ")
    assert where in reason
    assert field in reason
    assert f"{value:.6g}" in reason
    fix = "cut" if side == "upper" else "raise"
    assert result.certificate.advice.startswith(f"{fix} {resource} to ")  # not 'spend the rest'
    assert not any("budget" in r and "more than" in r for r in result.certificate.reasons)
    cli = run("check", source, "--plan", ",".join(f"{r}={v!r}" for r, v in plan.items()))
    assert cli.exit_code == 1
    said = " ".join(cli.stdout.split())
    assert "verdict: infeasible" in said
    assert field in said


@pytest.mark.parametrize("kind", LIMITS)
def test_a_plan_within_the_feasibility_tolerance_of_a_limit_is_feasible(kind, tmp_path):
    file, edits, _, side, _, _, other = LIMITS[kind]
    over = 1 + 5e-4 if side == "upper" else 1 - 5e-4  # half the default 1e-3
    result = check(load_scenario(_with(file, tmp_path, **edits)),
                   _plan_at(LIMITS[kind], over, other))
    assert result.certificate.feasible, result.certificate.reasons


def test_a_plan_that_disagrees_with_a_fixed_amount_is_refused(tmp_path):
    source = _with(GOPHER, tmp_path, **{"resources.N": {"fixed": 3e10}})
    with pytest.raises(ScenarioError, match="N"):
        check(load_scenario(source), {"N": 4e10, "D": 1e12})
    assert math.isfinite(check(load_scenario(source), {"N": 3e10, "D": 1e12}).loss)


# ------------------------------------------------------- savings that come out negative

def test_an_optimum_worse_than_the_plan_is_reported_not_shown_as_zero(monkeypatch):
    """Savings below zero by more than rounding mean a wrong optimum: say so (exit 4).

    The optimum is made worse than the plan by 1e-9 in loss: four times the rounding
    allowance (1e-9 of the reducible loss, about 0.25 at Gopher's budget), and below
    1e-9 of the loss itself, so the allowance must be relative to the reducible loss.
    """
    scenario = load_scenario(GOPHER)
    true = solve(scenario)
    worse = dataclasses.replace(true, loss=true.loss + 1e-9)
    monkeypatch.setattr("optimizer.analysis.check.solve", lambda *a, **k: worse)
    with pytest.raises(SolverError, match=r"does worse than the plan .* by 1e-09; please report"):
        check(scenario, true.allocation)


def test_a_plan_past_a_bound_within_tolerance_saves_exactly_nothing():
    """Rounded past a binding bound, a plan can beat the optimum, which keeps to it."""
    N = 2e10 * (1 + 5e-4)  # memory_capped's N.max, within the default 1e-3
    plan = {"N": N, "D": 5.76e23 / (6 * N)}
    result = check(load_scenario(CAPPED), plan)
    assert result.certificate.feasible
    assert result.loss < result.optimum.loss  # the plan is better: saved < 0 ...
    assert result.savings == 0.0
    assert result.basis == "budget"


def test_a_zero_feasibility_tolerance_is_allowed_and_strict():
    scenario = load_scenario(GOPHER)
    inside = check(scenario, {"N": 1e10, "D": 1e12}, feasibility_tol=0.0)
    assert inside.certificate.feasible
    N = 3e10
    over = check(scenario, {"N": N, "D": 5.76e23 * (1 + 1e-6) / (6 * N)}, feasibility_tol=0.0)
    assert over.status == "infeasible"


def test_a_check_result_is_frozen_and_shows_as_one_line():
    result = check(load_scenario(GOPHER), {"N": 1e10, "D": 1e12})
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.savings = 0.0  # type: ignore[misc]
    shown = repr(result)
    assert shown.startswith("CheckResult(status='not_optimal', N=1e+10")
    assert "\n" not in shown
    assert "certificate" not in shown
    assert len(shown) < 200


@pytest.mark.parametrize("plan", [{"N": 1e300, "D": 1e300}, {"N": 1e-300, "D": 1e-300}])
def test_a_plan_where_the_law_is_not_a_number_is_infeasible_and_says_why(plan):
    result = check(load_scenario(GOPHER), plan)
    assert result.status == "infeasible"
    assert result.savings is None
    assert result.certificate.reasons[0].startswith(
        "the loss, the cost or a gradient is not a finite number at N = ")
