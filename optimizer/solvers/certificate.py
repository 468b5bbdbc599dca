r"""The equal-marginal certificate: optimality judged from the law's own gradients.

At an optimum of "minimise loss subject to cost <= budget" (or its dual, "minimise
cost subject to loss <= target"), the Lagrangian is stationary (``docs/theory.md``):

.. math::

    -\frac{\partial L}{\partial x_i} = \lambda \frac{\partial\,\text{cost}}{\partial x_i}
        + \sum_j \mu_j \frac{\partial h_j}{\partial x_i}
    \qquad\text{for every lever } x_i \text{ not at a bound,}

with :math:`\lambda \ge 0` the shadow price of the budget and :math:`\mu_j \ge 0` those
of binding limits :math:`h_j` on derived resources (``C <= max`` under a coupling).
Without such limits this says the **gain per cost**
:math:`g_i = (-\partial L/\partial x_i)/(\partial\,\text{cost}/\partial x_i)` is the
same, :math:`\lambda`, for every free lever. A lever at its lower bound may have
:math:`g_i \le \lambda` (it would be cut if it could), one at its upper bound
:math:`g_i \ge \lambda`.

The certificate computes the gradients analytically from the law and the cost (never
from solver duals), fits :math:`\lambda, \mu \ge 0` by non-negative least squares over
the free levers, and reports the normalised ratios
:math:`\rho_i = (-\partial L/\partial x_i) / \pi_i` with
:math:`\pi_i = \lambda\,\partial_i\text{cost} + \sum_j \mu_j \partial_i h_j`,
which equal 1 at an optimum. Their spread (max - min over free levers) is the
``max_relative_spread``; without limits it is :math:`(\max g - \min g)/\lambda`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import numpy as np

from optimizer.display import Result
from optimizer.model.problem import Problem

Status = Literal["free", "at_lower_bound", "at_upper_bound", "at_kink", "fixed", "coupled",
                 "unused"]

DEFAULT_TOLERANCE = 1e-6
"""Relative tolerance for the spread, for active constraints and for bounds."""

PLAN_FEASIBILITY = 1e-3
"""Relative tolerance of ``check`` on the budget, target and bounds: a plan whose
amounts are rounded to four significant figures (each within 5e-4) still counts as
within them. The solver's own plans meet them to about 1e-12."""


@dataclass(frozen=True)
class Margin:
    """One resource's row of the certificate."""

    amount: float
    unit_cost: float
    marginal_loss_reduction: float
    """:math:`-\\partial L/\\partial x` (total, through any coupling), loss per unit."""
    marginal_cost: float
    """:math:`\\partial\\,\\text{cost}/\\partial x`, including what a coupling adds."""
    gain_per_cost: float
    """Loss reduction per unit of cost; ``inf`` for a resource that costs nothing."""
    status: Status
    ratio: float = math.nan
    """:math:`\\rho`: gain relative to the shadow prices; 1 for free levers at an optimum."""


@dataclass(frozen=True, repr=False)
class Certificate(Result):
    """Whether a plan is optimal, and the evidence, from analytic gradients."""

    optimal: bool
    feasible: bool
    mode: Literal["loss", "cost"]
    max_relative_spread: float
    shadow_price: float
    """Loss saved per extra unit of budget (loss mode) or cost per unit of loss (cost mode)."""
    budget_multiplier: float
    """:math:`\\lambda`: loss per unit of cost at the margin, in both modes."""
    elasticity: float
    """d log L* / d log budget along the frontier."""
    constraint_active: bool
    """Whether the budget (loss mode) or the target (cost mode) binds."""
    resources: dict[str, Margin]
    limits: dict[str, tuple[str, float]] = field(default_factory=dict)
    """Derived-resource limits that bind: name -> (which side, multiplier)."""
    reasons: tuple[str, ...] = ()
    """Why the plan is not optimal (empty when it is)."""
    advice: str = ""
    """Where to move spend when the plan is not optimal."""
    tolerance: float = DEFAULT_TOLERANCE
    feasibility_tolerance: float = DEFAULT_TOLERANCE
    """Relative tolerance on the budget, target and bounds."""

    def summary(self) -> dict[str, Any]:
        """The verdict, the spread of the marginal ratios, the shadow price, what binds."""
        held = [r for r, m in self.resources.items() if m.status not in ("free", "coupled")]
        return {"optimal": self.optimal, "feasible": self.feasible,
                "spread": self.max_relative_spread, "shadow_price": self.shadow_price,
                "binding": [*held, *self.limits], **({"reasons": list(self.reasons)}
                                                     if self.reasons else {})}

    def to_dict(self) -> dict[str, Any]:
        """The certificate as plain data."""
        return {
            "optimal": self.optimal,
            "feasible": self.feasible,
            "max_relative_spread": self.max_relative_spread,
            "shadow_price": self.shadow_price,
            "elasticity": self.elasticity,
            "constraint_active": self.constraint_active,
            "tolerance": self.tolerance,
            "feasibility_tolerance": self.feasibility_tolerance,
            "resources": {r: asdict(m) for r, m in self.resources.items()},
            "limits": {n: {"side": s, "multiplier": m} for n, (s, m) in self.limits.items()},
            "reasons": list(self.reasons),
            "advice": self.advice,
        }


def certify(problem: Problem, x: Mapping[str, float], tol: float = DEFAULT_TOLERANCE,
            feasibility_tol: float | None = None) -> Certificate:
    """Certify levers ``x`` for ``problem`` from the law's and cost's gradients.

    Parameters
    ----------
    problem : Problem
        The problem the plan is for.
    x : mapping of str to float
        Amount of every lever (``problem.levers``).
    tol : float
        Relative tolerance on the spread, and on which bounds and constraints bind.
    feasibility_tol : float, optional
        Relative tolerance by which the plan may exceed a bound, the budget or the
        target and still count as feasible (default ``tol``).

    Returns
    -------
    Certificate
    """
    slack = tol if feasibility_tol is None else feasibility_tol
    x = {r: float(x[r]) for r in problem.levers}
    if not all(math.isfinite(v) and v > 0 for v in x.values()):
        return _unusable(problem, x, x, math.nan, math.nan, tol, slack)
    with np.errstate(all="ignore"):
        amounts = {r: float(v) for r, v in problem.amounts(x).items()}
        loss, cost = float(problem.loss(x)), float(problem.cost(x))
        gL = {r: float(v) for r, v in problem.loss_gradient(x).items()}
        gc = {r: float(v) for r, v in problem.cost_gradient(x).items()}
    numbers = [*x.values(), *amounts.values(), loss, cost, *gL.values(), *gc.values()]
    if not all(math.isfinite(v) for v in numbers):
        return _unusable(problem, x, amounts, loss, cost, tol, slack)
    reasons: list[str] = []
    broken: list[tuple[str, str]] = []  # (why, the fix) for each bound the plan breaks

    # Feasibility and which bounds bind.
    status: dict[str, Status] = {}
    for r in problem.levers:
        lo, hi = problem.lower[r], problem.upper[r]
        broken += _outside(problem, r, x[r], lo, hi, slack)
        near_lo, near_hi = lo > 0 and x[r] <= lo * (1 + tol), x[r] >= hi * (1 - tol)
        # Bounds that coincide (to the 1e-12 the problem allows between them) fix it, and
        # so do bounds closer than tol with the plan at both: neither side may be told
        # from the other, and the lever cannot move either way.
        status[r] = ("fixed" if lo >= hi * (1 - 1e-12) or (near_lo and near_hi) else
                     "at_lower_bound" if near_lo else "at_upper_bound" if near_hi else "free")
    sides: dict[str, list[tuple[str, float]]] = {}
    for name, (lo, hi) in problem.limits.items():
        value = amounts[name]
        broken += _outside(problem, name, value, lo, hi, slack)
        near_hi, near_lo = value >= hi * (1 - tol), lo > 0 and value <= lo * (1 + tol)
        if near_hi and near_lo:  # bounds within tol of each other: either side may hold it
            sides[name] = [("upper", 1.0), ("lower", -1.0)]
        elif near_hi:
            sides[name] = [("upper", 1.0)]
        elif near_lo:
            sides[name] = [("lower", -1.0)]
    reasons += [why for why, _ in broken]
    if problem.mode == "loss":
        budget = problem.budget
        if cost > budget * (1 + slack):
            reasons.append(f"the plan costs {cost:.6g}, more than the budget {budget:.6g}")
        active = cost >= budget * (1 - tol)
    else:
        # Compare the loss above the floor with the target's, relative to the latter.
        excess = float(problem.reducible_loss(x)) / problem.headroom - 1
        if excess > slack:
            reasons.append(f"the plan's loss {loss:.6g} misses the target {problem.target:.6g}")
        active = excess >= -tol
    feasible = not reasons

    # A lever on a kink of the law (D at the stock U under a repetition law) has two
    # one-sided marginal gains; it is held out of the fit and checked against both.
    kink = _kink(problem, x, tol)
    if kink is not None and status["D"] == "free":
        status["D"] = "at_kink"

    # Shadow prices from the gradients, then the normalised ratios.
    free = [r for r in problem.levers if status[r] == "free"]
    columns = [(name, side, sign) for name, pairs in sides.items() for side, sign in pairs]
    gh = {name: problem.limit_gradient(name, x) for name in sides}
    # KKT asks that some multipliers explain the gradients. With fewer free levers than
    # multipliers the fit is not unique, so each form is tried and the first that
    # leaves nothing unexplained is kept: the loss explained by the budget (or target)
    # and the limits; in cost mode also the cost alone explained by the limits (the
    # target met because a limit forces at least what it needs: a compute floor, say),
    # whose target multiplier is 0 (lambda = inf) whether or not the loss lands on it.
    # A beaten target's multiplier is 0: the loss gradient then counts for nothing, and
    # a limit cannot explain it instead (that would be the loss mode's reading, a cap
    # holding back a loss worth buying); only the cost-alone form is left.
    unspent = 0.0 if problem.mode == "loss" else math.inf  # lambda of a slack budget/target
    fits = [] if problem.mode == "cost" and not active and columns else [
        _ratios(problem, free, gL, gc, gh, columns, active, status, unspent, kink)]
    if problem.mode == "cost" and columns:
        cost_only = _ratios(problem, free, gc, gc, gh, columns, False, status, 0.0)
        fits.append(replace(cost_only, lam=math.inf))

    def violations(fit: Fit) -> list[str]:
        out = []
        if feasible and fit.spread > tol:
            out.append(f"the gain per cost differs between free resources "
                       f"(relative spread {fit.spread:.3g} > {tol:g})")
        for r in problem.levers:
            if status[r] == "at_lower_bound" and fit.pays(r, tol) > 0:
                out.append(f"{r} is at its lower bound but buying more of it would pay")
            # Also with the budget slack: a limit (a deadline) may price the lever then.
            if status[r] == "at_upper_bound" and fit.pays(r, tol) < 0:
                out.append(f"{r} is at its upper bound but returns less per cost than the "
                           "rest")
        if kink is not None and status["D"] == "at_kink":
            # Subgradient condition: the price of a token lies between the gains of
            # one more repeated token (right) and one fewer fresh token (left).
            price, right, left = fit.price["D"], -kink[1], -kink[0]
            if not right * (1 - tol) <= price <= left * (1 + tol):
                out.append("D sits at the unique tokens U, but its price "
                           f"{price:.6g} is outside the gains on either side "
                           f"[{right:.6g}, {left:.6g}]")
        return out

    fit = next((f for f in fits if not violations(f)), None)
    if fit is None:
        fit = fits[0]
        if not active and fit.spread > tol:
            # A slack budget (or target) needs lambda = 0; since that does not explain
            # the gradients, say so, and judge the rest with lambda fitted freely.
            if problem.mode == "loss":
                reasons.append(f"the budget is not fully spent ({cost:.6g} of {budget:.6g})")
            else:
                reasons.append(f"the plan beats the target loss ({loss:.6g} < "
                               f"{problem.target:.6g}); a cheaper plan reaches it")
            fit = _ratios(problem, free, gL, gc, gh, columns, True, status, unspent, kink)
        reasons += violations(fit)
    lam, mu, ratio, spread = fit.lam, fit.mu, fit.ratio, fit.spread

    margins = {r: Margin(amount=x[r], unit_cost=_unit_cost(problem, r),
                         marginal_loss_reduction=-gL[r], marginal_cost=gc[r],
                         gain_per_cost=_divide(-gL[r], gc[r]), status=status[r],
                         ratio=ratio[r]) for r in problem.levers}
    partial = problem.law.gradient({**amounts, **problem.context})
    kinds: dict[Status, Iterable[str]] = {"coupled": problem.derived,
                                          "fixed": problem.constants, "unused": problem.unused}
    for kind, names in kinds.items():
        for r in names:
            margins[r] = Margin(amount=amounts[r], unit_cost=_unit_cost(problem, r),
                                marginal_loss_reduction=0.0 - float(partial.get(r, 0.0)),
                                marginal_cost=_unit_cost(problem, r), gain_per_cost=math.nan,
                                status=kind)
    margins = {r: margins[r] for r in ("N", "D", "C") if r in margins}

    spend = problem.budget if problem.mode == "loss" else cost
    return Certificate(
        optimal=not reasons, feasible=feasible, mode=problem.mode,
        max_relative_spread=spread,
        shadow_price=lam if problem.mode == "loss" else _divide(1.0, lam),
        budget_multiplier=lam, elasticity=_finite(-lam * spend / loss),
        constraint_active=active,
        resources=margins,
        limits={n: (s, m) for (n, s, _), m in zip(columns, mu, strict=True) if m > 0},
        reasons=tuple(reasons), advice="; ".join(fix for _, fix in broken) if broken
        else _advice(problem, status, ratio, active, tol) if reasons
        else "", tolerance=tol, feasibility_tolerance=slack)


def _ratios(problem: Problem, free: list[str], gL: Mapping[str, float],
            gc: Mapping[str, float], gh: Mapping[str, Mapping[str, float]],
            columns: list[tuple[str, str, float]], active: bool,
            status: Mapping[str, Status], slack: float,
            kink: tuple[float, float] | None = None) -> Fit:
    """Multipliers, each lever's normalised ratio rho, and their spread over free levers.

    ``gL`` is the gradient being explained (the loss's, or in the cost-only form of
    cost mode, the cost's); each lever's price is what the multipliers charge for it.
    """
    lam, mu = _multipliers(problem, free, gL, gc, gh, columns, active, status, slack, kink)
    price = {r: lam * gc[r] + sum(m * sign * float(gh[n][r])
                                  for (n, _, sign), m in zip(columns, mu, strict=True))
             for r in problem.levers}
    ratio = {r: _divide(-gL[r], price[r]) for r in problem.levers}
    positive = {r: not price[r] < 0 for r in problem.levers}
    if not free:
        spread = 0.0
    elif len(free) == 1:  # one free lever: its ratio must be 1 by itself
        spread = abs(ratio[free[0]] - 1)
    else:
        spread = max(ratio[r] for r in free) - min(ratio[r] for r in free)
    return Fit(lam, mu, ratio, positive, spread if math.isfinite(spread) else math.inf, price)


@dataclass(frozen=True)
class Fit:
    """The multipliers fitted to the gradients, and how well they explain them."""

    lam: float
    mu: list[float]
    ratio: dict[str, float]
    positive: dict[str, bool]
    """Whether each lever's price is positive: rho > 1 then means growing it would pay
    (a negative price, from a floor such as C >= min, reverses the sense)."""
    spread: float
    price: dict[str, float]
    """What the multipliers charge for one more unit of each lever."""

    def pays(self, r: str, tol: float) -> int:
        """+1 if growing lever ``r`` would pay, -1 if shrinking it would, else 0."""
        above, below = self.ratio[r] > 1 + tol, self.ratio[r] < 1 - tol
        grow, shrink = (above, below) if self.positive[r] else (below, above)
        return 1 if grow else -1 if shrink else 0


def _multipliers(problem: Problem, free: list[str],
                 gL: Mapping[str, float], gc: Mapping[str, float],
                 gh: Mapping[str, Mapping[str, float]],
                 columns: list[tuple[str, str, float]], active: bool,
                 status: Mapping[str, Status], slack: float,
                 kink: tuple[float, float] | None = None) -> tuple[float, list[float]]:
    """Fit lambda >= 0 and mu >= 0 to the gradient ``gL`` being explained.

    With free levers, by NNLS on their stationarity conditions. At a vertex (no free
    lever), KKT asks only that some multipliers satisfy every bounded lever's sign
    condition (growing it, or shrinking it, must not pay): a small linear feasibility
    problem. ``slack`` is lambda when the main constraint does not bind: 0 in loss mode
    (budget left over is worth nothing), infinite in cost mode (a beaten target: only
    cost counts).
    """
    if not free:
        return _vertex(problem, gL, gc, gh, columns, active, status, slack, kink)
    matrix = [[gc[r] if active else 0.0] + [sign * float(gh[n][r]) for n, _, sign in columns]
              for r in free]
    A = np.array(matrix, dtype=float)
    b = np.array([-gL[r] for r in free])
    row = np.abs(b) + np.abs(A).sum(axis=1)
    row[row == 0] = 1.0
    A, b = A / row[:, None], b / row
    col = np.linalg.norm(A, axis=0)
    col[col == 0] = 1.0
    A = A / col
    if A.shape[1] == 1:  # lambda alone (no limit binds): NNLS in one variable, exactly
        norm = float(A[:, 0] @ A[:, 0])  # 0 when the column vanishes: lambda is then 0
        solution = np.array([max(0.0, float(A[:, 0] @ b) / norm) if norm > 0 else 0.0])
    else:
        from scipy.optimize import nnls  # only when limits bind: keeps start-up light

        solution, _ = nnls(A, b)
    solution = solution / col
    return float(solution[0]), [float(v) for v in solution[1:]]


def _vertex(problem: Problem, gL: Mapping[str, float], gc: Mapping[str, float],
            gh: Mapping[str, Mapping[str, float]], columns: list[tuple[str, str, float]],
            active: bool, status: Mapping[str, Status], slack: float,
            kink: tuple[float, float] | None = None) -> tuple[float, list[float]]:
    """Multipliers at a vertex (no free lever), found by linear programming.

    lambda (if the main constraint binds) and mu, all >= 0, such that each lever at a
    lower bound has gL + price >= 0 and each at an upper bound gL + price <= 0, with
    price = lambda gc + sum mu sign gh. D at a kink of the law counts as both, with the
    gradient beyond U (``kink[1]``) and the gradient before it (``kink[0]``).
    """
    from scipy.optimize import linprog

    bounded = [(r, 1.0 if status[r] == "at_lower_bound" else -1.0, gL[r])
               for r in problem.levers if status[r] in ("at_lower_bound", "at_upper_bound")]
    if kink is not None and status.get("D") == "at_kink":
        bounded += [("D", 1.0, kink[1]), ("D", -1.0, kink[0])]
    fallback = max([0.0, *(_divide(-g, gc[r]) for r, side, g in bounded
                           if side > 0 and gc[r] > 0)]) if active else slack
    if not bounded or not (active or columns):
        return fallback, [0.0] * len(columns)
    # side * (gL + a . v) >= 0, i.e. -side * a . v <= side * gL, for each bounded lever.
    A = np.array([([gc[r]] if active else []) + [sign * float(gh[n][r])
                                                 for n, _, sign in columns]
                  for r, _, _ in bounded], dtype=float)
    g = np.array([g for _, _, g in bounded])
    side = np.array([s for _, s, _ in bounded])
    # Each multiplier in its natural unit (|gL| / |a|: lambda is loss per cost, often
    # 1e-20), then each row relative to its size, so that 1e-9 means 1e-9 of it.
    unit = np.array([np.max(np.abs(g)) / (np.max(np.abs(col)) or 1.0) for col in A.T])
    unit[~(unit > 0)] = 1.0
    A = A * unit
    size = np.abs(g) + np.abs(A).sum(axis=1)
    size[size == 0] = 1.0
    # The Chebyshev centre: the multipliers that leave the largest margin t in every
    # condition, side * (g + A v) / size >= t, so that none sits on the edge of its own.
    k = A.shape[1]
    found = linprog(np.r_[np.zeros(k), -1.0],
                    A_ub=np.c_[-side[:, None] * A / size[:, None], np.ones(len(g))],
                    b_ub=side * g / size, bounds=[(0, None)] * k + [(None, 1.0)],
                    method="highs")
    if not found.success or found.x[-1] < -1e-9:
        return fallback, [0.0] * len(columns)
    v = [float(x) for x in found.x[:k] * unit]
    return (v[0] if active else slack), v[int(active):]


def _advice(problem: Problem, status: Mapping[str, Status], ratio: Mapping[str, float],
            active: bool, tol: float) -> str:
    grow = [r for r in problem.levers if status[r] != "at_upper_bound"]
    shrink = [r for r in problem.levers if status[r] != "at_lower_bound"]
    if not grow:
        return ""
    best = max(grow, key=lambda r: ratio[r])
    worst = min((r for r in shrink if r != best), key=lambda r: ratio[r], default=None)
    parts = []
    if not active:
        parts.append(f"spend the rest of the budget on {best}" if problem.mode == "loss"
                     else "cut spend until the loss just reaches the target")
    if worst is not None and ratio[best] > ratio[worst] + tol:
        parts.append(f"shift spend from {worst} to {best}")
    return "; ".join(parts)


def _unusable(problem: Problem, x: Mapping[str, float], amounts: Mapping[str, float],
              loss: float, cost: float, tol: float, slack: float) -> Certificate:
    """The verdict on a point where the law, the cost or a gradient is not finite."""
    margins = {r: Margin(amount=amounts[r], unit_cost=_unit_cost(problem, r),
                         marginal_loss_reduction=math.nan, marginal_cost=math.nan,
                         gain_per_cost=math.nan, status="free" if r in x else "coupled")
               for r in amounts}
    return Certificate(
        optimal=False, feasible=False, mode=problem.mode, max_relative_spread=math.inf,
        shadow_price=math.nan, budget_multiplier=math.nan, elasticity=math.nan,
        constraint_active=False, resources=margins,
        reasons=("the loss, the cost or a gradient is not a finite number at "
                 + ", ".join(f"{r} = {v:.6g}" for r, v in amounts.items())
                 + f" (loss {loss:.6g}, cost {cost:.6g})",),
        tolerance=tol, feasibility_tolerance=slack)


def _kink(problem: Problem, x: Mapping[str, float], tol: float
          ) -> tuple[float, float] | None:
    """dL/dD just below and just above U, where the repetition law's gradient jumps.

    Only when D sits at the stock U (to ``tol``) and the two differ: parameters beyond
    the Chinchilla-optimal size for U stop counting fully once tokens repeat.
    """
    U = problem.context.get("U")
    if U is None or "D" not in problem.levers or abs(x["D"] / U - 1) > tol:
        return None
    below = float(problem.loss_gradient({**x, "D": U})["D"])
    above = float(problem.loss_gradient({**x, "D": float(np.nextafter(U, math.inf))})["D"])
    if math.isclose(below, above, rel_tol=tol):
        return None
    return below, above


def _outside(problem: Problem, r: str, value: float, lo: float, hi: float,
             slack: float) -> list[tuple[str, str]]:
    """How ``value`` of ``r`` breaks its bounds by more than ``slack``, and the fix.

    Empty if it keeps them. Each reason names the scenario field the bound comes from.
    """
    if value < lo * (1 - slack):
        return [(f"{r} = {value:.6g} is below its lower bound {lo:.6g} "
                 f"({problem.bound_source(r, 'lower')})", f"raise {r} to at least {lo:.6g}")]
    if value > hi * (1 + slack):
        return [(f"{r} = {value:.6g} is above its upper bound {hi:.6g} "
                 f"({problem.bound_source(r, 'upper')})", f"cut {r} to at most {hi:.6g}")]
    return []


def _finite(value: float) -> float:
    return value if math.isfinite(value) else math.nan


def _unit_cost(problem: Problem, r: str) -> float:
    return problem.scenario.unit_cost(r)


def _divide(a: float, b: float) -> float:
    if b == 0:
        return math.inf if a > 0 else (-math.inf if a < 0 else math.nan)
    return a / b
