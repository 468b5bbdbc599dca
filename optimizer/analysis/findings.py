r"""After the optimum: how flat it is, and what each planning model changed.

* :func:`band` -- the :math:`\varepsilon`-optimal band: the range of N (and of D)
  whose *best achievable* loss, re-optimising everything else within the same
  budget, is within :math:`\varepsilon (L^* - E)` of the optimum :math:`L^*`. In cost
  mode the budget is the optimal cost, so the band is the range of sizes that reach
  within :math:`\varepsilon` of the target's reducible loss for the same money.
* :func:`inference_shift` -- how far inference demand moves the plan from the
  training-only optimum of equal quality (Sardana & Frankle 2023): fewer parameters,
  more tokens, and the lifetime cost saved.
* :func:`threshold_cost` -- the loss (or cost) a capability threshold adds.
* :func:`hardware_summary` -- the plan in device-hours, dollars and wall-clock time.

Each re-solves a modified scenario with :func:`optimizer.solvers.solve`, so every number here
comes from a certified plan.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from optimizer.errors import OptimizerError, ScenarioError
from optimizer.model.scenario import MinimizeCost, MinimizeLoss, Scenario
from optimizer.solvers.solve import Plan, solve


@dataclass(frozen=True)
class Interval:
    """One resource's epsilon-optimal range."""

    low: float
    high: float
    low_is_bound: bool = False
    """The range reaches the resource's lower bound (it is wider than the bound allows)."""
    high_is_bound: bool = False


@dataclass(frozen=True)
class Band:
    """The epsilon-optimal band of a plan."""

    epsilon: float
    loss_limit: float
    """Plans whose best loss is at most this are epsilon-optimal."""
    ranges: dict[str, Interval]


def band(plan: Plan, epsilon: float | None = None, *, tol: float = 1e-3) -> Band:
    """The range of each of N and D (where it is a lever) within epsilon of the optimum.

    Parameters
    ----------
    plan : Plan
        A solved plan.
    epsilon : float, optional
        Fraction of the optimum's reducible loss; default ``scenario.band.epsilon``.
    tol : float
        Relative accuracy of the band's edges.
    """
    scenario = plan.scenario
    if not scenario.law.predicts_loss:
        raise ScenarioError(f"the {scenario.law.form} law predicts no loss, so there is no "
                            "band of plans within epsilon of the optimum's loss")
    eps = scenario.band.epsilon if epsilon is None else epsilon
    floor = scenario.law.floor()
    best = plan.loss if plan.mode == "loss" else scenario.target_loss()
    limit = best + eps * (best - floor)
    base = scenario if plan.mode == "loss" else scenario.model_copy(
        update={"objective": MinimizeLoss(minimize="loss", budget=plan.cost)})
    problem = plan.problem
    ranges = {}
    for r in ("N", "D"):
        if r not in problem.levers:
            continue
        centre = plan.allocation[r]

        def excess(log_v: float, r: str = r) -> float:
            return _profile(base, r, math.exp(log_v)) - limit

        low, low_bound = _edge(excess, math.log(centre), -1, problem.lower[r], tol)
        high, high_bound = _edge(excess, math.log(centre), +1, problem.upper[r], tol)
        ranges[r] = Interval(low, high, low_bound, high_bound)
    return Band(epsilon=eps, loss_limit=limit, ranges=ranges)


def _profile(scenario: Scenario, r: str, value: float) -> float:
    """The best loss with ``r`` held at ``value``; inf when that is infeasible.

    Solved by :mod:`optimizer.solvers.nlp` (scipy, certified like every plan), which is
    quick for these small problems and does not import cvxpy.
    """
    resources = scenario.resources
    held = resources[r].model_copy(update={"fixed": value, "min": None, "max": None})
    pinned = scenario.model_copy(update={"resources": resources.model_copy(update={r: held})})
    try:
        return solve(pinned, method="nlp").loss
    except OptimizerError:
        return math.inf


def _edge(excess, centre: float, direction: int, bound: float,
          tol: float) -> tuple[float, bool]:
    """Walk from the optimum until the profile leaves the band, then bracket the edge."""
    from scipy.optimize import root_scalar  # the band is opt-in: keep solve's start-up light

    inside, step = centre, math.log(2.0)
    limit = math.log(bound) if 0 < bound < math.inf else direction * math.inf
    for _ in range(60):
        trial = centre + direction * step
        at_bound = direction * (trial - limit) >= 0
        if at_bound:
            trial = limit
        if excess(trial) > 0:
            # Every earlier trial was inside; only the optimum itself is unchecked.
            if inside == centre and excess(centre) > 0:  # it sits on an edge (rounding)
                return math.exp(centre), False
            lo, hi = sorted((inside, trial))
            # In u = log x an absolute error is the relative error of x: brentq's rtol,
            # relative to |u| (about 24 for N), would allow 2.4 tol, so only xtol counts.
            found = root_scalar(lambda u: min(excess(u), 1.0), bracket=(lo, hi),
                                method="brentq", rtol=4 * np.finfo(float).eps, xtol=tol / 10)
            return math.exp(found.root), False
        if at_bound:
            return bound, True
        inside, step = trial, step * 2
    return math.exp(inside), False


@dataclass(frozen=True)
class InferenceShift:
    """The inference-aware plan against the training-only plan of the same loss."""

    reference: Plan
    """The cheapest plan reaching the same loss when inference is ignored."""
    reference_lifetime_cost: float
    """What that plan costs once its inference is paid for too."""
    parameter_ratio: float
    """N (inference-aware) / N (training-only)."""
    token_ratio: float
    """D (inference-aware) / D (training-only)."""
    cost_ratio: float
    """Lifetime cost (inference-aware) / lifetime cost (training-only)."""


def inference_shift(plan: Plan) -> InferenceShift | None:
    """How inference demand moved the plan; ``None`` without inference in the scenario."""
    scenario = plan.scenario
    if scenario.inference is None:
        return None
    reference = solve(scenario.model_copy(update={
        "inference": None,
        "objective": MinimizeCost(minimize="cost", target_loss=plan.loss)}))
    levers = {r: reference.allocation[r] for r in plan.problem.levers}
    lifetime = float(plan.problem.cost(levers))
    return InferenceShift(
        reference=reference, reference_lifetime_cost=lifetime,
        parameter_ratio=plan.allocation["N"] / reference.allocation["N"],
        token_ratio=plan.allocation["D"] / reference.allocation["D"],
        cost_ratio=plan.cost / lifetime)


@dataclass(frozen=True)
class ThresholdCost:
    """What a capability threshold costs the plan."""

    min_params: float
    binds: bool
    unconstrained: Plan
    """The plan without the threshold."""
    added: float
    """Loss added (minimise loss) or cost added (minimise cost) by the threshold."""


def threshold_cost(plan: Plan) -> ThresholdCost | None:
    """Compare with the plan without the capability; ``None`` without one."""
    capability = plan.scenario.capability
    if capability is None:
        return None
    free = solve(plan.scenario.model_copy(update={"capability": None}))
    added = plan.loss - free.loss if plan.mode == "loss" else plan.cost - free.cost
    status = plan.certificate.resources["N"].status
    return ThresholdCost(min_params=capability.threshold(), binds=status == "at_lower_bound",
                         unconstrained=free, added=added)


def hardware_summary(plan: Plan) -> dict[str, Any] | None:
    """The plan's training compute in device-hours, dollars and days on the cluster."""
    hw = plan.scenario.hardware
    if hw is None:
        return None
    device_hours = plan.allocation["C"] / hw.flops_per_device_hour()
    out: dict[str, Any] = {"accelerator": hw.accelerator, "peak_flops": hw.peak,
                           "mfu": hw.mfu, "budget_currency": hw.currency,
                           "flop_price": hw.price_per_flop(), "device_hours": device_hours}
    if hw.price_per_device_hour is not None:
        out["training_dollars"] = device_hours * hw.price_per_device_hour
    if hw.devices is not None:
        out["wall_clock_hours"] = device_hours / hw.devices
        out["bytes_per_device"] = plan.allocation["N"] * hw.bytes_per_param / hw.devices
    return out


def binding(plan: Plan) -> list[dict[str, Any]]:
    """Every bound or limit the plan sits on, with the scenario key it comes from."""
    problem, certificate = plan.problem, plan.certificate
    out = []
    for r, margin in certificate.resources.items():
        if margin.status in ("at_lower_bound", "at_upper_bound"):
            side = margin.status.split("_")[1]
            value = problem.lower[r] if side == "lower" else problem.upper[r]
            out.append({"resource": r, "side": side, "value": value,
                        "source": problem.bound_source(r, side)})
    for name, (side, multiplier) in certificate.limits.items():
        lo, hi = problem.limits[name]
        out.append({"resource": name, "side": side, "value": lo if side == "lower" else hi,
                    "source": problem.bound_source(name, side), "multiplier": multiplier})
    return out


def extrapolation(plan: Plan) -> dict[str, dict[str, float]] | None:
    """How far the plan lies outside the runs its law was fitted to, per resource.

    ``orders_beyond`` is log10(plan / largest run) above the fitted range, log10(plan /
    smallest run) (negative) below it, and 0 inside (to 1e-9 relative, so that a plan
    at exactly the largest run's compute is inside). Without a compute coupling, the
    plan's training compute is taken as k N D with the fit's k.
    """
    record = plan.scenario.fit
    if record is None or not record.data.range:
        return None
    amounts = dict(plan.allocation)
    if plan.scenario.compute is None:
        amounts["C"] = record.data.flops_per_param_token * amounts["N"] * amounts["D"]
    out = {}
    for r, span in record.data.range.items():
        x = amounts[r]
        beyond = (math.log10(x / span.high) if x > span.high * (1 + 1e-9)
                  else math.log10(x / span.low) if x < span.low * (1 - 1e-9) else 0.0)
        out[r] = {"plan": x, "fitted_low": span.low, "fitted_high": span.high,
                  "orders_beyond": beyond}
    return out


def findings(plan: Plan, epsilon: float | None = None, *,
             with_band: bool = True) -> dict[str, Any]:
    """Everything above for ``plan``, as plain data (the ``solve`` report's extras).

    Each finding is optional: one that cannot be computed (its re-solve has no plan,
    say) is reported under ``unavailable`` with the reason, and never sinks the plan.
    """
    out: dict[str, Any] = {"compute_formula": plan.problem.describe_compute(),
                           "binding": binding(plan)}
    unavailable: dict[str, str] = {}

    def attempt(key: str, compute: Callable[[], Any]) -> None:
        try:
            with np.errstate(all="ignore"):
                found = compute()
        except OptimizerError as exc:
            unavailable[key] = str(exc)
            return
        except Exception as exc:  # noqa: BLE001 - the plan stands; say what went wrong
            unavailable[key] = f"could not be computed ({type(exc).__name__}: {exc})"
            return
        if found is not None:
            out[key] = found

    if with_band and plan.scenario.law.predicts_loss:  # no loss, no band of losses
        attempt("band", lambda: _band_dict(band(plan, epsilon)))
    attempt("inference", lambda: _inference_dict(plan))
    attempt("capability", lambda: _capability_dict(plan))
    attempt("downstream", lambda: _downstream_dict(plan))
    attempt("hardware", lambda: hardware_summary(plan))
    attempt("extrapolation", lambda: extrapolation(plan))
    if plan.scenario.data is not None:
        U = plan.scenario.data.unique_tokens
        out["data"] = {"unique_tokens": U, "epochs": plan.allocation["D"] / U}
    if unavailable:
        out["unavailable"] = unavailable
    return out


def _downstream_dict(plan: Plan) -> dict[str, Any] | None:
    """The benchmark's error at the plan's loss, and what a downstream target asks."""
    scenario = plan.scenario
    mapping = scenario.downstream
    if mapping is None or not scenario.law.predicts_loss:
        return None
    error = float(mapping.error(plan.loss))
    out: dict[str, Any] = {"benchmark": mapping.benchmark, "form": mapping.form,
                           "loss": plan.loss, "error": error, "accuracy": 1 - error}
    objective = scenario.objective
    if isinstance(objective, MinimizeCost) and objective.target[0] != "target_loss":
        key, value = objective.target
        out |= {"target": key, "target_value": value, "target_loss": scenario.target_loss()}
    return out


def _band_dict(found: Band) -> dict[str, Any]:
    return {"epsilon": found.epsilon, "loss_limit": found.loss_limit,
            **{r: {"low": i.low, "high": i.high, "low_is_bound": i.low_is_bound,
                   "high_is_bound": i.high_is_bound} for r, i in found.ranges.items()}}


def _inference_dict(plan: Plan) -> dict[str, Any] | None:
    shift = inference_shift(plan)
    if shift is None:
        return None
    ref = shift.reference
    return {"training_only": {"N": ref.allocation["N"], "D": ref.allocation["D"],
                              "training_cost": ref.cost,
                              "lifetime_cost": shift.reference_lifetime_cost},
            "parameter_ratio": shift.parameter_ratio, "token_ratio": shift.token_ratio,
            "lifetime_cost_ratio": shift.cost_ratio,
            "tokens_per_parameter": plan.allocation["D"] / plan.allocation["N"],
            "training_only_tokens_per_parameter": ref.allocation["D"] / ref.allocation["N"]}


def _capability_dict(plan: Plan) -> dict[str, Any] | None:
    threshold = threshold_cost(plan)
    if threshold is None:
        return None
    free = threshold.unconstrained
    return {"min_params": threshold.min_params, "binds": threshold.binds,
            "added_" + plan.mode: threshold.added,
            "without_threshold": {"N": free.allocation["N"], "loss": free.loss,
                                  "cost": free.cost}}
