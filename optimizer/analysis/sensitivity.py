r"""Local sensitivity: elasticities of the optimal plan to every numeric input.

At a certified optimum the optimality conditions hold (``docs/theory.md``): with
:math:`u = \log x` over the free levers, :math:`\lambda` the budget's multiplier and
:math:`\mu_j` those of binding limits,

.. math::

    F(z; \theta) = \begin{pmatrix}
        x_i\,(\partial_i L + \lambda\,\partial_i \text{cost} + \sum_j \mu_j \partial_i h_j) \\
        \text{cost}/B - 1 \ \ (\text{or } (L - E)/(L_t - E) - 1) \\
        h_j/\text{bound}_j - 1
    \end{pmatrix} = 0, \qquad z = (u, \lambda, \mu).

Levers at a bound stay there; the active set is the certificate's. By the implicit
function theorem the optimum moves with an input :math:`\theta` as

.. math::

    \frac{dz}{d\log\theta} = -\Big(\frac{\partial F}{\partial z}\Big)^{-1}
        \frac{\partial F}{\partial \log\theta},

and each output :math:`y` (N*, D*, C*, L*, cost) as
:math:`d\log y/d\log\theta = \partial_z \log y \cdot dz/d\log\theta +
\partial_{\log\theta}\log y`. The partial derivatives are taken at the fixed optimum by
central differences of :math:`F` and :math:`y` (the scenario rebuilt with the input
nudged by a relative 1e-5); nothing is re-solved. The tests cross-check the result
against differences of full re-solves, and against identities: a power law with linear
costs has :math:`d\log L^*/d\log B = -\sum_i |a_i|` (no floor), Chinchilla under a
compute budget :math:`d\log N^*/d\log C = \beta/(\alpha+\beta)`.

The result is local: it holds while the active set does not change. An input whose
nudge moves a lever off (or onto) a bound gets the one-sided truth of neither side.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from optimizer import options
from optimizer.display import Table
from optimizer.errors import ScenarioError
from optimizer.model.problem import Problem, guarded
from optimizer.model.scenario import get_path, numeric_paths, parse_scenario, set_path
from optimizer.solvers.solve import Plan

OUTPUTS = ("N", "D", "C", "loss", "cost")
STEP = 1e-5
"""Relative nudge of an input (and of z) for the partial derivatives."""
NOISE = 1e-8
"""Elasticities below this are the differences' rounding (about 1e-10) and read as 0."""
SKIPPED = ("band.epsilon",)
"""Numeric fields that do not shape the plan."""


@dataclass(frozen=True, repr=False)
class Sensitivity(Table):
    """Elasticities d log output / d log input at a plan, one row per input."""

    plan: Plan
    inputs: dict[str, float]
    """Input path -> its value."""
    elasticity: dict[str, dict[str, float]]
    """Input path -> output (N, D, C, loss, cost) -> elasticity."""
    skipped: dict[str, str] = field(default_factory=dict)
    """Inputs left out, with why (zero-valued, integer, or not shaping the plan)."""

    @property
    def main(self) -> str:
        """The output ranked by default: the loss, or N* under a law that predicts none."""
        return "loss" if self.plan.scenario.law.predicts_loss else "N"

    def ranked(self, output: str | None = None) -> list[tuple[str, float]]:
        """(input, elasticity of ``output``, default :attr:`main`), largest magnitude first."""
        output = output or self.main
        return sorted(((p, e[output]) for p, e in self.elasticity.items()),
                      key=lambda item: -abs(item[1]))

    def summary(self) -> dict[str, Any]:
        """The scenario, how many inputs, and the three that move the loss (or N*) most."""
        return {"scenario": self.plan.scenario.name, "inputs": len(self.elasticity),
                f"{self.main}_most_sensitive_to": dict(self.ranked()[:3])}

    def records(self) -> list[dict[str, Any]]:
        """One row per input, by the size of its effect on the loss: value, elasticities."""
        return [{"input": p, "value": self.inputs[p], **self.elasticity[p]}
                for p, _ in self.ranked()]

    def to_dict(self, output: str | None = None) -> dict[str, Any]:
        """Each input's value and elasticities, ranked by ``output``; the skipped inputs."""
        output = output or self.main
        return {"scenario": self.plan.scenario.name, "output": output,
                "inputs": {p: {"value": self.inputs[p], "elasticity": self.elasticity[p]}
                           for p, _ in self.ranked(output)},
                "skipped": dict(self.skipped)}


@guarded
def sensitivity(plan: Plan, paths: Sequence[str] | None = None) -> Sensitivity:
    """Elasticities of ``plan``'s N*, D*, C*, L* and cost to each input in ``paths``.

    Parameters
    ----------
    plan : Plan
        A certified optimal plan (from :func:`optimizer.solvers.solve`).
    paths : sequence of str, optional
        Scenario paths of the inputs (default: every numeric field but those in
        :data:`SKIPPED` and those equal to 0, whose elasticity is 0).
    """
    options.expect(plan, Plan, "sensitivity's plan",
                   "pass a solved plan: sensitivity(solve(scenario))")
    scenario, problem = plan.scenario, plan.problem
    base = scenario.model_dump(exclude_unset=True)  # as written: defaults stay defaults
    full = scenario.model_dump()
    known = numeric_paths(scenario)
    if paths is None:
        paths = [p for p in known if p not in SKIPPED]
    unknown = [p for p in paths if p not in known]
    if unknown:
        raise ScenarioError(f"not numeric fields of this scenario: {', '.join(unknown)}")
    skipped: dict[str, str] = {}
    values = {p: get_path(full, p) for p in paths}
    system = _System(plan)
    z = system.z
    steps = system.steps()
    jac_z = _jacobian(lambda w: system.residual(problem, w), z, steps)
    out_z = _jacobian(lambda w: system.outputs(problem, w), z, steps)
    elasticity: dict[str, dict[str, float]] = {}
    for path in paths:
        value = values[path]
        if value == 0:
            skipped[path] = "0: its elasticity is 0"
            continue
        if isinstance(value, int) and not isinstance(value, bool):
            skipped[path] = "an integer count"
            continue
        nudged = []
        for sign in (1, -1):
            data = copy.deepcopy(base)
            set_path(data, path, value * math.exp(sign * STEP))
            try:
                nudged.append(Problem.from_scenario(parse_scenario(data), problem.region))
            except ScenarioError as exc:
                skipped[path] = f"cannot be nudged ({' '.join(str(exc).split())})"
                break
        if len(nudged) < 2:
            continue
        up, down = nudged
        d_residual = (system.residual(up, z) - system.residual(down, z)) / (2 * STEP)
        d_output = (system.outputs(up, z) - system.outputs(down, z)) / (2 * STEP)
        dz = -np.linalg.solve(jac_z, d_residual) if z.size else np.zeros(0)
        total = out_z @ dz + d_output if z.size else d_output
        elasticity[path] = {o: (0.0 if abs(v) < NOISE else float(v)) if math.isfinite(v)
                            else math.nan for o, v in zip(OUTPUTS, total, strict=True)}
    return Sensitivity(plan, {p: float(values[p]) for p in elasticity}, elasticity, skipped)


class _System:
    """The optimality conditions of a plan, as functions of z and of the problem."""

    def __init__(self, plan: Plan):
        problem, certificate = plan.problem, plan.certificate
        x = {r: plan.allocation[r] for r in problem.levers}
        self.free = [r for r in problem.levers if certificate.resources[r].status == "free"]
        self.pinned = {r: ("lower" if certificate.resources[r].status == "at_lower_bound"
                           else "upper") for r in problem.levers if r not in self.free}
        self.limits = [(n, side) for n, (side, _) in certificate.limits.items()]
        self.active = certificate.constraint_active
        self.mode = problem.mode
        multipliers = self._multipliers(problem, x)
        self.z = np.concatenate([np.log([x[r] for r in self.free]), multipliers])

    def _multipliers(self, problem: Problem, x: dict[str, float]) -> np.ndarray:
        """Lambda and mu that make the stationarity rows vanish at x (least squares)."""
        count = int(self.active) + len(self.limits)
        if not count or not self.free:
            return np.zeros(count)
        gL, gc = problem.loss_gradient(x), problem.cost_gradient(x)
        gh = [problem.limit_gradient(n, x) for n, _ in self.limits]
        columns = ([[float(gc[r]) for r in self.free]] if self.active else []) + [
            [float(g[r]) for r in self.free] for g in gh]
        A = np.array(columns).T
        b = -np.array([float(gL[r]) for r in self.free])
        if not (np.all(np.isfinite(A)) and np.all(np.isfinite(b))):  # LAPACK prints on NaN
            return np.full(count, np.nan)
        return np.linalg.lstsq(A, b, rcond=None)[0]

    def steps(self) -> np.ndarray:
        """Difference steps: STEP in log x, STEP relative for the multipliers."""
        n = len(self.free)
        return np.concatenate([np.full(n, STEP),
                               STEP * np.where(self.z[n:] != 0, np.abs(self.z[n:]), 1.0)])

    def levers(self, problem: Problem, z: np.ndarray) -> dict[str, float]:
        x = dict(zip(self.free, np.exp(z[:len(self.free)]), strict=True))
        for r, side in self.pinned.items():
            x[r] = problem.lower[r] if side == "lower" else problem.upper[r]
        return x

    def residual(self, problem: Problem, z: np.ndarray) -> np.ndarray:
        x = self.levers(problem, z)
        n = len(self.free)
        lam = z[n] if self.active else 0.0
        mus = z[n + int(self.active):]
        gL, gc = problem.loss_gradient(x), problem.cost_gradient(x)
        gh = [problem.limit_gradient(name, x) for name, _ in self.limits]
        rows = [x[r] * (gL[r] + lam * gc[r] + sum(m * g[r] for m, g in zip(mus, gh,
                                                                        strict=True)))
                for r in self.free]
        if self.active:
            rows.append(problem.cost(x) / problem.budget - 1 if self.mode == "loss"
                        else problem.reducible_loss(x) / problem.headroom - 1)
        amounts = problem.amounts(x)
        for name, side in self.limits:
            bound = problem.limits[name][0 if side == "lower" else 1]
            rows.append(amounts[name] / bound - 1)
        return np.array(rows, dtype=float)

    def outputs(self, problem: Problem, z: np.ndarray) -> np.ndarray:
        x = self.levers(problem, z)
        amounts = problem.amounts(x)
        values = np.array([float(amounts["N"]), float(amounts["D"]), float(amounts["C"]),
                           float(problem.reported_loss(x)), float(problem.cost(x))])
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(values > 0, np.log(values), np.nan)


def _jacobian(function: Any, z: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Central-difference Jacobian of ``function`` at ``z`` (columns per z entry)."""
    base = function(z)
    out = np.empty((base.size, z.size))
    for i, h in enumerate(steps):
        up, down = z.copy(), z.copy()
        up[i] += h
        down[i] -= h
        out[:, i] = (function(up) - function(down)) / (2 * h)
    return out
