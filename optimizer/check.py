"""Certify a plan a user proposes, and say what the optimum would save.

``optimizer check FILE --plan N=...,D=...`` takes the user's amounts, certifies them
with the same certificate the solver's plans pass, solves for the optimum, and
reports the savings (loss in loss mode, cost in cost mode) and where to move spend.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from .certificate import DEFAULT_TOLERANCE, Certificate, certify
from .errors import ScenarioError
from .problem import Problem
from .scenario import Scenario
from .solve import Plan, solve


@dataclass(frozen=True)
class CheckResult:
    """The verdict on a proposed plan."""

    allocation: dict[str, float]
    loss: float
    cost: float
    certificate: Certificate
    optimum: Plan
    savings: float | None
    """Loss (loss mode) or cost (cost mode) the optimum saves; ``None`` if infeasible."""

    @property
    def status(self) -> str:
        """``optimal``, ``not_optimal`` or ``infeasible``."""
        if not self.certificate.feasible:
            return "infeasible"
        return "optimal" if self.certificate.optimal else "not_optimal"


def check(scenario: Scenario, plan: Mapping[str, float],
          tol: float = DEFAULT_TOLERANCE) -> CheckResult:
    """Certify ``plan`` (amounts by resource name) for ``scenario``."""
    problem = Problem.from_scenario(scenario)
    x = _levers(problem, plan)
    certificate = certify(problem, x, tol)
    optimum = solve(scenario, tol=tol)
    loss, cost = float(problem.loss(x)), float(problem.cost(x))
    savings = None
    if certificate.feasible:
        savings = loss - optimum.loss if problem.mode == "loss" else cost - optimum.cost
    return CheckResult(allocation={r: float(v) for r, v in problem.amounts(x).items()},
                       loss=loss, cost=cost, certificate=certificate, optimum=optimum,
                       savings=savings)


def _levers(problem: Problem, plan: Mapping[str, float]) -> dict[str, float]:
    problems = [f"--plan {r}: got {v!r}; must be a finite number > 0"
                for r, v in plan.items() if not (math.isfinite(v) and v > 0)]
    problems += [f"--plan: {r} is not a resource; use N, D and C"
                 for r in plan if r not in ("N", "D", "C")]
    problems += [f"--plan: {r} is missing; the plan must give {', '.join(problem.levers)}"
                 for r in problem.levers if r not in plan]
    if problems:
        raise ScenarioError(problems)
    x = {r: plan[r] for r in problem.levers}
    implied = problem.amounts(x)
    for r, v in plan.items():
        if r not in x and not math.isclose(v, implied[r], rel_tol=1e-6):
            why = "the compute coupling" if r in problem.derived else "the scenario"
            raise ScenarioError(f"--plan {r}={v:g} contradicts {why}, which gives "
                                f"{r} = {float(implied[r]):.6g}; leave {r} out or correct it")
    return x
