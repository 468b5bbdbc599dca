r"""Solve problems that are not geometric programs: scipy in log variables, many starts.

The data-constrained law (Muennighoff et al. 2023) discounts repeated tokens and
excess parameters with exponentials, so it is not a posynomial and the GP route does
not apply. Here the levers are optimised as :math:`u = \log x` with SLSQP
(:func:`scipy.optimize.minimize`), using the law's analytic gradient through
:math:`\partial f/\partial u_i = x_i\, \partial f/\partial x_i`:

* minimise loss: minimise the reducible loss subject to ``cost <= budget``;
* minimise cost: minimise the cost subject to ``loss - E <= target - E``;

with the lever bounds as box bounds on :math:`u` and limits on derived resources as
constraints. Nothing here proves global optimality, so the search starts from
several points spread along the budget (or target) frontier, in directions that trade
one lever against another by factors of up to :math:`10^3`; the caller refines and
certifies each result and keeps the best the certificate accepts. For a posynomial law
(``--method nlp`` on a GP, and the band's profile solves) the problem is convex in these
variables and one start suffices.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator

import numpy as np
from scipy.optimize import minimize, root_scalar

from optimizer.model.problem import Problem

SPREAD = (-3, -2, -1, 0, 1, 2, 3)
"""Powers of ten by which starts trade one lever against the next."""


def solve(problem: Problem) -> Iterator[tuple[dict[str, float], str]]:
    """Yield local optima from several starts, best objective first.

    Raises
    ------
    InfeasibleError
        When no start reaches a point that satisfies every constraint.
    """
    levers = problem.levers
    results = []
    starts = list(_starts(problem))
    ran_off = 0
    for x0 in starts:
        found = _local(problem, x0)
        if found is RAN_OFF:
            ran_off += 1
        elif found is not None:
            results.append(found)
    if not results and ran_off:
        raise problem.unattained(f"(the search ran {BOX:g} e-folds from every start)",
                                 diverges=True)
    if not results:
        raise problem.no_plan(f"(no feasible point from {len(starts)} starts)")
    results.sort(key=lambda pair: pair[0])
    seen: list[np.ndarray] = []
    for _, u in results:
        if any(np.allclose(u, v, atol=1e-7) for v in seen):
            continue
        seen.append(u)
        yield dict(zip(levers, np.exp(u), strict=True)), f"scipy:SLSQP({len(starts)} starts)"


def _log_gradient(value: float, grad: dict[str, float], x: dict[str, float],
                  levers: tuple[str, ...]) -> np.ndarray:
    """D log f / d log x_i = x_i * (df/dx_i) / f."""
    return np.array([x[r] * float(grad[r]) for r in levers]) / value


def infimum(problem: Problem, x0: dict[str, float]) -> float:
    """Phase one: the least cost (or reducible loss) plans within the limits approach.

    The budget (minimise loss) or the target (minimise cost) is left aside. If it
    reaches the budget (or the target's headroom), no plan exists, even when a
    solver returns points that meet them to within its tolerance. Searched from
    ``x0``; NaN if the search fails.
    """
    found = _local(problem, x0, phase_one=True)
    return found[0] if isinstance(found, tuple) else math.nan


def _objective(problem: Problem, x: dict[str, float], phase_one: bool = False
               ) -> tuple[float, dict[str, float]]:
    """The value being minimised and its gradient in x (in phase one, the other one)."""
    if (problem.mode == "loss") != phase_one:
        return float(problem.reducible_loss(x)), problem.loss_gradient(x)
    return float(problem.cost(x)), problem.cost_gradient(x)


def _constrained(problem: Problem, x: dict[str, float]) -> tuple[float, dict[str, float], float]:
    """The main constraint's left side, its gradient and its bound."""
    if problem.mode == "loss":
        return float(problem.cost(x)), problem.cost_gradient(x), problem.budget
    return float(problem.reducible_loss(x)), problem.loss_gradient(x), problem.headroom


BOX = 200.0
"""Where a lever has no bound, the search stays within this many e-folds (a factor of
about 1e87) of its start; stopping on that edge means the plans run off without an
optimum. A real optimum can lie far from the frontier start (D = 1e41 tokens for a
target near the floor with a small beta), so the box must be wide."""

RAN_OFF = "ran off"


def _local(problem: Problem, x0: dict[str, float], phase_one: bool = False
           ) -> tuple[float, np.ndarray] | str | None:
    """SLSQP on logs of everything: log objective, log levers, log-ratio constraints.

    For a posynomial law and cost this is a convex problem (a GP in convex form), and
    it is scale-free, so SLSQP's absolute tolerances mean relative accuracy. Returns
    the objective and the log levers, :data:`RAN_OFF` when the search ends on the edge
    of the :data:`BOX` (no optimum), or ``None`` when it fails. In ``phase_one`` (see
    :func:`infimum`) the main constraint is dropped, and the end point is returned even
    on the box's edge.
    """
    levers = problem.levers

    def unpack(u: np.ndarray) -> dict[str, float]:
        return dict(zip(levers, np.exp(np.clip(u, -700, 700)), strict=True))

    # The log objective is measured from its start: SLSQP's ftol is absolute, and a
    # log near 690 (a loss scale of 1e300) leaves no room below ftol for progress.
    with np.errstate(all="ignore"):
        offset = math.log(_objective(problem, x0, phase_one)[0] or 1.0)
    if not math.isfinite(offset):
        offset = 0.0

    def fun(u: np.ndarray) -> tuple[float, np.ndarray]:
        x = unpack(u)
        value, grad = _objective(problem, x, phase_one)
        return math.log(value) - offset, _log_gradient(value, grad, x, levers)

    def main(u: np.ndarray) -> float:
        value, _, bound = _constrained(problem, unpack(u))
        return math.log(bound / value)

    def main_jac(u: np.ndarray) -> np.ndarray:
        x = unpack(u)
        value, grad, _ = _constrained(problem, x)
        return -_log_gradient(value, grad, x, levers)

    constraints = [] if phase_one else [{"type": "ineq", "fun": main, "jac": main_jac}]
    for name, (lo, hi) in problem.limits.items():
        constraints += _limit(problem, name, lo, hi, unpack)
    u0 = np.log([x0[r] for r in levers])
    bounds = [(math.log(problem.lower[r]) if problem.lower[r] > 0 else u - BOX,
               math.log(problem.upper[r]) if problem.upper[r] < math.inf else u + BOX)
              for r, u in zip(levers, u0, strict=True)]
    box = [(problem.lower[r] == 0, problem.upper[r] == math.inf) for r in levers]
    with np.errstate(all="ignore"):
        try:
            result = minimize(fun, u0, jac=True, method="SLSQP", bounds=bounds,
                              constraints=constraints,
                              options={"ftol": 1e-15, "maxiter": 1000})
        except (ValueError, ZeroDivisionError):  # a trial step left the law's domain
            return None
        u = np.asarray(result.x, float)
        if not np.all(np.isfinite(u)) or min(
                [float(c["fun"](u)) for c in constraints], default=0.0) < -1e-7:
            return None
    edge = [(low and ui <= lo + 1e-6) or (high and ui >= hi - 1e-6)
            for ui, (lo, hi), (low, high) in zip(u, bounds, box, strict=True)]
    if any(edge) and not phase_one:
        return RAN_OFF
    value, _ = _objective(problem, unpack(u), phase_one)
    return value, u


def _limit(problem: Problem, name: str, lo: float, hi: float, unpack) -> list[dict]:
    """SLSQP constraints keeping the derived resource ``name`` within [lo, hi], in logs."""
    out = []
    for bound, sign in ((hi, -1.0), (lo, 1.0)):
        if not (0 < bound < math.inf):
            continue

        def fun(u: np.ndarray, bound: float = bound, sign: float = sign) -> float:
            return sign * math.log(float(problem.amounts(unpack(u))[name]) / bound)

        def jac(u: np.ndarray, sign: float = sign) -> np.ndarray:
            x = unpack(u)
            value = float(problem.amounts(x)[name])
            return sign * _log_gradient(value, problem.limit_gradient(name, x), x,
                                        problem.levers)

        out.append({"type": "ineq", "fun": fun, "jac": jac})
    return out


def _starts(problem: Problem) -> Iterator[dict[str, float]]:
    """Points on the budget (or target) frontier, one per direction.

    A direction w sets the levers' proportions; the scale t of x = t * w (clipped to
    the bounds) is found by root-finding so that the cost equals the budget (loss
    mode) or the loss equals the target (cost mode). A direction whose bounds stop it
    short of the frontier starts from its far corner instead.
    """
    levers = problem.levers
    # A geometric program is convex in these log variables, so one start suffices.
    spread = SPREAD if not problem.geometric else (0,)
    for shift in itertools.product(spread, repeat=len(levers) - 1):
        w = np.array([0.0, *shift], float) * math.log(10)
        x = _on_frontier(problem, w)
        if x is not None:
            yield x


def _on_frontier(problem: Problem, w: np.ndarray) -> dict[str, float] | None:
    levers = problem.levers
    lo = np.log([max(problem.lower[r], 1e-300) for r in levers])
    hi = np.log([min(problem.upper[r], 1e300) for r in levers])

    def at(t: float) -> dict[str, float]:
        return dict(zip(levers, np.exp(np.clip(w + t, lo, hi)), strict=True))

    def gap(t: float) -> float:
        x = at(t)
        with np.errstate(all="ignore"):
            if problem.mode == "loss":
                return math.log(float(problem.cost(x)) / problem.budget)
            return math.log(problem.headroom / float(problem.reducible_loss(x)))

    grid = np.linspace(-700, 700, 141)
    values = []
    for t in grid:
        try:
            values.append(gap(t))
        except (ValueError, ZeroDivisionError):
            values.append(math.nan)
    for a, b, fa, fb in zip(grid, grid[1:], values, values[1:], strict=False):
        if math.isfinite(fa) and math.isfinite(fb) and fa < 0 <= fb:
            return at(root_scalar(gap, bracket=(a, b), method="brentq", xtol=1e-12).root)
    finite = [(t, v) for t, v in zip(grid, values, strict=True) if math.isfinite(v)]
    if not finite:
        return None
    # The bounds keep this direction off the frontier. Short of it everywhere (a budget
    # never spent, a target never reached): start from its far corner. Beyond it
    # everywhere (the lower bounds alone already cost the budget, or already beat the
    # target): start from its near corner, the least of every lever.
    return at(finite[0][0] if finite[0][1] >= 0 else finite[-1][0])
