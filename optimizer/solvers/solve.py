r"""Solve a scenario: closed form where one applies, else a GP refined to full precision.

The steps, each checked:

1. :meth:`Problem.check_well_posed` rejects unbounded and plainly infeasible problems
   with a reason in words.
2. ``method="auto"`` tries every route in turn (``docs/theory.md``, "Every route before
   giving up"): the closed form (:mod:`optimizer.solvers.closed_form`) when its point respects
   every bound and limit; continuation from a neighbouring plan; the GP
   (:mod:`optimizer.solvers.gp`) with each installed solver, when the problem is one;
   then SLSQP in log variables (:mod:`optimizer.solvers.nlp`).
3. Each point is **refined** (:func:`~optimizer.solvers.refine.refine`): with each
   candidate set of binding constraints held fixed, Newton's method solves the
   optimality conditions in log variables,

   .. math::

       x_i\left(\partial_i f + \textstyle\sum_j \mu_j \partial_i h_j\right) = 0,
       \quad h_j = \text{bound}_j,

   using the law's analytic gradients, to about 1e-12.
4. The :func:`~optimizer.solvers.certificate.certify` certificate must accept the plan. When no
   point passes, phase one tells a problem with no plan (exit 3) from a numerical failure
   (:class:`~optimizer.errors.SolverError`, exit 4). A wrong number is never returned.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from optimizer import options
from optimizer.display import Result
from optimizer.errors import InfeasibleError, ScenarioError, SolverError, UnboundedError
from optimizer.model.problem import (
    EXTREME,
    Problem,
    Region,
    oddness,
    representable,
    unrepresentable,
)
from optimizer.model.scenario import Scenario
from optimizer.solvers import closed_form
from optimizer.solvers.certificate import DEFAULT_TOLERANCE, Certificate, certify
from optimizer.solvers.refine import STRICT, refine, unconstrained

Method = Literal["auto", "closed_form", "gp", "nlp"]
METHODS: tuple[str, ...] = ("auto", "closed_form", "gp", "nlp")


@dataclass(frozen=True, repr=False)
class Plan(Result):
    """An optimal plan and the evidence that it is optimal.

    ``repr(plan)`` is one short line; in Jupyter a plan shows as a table; ``to_dict()``
    gives everything as plain data (the ``solve --json`` output without its envelope).
    """

    scenario: Scenario
    problem: Problem
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

    def summary(self) -> dict[str, Any]:
        """Scenario, amounts, loss, cost, method and whether the certificate holds."""
        return {"scenario": self.scenario.name, **self.allocation, "loss": self.loss,
                "cost": self.cost, "method": self.method, "optimal": self.certificate.optimal}

    def to_dict(self) -> dict[str, Any]:
        """The plan, its objective and its certificate as plain data."""
        return {"scenario": self.scenario.name, "status": self.status, "mode": self.mode,
                "method": self.method, "objective": self.scenario.objective.model_dump(),
                "allocation": dict(self.allocation), "loss": self.loss, "cost": self.cost,
                "certificate": self.certificate.to_dict(), "warnings": list(self.warnings),
                "seconds": self.seconds}


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
    options.expect(scenario, Scenario, "solve's scenario", options.LOAD)
    options.fraction("--tol", tol)
    start = time.perf_counter()
    plans: list[Plan] = []
    failures: list[InfeasibleError] = []
    with representable(scenario):
        for region in _regions(scenario):
            try:
                plans.append(_solve(Problem.from_scenario(scenario, region), method, tol, warm))
            except InfeasibleError as exc:  # another region may still be feasible
                failures.append(exc)
    if not plans:
        raise failures[0]
    best = min(plans, key=lambda plan: plan.loss if plan.mode == "loss" else plan.cost)
    figures = {**best.allocation, "cost": best.cost} | (
        {"loss": best.loss} if scenario.law.predicts_loss else {})
    if not all(math.isfinite(v) for v in figures.values()):
        raise unrepresentable(scenario, "the optimum has " + ", ".join(
            f"{k} = {v}" for k, v in figures.items() if not math.isfinite(v)))
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
    closest: tuple[float, str, Certificate, dict[str, float]] | None = None
    # The first point an exact route (closed form, GP) found whose figures left floating
    # point: then the scenario's numbers are beyond it. (A local search running off to
    # infinity is not evidence: that is what an infeasible problem's search can do.)
    overflowed = ""
    for x, how in _candidates(problem, method, warm):
        figures = {**problem.amounts(x), "loss": problem.loss(x), "cost": problem.cost(x)}
        bad = [f"{k} = {float(v):g}" for k, v in figures.items() if not math.isfinite(v)]
        if bad and not overflowed and not how.startswith("scipy"):
            overflowed = f"{', '.join(bad)} at the point {how} found"
        certificate = certify(problem, x, tol)
        if certificate.optimal:
            amounts = problem.amounts(x)
            return Plan(scenario=problem.scenario, problem=problem, status="optimal",
                        method=how, allocation={r: float(v) for r, v in amounts.items()},
                        loss=float(problem.reported_loss(x)), cost=float(problem.cost(x)),
                        certificate=certificate, warnings=_warnings(problem))
        if certificate.feasible and (closest is None
                                     or certificate.max_relative_spread < closest[0]):
            closest = (certificate.max_relative_spread, how, certificate, dict(x))
    if closest is None:
        # Every route (a GP proves infeasibility outright; here its answer was not
        # feasible either) ended outside the limits: at most a sliver of plans remains,
        # such as a compute floor equal to what the budget buys, which no plan attains.
        if overflowed:
            raise unrepresentable(problem.scenario, overflowed)
        raise problem.no_plan("(no method reached a plan within them)")
    spread, how, certificate, x = closest
    # Phase one: if the limits alone leave no plan within the budget (or target), the
    # points found were feasible only to the solvers' tolerance, and there is no plan.
    from optimizer.solvers import nlp

    least = nlp.infimum(problem, x)
    if least == math.inf:
        raise unrepresentable(problem.scenario, "every plan's " + (
            "cost" if problem.mode == "loss" else "loss") + " overflows")
    bound = problem.budget if problem.mode == "loss" else problem.headroom
    if least >= bound * (1 - 1e-9):
        what = "costs" if problem.mode == "loss" else "reaches a reducible loss of"
        raise problem.no_plan(f"(the best plan within them {what} {least:.6g})")
    if spread > UNATTAINED and problem.geometric:
        # Convex in logs, and every route ended far from stationary, not near it
        # (numerical trouble leaves spreads near the tolerance): the plans run off
        # towards an edge without reaching an optimum.
        raise problem.unattained(f"({how} stopped with a spread of {spread:.3g})",
                                 certificate.advice)
    loss = float(problem.loss(x))
    worthless = {r: m.marginal_loss_reduction * m.amount / loss
                 for r, m in certificate.resources.items()
                 if r in problem.levers and m.status == "free"
                 and abs(m.marginal_loss_reduction * m.amount) <= RESOLUTION * loss}
    if worthless:
        # The loss does not depend on these levers at any precision floating point has,
        # so nothing decides their amounts: a question the numbers leave undetermined.
        raise unrepresentable(problem.scenario, "the loss depends on " + ", ".join(
            f"{r} by an elasticity of {e:.2g}" for r, e in worthless.items())
            + " at the best plan found, below what floating point resolves, so the law "
            "does not determine how much to buy")
    if max(oddness(problem.scenario).values(), default=0.0) >= EXTREME:
        raise unrepresentable(problem.scenario, f"the closest, by {how}, has a spread of "
                              f"{spread:.3g}", head="no plan could be certified for inputs "
                              "this far from typical values")
    hint = (f", or accept it with --tol {10 ** math.ceil(math.log10(spread)):g}"
            if 0 < spread < 1 else "")
    raise SolverError(
        f"no method found a plan the certificate accepts at --tol {tol:g}: the closest "
        f"({how}) has a spread of {spread:.3g}. Try --method nlp{hint}; if the scenario's "
        "numbers span many orders of magnitude, expressing them in larger units may help",
        certificate)


RESOLUTION = 1e-12
"""A lever whose elasticity of the loss is below this (relative) at the best plan found
moves the loss by less than floating point can weigh against its cost."""

UNATTAINED = 1e-2
"""A spread this large after every route, on a problem convex in logs, is structural:
no optimum is attained (numerical trouble leaves spreads near the tolerance)."""


def _candidates(problem: Problem, method: Method, warm: Mapping[str, float] | None = None
                ) -> Iterator[tuple[dict[str, float], str]]:
    """Points to certify, in order: closed form, continuation, GP, then NLP.

    With ``method="auto"`` every route is tried before giving up: the first point the
    certificate accepts is the plan. A GP solver that fails (or proves nothing) hands
    over to the NLP route in log variables, convex for posynomial laws.
    """
    if not problem.levers:
        yield {}, "fixed"
        return
    if method in ("auto", "closed_form"):
        x = closed_form.solve(problem)
        if x is not None:
            yield x, f"closed_form:{closed_form.kind(problem)}"
        elif method == "closed_form":
            raise ScenarioError("no closed form for this scenario "
                                f"({closed_form.why_not(problem)}); use --method gp")
    if (warm is not None and method == "auto" and problem.geometric
            and all(0 < warm.get(r, 0) < math.inf for r in problem.levers)):
        yield refine(problem, {r: warm[r] for r in problem.levers}), "continuation+kkt"
    if method == "auto" and problem.geometric:
        # Convex in logs, so a point the certificate accepts is the optimum: Newton's
        # method from a cold start finds most interior optima without loading cvxpy.
        # Only a point that certifies at 1e-9 is offered: where the optimum is flat
        # (a ridge, plans running off) the GP gets further than a cold Newton start.
        start = cold_start(problem)
        if start is not None:
            x = refine(problem, start)
            if certify(problem, x, STRICT).optimal:
                yield x, "kkt"
            # Past a bound or a limit, Newton's point with only the budget binding names
            # the constraints that bind: pulled back onto them, they are held as equalities.
            past = unconstrained(problem, start)
            inside = _pulled_in(problem, past) if past is not None else None
            if inside is not None and certify(problem, x := refine(problem, inside),
                                              STRICT).optimal:
                yield x, "kkt"
    if method == "gp" and not problem.geometric:
        why = (f"the {problem.law.form} law is not a posynomial" if not problem.law.geometric
               else "compute.attention makes C a sum of terms, which the law or a lower "
                    "limit on C then needs as a single term")
        raise ScenarioError(f"{why}, so the problem is not a geometric program; use "
                            "--method auto or nlp")
    solved = False  # whether a solver has already reached a point
    proof: InfeasibleError | UnboundedError | None = None  # a GP solver's verdict
    if problem.geometric and method in ("auto", "gp"):
        from optimizer.solvers import gp

        try:
            for x, solver in gp.solve(problem):
                solved = True
                yield refine(problem, x), f"gp:{solver}+kkt"
        except (SolverError, InfeasibleError, UnboundedError) as exc:
            if method == "gp":
                raise
            proof = None if isinstance(exc, SolverError) else exc
    if method in ("auto", "nlp"):
        from optimizer.solvers import nlp

        try:
            for x, how in nlp.solve(problem):
                yield refine(problem, x), f"{how}+kkt"
        except InfeasibleError:
            if proof is not None:
                raise proof from None
            if not solved:  # the GP found points, so the NLP's starts were merely unlucky
                raise
    if proof is not None:
        raise proof


def cold_start(problem: Problem) -> dict[str, float] | None:
    """A start for Newton's method with no solver's help.

    Every lever equal, scaled together until the budget is spent (or the target met),
    then pulled inside the bounds and limits (:func:`_pulled_in`). None if no scale
    spends the budget.
    """
    x = _scaled(dict.fromkeys(problem.levers, 1.0), list(problem.levers),
                lambda y: _main_gap(problem, y))
    return None if x is None else _pulled_in(problem, x) or x


def _main_gap(problem: Problem, x: Mapping[str, float]) -> float:
    """Below 0 short of the budget (or the target), above 0 past it."""
    if problem.mode == "loss":
        return float(problem.cost(x)) / problem.budget - 1
    return 1 - float(problem.reducible_loss(x)) / problem.headroom


def _limit_gap(problem: Problem, x: Mapping[str, float]) -> float:
    """Above 0 when ``x`` breaks an upper limit on a derived resource (by that fraction)."""
    amounts = problem.amounts(x)
    return max([float(amounts[n]) / hi - 1 for n, (_, hi) in problem.limits.items()
                if hi < math.inf], default=-1.0)


def _scaled(x: Mapping[str, float], free: list[str], gap: Callable[[dict[str, float]], float]
            ) -> dict[str, float] | None:
    """``x`` with the ``free`` levers scaled together to where ``gap`` crosses 0.

    ``gap`` must increase with the scale; the root is found in the log of the scale by
    Brent's method. None if ``gap`` does not change sign within 1e+-87.
    """
    from scipy.optimize import brentq  # loaded by Newton's method anyway

    def at(log_t: float) -> dict[str, float]:
        return {**x, **{r: x[r] * math.exp(log_t) for r in free}}

    low, high = -200.0, 200.0
    if not free or not gap(at(low)) < 0 < gap(at(high)):
        return None
    root = brentq(lambda u: gap(at(u)), low, high, xtol=1e-14)
    return at(float(root))  # type: ignore[arg-type]  # a float without full_output


def _pulled_in(problem: Problem, x: Mapping[str, float]) -> dict[str, float] | None:
    """``x`` pulled back inside its bounds and limits; None when it breaks none.

    Each lever is clipped to its bounds; the others are scaled together to spend the
    budget (or meet the target) again, then back onto any upper limit they break.
    """
    clipped = {r: min(max(x[r], problem.lower[r]), problem.upper[r]) for r in problem.levers}
    if clipped == dict(x) and _limit_gap(problem, clipped) <= 0:
        return None
    free = [r for r in problem.levers if problem.lower[r] < clipped[r] < problem.upper[r]]
    point = _scaled(clipped, free, lambda y: _main_gap(problem, y)) or clipped
    if _limit_gap(problem, point) > 0:
        point = _scaled(point, free, lambda y: _limit_gap(problem, y)) or point
    return point


def _warnings(problem: Problem) -> tuple[str, ...]:
    out = []
    for r, amount in problem.unused.items():
        price = problem.scenario.unit_cost(r)
        if price > 0 or amount > 0:
            out.append(f"{r} does not affect the loss and no coupling uses it, so it is "
                       f"bought at its minimum ({amount:g}); add it to the law or add "
                       "compute: {flops_per_param_token: 6} if that is not intended")
    return tuple(out)
