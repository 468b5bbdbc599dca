"""Certify a plan a user proposes, and say what the optimum would save.

``optimizer check FILE --plan N=...,D=...`` takes the user's amounts, certifies them
with the same certificate the solver's plans pass, solves for the optimum, and
reports the savings (loss in loss mode, cost in cost mode) and where to move spend.

Plans typed by people are rounded, so feasibility is judged at a stated relative
tolerance (:data:`~optimizer.solvers.certificate.PLAN_FEASIBILITY`, 1e-3 by default) rather
than the solver's. A plan that rounds past the budget (or misses the target) within
it is compared with the optimum at its own spend (or loss), so the savings are never
negative.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from optimizer import options
from optimizer.display import Result
from optimizer.errors import SolverError
from optimizer.model.problem import Problem, guarded
from optimizer.model.scenario import MinimizeCost, MinimizeLoss, Scenario
from optimizer.solvers.certificate import DEFAULT_TOLERANCE, PLAN_FEASIBILITY, Certificate, certify
from optimizer.solvers.solve import Plan, solve

Basis = Literal["budget", "plan_spend", "target", "plan_loss"]


@dataclass(frozen=True, repr=False)
class CheckResult(Result):
    """The verdict on a proposed plan."""

    allocation: dict[str, float]
    loss: float
    cost: float
    certificate: Certificate
    optimum: Plan
    """The optimal plan of the scenario as written."""
    savings: float | None
    """Loss (loss mode) or cost (cost mode) the optimum saves against the plan, held to
    :attr:`basis`; never negative; ``None`` if the plan is infeasible."""
    basis: Basis | None = None
    """What the optimum compared is held to: the scenario's budget (or target), or,
    for a plan over the budget (or short of the target) within the feasibility
    tolerance, the plan's own spend (or loss)."""

    @property
    def status(self) -> str:
        """``optimal``, ``not_optimal`` or ``infeasible``."""
        if not self.certificate.feasible:
            return "infeasible"
        return "optimal" if self.certificate.optimal else "not_optimal"

    def summary(self) -> dict[str, Any]:
        """The verdict, the plan's amounts, loss and cost, and what the optimum saves."""
        return {"status": self.status, **self.allocation, "loss": self.loss,
                "cost": self.cost, "savings": self.savings, "basis": self.basis}

    def to_dict(self) -> dict[str, Any]:
        """The verdict, the plan, its certificate and the optimum as plain data."""
        return {
            "scenario": self.optimum.scenario.name,
            "status": self.status,
            "mode": self.optimum.mode,
            "allocation": dict(self.allocation),
            "loss": self.loss,
            "cost": self.cost,
            "certificate": self.certificate.to_dict(),
            "savings": self.savings,
            "basis": self.basis,
            "optimum": {"allocation": self.optimum.allocation, "loss": self.optimum.loss,
                        "cost": self.optimum.cost},
        }


SAVINGS_NOISE = 1e-9
"""Relative size below which a negative saving is rounding, and shown as 0."""


@guarded
def check(scenario: Scenario, plan: Mapping[str, float], tol: float = DEFAULT_TOLERANCE,
          feasibility_tol: float = PLAN_FEASIBILITY) -> CheckResult:
    """Certify ``plan`` (amounts by resource name) for ``scenario``.

    Parameters
    ----------
    scenario : Scenario
        The scenario the plan is for.
    plan : mapping of str to float
        Amounts of the levers (N and D under a compute coupling); a derived amount may
        be given too, and must agree.
    tol : float
        Tolerance of the certificate's spread.
    feasibility_tol : float
        Relative amount by which the plan may exceed the budget, the target or a bound
        and still count as feasible (rounded numbers).
    """
    options.expect(scenario, Scenario, "check's scenario", options.LOAD)
    options.fraction("--tol", tol)
    options.fraction("--feasibility-tol", feasibility_tol, zero=True)
    problem = Problem.from_scenario(scenario)
    x = problem.levers_at(plan, "--plan")
    certificate = certify(problem, x, tol, feasibility_tol)
    optimum = solve(scenario, tol=tol)
    loss, cost = float(problem.reported_loss(x)), float(problem.cost(x))
    savings, basis = None, None
    if certificate.feasible and scenario.law.predicts_loss:  # no loss, no loss saved
        savings, basis = _savings(scenario, optimum, loss, cost, tol)
    return CheckResult(allocation={r: float(v) for r, v in problem.amounts(x).items()},
                       loss=loss, cost=cost, certificate=certificate, optimum=optimum,
                       savings=savings, basis=basis)


def _savings(scenario: Scenario, optimum: Plan, loss: float, cost: float,
             tol: float) -> tuple[float, Basis]:
    """What the optimum saves, and what it is held to (see :attr:`CheckResult.basis`)."""
    objective = scenario.objective
    reference = optimum
    basis: Basis = "budget" if isinstance(objective, MinimizeLoss) else "target"
    if isinstance(objective, MinimizeLoss) and cost > objective.budget:
        reference, basis = solve(scenario.model_copy(update={"objective": MinimizeLoss(
            minimize="loss", budget=cost)}), tol=tol), "plan_spend"
    elif isinstance(objective, MinimizeCost) and loss > scenario.target_loss():
        reference, basis = solve(scenario.model_copy(update={"objective": MinimizeCost(
            minimize="cost", target_loss=loss)}), tol=tol), "plan_loss"
    if isinstance(objective, MinimizeLoss):
        saved, scale = loss - reference.loss, loss - scenario.law.floor()
    else:
        saved, scale = cost - reference.cost, cost
    if saved < -SAVINGS_NOISE * scale:
        # Possible only within the feasibility tolerance of a bound (the optimum keeps
        # to the bound exactly); beyond that it would be a wrong optimum.
        if not any(m.status.startswith("at_") for m in optimum.certificate.resources.values()
                   ) and not optimum.certificate.limits:
            raise SolverError(f"the optimum ({reference.method}) does worse than the plan "
                              f"checked against it, by {-saved:.3g}; please report this")
    return max(saved, 0.0), basis
