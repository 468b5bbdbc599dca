r"""Polish an approximate optimum to full precision by Newton's method.

A GP solution is accurate to about 1e-6 and an SLSQP point to less. :func:`refine` holds
each candidate set of binding constraints as equalities and solves the optimality
conditions in log variables,

.. math::

    x_i\left(\partial_i f + \textstyle\sum_j \mu_j \partial_i h_j\right) = 0,
    \quad h_j = \text{bound}_j,

with the law's analytic gradients, to about 1e-12. The certificate decides which
candidate is the optimum.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from optimizer.model.problem import Problem
from optimizer.solvers.certificate import DEFAULT_TOLERANCE, certify


def refine(problem: Problem, x0: Mapping[str, float],
           tol: float = DEFAULT_TOLERANCE) -> dict[str, float]:
    """Polish an approximate optimum by Newton's method on the optimality conditions.

    Which constraints bind is read off ``x0`` only roughly: a GP solution is accurate
    to about 1e-6, and two binding constraints may have parallel gradients (a budget
    that prices only compute, and a deadline that caps compute), so their multipliers
    cannot be told apart at ``x0``. So every combination of the constraints within
    1e-3 of binding at ``x0``, and of the budget (or target), is a candidate
    (:func:`_active_sets`, largest first). Newton's method solves the conditions with
    each candidate held as equalities, and the first point the certificate accepts at
    1e-9 is returned, else the first it accepts at ``tol``. If none is accepted, ``x0``
    is returned unchanged, for the certificate to judge.
    """
    solved: list[dict[str, float] | None] = []
    sets = _active_sets(problem, x0)

    def points() -> Iterator[dict[str, float] | None]:
        yield from solved  # each active set is solved once, when first needed
        for active in sets:
            solved.append(_newton(problem, x0, active))
            yield solved[-1]

    # A constraint within ``tol`` of binding counts as binding, so a point that merely
    # rounds onto a vertex could pass; a point that also passes at 1e-9 is preferred.
    for strict in sorted({min(tol, STRICT), tol}):
        for x in points():
            if x is not None and certify(problem, x, strict).optimal:
                return x
    return dict(x0)


def unconstrained(problem: Problem, x0: Mapping[str, float]) -> dict[str, float] | None:
    """Newton's point from ``x0`` with only the budget (or target) binding.

    The optimum if no bound or limit binds, else a point past the ones that do; None if
    Newton's method fails.
    """
    return _newton(problem, x0, ActiveSet(pinned={}, main=True, limits=()))


STRICT = 1e-9
"""Tolerance a refined point is first held to (the certificate's default is 1e-6)."""


NEAR = 1e-3
"""Relative distance within which a constraint at a rough optimum may be binding."""


@dataclass(frozen=True)
class ActiveSet:
    """Constraints held as equalities: levers pinned at bounds, the main constraint, limits."""

    pinned: dict[str, float]
    main: bool
    limits: tuple[tuple[str, float], ...]


def _active_sets(problem: Problem, x0: Mapping[str, float]) -> Iterator[ActiveSet]:
    """Every combination of the constraints near binding at ``x0``, most constraints first."""
    near: list[tuple[str, str, float]] = []  # (kind, name, bound)
    for r in problem.levers:
        lo, hi = problem.lower[r], problem.upper[r]
        if lo > 0 and x0[r] <= lo * (1 + NEAR):
            near.append(("pin", r, lo))
        if x0[r] >= hi * (1 - NEAR) and hi > lo:
            near.append(("pin", r, hi))
    U = problem.context.get("U")  # a kink of a repetition law: pinned like a bound
    if U is not None and "D" in problem.levers and abs(x0["D"] / U - 1) <= NEAR and (
            problem.lower["D"] < U < problem.upper["D"]):
        near.append(("pin", "D", U))
    amounts = problem.amounts(x0)
    for name, (lo, hi) in problem.limits.items():
        value = float(amounts[name])
        if lo > 0 and value <= lo * (1 + NEAR):
            near.append(("limit", name, lo))
        if value >= hi * (1 - NEAR):
            near.append(("limit", name, hi))
    # The budget (or target) binds at most optima, and a warm start from a neighbouring
    # plan (continuation) is not near it, so it is always a candidate.
    near.append(("main", "", 0.0))
    for size in range(len(near), -1, -1):
        for chosen in itertools.combinations(near, size):
            pinned = {name: bound for kind, name, bound in chosen if kind == "pin"}
            if len(pinned) < sum(kind == "pin" for kind, _, _ in chosen):
                continue  # a lever pinned at both of its bounds
            yield ActiveSet(pinned=pinned, main=any(kind == "main" for kind, _, _ in chosen),
                            limits=tuple((n, b) for kind, n, b in chosen if kind == "limit"))


def _newton(problem: Problem, x0: Mapping[str, float],
            active: ActiveSet) -> dict[str, float] | None:
    """Solve the optimality conditions with ``active`` held as equalities, from ``x0``.

    Unknowns: the logs of the free levers and one multiplier per active constraint,
    each scaled by its least-squares estimate at ``x0``. Returns ``None`` if the
    system has no finite solution.
    """
    free = [r for r in problem.levers if r not in active.pinned]
    if not free:
        return {**x0, **active.pinned}
    limits = list(active.limits)
    x_start = {**x0, **active.pinned}
    u0 = np.log([x_start[r] for r in free])

    def gradients(x: Mapping[str, float]) -> tuple[dict[str, float], list[dict[str, float]]]:
        columns = [problem.cost_gradient(x) if problem.mode == "loss"
                   else problem.loss_gradient(x)] if active.main else []
        columns += [problem.limit_gradient(n, x) for n, _ in limits]
        objective = (problem.loss_gradient(x) if problem.mode == "loss"
                     else problem.cost_gradient(x))
        return objective, columns

    with np.errstate(all="ignore"):
        g0, cols0 = gradients(x_start)
    if not all(math.isfinite(float(v)) for g in (g0, *cols0) for v in g.values()):
        return None
    scale = np.array([abs(g0[r]) * x_start[r] or 1.0 for r in free])
    mult0 = _multiplier_scales(free, g0, cols0, x_start, scale)

    def unpack(z: np.ndarray) -> dict[str, float]:
        steps = np.clip(z[:len(free)], -30, 30)  # keep exp() finite on wild trial steps
        return {**active.pinned, **dict(zip(free, np.exp(u0 + steps), strict=True))}

    def residual(z: np.ndarray) -> np.ndarray:
        x = unpack(z)
        g, cols = gradients(x)
        mults = z[len(free):] * mult0
        station = np.array([x[r] * (g[r] + sum(m * c[r] for m, c in zip(mults, cols,
                                                                        strict=True)))
                            for r in free]) / scale
        closing = []
        if active.main and problem.mode == "loss":
            closing.append(problem.cost(x) / problem.budget - 1)
        elif active.main:
            closing.append(problem.reducible_loss(x) / problem.headroom - 1)
        amounts = problem.amounts(x)
        closing += [amounts[n] / bound - 1 for n, bound in limits]
        return np.concatenate([station, np.asarray(closing, float)])

    from scipy.optimize import root  # here, not at the top: the closed form needs none

    z0 = np.concatenate([np.zeros(len(free)), np.ones(len(mult0))])
    # Powell's hybrid method first; Levenberg-Marquardt when the system is singular,
    # as it is where the optimum is not a point (a beaten target and a compute floor
    # make every split of that compute equally cheap).
    for method, settings in (("hybr", {"xtol": 1e-15}), ("lm", {"xtol": 1e-15, "ftol": 1e-15})):
        with np.errstate(all="ignore"):
            try:
                found = root(residual, z0, method=method, options=settings)
            except (ValueError, ZeroDivisionError, OverflowError, np.linalg.LinAlgError):
                continue
        if found.success and np.all(np.isfinite(found.x)):
            x = unpack(found.x)
            if all(math.isfinite(v) and v > 0 for v in x.values()):
                return x
    return None


def _multiplier_scales(free: list[str], g: Mapping[str, float],
                       columns: list[dict[str, float]], x: Mapping[str, float],
                       scale: np.ndarray) -> np.ndarray:
    """Least-squares multipliers at ``x`` (magnitudes), used to scale Newton's unknowns.

    A multiplier the fit cannot tell apart from another (parallel gradients) gets the
    magnitude that would balance the objective's gradient on its own.
    """
    if not columns:
        return np.zeros(0)
    A = np.array([[x[r] * c[r] for c in columns] for r in free]) / scale[:, None]
    b = -np.array([x[r] * g[r] for r in free]) / scale
    fitted = np.zeros(A.shape[1])
    if np.all(np.isfinite(A)) and np.all(np.isfinite(b)):  # LAPACK prints on NaN input
        try:
            fitted, *_ = np.linalg.lstsq(A, b, rcond=None)
        except np.linalg.LinAlgError:
            pass
    alone = np.array([np.linalg.norm(b) / (np.linalg.norm(A[:, j]) or 1.0)
                      for j in range(A.shape[1])])
    out = np.abs(fitted)
    weak = ~(out > 1e-12 * alone)
    out[weak] = alone[weak]
    out[out == 0] = 1.0
    return out
