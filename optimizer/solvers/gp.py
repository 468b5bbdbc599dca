r"""Solve a :class:`~optimizer.model.problem.Problem` as a geometric program with cvxpy.

Why these are geometric programs (``docs/theory.md``): the laws are posynomials in
the resources (Chinchilla: :math:`E + AN^{-\alpha} + BD^{-\beta}`; power law: a
monomial plus a constant; Kaplan: a posynomial raised to a positive power), costs are
posynomials with positive unit costs, and the coupling :math:`C = kND` is a monomial.
Minimising a posynomial subject to posynomial <= constant is a GP, which cvxpy's
disciplined geometric programming (``solve(gp=True)``) turns into a convex problem
in :math:`\log x`, using the exponents exactly.

The cvxpy problem is built once per problem *structure* (law form, exponents, which
bounds exist) with every coefficient, price, bound and budget as a positive
``cvxpy.Parameter``, so a re-solve with new numbers skips canonicalisation (DPP).
cvxpy is imported here only, so the closed-form path never pays for it.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Iterator
from typing import Any

from optimizer.errors import InfeasibleError, SolverError
from optimizer.model.problem import Problem

SOLVERS = ("CLARABEL", "ECOS", "SCS")
"""Solvers tried in turn; ones that are not installed are skipped."""


class _Template:
    """A parametrised cvxpy GP for one problem structure."""

    def __init__(self, problem: Problem):
        import cvxpy as cp

        self.cp = cp
        self.params = {name: cp.Parameter(pos=True, name=name) for name in problem.params}
        self.constants = {r: cp.Parameter(pos=True, name=r) for r in problem.constants}
        self.vars = {r: cp.Variable(pos=True, name=r) for r in problem.levers}
        self.bounds: dict[tuple[str, str], Any] = {}
        full: dict[str, Any] = {**self.constants, **self.vars}
        amounts = dict(full)
        for r, posy in problem.derived.items():
            amounts[r] = posy.evaluate(full, self.params)
        law = problem.law
        # The loss above its floor: the constant floor changes no minimiser, and left in
        # it would dilute the solver's relative accuracy on what remains.
        loss = law.reducible(amounts, {k: self.params[f"law.{k}"] for k in law.coefficients()})
        cost = problem.cost_terms.evaluate(full, self.params) if problem.cost_terms.terms else None
        constraints = []
        if problem.mode == "loss":
            self.available = cp.Parameter(pos=True, name="available_budget")
            objective = cp.Minimize(loss)
            if cost is not None:
                constraints.append(cost <= self.available)
        else:
            self.headroom = cp.Parameter(pos=True, name="headroom")
            objective = cp.Minimize(cost if cost is not None else loss)
            constraints.append(loss <= self.headroom)
        for r in problem.levers:
            constraints += self._bound(r, self.vars[r], problem.lower[r], problem.upper[r])
        for r, (lo, hi) in problem.limits.items():
            constraints += self._bound(r, amounts[r], lo, hi)
        self.problem = cp.Problem(objective, constraints)

    def _bound(self, name: str, expr: Any, lo: float, hi: float) -> list[Any]:
        out = []
        if lo > 0:
            self.bounds[name, "lower"] = p = self.cp.Parameter(pos=True, name=f"{name}.min")
            out.append(expr >= p)
        if hi < math.inf:
            self.bounds[name, "upper"] = p = self.cp.Parameter(pos=True, name=f"{name}.max")
            out.append(expr <= p)
        return out

    def load(self, problem: Problem) -> None:
        """Set every parameter from ``problem``'s numbers."""
        for name, param in self.params.items():
            param.value = problem.params[name]
        for r, param in self.constants.items():
            param.value = problem.constants[r]
        bounds = {**{r: (problem.lower[r], problem.upper[r]) for r in problem.levers},
                  **problem.limits}
        for (name, side), param in self.bounds.items():
            param.value = bounds[name][0 if side == "lower" else 1]
        if problem.mode == "loss":
            available = problem.budget - problem.fixed_cost
            if available <= 0:
                raise InfeasibleError(
                    f"fixed purchases cost {problem.fixed_cost:.6g}, leaving nothing of "
                    f"objective.budget {problem.budget:.6g} for the other resources")
            self.available.value = available
        else:
            self.headroom.value = problem.headroom


_TEMPLATES: dict[tuple[Any, ...], _Template] = {}


def template(problem: Problem) -> _Template:
    """The cached parametrised GP for ``problem``'s structure, loaded with its numbers."""
    key = problem.structure()
    if key not in _TEMPLATES:
        _TEMPLATES[key] = _Template(problem)
    found = _TEMPLATES[key]
    found.load(problem)
    return found


@functools.cache
def _installed() -> frozenset[str]:
    """The solvers cvxpy can use; asked once, as asking probes imports (about 5 ms)."""
    import cvxpy as cp

    return frozenset(cp.installed_solvers())


def solve(problem: Problem) -> Iterator[tuple[dict[str, float], str]]:
    """Yield the GP optimum from each solver that succeeds, in order of preference.

    The caller takes the first result its certificate accepts; later solvers are the
    fallback for a solver that fails or returns an inaccurate point. A status of
    infeasible or unbounded is one solver's verdict, not the last word: scenarios
    whose numbers span many orders of magnitude can mislead an interior-point method,
    so the other solvers (and the caller's other routes) still get their turn.

    Raises
    ------
    InfeasibleError, UnboundedError
        When no solver returned a point and one proved the problem infeasible (or
        unbounded).
    SolverError
        When no solver returned a usable point.
    """
    from cvxpy.error import DGPError
    from cvxpy.error import SolverError as CvxpySolverError

    t = template(problem)
    cp = t.cp
    installed = _installed()
    failures = []
    proved: list[str] = []
    unbounded: list[str] = []
    yielded = False
    for name in (s for s in SOLVERS if s in installed):
        try:
            with warnings.catch_warnings():
                # "Solution may be inaccurate": the status says so, and the certificate
                # judges the point, so the warning adds nothing for the user.
                warnings.simplefilter("ignore", UserWarning)
                t.problem.solve(gp=True, solver=name)
        except (CvxpySolverError, DGPError) as exc:  # DGPError: Problem.geometric missed one
            failures.append(f"{name}: {' '.join(str(exc).split())[:200]}")
            continue
        status = t.problem.status
        if status == cp.INFEASIBLE:
            proved.append(name)
        elif status == cp.UNBOUNDED:
            unbounded.append(name)
        elif status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
            values = {r: v.value for r, v in t.vars.items()}
            if all(v is not None and 0 < float(v) < math.inf for v in values.values()):
                yielded = True
                yield {r: float(v) for r, v in values.items()}, name  # type: ignore[arg-type]
                continue
            failures.append(f"{name}: no finite point")
        else:
            failures.append(f"{name}: status {status}")
    if yielded:  # the caller reports why the certificate refused each point
        return
    if proved:
        raise problem.no_plan(f"({' and '.join(proved)} proved it infeasible)")
    if unbounded:
        raise problem.unattained(f"({' and '.join(unbounded)} proved it unbounded)",
                                 diverges=True)
    raise SolverError("no solver found an optimal plan: "
                      + "; ".join(failures or ["no GP solver is installed"]))
