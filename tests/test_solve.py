"""Solving: GP agrees with closed forms, reference optima, and typed failures."""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize_scalar

from optimizer import InfeasibleError, ScenarioError, UnboundedError, load_scenario, solve
from optimizer.model.problem import Problem
from optimizer.model.scenario import MinimizeCost
from optimizer.solvers import closed_form
from optimizer.solvers.closed_form import allocate

from .conftest import (
    CHINCHILLA,
    KAPLAN,
    POWER,
    ROOT,
    chinchilla_scenarios,
    power_scenarios,
    scenario,
)
from .test_allocation import LLAMA3

SLOW = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def relative_error(a: dict, b: dict) -> float:
    return max(abs(a[r] / b[r] - 1) if b[r] else abs(a[r]) for r in b)


@SLOW
@given(s=st.one_of(chinchilla_scenarios(), power_scenarios()))
def test_gp_agrees_with_closed_form_to_1e_9(s):
    closed = solve(s, method="closed_form")
    gp = solve(s, method="gp")
    assert closed.method.startswith("closed_form")
    assert gp.method.startswith("gp")
    assert relative_error(gp.allocation, closed.allocation) <= 1e-9
    assert gp.certificate.optimal
    assert closed.certificate.optimal


def test_power_law_spends_in_proportion_to_exponents():
    # Textbook result: spend share = |a_i| / sum |a_j| (docs/theory.md).
    plan = solve(scenario(POWER))
    spend = {r: plan.allocation[r] * POWER["resources"][r]["unit_cost"] for r in "NDC"}
    a = {r: -v for r, v in POWER["law"]["exponents"].items()}
    for r in "NDC":
        assert spend[r] / sum(spend.values()) == pytest.approx(a[r] / sum(a.values()), rel=1e-12)
    assert plan.certificate.elasticity == pytest.approx(-sum(a.values()), rel=1e-12)


def _best_on_compute_curve(law_value, C, k=6.0):
    """Independent optimum: minimise L(N, C/(kN)) over log N by bounded 1-D search."""
    found = minimize_scalar(lambda u: law_value(math.exp(u), C / (k * math.exp(u))),
                            bounds=(math.log(1e6), math.log(C / k / 1e6)), method="bounded",
                            options={"xatol": 1e-12})
    return math.exp(found.x)


@pytest.mark.parametrize("base", [CHINCHILLA, KAPLAN], ids=["chinchilla", "kaplan"])
def test_compute_budget_optimum_matches_independent_line_search(base):
    s = scenario(base)
    plan = solve(s)
    N = _best_on_compute_curve(lambda N, D: float(s.law.value({"N": N, "D": D})),
                               base["objective"]["budget"])
    # The bounded line search stops within about 1e-8 of the flat optimum in log N.
    assert plan.allocation["N"] == pytest.approx(N, rel=1e-7)
    assert plan.allocation["C"] == pytest.approx(base["objective"]["budget"], rel=1e-12)


def test_gopher_budget_closed_form_is_hoffmann_eq4():
    # Hoffmann et al. 2022, eq. 4: N_opt = G (C/6)^(beta/(alpha+beta)),
    # G = (alpha A / (beta B))^(1/(alpha+beta)); constants of their eq. 10, C = 5.76e23.
    _E, A, B, alpha, beta, C = 1.69, 406.4, 410.7, 0.34, 0.28, 5.76e23
    G = (alpha * A / (beta * B)) ** (1 / (alpha + beta))
    N = G * (C / 6) ** (beta / (alpha + beta))
    plan = solve(scenario(CHINCHILLA), method="gp")
    assert plan.allocation["N"] == pytest.approx(N, rel=1e-13)
    assert plan.allocation["N"] * plan.allocation["D"] * 6 == pytest.approx(C, rel=1e-12)


@SLOW
@given(s=st.one_of(chinchilla_scenarios("loss"), power_scenarios("loss")),
       factors=st.lists(st.floats(0.1, 10), min_size=2, max_size=5))
def test_optimal_loss_never_rises_with_budget(s, factors):
    problem = Problem.from_scenario(s)
    budgets = np.sort(problem.budget * np.array(factors))
    losses = [solve(s.model_copy(update={"objective": s.objective.model_copy(
        update={"budget": float(b)})})).loss for b in budgets]
    pairs = zip(losses[:-1], losses[1:], strict=True)
    assert all(later <= earlier * (1 + 1e-12) for earlier, later in pairs)


@SLOW
@given(s=st.one_of(chinchilla_scenarios("loss"), power_scenarios("loss")),
       method=st.sampled_from(["auto", "gp"]))
def test_cost_at_target_of_optimal_loss_is_the_budget(s, method):
    plan = solve(s, method=method)
    # A float loss L* carries its reducible part L* - E only to eps * L*; the cost of
    # reaching it is as uncertain, relatively, as (L* - E). Stay where 1e-9 is meaningful.
    assume(plan.loss - s.law.floor() > 1e-5 * plan.loss)
    dual = s.model_copy(update={"objective": MinimizeCost(minimize="cost",
                                                          target_loss=plan.loss)})
    # Two solves, each refined to about 1e-12 by Newton's method: 1.4e-12 seen apart.
    assert solve(dual, method=method).cost == pytest.approx(plan.cost, rel=1e-10)


def test_binding_upper_bound_is_respected_and_reported():
    s = scenario(CHINCHILLA, **{"resources.N": {"unit_cost": 0, "max": 2e10}})
    plan = solve(s)
    assert plan.method == "kkt"  # the closed form breaks the bound; Newton's method holds it
    assert solve(s, method="gp").allocation == pytest.approx(plan.allocation, rel=1e-13)
    assert plan.allocation["N"] == pytest.approx(2e10, rel=1e-14)
    assert plan.allocation["D"] == pytest.approx(5.76e23 / (6 * 2e10), rel=1e-14)
    margins = plan.certificate.resources
    assert margins["N"].status == "at_upper_bound"
    assert margins["N"].ratio > 1  # would be bought if it could


def test_binding_compute_limit_under_coupling_matches_line_search():
    # Parameters cost money (serving), compute has a hard cap below what the budget buys.
    s = scenario(CHINCHILLA, **{"resources.N": {"unit_cost": 1e8},
                                "resources.C": {"unit_cost": 1, "max": 1e23}})
    plan = solve(s)
    assert plan.allocation["C"] == pytest.approx(1e23, rel=1e-14)
    assert "C" in plan.certificate.limits
    N = _best_on_compute_curve(lambda N, D: float(s.law.value({"N": N, "D": D})), 1e23)
    assert plan.allocation["N"] == pytest.approx(N, rel=1e-8)  # the line search's 5e-10


def test_fixed_resource_is_held():
    s = scenario(POWER, **{"resources.C": {"unit_cost": 150, "fixed": 1000}})
    plan = solve(s)
    assert plan.allocation["C"] == 1000
    assert plan.certificate.resources["C"].status == "fixed"
    # the rest of the budget still splits in proportion to the exponents
    assert plan.allocation["N"] * 200 / (plan.allocation["D"] * 100) == pytest.approx(
        0.076 / 0.095, rel=1e-12)


def test_minimums_above_budget_are_infeasible():
    s = scenario(POWER, **{"resources.N": {"unit_cost": 200, "min": 1e4}})
    with pytest.raises(InfeasibleError, match=r"objective.budget 1e\+06 cannot pay for a plan "
                       r"within N >= 10000 \(resources.N.min\) \(the smallest amounts allowed "
                       r"cost 2e\+06\)"):
        solve(s)


def test_unreachable_target_under_maxes_is_infeasible():
    s = scenario(POWER, **{"objective": {"minimize": "cost", "target_loss": 0.5},
                           "resources.N": {"unit_cost": 200, "max": 10},
                           "resources.D": {"unit_cost": 100, "max": 10},
                           "resources.C": {"unit_cost": 150, "max": 10}})
    with pytest.raises(InfeasibleError, match=r"objective.target_loss 0.5 is out of reach .*"
                       r"within N <= 10 \(resources.N.max\); D <= 10 \(resources.D.max\); "
                       r"C <= 10 \(resources.C.max\)"):
        solve(s)


def test_compute_cap_below_target_is_infeasible_from_the_solver():
    s = scenario(CHINCHILLA, **{"objective": {"minimize": "cost", "target_loss": 2.0},
                                "resources.C": {"unit_cost": 1, "max": 1e20}})
    with pytest.raises(InfeasibleError, match="infeasible"):
        solve(s)


def test_free_unbounded_resource_is_unbounded():
    s = scenario(POWER, **{"resources.N": {"unit_cost": 0}})
    with pytest.raises(UnboundedError, match="resources.N"):
        solve(s)


def test_closed_form_refused_where_none_exists():
    with pytest.raises(ScenarioError, match="no closed form"):
        solve(scenario(KAPLAN), method="closed_form")


def test_closed_form_vectorises_over_budgets():
    problem = Problem.from_scenario(scenario(CHINCHILLA))
    budgets = np.geomspace(1e19, 1e25, 7)
    x = allocate(problem, {"objective.budget": budgets})
    for i, b in enumerate(budgets):
        one = solve(scenario(CHINCHILLA, **{"objective.budget": float(b)}))
        assert x["N"][i] == pytest.approx(one.allocation["N"], rel=1e-12)


def test_closed_form_vectorises_over_sampled_exponents(monkeypatch):
    """Sampled laws (uncertainty, sweeps of alpha and beta) take the closed form at every
    point: a wrong one would fail the certificate and be re-solved one by one."""
    from optimizer.solvers import many

    alphas, betas = np.linspace(0.3, 0.38, 5), np.linspace(0.32, 0.24, 5)
    resolved = []
    monkeypatch.setattr(many, "solve_points", lambda _s, _i, points, *a, **k:
                        resolved.extend(points) or {})
    table, route = many.solve_many(scenario(CHINCHILLA),
                                   {"law.alpha": alphas, "law.beta": betas}, tol=1e-9)
    assert (route, resolved) == ("closed_form", [])
    for i in range(5):
        one = solve(scenario(CHINCHILLA, **{"law.alpha": alphas[i], "law.beta": betas[i]}))
        assert table["N"][i] == pytest.approx(one.allocation["N"], rel=1e-12)


def test_unused_priced_resource_warns():
    s = scenario(CHINCHILLA, **{"compute": None, "resources.N": {"unit_cost": 1},
                                "resources.D": {"unit_cost": 1}})
    plan = solve(s)
    assert any("C does not affect the loss" in w for w in plan.warnings)


# ----------------------------------------------------------- a deadline that binds

DEADLINE = {  # issue 11: $5M on 1,024 H100-SXM at MFU 0.4 and $2.50/h, 720 h deadline
    "name": "H100 deadline",
    "law": {"form": "chinchilla", "E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34,
            "beta": 0.28},
    "compute": {"flops_per_param_token": 6},
    "hardware": {"accelerator": "H100-SXM", "mfu": 0.4, "price_per_device_hour": 2.5,
                 "devices": 1024, "deadline_hours": 720},
    "objective": {"minimize": "loss", "budget": 5e6},
}


@pytest.mark.parametrize("budget", [1.9e6, 2e6, 3e6, 5e6, 1e7])
def test_a_binding_deadline_is_solved_to_1e_9(budget):
    """The budget and the deadline's compute cap have parallel gradients (only compute
    is priced), which once left the refinement on the GP's 7e-6 point and exit 4."""
    plan = solve(scenario(DEADLINE, **{"objective.budget": budget}))
    cap = 1024 * 720 * 3600 * 989e12 * 0.4  # devices x hours x FLOP/s x MFU
    assert plan.certificate.optimal
    assert plan.certificate.max_relative_spread <= 1e-9
    assert plan.allocation["C"] == pytest.approx(min(cap, budget / (2.5 / (3600 * 989e12 * 0.4))),
                                                 rel=1e-12)
    # At C = cap, Hoffmann et al.'s eq. 4 gives the split: compare with the closed form.
    best = allocate(Problem.from_scenario(scenario(
        CHINCHILLA, **{"objective.budget": plan.allocation["C"]})))
    assert plan.allocation["N"] == pytest.approx(float(best["N"]), rel=1e-13)


def test_a_budget_sweep_across_the_deadline_has_no_failed_point():
    from optimizer.analysis.sweep import parse_axis, sweep

    result = sweep(scenario(DEADLINE), [parse_axis("objective.budget=1e5:1e8:log:40")])
    assert set(result.table["status"]) == {"optimal"}


@pytest.mark.parametrize("changes", [
    {"hardware.devices": 64, "hardware.memory_cap": True},  # a memory cap and a deadline
    {"hardware.accelerator": "TPUv4", "hardware.mfu": 0.462,
     "hardware.price_per_device_hour": 3.22, "hardware.devices": 4096,
     "hardware.deadline_hours": 100, "objective.budget": 4.06e6},  # the dollar scenario
])
def test_other_binding_deadlines_certify(changes):
    plan = solve(scenario(DEADLINE, **changes))
    assert plan.certificate.optimal
    assert plan.certificate.max_relative_spread <= 1e-9
    assert "C" in plan.certificate.limits


def test_a_target_the_deadline_cannot_reach_names_the_deadline():
    with pytest.raises(InfeasibleError, match=r"objective.target_loss 1.85 is out of reach .*"
                       r"C <= 1.05e\+24 \(hardware.deadline_hours: 720 h on 1024 devices\)"):
        solve(scenario(DEADLINE, objective={"minimize": "cost", "target_loss": 1.85}))


def test_a_target_the_data_cannot_reach_names_the_data_not_the_maxes():
    with pytest.raises(InfeasibleError, match=r"within D <= 1e\+11 \(data.unique_tokens\)") as e:
        solve(scenario(CHINCHILLA, data={"unique_tokens": 1e11},
                       objective={"minimize": "cost", "target_loss": 1.9}))
    assert "maxes" not in str(e.value)


# ------------------------------------------------- every closed-form shape, fast route

def _spend_shares(plan, s):
    """Each lever's share of the plan's spend, and the share the optimum gives it,
    |a_i| / sum |a_j| (docs/theory.md). With the loss at the target (cost mode) or the
    budget spent (loss mode), these fix a power law's optimum."""
    a = {r: -v for r, v in s.law.exponents.items() if r in plan.problem.levers}
    spend = {r: plan.allocation[r] * s.unit_cost(r) for r in a}
    shares = {r: spend[r] / sum(spend.values()) for r in a}
    return shares, {r: a[r] / sum(a.values()) for r in a}


CLOSED_FORMS = {
    "power law, budget": (POWER, {}),
    "power law, target": (POWER, {"objective": {"minimize": "cost", "target_loss": 4.0}}),
    "power law, budget, C fixed and priced": (POWER, {"resources.C.fixed": 1000}),
    "power law, target, C fixed and priced": (
        POWER, {"resources.C.fixed": 1000,
                "objective": {"minimize": "cost", "target_loss": 4.0}}),
    "power law, target, C fixed and free": (
        POWER, {"resources.C": {"unit_cost": 0, "fixed": 1000},
                "objective": {"minimize": "cost", "target_loss": 4.0}}),
    "power law with a floor, target": (
        POWER, {"law.E": 1.5, "objective": {"minimize": "cost", "target_loss": 4.0}}),
}


@pytest.mark.parametrize("shape", CLOSED_FORMS)
def test_every_power_law_shape_takes_the_closed_form_to_the_hand_optimum(shape):
    """The closed form is the fast route and the live workbook's formula: a wrong one
    is silently replaced by Newton's method (same numbers), so the route is asserted."""
    base, changes = CLOSED_FORMS[shape]
    s = scenario(base, **changes)
    plan = solve(s)
    assert plan.method == "closed_form:power_law"
    got, want = _spend_shares(plan, s)
    for r in want:
        assert got[r] == pytest.approx(want[r], rel=1e-13), r
    if isinstance(s.objective, MinimizeCost):
        assert plan.loss - s.law.E == pytest.approx(4.0 - s.law.E, rel=1e-13)
    else:
        assert plan.cost == pytest.approx(1e6, rel=1e-14)


@pytest.mark.parametrize("file", ["chinchilla_gopher.yaml", "chinchilla_cost.yaml",
                                  "chinchilla_gopher_dollars.yaml", "default.yaml",
                                  "llama3_allocation.yaml"])
def test_bundled_closed_form_scenarios_take_the_fast_route(file):
    plan = solve(load_scenario(ROOT / "scenarios" / file))
    kind = {"default.yaml": "power_law", "llama3_allocation.yaml": "allocation"}
    assert plan.method == f"closed_form:{kind.get(file, 'chinchilla')}"


# --------------------------------------------------- where there is no closed form, why

ATTENTION = {"compute.attention": {"layers": 80, "context": 2048, "width": 8192}}
CHINCHILLAS = "Chinchilla's law has one under C = k*N*D with only compute priced, but "
ALLOCATIONS = "an allocation law has one under C = k*N*D with only compute priced, but "
POWERS = "a power law has one with independent, linearly priced resources, but "
NO_CLOSED_FORM = {
    "Chinchilla, N fixed": (CHINCHILLA, {"resources.N": {"fixed": 1e10}},
                            CHINCHILLAS + "N or D is held fixed"),
    "Chinchilla, no coupling": (
        CHINCHILLA, {"compute": None, "resources.N": {"unit_cost": 1},
                     "resources.D": {"unit_cost": 2}},
        CHINCHILLAS + "there is no compute coupling; resources.D.unit_cost, "
        "resources.N.unit_cost prices more than compute"),
    "Chinchilla, attention": (CHINCHILLA, ATTENTION,
                              CHINCHILLAS + "compute.attention adds FLOPs"),
    "allocation, attention": (LLAMA3, ATTENTION, ALLOCATIONS + "compute.attention adds FLOPs"),
    "power law, coupled": (POWER, {"compute": {"flops_per_param_token": 6}},
                           POWERS + "a compute coupling ties them"),
    "power law, N unpriced": (POWER, {"resources.N": {"unit_cost": 0, "max": 10}},
                              POWERS + "some resource the law uses is not priced or is held fixed"),
}


@pytest.mark.parametrize("case", NO_CLOSED_FORM)
def test_asking_for_a_closed_form_where_none_exists_says_why(case):
    base, changes, why = NO_CLOSED_FORM[case]
    with pytest.raises(ScenarioError) as error:
        solve(scenario(base, **changes), method="closed_form")
    assert str(error.value) == f"no closed form for this scenario ({why}); use --method gp"


@pytest.mark.parametrize("priced", [0, 200])
def test_a_price_paid_through_inference_is_not_taken_for_a_closed_forms_unit_cost(priced):
    """N priced (also, or only) per token served: the optimum spends |a_N|/(|a_N|+|a_D|)
    of the budget on N at the summed price, unit_cost + inference price x FLOPs x tokens."""
    s = scenario(POWER, **{"law.exponents": {"N": -0.076, "D": -0.095},
                           "resources": {"N": {"unit_cost": priced}, "D": {"unit_cost": 100}},
                           "inference": {"tokens": 1e3, "flops_per_param_token": 2,
                                         "unit_cost": 50.0}})
    assert closed_form.kind(Problem.from_scenario(s)) is None
    plan = solve(s)
    price = priced + 50.0 * 2 * 1e3
    assert plan.allocation["N"] == pytest.approx(0.076 / 0.171 * 1e6 / price, rel=1e-12)
    assert plan.allocation["D"] == pytest.approx(0.095 / 0.171 * 1e6 / 100, rel=1e-12)


@pytest.mark.parametrize(("budget", "price"), [(1e308, 1e-10), (1e-300, 1e300)])
def test_a_closed_form_beyond_floating_point_is_not_offered_as_a_plan(budget, price):
    """N overflows to inf (or underflows to 0): no plan, never inf or 0 as an amount."""
    problem = Problem.from_scenario(scenario(POWER, **{"objective.budget": budget,
                                                       "resources.N.unit_cost": price}))
    assert float(allocate(problem)["N"]) in (math.inf, 0.0)
    assert closed_form.solve(problem) is None
