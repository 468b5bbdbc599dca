"""Certify a plan a user proposes, and say what the optimum would save.

``optimizer check FILE --plan N=...,D=...`` takes the user's amounts, certifies them
with the same certificate the solver's plans pass, solves for the optimum, and
reports the savings (loss in loss mode, cost in cost mode) and where to move spend.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .certificate import DEFAULT_TOLERANCE, Certificate, certify
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
    x = problem.levers_at(plan, "--plan")
    certificate = certify(problem, x, tol)
    optimum = solve(scenario, tol=tol)
    loss, cost = float(problem.loss(x)), float(problem.cost(x))
    savings = None
    if certificate.feasible:
        savings = loss - optimum.loss if problem.mode == "loss" else cost - optimum.cost
    return CheckResult(allocation={r: float(v) for r, v in problem.amounts(x).items()},
                       loss=loss, cost=cost, certificate=certificate, optimum=optimum,
                       savings=savings)

