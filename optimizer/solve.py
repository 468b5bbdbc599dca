r"""Solve a scenario: closed form where one applies, else a GP refined to full precision.

The steps, each checked:

1. :meth:`Problem.check_well_posed` rejects unbounded and plainly infeasible problems
   with a reason in words.
2. ``method="auto"`` takes the closed form (:mod:`optimizer.closed_form`) when the
   problem has one and its solution respects every bound; otherwise it solves the GP
   (:mod:`optimizer.gp`).
3. A GP solution is accurate to the solver's tolerance (about 1e-6 relative), so it
   is **refined**: with the active set it reveals held fixed, Newton's method
   (MINPACK's ``hybr`` via :func:`scipy.optimize.root`) solves the optimality
   conditions in log variables,

   .. math::

       x_i\left(\partial_i L + \lambda\,\partial_i\text{cost}
           + \textstyle\sum_j \mu_j \partial_i h_j\right) = 0, \quad
       \text{main constraint} = 0, \quad h_j = \text{limit}_j,

   using the law's analytic gradients, to about 1e-12.
4. The :func:`~optimizer.certificate.certify` certificate must accept the plan;
   otherwise the next solver is tried, and if none passes a
   :class:`~optimizer.errors.SolverError` is raised. A wrong number is never returned.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
from scipy.optimize import root

from . import closed_form
from .certificate import DEFAULT_TOLERANCE, Certificate, certify
from .errors import InfeasibleError, ScenarioError, SolverError
from .problem import Problem, Region
from .scenario import Scenario

Method = Literal["auto", "closed_form", "gp", "nlp"]
METHODS: tuple[str, ...] = ("auto", "closed_form", "gp", "nlp")


@dataclass(frozen=True)
class Plan:
    """An optimal plan and the evidence that it is optimal."""

    scenario: Scenario = field(repr=False)
    problem: Problem = field(repr=False)
    status: str
    """``optimal`` (other outcomes raise a typed error)."""
    method: str
    """How the plan was found, e.g. ``closed_form:chinchilla`` or ``gp:CLARABEL+kkt``."""
    allocation: dict[str, float]
    """Amounts of N, D and C."""
    loss: float
    cost: float
    certificate: Certificate
    warnings: tuple[str, ...] = ()
    seconds: float = 0.0
    """Wall time of the solve, certificate included."""

    @property
    def mode(self) -> str:
        """``loss`` (minimise loss within a budget) or ``cost`` (reach a target loss)."""
        return self.problem.mode


def solve(scenario: Scenario, *, method: Method = "auto",
          tol: float = DEFAULT_TOLERANCE, warm: Mapping[str, float] | None = None) -> Plan:
    """Find the optimal plan for ``scenario`` and certify it.

    Parameters
    ----------
    scenario : Scenario
        A validated scenario (see :func:`optimizer.load_scenario`).
    method : {"auto", "closed_form", "gp"}
        ``auto`` uses a closed form when one applies, else the GP.
    tol : float
        Tolerance of the certificate (relative spread of the gain per cost).
    warm : mapping, optional
        The allocation of a nearby plan (a sweep's previous point). For a posynomial
        law, Newton's method on the optimality conditions is tried from it before the
        GP (continuation); the certificate decides whether its point is kept. The
        problem is convex in logs, so a certified point is the optimum.

    Returns
    -------
    Plan

    Raises
    ------
    InfeasibleError, UnboundedError
        The scenario has no optimal plan (exit code 3).
    ScenarioError
        ``method="closed_form"`` for a scenario without one (exit code 2).
    SolverError
        No solver produced a plan the certificate accepts (exit code 4).
    """
    start = time.perf_counter()
    plans: list[Plan] = []
    failures: list[InfeasibleError] = []
    for region in _regions(scenario):
        try:
            plans.append(_solve(Problem.from_scenario(scenario, region), method, tol, warm))
        except InfeasibleError as exc:  # another region may still be feasible
            failures.append(exc)
    if not plans:
        raise failures[0]
    best = min(plans, key=lambda plan: plan.loss if plan.mode == "loss" else plan.cost)
    return replace(best, seconds=time.perf_counter() - start)


def _regions(scenario: Scenario) -> tuple[Region | None, ...]:
    """No region, or both sides of the kink a priced data stock puts in the cost.

    Under a repetition law the unique tokens bought are min(D, U), so the cost has a
    kink at D = U. Each side is smooth: ``fresh`` (D <= U, every token priced) and
    ``repeat`` (D >= U, all U bought); the better of the two certified optima is the
    plan. A region whose bounds contradict is infeasible and skipped.
    """
    data = scenario.data
    if scenario.law.needs_data and data is not None and data.unit_cost > 0:
        return ("fresh", "repeat")
    return (None,)


def _solve(problem: Problem, method: Method, tol: float,
           warm: Mapping[str, float] | None = None) -> Plan:
    problem.check_well_posed()
    attempts: list[str] = []
    for x, how in _candidates(problem, method, warm):
        certificate = certify(problem, x, tol)
        if certificate.optimal:
            amounts = problem.amounts(x)
            return Plan(scenario=problem.scenario, problem=problem, status="optimal",
                        method=how, allocation={r: float(v) for r, v in amounts.items()},
                        loss=float(problem.loss(x)), cost=float(problem.cost(x)),
                        certificate=certificate, warnings=_warnings(problem))
        attempts.append(f"{how}: " + "; ".join(certificate.reasons))
    raise SolverError("no method produced a plan that passes the certificate: "
                      + " | ".join(attempts))


def _candidates(problem: Problem, method: Method, warm: Mapping[str, float] | None = None):
    if not problem.levers:
        yield {}, "fixed"
        return
    if method in ("auto", "closed_form"):
        x = closed_form.solve(problem)
        if x is not None:
            yield x, f"closed_form:{problem.closed_form_kind}"
        elif method == "closed_form":
            why = ("its solution violates a bound" if problem.closed_form_kind
                   else "only power laws with linear costs and Chinchilla under a compute "
                   "budget have one")
            raise ScenarioError(f"no closed form for this scenario ({why}); use --method gp")
    if (warm is not None and method == "auto" and problem.law.geometric
            and all(0 < warm.get(r, 0) < math.inf for r in problem.levers)):
        yield refine(problem, {r: warm[r] for r in problem.levers}), "continuation+kkt"
    if not problem.law.geometric or method == "nlp":
        if method == "gp":
            raise ScenarioError(f"the {problem.law.form} law is not a posynomial, so the "
                                "problem is not a geometric program; use --method auto or nlp")
        from . import nlp

        for x, how in nlp.solve(problem):
            yield refine(problem, x), f"{how}+kkt"
        return
    from . import gp

    for x, solver in gp.solve(problem):
        yield refine(problem, x), f"gp:{solver}+kkt"


def refine(problem: Problem, x0: Mapping[str, float],
           tol: float = DEFAULT_TOLERANCE) -> dict[str, float]:
    """Polish a GP solution by Newton's method on the optimality conditions.

    The active bounds and limits are read off ``x0`` at the solver's accuracy (1e-4
    relative), and the budget (or target) is assumed to bind, as it must at an optimum
    where some lever still lowers the loss. If that does not give a certified point,
    the active set is read strictly (1e-8) instead. Returns the first refined point
    the certificate accepts at ``tol``, else ``x0`` unchanged.
    """
    for guess, binds in ((1e-4, True), (1e-8, False)):
        x = _newton(problem, x0, certify(problem, x0, guess), binds)
        if x is not None and certify(problem, x, tol).optimal:
            return x
    return dict(x0)


def _newton(problem: Problem, x0: Mapping[str, float], rough: Certificate,
            binds: bool) -> dict[str, float] | None:
    free = [r for r in problem.levers if rough.resources[r].status == "free"]
    pinned = {r: (problem.lower[r] if rough.resources[r].status == "at_lower_bound"
                  else problem.upper[r]) for r in problem.levers if r not in free}
    limits = [(n, problem.limits[n][0 if side == "lower" else 1])
              for n, (side, _) in rough.limits.items()]
    active = binds or rough.constraint_active
    if not free:
        return {**x0, **pinned}
    u0 = np.log([x0[r] for r in free])
    lam0 = rough.budget_multiplier or 1.0
    mu0 = [abs(m) or 1.0 for _, (_, m) in rough.limits.items()]
    scale = np.array([abs(rough.resources[r].marginal_loss_reduction) * x0[r] or 1.0
                      for r in free])

    def unpack(z: np.ndarray) -> dict[str, float]:
        steps = np.clip(z[:len(free)], -30, 30)  # keep exp() finite on wild trial steps
        return {**pinned, **dict(zip(free, np.exp(u0 + steps), strict=True))}

    def residual(z: np.ndarray) -> np.ndarray:
        x = unpack(z)
        lam = z[len(free)] * lam0 if active else 0.0
        mus = z[len(free) + active:] * mu0
        gL, gc = problem.loss_gradient(x), problem.cost_gradient(x)
        gh = [problem.limit_gradient(n, x) for n, _ in limits]
        station = [x[r] * (gL[r] + lam * gc[r] + sum(m * g[r] for m, g in zip(mus, gh,
                                                                            strict=True)))
                   for r in free] / scale
        closing = []
        if active and problem.mode == "loss":
            closing.append(problem.cost(x) / problem.budget - 1)
        elif active:
            closing.append(problem.reducible_loss(x) / problem.headroom - 1)
        amounts = problem.amounts(x)
        closing += [amounts[n] / bound - 1 for n, bound in limits]
        return np.concatenate([station, closing])

    z0 = np.concatenate([np.zeros(len(free)), [1.0] * active,
                         [1.0] * len(limits)])
    with np.errstate(all="ignore"):
        found = root(residual, z0, method="hybr", options={"xtol": 1e-15})
    if not np.all(np.isfinite(found.x)):
        return None
    return unpack(found.x)


def _warnings(problem: Problem) -> tuple[str, ...]:
    out = []
    for r, amount in problem.unused.items():
        price = problem.scenario.unit_cost(r)
        if price > 0 or amount > 0:
            out.append(f"{r} does not affect the loss and no coupling uses it, so it is "
                       f"bought at its minimum ({amount:g}); add it to the law or add "
                       "compute: {flops_per_param_token: 6} if that is not intended")
    return tuple(out)
