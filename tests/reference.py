"""An independent optimum for any scenario under a compute coupling, by brute force.

It shares nothing with the solver but the law's value: the prices, caps and bounds are
recomputed here from the scenario's fields, and the optimum is found by a search along
log N of the best plan at each N:

* minimise loss: the largest D every upper limit allows (the loss falls with D, the
  cost rises), so the profile is loss(N, D_max(N));
* minimise cost: the smallest D that reaches the target and every lower limit, so the
  profile is cost(N, D_needed(N)).

The profile is sampled on a grid in log N and the best sample refined by bounded Brent.
For posynomial laws the profile is convex in log N (a partial minimisation of a problem
convex in logs), so this finds the global optimum.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq, minimize_scalar

from optimizer.model.hardware import ACCELERATORS
from optimizer.model.scenario import MinimizeLoss, Scenario

RANGE = (1.0, 1e25)
"""N searched where the scenario sets no bound."""
D_FLOOR = 1e-30
"""The least D searched where the scenario sets no bound."""


@dataclass(frozen=True)
class Reference:
    N: float
    D: float
    objective: float
    """The loss (minimise loss) or the cost (minimise cost) at the optimum."""


class Model:
    """The scenario's prices, caps and bounds, computed from its fields."""

    def __init__(self, s: Scenario, slack: float = 0.0):
        self.s = s
        objective = s.objective
        if isinstance(objective, MinimizeLoss):
            self.budget, self.headroom = objective.budget * (1 + slack), math.nan
        else:
            self.budget = math.nan
            self.headroom = (s.target_loss() - s.law.floor()) * (1 + slack)
        self.law = s.law
        hw = s.hardware
        res = s.resources
        peak = None
        if hw is not None:
            peak = hw.peak_flops or ACCELERATORS[hw.accelerator].peak_flops
            dollars = (hw.bill or ("dollars" if hw.price_per_device_hour else "device_hours")
                       ) == "dollars"
            hour = hw.price_per_device_hour if dollars else 1.0
            self.pC = hour / (3600 * peak * hw.mfu)
        else:
            self.pC = res.C.unit_cost
        self.pN, self.pD = res.N.unit_cost, res.D.unit_cost
        assert s.compute is not None
        self.k = s.compute.flops_per_param_token
        self.attention = s.compute.attention
        inf = s.inference
        self.inference = 0.0
        if inf is not None:
            if inf.unit_cost is not None:
                price = inf.unit_cost
            elif inf.mfu is not None:
                price = hour / (3600 * peak * inf.mfu)
            else:
                price = self.pC
            self.inference = price * inf.flops_per_param_token * inf.tokens
        self.U = s.data.unique_tokens if s.data is not None else None
        self.pU = s.data.unit_cost if s.data is not None else 0.0
        self.repeats = self.law.needs_data

        def span(r):
            x = res[r]
            if x.fixed is not None:
                return [x.fixed, x.fixed]
            return [x.min or 0.0, x.max or math.inf]

        self.N_span, self.D_span, self.C_span = span("N"), span("D"), span("C")
        if hw is not None and hw.deadline_hours is not None:
            cap = hw.devices * hw.deadline_hours * 3600 * peak * hw.mfu
            self.C_span[1] = min(self.C_span[1], cap)
        if hw is not None and hw.memory_cap:
            memory = hw.memory_bytes or ACCELERATORS[hw.accelerator].memory_bytes
            self.N_span[1] = min(self.N_span[1], hw.devices * memory / hw.bytes_per_param)
        if s.capability is not None:
            self.N_span[0] = max(self.N_span[0], s.capability.threshold())
        if self.U is not None and not self.repeats:
            self.D_span[1] = min(self.D_span[1], self.U)
        for span in (self.N_span, self.D_span, self.C_span):  # every limit relaxed by slack
            span[0], span[1] = span[0] * (1 - slack), span[1] * (1 + slack)

    def violation(self, N, D):
        """The largest relative amount by which (N, D) breaks a bound, a limit, the budget
        or the target (0 when it keeps them all)."""
        lo, hi = self.D_limits(N)
        over = [self.N_span[0] / N - 1, N / self.N_span[1] - 1, lo / D - 1, D / hi - 1]
        if math.isnan(self.headroom):
            over.append(self.cost(N, D) / self.budget - 1)
        else:
            over.append(self.reducible(N, D) / self.headroom - 1)
        return max(0.0, *over)

    def flops_per_token(self, N):
        """C / D at N: k N plus the attention FLOPs (Kaplan et al. 2020, Table 1)."""
        a = self.attention
        if a is None:
            extra = 0.0
        elif a.aspect_ratio is not None:
            extra = a.context * (N / 12) ** (2 / 3) / a.aspect_ratio ** (1 / 3)
        else:
            extra = a.context * a.layers * a.width
        return self.k * (N + extra)

    def fixed_cost(self, N):
        """The cost that does not grow with D."""
        return self.pN * N + self.inference * N

    def cost_per_token(self, N):
        """What each token adds to the cost (below U, under a repetition law)."""
        return self.pD + self.pC * self.flops_per_token(N) + self.pU

    def cost(self, N, D):
        data = self.pU * (np.minimum(D, self.U) if self.repeats else D)
        return (self.fixed_cost(N) + (self.pD + self.pC * self.flops_per_token(N)) * D
                + data)

    def loss(self, N, D):
        return self.law.floor() + self.reducible(N, D)

    def reducible(self, N, D):
        """The loss above its floor, computed without subtracting: near the floor the
        full loss holds it only to about 1e-16 of E."""
        x = {"N": N, "D": D, "C": self.flops_per_token(N) * D}
        if self.U is not None:
            x["U"] = self.U
        with np.errstate(all="ignore"):
            return float(self.law.reducible_value(x))

    def D_limits(self, N):
        """The range of D the bounds and the compute limits allow at N."""
        per_token = self.flops_per_token(N)
        lo = max(self.D_span[0], self.C_span[0] / per_token)
        hi = min(self.D_span[1], self.C_span[1] / per_token)
        return lo, hi

    def D_for_budget(self, N, budget):
        """The largest D whose cost is within the budget (the cost rises with D)."""
        fixed = self.fixed_cost(N)
        if fixed > budget:
            return -math.inf
        slope = self.cost_per_token(N)
        if not self.repeats or self.pU == 0:
            return (budget - fixed) / slope if slope > 0 else math.inf
        return math.exp(brentq(lambda d: self.cost(N, math.exp(d)) - budget, -50, 200,
                               xtol=1e-15, rtol=1e-15))

    def D_for_target(self, N, headroom, hi):
        """The smallest D (at most ``hi``) whose reducible loss is within the headroom, or
        inf."""
        least = max(self.D_span[0], D_FLOOR)
        lo, top = math.log(least), math.log(hi)

        def gap(d):  # at the ends, the bounds themselves (exp(log(x)) may miss x by an ulp)
            D = hi if d >= top else least if d <= lo else math.exp(d)
            return math.log(self.reducible(N, D) / headroom)

        if not gap(top) <= 0:
            return math.inf
        if lo >= top or gap(lo) <= 0:
            return min(least, hi)
        found = brentq(gap, lo, top, xtol=1e-15, rtol=1e-15)
        return hi if found >= top else math.exp(found)

    def feasible(self, N, D, tol):
        """Whether (N, D) keeps every bound, limit, the budget or the target, within tol."""
        return self.violation(N, D) <= tol

    def profile(self, logN):
        """The best objective with N = exp(logN), the D that gives it, and which rule set
        that D (the regime): inf where no D is feasible."""
        N = math.exp(logN)
        for end in self.N_span:  # log and exp round a bound by an ulp: snap onto it
            if math.isclose(N, end, rel_tol=1e-12):
                N = end
        lo, hi = self.D_limits(N)
        if not math.isnan(self.budget):
            budget = self.D_for_budget(N, self.budget)
            D, regime = (hi, "limit") if hi <= budget else (budget, "budget")
            if not (D >= lo * (1 - 1e-12) and D > 0):
                return math.inf, D, "infeasible"
            return self.loss(N, D), D, regime
        needed = self.D_for_target(N, self.headroom, hi if math.isfinite(hi) else 1e40)
        D, regime = (lo, "limit") if lo >= needed else (needed, "target")
        if not (math.isfinite(D) and D <= hi * (1 + 1e-12)):
            return math.inf, D, "infeasible"
        return self.cost(N, D), D, regime


def reference(s: Scenario, grid: int = 600, slack: float = 0.0) -> Reference | None:
    """The optimum by search along log N; ``None`` when no plan is feasible.

    With ``slack``, of the scenario with every limit relaxed by that relative amount.
    """
    m = Model(s, slack)
    lo, hi = m.N_span
    log_lo = math.log(lo) if lo > 0 else math.log(RANGE[0])
    log_hi = math.log(hi) if hi < math.inf else math.log(RANGE[1])
    if log_lo > log_hi + 1e-12:
        return None
    if log_hi - log_lo < 1e-12:
        points = np.array([log_lo])
    else:
        corners = [u for u in _corners(m) if log_lo < u < log_hi]
        points = np.unique(np.concatenate([np.linspace(log_lo, log_hi, grid), corners]))
    regimes = [m.profile(u)[2] for u in points]
    # The grid, with every switch of regime (where the profile has a kink, and where it
    # turns infeasible) added, so that the best point has feasible neighbours.
    points = np.unique(np.concatenate([points, _switches(m, points, regimes)]))
    values = [m.profile(u)[0] for u in points]
    if not any(math.isfinite(v) for v in values):
        return None
    feasible = [(p, v) for p, v in zip(points, values, strict=True) if math.isfinite(v)]
    # Every local minimum of the samples, not only the best: under a non-convex law
    # (repeated data, priced) two basins can lie a grid step or two apart.
    minima = [i for i, (_, v) in enumerate(feasible)
              if (i == 0 or v <= feasible[i - 1][1])
              and (i + 1 == len(feasible) or v <= feasible[i + 1][1])]
    candidates = []
    for i in minima:
        u = feasible[i][0]
        candidates.append(float(u))
        # Brent on each side, up to the nearest feasible sample that is not the other
        # half of a bisected switch (it cannot bracket an infinite value, nor see past a
        # kink).
        j, k = i - 1, i + 1
        while j >= 0 and feasible[j][0] > u - 1e-9:
            j -= 1
        while k < len(feasible) and feasible[k][0] < u + 1e-9:
            k += 1
        brackets = ([(feasible[j][0], u)] if j >= 0 else []) + (
            [(u, feasible[k][0])] if k < len(feasible) else [])
        for a, b in brackets:
            found = minimize_scalar(lambda v: m.profile(v)[0], bounds=(a, b), method="bounded",
                                    options={"xatol": 1e-13, "maxiter": 500})
            candidates.append(float(found.x))
    value, u = min((m.profile(u)[0], u) for u in candidates)
    return Reference(math.exp(u), m.profile(u)[1], value)


def _corners(m: Model) -> list[float]:
    """log N where a limit on C meets a bound on D (C = flops per token(N) * D): the
    feasible N may be a sliver between two of them that no grid would hit."""
    out = []
    for C in m.C_span:
        for D in m.D_span:
            if not (0 < C < math.inf and 0 < D < math.inf):
                continue
            gap = lambda u, C=C, D=D: math.log(m.flops_per_token(math.exp(u)) * D / C)  # noqa: E731
            if gap(-50) < 0 < gap(120):
                out.append(brentq(gap, -50, 120, xtol=1e-15, rtol=1e-15))
    return out


def _switches(m: Model, points, regimes) -> list[float]:
    """Where the rule that sets D changes between grid points (a feasibility edge, or a
    limit taking over from the budget or the target), to 1e-15 in log N: the profile
    has a kink there, which is often the optimum and which Brent's method misses."""
    out = []
    for i in range(len(points) - 1):
        left, end = regimes[i], points[i + 1]
        a = points[i]
        for _ in range(4):  # several switches may fall between two grid points
            if left == regimes[i + 1]:
                break
            b = end
            for _ in range(80):
                middle = (a + b) / 2
                if m.profile(middle)[2] == left:
                    a = middle
                else:
                    b = middle
            out += [a, b]
            a, left = b, m.profile(b)[2]
    return out
