"""The certificate holds at the optimum and fails off it, in either direction."""

import math

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from optimizer import certify, check, solve
from optimizer.errors import InfeasibleError
from optimizer.model.problem import Problem
from optimizer.model.scenario import parse_scenario

from .conftest import (
    CHINCHILLA,
    EXPLORE,
    POWER,
    ROOT,
    chinchilla_scenarios,
    power_scenarios,
    scenario,
)


def shift(problem, x, source, target, fraction):
    """Move ``fraction`` of the spend on ``source`` to ``target``, keeping the cost."""
    moved = dict(x)
    gc = problem.cost_gradient(x)
    delta = fraction * x[source]
    moved[source] = x[source] - delta
    moved[target] = x[target] + delta * gc[source] / gc[target]
    return moved


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(s=st.one_of(power_scenarios("loss"), chinchilla_scenarios("loss")),
       fraction=st.floats(0.01, 0.5), data=st.data())
def test_certificate_fails_when_moved_off_the_optimum(s, fraction, data):
    plan = solve(s)
    # Where L - E is below the float resolution of L, a worse plan cannot show a higher
    # float loss (the certificate still sees it, from the gradients); as in test_solve.
    assume(plan.loss - s.law.floor() > 1e-8 * plan.loss)
    problem = Problem.from_scenario(s)
    x = {r: plan.allocation[r] for r in problem.levers}
    assert certify(problem, x).optimal
    if len(problem.levers) < 2:
        moved = {r: v * (1 - fraction) for r, v in x.items()}  # under-spend instead
    else:
        source, target = data.draw(st.permutations(problem.levers))[:2]
        moved = shift(problem, x, source, target, fraction)
    verdict = certify(problem, moved)
    assert not verdict.optimal
    assert problem.loss(moved) > plan.loss  # and it really is worse


@pytest.mark.parametrize(("source", "target"), [("N", "D"), ("D", "N")])
def test_check_names_the_direction_and_savings(source, target):
    s = scenario(CHINCHILLA)
    plan = solve(s)
    problem = Problem.from_scenario(s)
    x = {r: plan.allocation[r] for r in problem.levers}
    moved = {source: x[source] * 1.5, target: x[target] / 1.5}  # same compute
    result = check(s, moved)
    assert result.status == "not_optimal"
    assert result.certificate.advice == f"shift spend from {source} to {target}"
    assert result.savings == pytest.approx(problem.loss(moved) - plan.loss, rel=1e-14)
    assert result.savings > 0


def test_check_accepts_the_optimum_and_flags_an_over_budget_plan():
    s = scenario(POWER)
    plan = solve(s)
    assert check(s, plan.allocation).status == "optimal"
    over = {r: v * 1.1 for r, v in plan.allocation.items()}
    result = check(s, over)
    assert result.status == "infeasible"
    assert result.savings is None
    assert any("more than the budget" in r for r in result.certificate.reasons)


def test_certificate_rows_and_shadow_price_at_the_optimum():
    plan = solve(scenario(POWER))
    c = plan.certificate
    gains = [m.gain_per_cost for m in c.resources.values()]
    assert max(gains) - min(gains) <= 1e-12 * c.shadow_price
    assert c.shadow_price == pytest.approx(gains[0], rel=1e-12)
    assert all(m.status == "free" for m in c.resources.values())
    assert c.constraint_active


def test_shadow_price_predicts_the_loss_of_a_bit_more_budget():
    s = scenario(CHINCHILLA, **{"resources.N": {"unit_cost": 0, "max": 2e10}})
    plan = solve(s)
    more = solve(scenario(CHINCHILLA, **{"resources.N": {"unit_cost": 0, "max": 2e10},
                                         "objective.budget": 5.76e23 * 1.0001}))
    slope = (plan.loss - more.loss) / (5.76e23 * 1e-4)
    # A finite difference over 1e-4 of the budget: its truncation error is about 6e-5.
    assert plan.certificate.shadow_price == pytest.approx(slope, rel=1e-3)


def test_cost_mode_shadow_price_is_cost_per_unit_loss():
    s = scenario(CHINCHILLA, objective={"minimize": "cost", "target_loss": 2.0})
    plan = solve(s)
    easier = solve(scenario(CHINCHILLA, objective={"minimize": "cost",
                                                   "target_loss": 2.0 + 1e-5}))
    slope = (plan.cost - easier.cost) / 1e-5
    # A finite difference over 1e-5 of loss: its truncation error is about 1e-4.
    assert plan.certificate.shadow_price == pytest.approx(slope, rel=1e-3)
    assert not math.isnan(plan.certificate.elasticity)


def test_lower_bound_lever_must_not_want_more():
    # N held at a min above its optimum is fine; below it would be wrong.
    s = scenario(POWER, **{"resources.N": {"unit_cost": 200, "min": 3000}})
    plan = solve(s)
    assert plan.allocation["N"] == pytest.approx(3000)
    assert plan.certificate.resources["N"].status == "at_lower_bound"
    assert plan.certificate.resources["N"].ratio < 1


# Found by tests/test_allocation.py once Newton's method from a cold start offered it: a
# cap on C binds and the budget is slack, N sits at its max and returns 0.42 of what D
# returns per unit of (compute-limited) cost. The certificate used to excuse an upper
# bound from paying its way whenever the budget was slack, and certified the plan.
def test_an_upper_bound_must_pay_its_way_when_a_limit_binds_and_the_budget_is_slack():
    s = scenario(CHINCHILLA, **{"resources.C": {"unit_cost": 1, "max": 1e23},
                                "resources.N": {"max": 3e10}})
    problem = Problem.from_scenario(s)
    optimum = solve(s)
    assert optimum.certificate.optimal
    assert optimum.allocation["N"] < 3e10 * (1 - 1e-3)  # the cap on N does not bind
    pinned = {"N": 3e10, "D": 1e23 / (6 * 3e10)}  # N at its max, C at its cap
    verdict = certify(problem, pinned)
    assert not verdict.optimal
    assert verdict.resources["N"].status == "at_upper_bound"
    assert any("N is at its upper bound" in r for r in verdict.reasons)
    assert problem.loss(pinned) > optimum.loss


# Found by the 1,000-draw run of test_combinations in CI: a deadline caps C at 1e19 (to
# the last bits) and resources.C.min asks for 9.99999999999999e18, so C is pinned by two
# bounds closer than the tolerance. The plan sat 6e-15 below the floor, within tolerance
# of both; the certificate looked only at the cap, whose multiplier cannot be negative,
# and refused every plan (exit 4).
PINNED = {
    "name": "drawn",
    "law": {"form": "kaplan", "N_c": 8.8e13, "D_c": 5.4e13, "alpha_N": 0.0625,
            "alpha_D": 0.09375},
    "compute": {"flops_per_param_token": 4.0,
                "attention": {"context": 2048, "aspect_ratio": 128}},
    "hardware": {"mfu": 0.5, "peak_flops": 1e14, "memory_bytes": 8e10, "devices": 8.0,
                 "deadline_hours": 6.94444444444444},
    "objective": {"minimize": "cost", "target_loss": 2.7540759861036186},
    "resources": {"N": {"min": 177226326.18037313}, "D": {"max": 12395365252.916544},
                  "C": {"min": 9.99999999999999e18}},
}


def test_a_derived_resource_pinned_by_bounds_closer_than_tol_is_certified():
    from .reference import reference

    s = scenario(PINNED)
    plan = solve(s)
    lo, hi = plan.problem.limits["C"]
    assert 0 < hi / lo - 1 < 1e-12  # the two bounds, as the problem has them
    assert plan.certificate.optimal
    assert "C" in plan.certificate.limits
    best = reference(s)
    assert plan.cost == pytest.approx(best.objective, rel=1e-11)


@pytest.mark.parametrize("gap", [1e-9, 1e-7])
def test_a_lever_between_bounds_closer_than_tol_is_fixed(gap):
    # N may move by less than the tolerance; it cannot pay to move it either way.
    n = 3.0e10
    s = scenario(CHINCHILLA, **{"resources.N.min": n, "resources.N.max": n * (1 + gap)})
    plan = solve(s)
    assert plan.certificate.optimal
    assert plan.certificate.resources["N"].status == "fixed"
    assert plan.allocation["N"] == pytest.approx(n, rel=2 * gap)


def test_a_beaten_target_is_not_excused_by_a_binding_limit():
    """Cost mode, N held by its bounds, compute capped by a deadline. The plan at the cap
    beats the target loss, and fewer tokens reach it for less. The certificate once let
    the cap explain the loss gradient (the loss mode's reading: a cap holding back a loss
    worth buying) and certified the capped plan, 23% dearer; the cheapest D is computed
    here from the law by hand."""
    law = {"form": "chinchilla", "E": 1.963634604590511, "A": 1717.2753404313544,
           "B": 2121.0921782711494, "alpha": 0.281474214713445, "beta": 0.5}
    N = 903903592870.3472
    s = parse_scenario({
        "name": "capped", "law": law, "compute": {"flops_per_param_token": 4.272634352840828},
        "hardware": {"mfu": 0.35316476778815564, "accelerator": "H100-SXM", "devices": 1024.0,
                     "deadline_hours": 0.07766473768731501},
        "objective": {"minimize": "cost", "target_loss": 3.166807876101821},
        "resources": {"N": {"max": N}, "D": {"max": 62896650.701290764}},
        "capability": {"min_params": N}})
    problem = Problem.from_scenario(s)
    capped = problem.limits["C"][1] / (4.272634352840828 * N)
    verdict = certify(problem, {"N": N, "D": capped})
    assert not verdict.optimal
    assert "beats the target loss" in verdict.reasons[0]
    plan = solve(s)
    needed = (law["B"] / (3.166807876101821 - law["E"] - law["A"] * N ** -law["alpha"])) ** (
        1 / law["beta"])
    assert plan.allocation["D"] == pytest.approx(needed, rel=1e-12)
    assert plan.allocation["D"] < capped * 0.85


@settings(max_examples=60, deadline=None, derandomize=not EXPLORE)
@given(E=st.floats(1.5, 2.5), A=st.floats(100, 2000), B=st.floats(100, 3000),
       alpha=st.floats(0.2, 0.6), beta=st.floats(0.2, 0.6), N=st.floats(1e8, 1e12),
       headroom=st.floats(1.02, 1.5), cap=st.floats(0.5, 3.0))
def test_one_free_lever_under_a_cap_reaches_the_target_at_least_cost(
        E, A, B, alpha, beta, N, headroom, cap):
    """Cost mode with N held and compute capped: the cheapest plan buys just the tokens
    the target needs, D = (B / (target - E - A N^-alpha))^(1/beta), whether the cap is far
    above that or just above; below it, there is no plan (exit 3). The plan at the cap
    itself, which beats the target, is not certified."""
    floor = E + A * N ** -alpha
    target = floor * headroom
    needed = (B / (target - floor)) ** (1 / beta)
    s = parse_scenario({
        "name": "held", "law": {"form": "chinchilla", "E": E, "A": A, "B": B, "alpha": alpha,
                                "beta": beta},
        "compute": {"flops_per_param_token": 6.0},
        "resources": {"N": {"min": N, "max": N}, "C": {"unit_cost": 1.0,
                                                       "max": 6 * N * needed * cap}},
        "objective": {"minimize": "cost", "target_loss": target}})
    if cap < 1 - 1e-6:
        with pytest.raises(InfeasibleError):
            solve(s)
        return
    assume(cap > 1 + 1e-6)
    plan = solve(s)
    assert plan.allocation["D"] == pytest.approx(needed, rel=1e-12)
    assert plan.loss == pytest.approx(target, rel=1e-14)
    # The plan at the cap beats the target at a higher cost: never certified.
    assert not certify(plan.problem, {"N": N, "D": needed * cap}).optimal


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(s=st.one_of(power_scenarios("loss"), chinchilla_scenarios("loss")),
       fraction=st.floats(2e-5, 2e-4), data=st.data())
def test_a_small_shift_off_the_optimum_is_caught_at_the_stated_tolerance(s, fraction, data):
    """Moving 2e-5 to 2e-4 of one lever's spend to another moves their gains per cost
    apart by a share of that (about the exponents times it; the drawn exponents are at
    least 0.01 and 0.1): above the tolerance (1e-6), and mostly below 1e-3, so a
    certificate whose spread test were loosened 1000-fold would pass them."""
    problem = Problem.from_scenario(s)
    assume(len(problem.levers) >= 2)
    plan = solve(s)
    x = {r: plan.allocation[r] for r in problem.levers}
    source, target = data.draw(st.permutations(problem.levers))[:2]
    verdict = certify(problem, shift(problem, x, source, target, fraction))
    assert not verdict.optimal
    assert verdict.max_relative_spread > fraction / 100


def _on_the_budget_line_at_U(problem, U):
    """The plan that spends the whole budget with D at the stock U: N by bisection."""
    from scipy.optimize import brentq

    u = brentq(lambda u: problem.cost({"N": math.exp(u), "D": U}) - problem.budget, 0, 80,
               xtol=1e-14)
    return {"N": math.exp(u), "D": U}


@pytest.mark.parametrize(("factor", "token_price"), [
    (1.0, 0.0), (1.1, 0.0), (1.5, 0.0), (3.0, 0.0), (1.0, 0.1), (1.0, 0.3)])
def test_the_subgradient_rule_at_the_stock_of_unique_tokens(factor, token_price):
    """Muennighoff et al.'s law with alpha != beta: at D = U its gradient in D jumps (N
    is past the Chinchilla-optimal size for U). At the drawn budget, spending it all
    with D = U is the optimum: the certificate's two one-sided conditions hold, and the
    loss rises on the budget line either side of it. With 10% or more budget, a token's
    price falls below the gain of a repeated one (more D pays); with tokens priced at a
    tenth or more of what compute costs per token, it rises above the gain of a fresh one
    (less D pays). D = U is then still a kink but not the optimum, and the solver's plan
    beats it."""
    data = yaml.safe_load((ROOT / "tests" / "edge_scenarios.yaml").read_text())["d4"]
    s = parse_scenario(data)
    spend = solve(s).cost
    U = s.data.unique_tokens
    data["objective"]["budget"] = spend * (factor + token_price)
    if token_price:
        data["resources"] = {"D": {"unit_cost": token_price * spend / U}}
    s = parse_scenario(data)
    problem = Problem.from_scenario(s)
    at_U = _on_the_budget_line_at_U(problem, U)
    verdict = certify(problem, at_U)
    assert verdict.resources["D"].status == "at_kink"
    optimal = factor == 1.0 and token_price == 0.0
    assert verdict.optimal == optimal, verdict.reasons
    either_side = [_on_the_budget_line_at_U(problem, U * step) for step in (0.999, 1.001)]
    if optimal:
        assert all(problem.loss(y) > problem.loss(at_U) for y in either_side)
    else:
        assert any("outside the gains on either side" in r for r in verdict.reasons)
        assert solve(s).loss < problem.loss(at_U)


def test_a_vertex_of_bounds_is_certified_and_a_lever_left_at_its_minimum_is_not():
    """Both levers boxed in, the budget spent exactly at both upper bounds: the optimum
    is that vertex. A plan leaving either lever at its lower bound is refused, saying
    that buying more of it would pay (found by a surviving mutant that inverted the
    lower-bound test; the solver then failed on this scenario with exit 4)."""
    s = scenario(CHINCHILLA, **{"resources.N": {"unit_cost": 0, "min": 9e8, "max": 3.4e10},
                                "resources.D": {"unit_cost": 0, "min": 1.9e9, "max": 2.2e9},
                                "objective.budget": 6 * 3.4e10 * 2.2e9})
    plan = solve(s)
    assert plan.allocation["N"] == pytest.approx(3.4e10, rel=1e-14)
    assert plan.allocation["D"] == pytest.approx(2.2e9, rel=1e-14)
    assert {r: m.status for r, m in plan.certificate.resources.items()} == {
        "N": "at_upper_bound", "D": "at_upper_bound", "C": "coupled"}
    assert plan.certificate.optimal
    for low in ({"N": 9e8, "D": 2.2e9}, {"N": 3.4e10, "D": 1.9e9}):
        (r,) = [r for r in low if low[r] < plan.allocation[r]]
        verdict = check(s, low)
        assert verdict.status == "not_optimal"
        assert f"{r} is at its lower bound but buying more of it would pay" in \
            verdict.certificate.reasons


def test_an_optimum_that_just_reaches_the_stock_of_unique_tokens_is_certified_at_it():
    """With unique tokens to spare, d4's optimum trains on D* fresh tokens; with a stock
    of exactly D*, that plan sits on the kink with the price of a token equal to the gain
    of a fresh one: the edge of the subgradient rule, which must hold it (to tol)."""
    data = yaml.safe_load((ROOT / "tests" / "edge_scenarios.yaml").read_text())["d4"]
    data["data"]["unique_tokens"] = 1e30
    plan = solve(parse_scenario(data))
    data["data"]["unique_tokens"] = plan.allocation["D"]
    verdict = certify(Problem.from_scenario(parse_scenario(data)),
                      {r: plan.allocation[r] for r in ("N", "D")})
    assert verdict.resources["D"].status == "at_kink"
    assert verdict.optimal, verdict.reasons


def test_one_free_lever_with_budget_left_over_is_not_optimal():
    """N held, D the only free lever: spending half the budget is not optimal (growing D
    pays), though with one lever there is no spread between levers to see it by."""
    s = scenario(CHINCHILLA, **{"resources.N": {"fixed": 1e10}})
    verdict = check(s, {"N": 1e10, "D": 5.76e23 / 2 / 6e10})
    assert verdict.status == "not_optimal"
    assert verdict.certificate.reasons[0].startswith("the budget is not fully spent")


def test_the_elasticity_is_the_slope_of_log_loss_in_log_budget():
    """d log L* / d log C from Hoffmann et al.'s eq. 4 by central differences (the
    optimal loss is smooth in C; step 1e-4 leaves about 1e-9 of truncation)."""
    E, A, B, a, b = 1.69, 406.4, 410.7, 0.34, 0.28
    G = (a * A / (b * B)) ** (1 / (a + b))

    def best_loss(C):
        N, D = G * (C / 6) ** (b / (a + b)), (C / 6) ** (a / (a + b)) / G
        return E + A / N**a + B / D**b

    h = 1e-4
    slope = (math.log(best_loss(5.76e23 * math.exp(h)))
             - math.log(best_loss(5.76e23 * math.exp(-h)))) / (2 * h)
    assert solve(scenario(CHINCHILLA)).certificate.elasticity == pytest.approx(slope, rel=1e-7)


def test_held_and_coupled_rows_show_the_laws_own_marginal():
    """A fixed C (power law) shows -dL/dC = -a_C L / C (the law is L = k N^a_N D^a_D
    C^a_C); C coupled by C = k N D under Chinchilla's law, which does not read C, shows 0."""
    plan = solve(scenario(POWER, **{"resources.C.fixed": 1000}))
    C = plan.certificate.resources["C"]
    assert C.status == "fixed"
    assert C.marginal_loss_reduction == pytest.approx(0.05 * plan.loss / 1000, rel=1e-14)
    coupled = solve(scenario(CHINCHILLA)).certificate.resources["C"]
    assert coupled.status == "coupled"
    assert coupled.marginal_loss_reduction == 0.0


def test_a_certificate_shows_as_one_line():
    shown = repr(solve(scenario(CHINCHILLA)).certificate)
    assert shown.startswith("Certificate(optimal=True, feasible=True, spread=")
    assert "\n" not in shown
    assert "Margin" not in shown


# ------------------------------------------------------- vertices: no free lever left

def _boxed(N_bound, D_bound, sides):
    """Chinchilla with N and D each held at one side of a box, the budget spent there."""
    far = {"lower": ("max", 1e3), "upper": ("min", 1e-3)}
    resources = {}
    for r, bound, side in (("N", N_bound, sides[0]), ("D", D_bound, sides[1])):
        other, factor = far[side]
        resources[r] = {"unit_cost": 0, "min" if side == "lower" else "max": bound,
                        other: bound * factor}
    return scenario(CHINCHILLA, resources={**resources, "C": {"unit_cost": 1}},
                    **{"objective.budget": 6 * N_bound * D_bound})


@pytest.mark.parametrize("big", ["N", "D"])
def test_a_vertex_with_one_lever_at_each_side_is_certified_with_a_shadow_price_between(big):
    """The lever past its compute-optimal amount held at its minimum, the other at its
    maximum, the budget spent: that vertex is the optimum (more of the first costs loss,
    more of the second is not allowed). KKT asks g_min <= lambda <= g_max of the two
    levers' gains per cost; the shadow price reported lies between them."""
    N, D = 2 * 3.34e10, 5.76e23 / (6 * 2 * 3.34e10)  # N twice Gopher's optimum, or D
    if big == "D":
        N, D = 3.34e10 / 2, 5.76e23 / (6 * 3.34e10 / 2)
    sides = ("lower", "upper") if big == "N" else ("upper", "lower")
    s = _boxed(N, D, sides)
    problem = Problem.from_scenario(s)
    verdict = certify(problem, {"N": N, "D": D})
    assert {r: verdict.resources[r].status for r in "ND"} == {
        "N": f"at_{sides[0]}_bound", "D": f"at_{sides[1]}_bound"}
    assert verdict.optimal, verdict.reasons
    gains = sorted(verdict.resources[r].gain_per_cost for r in "ND")
    assert gains[0] * (1 + 1e-9) < verdict.shadow_price < gains[1] * (1 - 1e-9)
    plan = solve(s)
    assert plan.allocation["N"] == pytest.approx(N, rel=1e-12)


def test_a_vertex_at_the_stock_of_unique_tokens_is_certified():
    """N held at a maximum below its optimum, D on the kink at U: no free lever. KKT asks
    a lambda that makes N worth no less than its price and puts D's price between the
    gains of a repeated and a fresh token."""
    data = yaml.safe_load((ROOT / "tests" / "edge_scenarios.yaml").read_text())["d4"]
    s = parse_scenario(data)
    optimum = solve(s)
    assert optimum.certificate.resources["D"].status == "at_kink"
    N = optimum.allocation["N"]
    data["resources"] = {"N": {"max": N * (1 + 1e-9)}}  # the optimum's own N, now a cap
    problem = Problem.from_scenario(parse_scenario(data))
    verdict = certify(problem, {"N": N, "D": optimum.allocation["D"]})
    assert {r: verdict.resources[r].status for r in "ND"} == {
        "N": "at_upper_bound", "D": "at_kink"}
    assert verdict.optimal, verdict.reasons


# ------------------------------------------------- limits on a derived resource (C)

@pytest.mark.parametrize(("limit", "C"), [({"max": 1e23}, 1e23), ({"min": 5.76e23}, 5.76e23)])
def test_a_plan_at_a_compute_limit_must_still_split_it_well(limit, C):
    """Loss mode, compute capped below what the budget buys (the cap binds, the budget
    is slack), or held at least at what the budget buys (floor and budget bind at
    once). A plan there with twice the optimal N is not optimal: the limit prices N and
    D as the budget does, so only the optimal split of C satisfies KKT. (The floor's
    multiplier alone explains the cost's gradient: the reading of cost mode, where a
    beaten target is free, must not be taken in loss mode.)"""
    s = scenario(CHINCHILLA, **{"resources.C": {"unit_cost": 1, **limit}})
    optimum = solve(s)
    assert "C" in optimum.certificate.limits or optimum.certificate.constraint_active
    N = 2 * optimum.allocation["N"]
    verdict = certify(optimum.problem, {"N": N, "D": C / (6 * N)})
    assert verdict.feasible
    assert not verdict.optimal
    assert any("gain per cost differs" in r for r in verdict.reasons)


def test_a_compute_floor_that_binds_in_cost_mode_is_named_with_its_multiplier():
    """Cost mode, C >= three times what the target needs: the floor binds, the plan
    costs the floor whatever its split, and the certificate names C's floor as binding
    (lambda = inf: the target is beaten for free)."""
    need = solve(scenario(CHINCHILLA, objective={"minimize": "cost", "target_loss": 2.0}))
    floor = 3 * need.allocation["C"]
    plan = solve(scenario(CHINCHILLA, **{"resources.C": {"unit_cost": 1, "min": floor}},
                          objective={"minimize": "cost", "target_loss": 2.0}))
    assert plan.certificate.optimal
    assert plan.cost == pytest.approx(floor, rel=1e-9)
    side, multiplier = plan.certificate.limits["C"]
    assert side == "lower"
    assert multiplier == pytest.approx(1.0, rel=1e-9)  # one unit of cost per FLOP of floor
    assert plan.certificate.shadow_price == 0.0  # a looser target saves nothing


def test_an_optimum_that_just_leaves_the_stock_of_unique_tokens_is_certified_at_it():
    """The other edge of the subgradient rule: the budget at which repeating tokens
    starts to pay, where the price of a token equals the gain of a repeated one. Found
    by root-finding on the law's own gradients at D = U."""
    from scipy.optimize import brentq

    data = yaml.safe_load((ROOT / "tests" / "edge_scenarios.yaml").read_text())["d4"]
    spend = solve(parse_scenario(data)).cost
    U = data["data"]["unique_tokens"]

    def at(factor):
        data["objective"]["budget"] = spend * factor
        problem = Problem.from_scenario(parse_scenario(data))
        return problem, _on_the_budget_line_at_U(problem, U)

    def excess_price(factor):  # a token's price over the gain of a repeated one
        problem, x = at(factor)
        gL, gc = problem.loss_gradient(x), problem.cost_gradient(x)
        lam = -gL["N"] / gc["N"]
        right = -float(problem.loss_gradient({**x, "D": math.nextafter(U, math.inf)})["D"])
        return lam * gc["D"] / right - 1

    edge = brentq(excess_price, 1.0, 1.1, xtol=1e-15, rtol=4 * np.finfo(float).eps)
    problem, x = at(edge)
    verdict = certify(problem, x)
    assert verdict.resources["D"].status == "at_kink"
    assert verdict.optimal, verdict.reasons
