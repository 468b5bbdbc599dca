"""Planning models: money and hardware, attention FLOPs, inference, data limits,
capability thresholds and the epsilon-optimal band."""

import math

import numpy as np
import pytest
from hypothesis import example, given, settings

from optimizer import parse_scenario, solve
from optimizer.analysis.findings import band, binding, findings, threshold_cost
from optimizer.errors import InfeasibleError, ScenarioError
from optimizer.model.hardware import ACCELERATORS
from optimizer.model.laws import DataConstrainedLaw

from .conftest import CHINCHILLA, build, chinchilla_scenarios, scenario
from .test_published import muennighoff

HW = {"accelerator": "TPUv4", "mfu": 0.462, "price_per_device_hour": 3.22}
DOLLARS = build(CHINCHILLA, **{"resources": None, "hardware": HW,
                               "objective.budget": 4.06e6})


def flop_price(hw=HW):
    return hw["price_per_device_hour"] / (3600 * ACCELERATORS[hw["accelerator"]].peak_flops
                                          * hw["mfu"])


# ----------------------------------------------------------------- money and hardware

def test_dollar_budget_is_a_flop_budget_at_the_flop_price():
    plan = solve(parse_scenario(DOLLARS))
    flops = solve(scenario(CHINCHILLA, **{"objective.budget": 4.06e6 / flop_price()}))
    assert plan.allocation["C"] == pytest.approx(4.06e6 / flop_price(), rel=1e-13)  # 3e-15
    for r in "ND":
        assert plan.allocation[r] == pytest.approx(flops.allocation[r], rel=1e-14)  # 0
    summary = findings(plan, with_band=False)["hardware"]
    assert summary["training_dollars"] == pytest.approx(4.06e6, rel=1e-13)  # 3e-15
    assert summary["device_hours"] == pytest.approx(4.06e6 / 3.22, rel=1e-13)


def test_device_hour_budget_without_a_price():
    hw = {"accelerator": "H100-SXM", "mfu": 0.4}
    s = parse_scenario(build(DOLLARS, **{"hardware": hw, "objective.budget": 1e6}))
    assert s.hardware is not None
    assert s.hardware.currency == "device_hours"
    plan = solve(s)
    assert plan.allocation["C"] == pytest.approx(1e6 * 3600 * 989e12 * 0.4, rel=1e-13)


def test_deadline_binds_and_names_its_source():
    hw = {**HW, "devices": 1024, "deadline_hours": 720}
    plan = solve(parse_scenario(build(DOLLARS, hardware=hw)))
    cap = 1024 * 720 * 3600 * 275e12 * 0.462
    assert plan.allocation["C"] == pytest.approx(cap, rel=1e-14)  # achieved: 4e-16
    assert plan.cost < 4.06e6  # the deadline, not the money, limits the plan
    assert plan.certificate.optimal
    assert "C" in plan.certificate.limits
    [limit] = binding(plan)
    assert limit["source"].startswith("hardware.deadline_hours")


def test_deadline_that_cannot_reach_the_target_is_infeasible():
    hw = {**HW, "devices": 8, "deadline_hours": 1}
    s = parse_scenario(build(DOLLARS, hardware=hw,
                             objective={"minimize": "cost", "target_loss": 2.0}))
    with pytest.raises(InfeasibleError):
        solve(s)


def test_memory_cap_binds():
    hw = {**HW, "devices": 8, "memory_cap": True}
    plan = solve(parse_scenario(build(DOLLARS, hardware=hw)))
    cap = 8 * ACCELERATORS["TPUv4"].memory_bytes / 16
    assert plan.allocation["N"] == pytest.approx(cap, rel=1e-14)  # achieved: 0
    assert plan.certificate.resources["N"].status == "at_upper_bound"
    assert binding(plan)[0]["source"].startswith("hardware.memory_cap")


def test_memory_cap_below_capability_threshold_is_a_contradiction():
    hw = {**HW, "devices": 8, "memory_cap": True}
    s = parse_scenario(build(DOLLARS, hardware=hw, capability={"min_params": 1e11}))
    with pytest.raises(InfeasibleError, match="capability.min_params.*hardware.memory_cap"):
        solve(s)


# ------------------------------------------------------------------- attention FLOPs

@pytest.mark.parametrize("attention", [{"context": 2048, "aspect_ratio": 128},
                                       {"context": 2048, "layers": 80, "width": 8192}])
def test_attention_term_is_added_and_reported(attention):
    s = scenario(CHINCHILLA, **{"compute.attention": attention})
    plan = solve(s)
    assert plan.certificate.optimal
    N, D = plan.allocation["N"], plan.allocation["D"]
    if "aspect_ratio" in attention:
        width = (attention["aspect_ratio"] * N / 12) ** (1 / 3)
        per_token = attention["context"] * width * (width / attention["aspect_ratio"])
    else:
        per_token = attention["context"] * attention["layers"] * attention["width"]
    assert plan.allocation["C"] == pytest.approx(6 * N * D + 6 * per_token * D, rel=1e-14)
    assert plan.allocation["C"] == pytest.approx(5.76e23, rel=1e-13)  # achieved: 1.4e-15
    assert "n_ctx = 2048" in plan.problem.describe_compute()
    assert N * D < solve(scenario(CHINCHILLA)).allocation["N"] * solve(
        scenario(CHINCHILLA)).allocation["D"]


# ------------------------------------------------------------------------ inference

def test_lifetime_budget_spends_it_and_shrinks_the_model():
    base = scenario(CHINCHILLA, **{"objective.budget": 1e23})
    served = scenario(CHINCHILLA, **{"objective.budget": 1e23, "inference": {"tokens": 5e12}})
    plain, aware = solve(base), solve(served)
    assert aware.certificate.optimal
    assert aware.cost == pytest.approx(1e23, rel=1e-14)  # achieved: 0
    assert aware.allocation["N"] < plain.allocation["N"]
    inference = 2 * aware.allocation["N"] * 5e12
    assert aware.allocation["C"] + inference == pytest.approx(1e23, rel=1e-14)


@settings(max_examples=20, deadline=None)
@given(chinchilla_scenarios(mode="cost"))
def test_more_inference_means_fewer_parameters_more_tokens(s):
    trained = solve(s).allocation["D"]  # serve from a thousandth to 1000x that
    plans = [solve(s.model_copy(update={"inference": parse_scenario(build(
        CHINCHILLA, inference={"tokens": trained * f})).inference})) for f in (1e-3, 1, 1e3)]
    sizes = [p.allocation["N"] for p in plans]
    tokens = [p.allocation["D"] for p in plans]
    assert all(b <= a * (1 + 1e-9) for a, b in zip(sizes, sizes[1:], strict=False))
    assert all(b >= a * (1 - 1e-9) for a, b in zip(tokens, tokens[1:], strict=False))
    assert sizes[-1] < sizes[0]
    assert tokens[-1] > tokens[0]


# ----------------------------------------------------------------------- data limits

def test_unique_token_cap_bounds_d_for_laws_without_repetition():
    plan = solve(scenario(CHINCHILLA, data={"unique_tokens": 1e12}))
    assert plan.allocation["D"] == pytest.approx(1e12, rel=1e-14)
    assert binding(plan)[0]["source"] == "data.unique_tokens"


@pytest.mark.parametrize(("N", "D"), [(6.34e9, 242e9), (1e8, 10e9), (5e10, 100e9),
                                      (1e9, 100e9), (2e10, 20e9)])
def test_data_constrained_gradient_matches_finite_differences(N, D):
    law = muennighoff().law
    assert isinstance(law, DataConstrainedLaw)
    x = {"N": N, "D": D, "U": 25e9}
    grad = law.gradient(x)
    for r in "ND":
        h = x[r] * 1e-6
        up, down = dict(x), dict(x)
        up[r] += h
        down[r] -= h
        fd = (law.value(up) - law.value(down)) / (2 * h)
        # Rounding in the difference of two losses near 2 whose gap is 1e-6 of the
        # loss's elasticity: up to 3.3e-7 here.
        assert float(grad[r]) == pytest.approx(float(fd), rel=1e-5)


def test_without_repetition_penalty_the_law_reduces_to_chinchilla():
    law = muennighoff().law
    assert isinstance(law, DataConstrainedLaw)
    x = {"N": 1e8, "D": 1e10, "U": 1e12}  # fresh data, N below the data-optimal size
    assert float(law.value(x)) == pytest.approx(float(law.surrogate().value(x)), rel=1e-15)


def test_nlp_agrees_with_the_closed_form_on_the_posynomial_law():
    s = scenario(CHINCHILLA)
    nlp, exact = solve(s, method="nlp"), solve(s)
    assert nlp.method.startswith("scipy:SLSQP")
    for r in "ND":  # Newton's polish (solvers/refine.py): about 1e-12; achieved 3e-15
        assert nlp.allocation[r] == pytest.approx(exact.allocation[r], rel=1e-12)


@settings(max_examples=25, deadline=None)
@given(chinchilla_scenarios())
# A target near the floor with a small beta: D* = 1e41 tokens, more than 80 e-folds from
# the NLP's start, which an early, narrower search box took for a run-off.
@example(scenario(CHINCHILLA, law={"form": "chinchilla", "E": 1.0, "A": 10.0, "B": 2517.0,
                                   "alpha": 0.5, "beta": 0.109375},
                  compute={"flops_per_param_token": 2.0},
                  objective={"minimize": "cost", "target_loss": 1.1}))
def test_nlp_matches_closed_form_on_random_scenarios(s):
    nlp, exact = solve(s, method="nlp"), solve(s)
    assert nlp.certificate.optimal
    for r in "ND":  # as above; achieved: 6e-14 over 200 draws
        assert nlp.allocation[r] == pytest.approx(exact.allocation[r], rel=1e-12)


def test_priced_unique_tokens_choose_the_cheaper_region():
    budget = 6 * 8.67e9 * 178e9
    cheap = solve(muennighoff(**{"objective.budget": budget, "data.unit_cost": 1e-3}))
    assert cheap.problem.region == "repeat"
    assert cheap.cost == pytest.approx(budget, rel=1e-13)  # achieved: 1.6e-15
    dear = solve(muennighoff(**{"objective.budget": budget, "data.unit_cost": 1e12}))
    assert dear.problem.region == "fresh"
    assert dear.allocation["D"] <= 25e9
    assert dear.certificate.optimal


def test_target_below_the_data_limited_floor_is_infeasible():
    s = muennighoff(objective={"minimize": "cost", "target_loss": 1.9})
    with pytest.raises(InfeasibleError, match=r"objective.target_loss 1.9 is out of reach .* "
                       r"within data.unique_tokens"):
        solve(s)


# ----------------------------------------------------------------------- capability

CAPABILITY = {"a": 0.05, "b": 1e-20, "N_c": 1e10, "required": 1.3}


def test_capability_threshold_is_the_exact_root():
    s = scenario(CHINCHILLA, capability=CAPABILITY)
    assert s.capability is not None
    N = s.capability.threshold()
    assert N > 1e10
    assert s.capability.level(N) == pytest.approx(1.3, rel=1e-15)
    assert s.capability.level(N * (1 - 1e-9)) < 1.3


def test_capability_below_n_c_is_closed_form():
    s = scenario(CHINCHILLA, capability={**CAPABILITY, "required": 1.0})
    assert s.capability is not None
    assert s.capability.threshold() == math.exp(1.0 / 0.05)


def test_binding_threshold_is_active_and_priced():
    s = scenario(CHINCHILLA, capability=CAPABILITY, **{"objective.budget": 1e22})
    plan = solve(s)
    assert plan.certificate.optimal
    assert plan.certificate.resources["N"].status == "at_lower_bound"
    cost = threshold_cost(plan)
    assert cost is not None
    assert cost.binds
    assert cost.added == pytest.approx(plan.loss - solve(scenario(
        CHINCHILLA, **{"objective.budget": 1e22})).loss, rel=1e-14)  # achieved: 0
    assert cost.added > 0


def test_slack_threshold_adds_nothing():
    plan = solve(scenario(CHINCHILLA, capability={"min_params": 1e9}))
    cost = threshold_cost(plan)
    assert cost is not None
    assert not cost.binds
    assert cost.added == pytest.approx(0, abs=1e-14)  # achieved: 0


# ----------------------------------------------------------------------------- band

def test_band_edges_are_where_the_iso_flop_loss_crosses_the_limit():
    plan = solve(scenario(CHINCHILLA))
    found = band(plan, 0.005, tol=1e-9)
    law = CHINCHILLA["law"]

    def loss_at(N):
        D = 5.76e23 / (6 * N)
        return law["E"] + law["A"] / N ** law["alpha"] + law["B"] / D ** law["beta"]

    assert found.loss_limit == pytest.approx(plan.loss + 0.005 * (plan.loss - 1.69),
                                             rel=1e-14)  # achieved: 0
    N = found.ranges["N"]
    assert N.low < plan.allocation["N"] < N.high
    # brentq finds each edge to about 2.5e-9 in log N, where the loss moves 0.012 per
    # unit of log N: up to 2e-11 of the loss (achieved: 1.2e-13).
    for edge in (N.low, N.high):
        assert loss_at(edge) == pytest.approx(found.loss_limit, rel=1e-10)
    D = found.ranges["D"]
    assert D.low == pytest.approx(5.76e23 / (6 * N.high), rel=1e-13)  # achieved: 5e-15


@pytest.mark.parametrize("tol", [1e-1, 1e-2, 1e-3])
def test_band_edges_are_as_accurate_as_asked(tol):
    """``tol`` is the edges' relative accuracy: held to a band found to 1e-12. (brentq's
    rtol, relative to |log N| = 24, once let an edge at tol=0.1 be 10% off.)"""
    plan = solve(scenario(CHINCHILLA))
    exact, rough = band(plan, 0.005, tol=1e-12), band(plan, 0.005, tol=tol)
    for r in ("N", "D"):
        for side in ("low", "high"):
            got, want = getattr(rough.ranges[r], side), getattr(exact.ranges[r], side)
            assert abs(got / want - 1) <= tol, (r, side)


def test_band_grows_with_epsilon_and_stops_at_bounds():
    capped = solve(scenario(CHINCHILLA, **{"resources.N": {"max": 2e10}}))
    narrow, wide = band(capped, 0.001), band(capped, 0.02)
    assert wide.ranges["N"].low < narrow.ranges["N"].low
    assert wide.ranges["N"].high == 2e10
    assert wide.ranges["N"].high_is_bound


# ------------------------------------------------------------------------- bad input

@pytest.mark.parametrize(("change", "message"), [
    ({"hardware": {"accelerator": "H100", "mfu": 0.4}}, r"hardware\.accelerator.*H100-SXM"),
    ({"hardware": {"accelerator": "A100-80GB", "mfu": 1.5}}, r"hardware\.mfu: got 1\.5"),
    ({"hardware": {"peak_flops": 1e15}}, r"hardware\.mfu: missing"),
    ({"hardware": {"peak_flops": 1e15, "mfu": 0.5, "deadline_hours": 10}},
     r"hardware\.devices: missing"),
    ({"hardware": {"peak_flops": 1e15, "mfu": 0.5, "bill": "dollars"}},
     r"price_per_device_hour: missing"),
    ({"inference": {"tokens": 1e12, "unit_cost": 1, "mfu": 0.3}}, r"inference: give either"),
    ({"inference": {"tokens": -1}}, r"inference\.tokens: got -1"),
    ({"inference": {"tokens": 1e12, "mfu": 0.3}}, r"inference\.mfu: prices inference"),
    ({"capability": {"a": 0.05, "required": 1.3}}, r"capability: .*needs b, N_c"),
    ({"capability": {"min_params": 1e9, "a": 0.05}}, r"capability: give either"),
    ({"compute.attention": {"context": 2048, "layers": 10}}, r"layers and width go together"),
    ({"compute.attention": {"context": 2048, "layers": 10, "width": 10, "aspect_ratio": 1}},
     r"either layers and width, or aspect_ratio"),
    ({"law": {"form": "data_constrained", "E": 1.8, "A": 500, "B": 1500, "alpha": 0.35,
              "beta": 0.35, "R_D_star": 15, "R_N_star": 5}}, r"data\.unique_tokens: missing"),
    ({"data": {"unique_tokens": 0}}, r"data\.unique_tokens: got 0"),
    ({"band": {"epsilon": 2}}, r"band\.epsilon: got 2"),
])
def test_new_keys_reject_nonsense_naming_the_field(change, message):
    with pytest.raises(ScenarioError, match=message):
        scenario(CHINCHILLA, **change)


def test_hardware_and_a_c_price_conflict():
    with pytest.raises(ScenarioError, match=r"resources\.C\.unit_cost: hardware already"):
        parse_scenario(build(DOLLARS, **{"resources.C.unit_cost": 1}))


def test_method_gp_refuses_a_law_that_is_not_a_posynomial():
    with pytest.raises(ScenarioError, match="not a geometric program"):
        solve(muennighoff(), method="gp")


def test_every_accelerator_preset_is_usable():
    for name in ACCELERATORS:
        s = parse_scenario(build(DOLLARS, hardware={**HW, "accelerator": name}))
        assert np.isfinite(solve(s).loss)
