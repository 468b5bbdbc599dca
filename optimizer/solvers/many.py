r"""Many plans of one scenario: the optimum at many values of its numeric inputs.

Sweeps, the uncertainty analysis and the bootstrap of a fit all ask the same
question at many points: what is the optimal plan when these inputs take these values?
:func:`solve_many` answers it by one of two routes, both certifying every point.

* **Vectorised closed form.** When the scenario has a closed form
  (:mod:`optimizer.solvers.closed_form`) and only the objective (a downstream target
  too), prices, FLOPs per token, or the numbers of the law or of its downstream mapping
  vary, all points are one numpy evaluation of the closed form (a law's value and
  gradient are arithmetic on its fields, so a law whose fields are arrays evaluates
  every point at once; a mapping likewise gives each point's target loss), and its
  certificate is
  computed alike: with each lever's loss reduction per unit of cost
  :math:`q_i = -g^L_i/g^c_i`, the multiplier is
  :math:`\lambda = \sum w_i q_i / \sum w_i` with :math:`w_i = (1 + |q_i|)^{-2}`, each
  lever's ratio is :math:`\rho_i = q_i/\lambda`, and the spread is
  :math:`\max\rho - \min\rho`, exactly as
  :func:`~optimizer.solvers.certificate.certify` computes them without limits (its
  least-squares multiplier over the normalised columns
  :math:`(g^c_i, -g^L_i)/(|g^L_i| + |g^c_i|)` simplifies to this). Points
  whose closed form leaves a bound or a limit, or whose law the schema refuses, go to
  the general route.
* **General.** Each point is a validated scenario solved by
  :func:`~optimizer.solvers.solve.solve`, in chunks spread over joblib workers
  (``jobs``). The GP is compiled once per worker (cvxpy DPP) and re-solved with each
  point's numbers; before it, Newton's method on the optimality conditions is tried
  from the previous point's plan (continuation), kept only if the certificate accepts
  it.

A point with no optimal plan (infeasible, unbounded, or inputs the schema rejects)
is a row with its status and reason; it does not stop the others.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from pydantic import ValidationError

from optimizer.errors import InfeasibleError, OptimizerError, ScenarioError, UnboundedError
from optimizer.model.fields import valid_values
from optimizer.model.laws import AllocationLaw
from optimizer.model.problem import Problem
from optimizer.model.scenario import Scenario, parse_scenario, set_path
from optimizer.parallel import one_thread
from optimizer.solvers import closed_form

OUTPUTS = ("N", "D", "C", "loss", "cost", "shadow_price", "spread")
"""Numeric columns of a sweep, after its inputs."""
LABELS = ("status", "method", "reason")
"""Text columns of a sweep."""
COMMITTED = ("committed_loss", "committed_cost")
"""Loss and cost of a fixed plan at each point (the uncertainty analysis's regret)."""
CHUNK = 64
"""Points per joblib task on the general path."""

def solve_many(scenario: Scenario, inputs: Mapping[str, np.ndarray], *, tol: float,
               jobs: int = 1, progress: Callable[[int], None] | None = None,
               continuation: bool = True, committed: Mapping[str, float] | None = None
               ) -> tuple[dict[str, np.ndarray], str]:
    """The optimal plan of ``scenario`` at each point of ``inputs`` (path -> values (n,)).

    Returns the columns :data:`OUTPUTS` and :data:`LABELS`, each (n,), and the route:
    ``closed_form`` (vectorised; points it cannot certify re-solved) or ``solve``.
    With ``committed`` amounts (a plan fixed in advance), also :data:`COMMITTED`: that
    plan's loss and cost at each point. ``progress`` is called with the number of points
    finished since its last call.
    """
    problem = Problem.from_scenario(scenario)
    count = len(next(iter(inputs.values())))
    if _vectorisable(scenario, problem, inputs):
        table = _closed_form(scenario, problem, inputs, tol, jobs, continuation, committed)
        if progress is not None:
            progress(count)
        return table, "closed_form"
    return solve_points(scenario, inputs, np.arange(count), tol, jobs, progress,
                        continuation, committed), "solve"


def optimal_rows(table: Mapping[str, np.ndarray]) -> np.ndarray:
    """Which rows of a :func:`solve_many` table have an optimal plan.

    Where the closed form certified every point, the status column is a view of one
    value: that one comparison answers for every row (10,000 string comparisons take as
    long as the closed form's arithmetic over them).
    """
    status = table["status"]
    if status.strides == (0,):
        return np.full(status.shape, status[0] == "optimal")
    return np.asarray(status == "optimal")


def _vectorisable(scenario: Scenario, problem: Problem, inputs: Mapping[str, Any]) -> bool:
    if closed_form.kind(problem) is None or scenario.law.needs_data:
        return False
    for path in inputs:
        if path.startswith(("law.", "downstream.")):  # numbers of the law or the mapping
            model = scenario.law if path.startswith("law.") else scenario.downstream
            found = _field(model, path.partition(".")[2])
            if found is None or not isinstance(value := getattr(*found), float) or value == 0:
                return False
        elif path in THROUGH_MAPPING:
            continue
        elif path not in problem.params or (problem.fixed_cost
                                            and not path.startswith("objective.")):
            return False
    return True


THROUGH_MAPPING = ("objective.target_error", "objective.target_accuracy")
"""Objective fields that set the target loss through the downstream mapping."""


def _field(model: Any, path: str) -> tuple[Any, str] | None:
    """The model and field ``path`` names within ``model``, or None.

    The model's own field (``alpha`` of a law) or one of its blocks' (``D.exponent``: the
    ``D`` block's ``exponent``).
    """
    parts = path.split(".")
    if model is None or len(parts) > 2:
        return None
    if len(parts) == 2:
        if parts[0] not in type(model).model_fields:
            return None
        model = getattr(model, parts[0])
    return (model, parts[-1]) if parts[-1] in type(model).model_fields else None


def _at_points(model: Any, varied: Mapping[str, np.ndarray], n: int, structural: bool
               ) -> tuple[Any, np.ndarray]:
    """``model`` with the ``varied`` fields (paths within it) as arrays, and the valid points.

    A law or mapping whose fields are arrays evaluates every point at once. Each point is
    validated by the schema too, as the general route would: all points at once from the
    fields' constraints (:func:`~optimizer.model.fields.valid_values`), unless one has no
    array form or a rule across fields may depend on the numbers (a model validator, unless
    ``structural``: see :attr:`~optimizer.model.laws.law.Law.structural_rules`); then one
    point at a time. A number that is 0 at some point may change the model's shape there
    (a power law's exponent): that point takes the general route.
    """
    valid = np.ones(n, dtype=bool)
    one_by_one = not structural and bool(type(model).__pydantic_decorators__.model_validators)
    update: dict[str, Any] = {}
    for path, values in varied.items():
        found = _field(model, path)
        assert found is not None  # _vectorisable checked
        owner, name = found
        valid &= values != 0
        mask = valid_values(type(owner).model_fields[name], values)
        if mask is None:
            one_by_one = True
        else:
            valid &= mask
        if owner is model:
            update[name] = values
        else:
            block = path.split(".")[0]
            update[block] = update.get(block, owner).model_copy(update={name: values})
            one_by_one |= bool(type(owner).__pydantic_decorators__.model_validators)
    if one_by_one:
        base = model.model_dump()
        for i in np.flatnonzero(valid):
            data = copy.deepcopy(base)
            for path, values in varied.items():
                set_path(data, path, float(values[i]))
            try:
                type(model).model_validate(data)
            except ValidationError:
                valid[i] = False  # the general route says why
    return model.model_copy(update=update), valid


def _varied(inputs: Mapping[str, np.ndarray], block: str) -> dict[str, np.ndarray]:
    """The inputs under ``block.`` (``law``, ``downstream``): float arrays by path within it."""
    return {path.partition(".")[2]: np.asarray(v, dtype=float) for path, v in inputs.items()
            if path.startswith(f"{block}.")}


def _scenario_rules(problem: Problem, law: Any, p: Mapping[str, Any]) -> Any:
    """The scenario's own rules on its law, at every point.

    A target loss above the law's floor, and an allocation's two halves consistent under
    C = k N D.
    """
    ok: Any = True
    if problem.mode == "cost":
        ok = p["objective.target_loss"] > law.floor()
    if isinstance(law, AllocationLaw):
        ok = ok & law.consistent(p["compute.flops_per_param_token"])
    return ok


def _closed_form(scenario: Scenario, problem: Problem, inputs: Mapping[str, np.ndarray],
                 tol: float, jobs: int, continuation: bool,
                 committed: Mapping[str, float] | None = None) -> dict[str, np.ndarray]:
    n = len(next(iter(inputs.values())))
    valid = np.ones(n, dtype=bool)
    if varied := _varied(inputs, "law"):
        law, valid = _at_points(problem.law, varied, n, problem.law.structural_rules)
        problem = dataclasses.replace(problem, law=law)
    if (varied := _varied(inputs, "downstream")) and scenario.downstream is not None:
        valid &= _at_points(scenario.downstream, varied, n, False)[1]
    p = {**problem.params, **inputs}
    if problem.mode == "cost" and any(path.startswith(("objective.target_", "downstream."))
                                      for path in inputs):  # each point's target loss
        p["objective.target_loss"] = scenario.target_losses(inputs)
    valid &= _scenario_rules(problem, problem.law, p)
    with np.errstate(all="ignore"):
        x = {r: np.broadcast_to(np.asarray(v, dtype=float), (n,))
             for r, v in closed_form.allocate(problem, p).items()}
        full: dict[str, Any] = {**problem.constants, **x}
        for name, posy in problem.derived.items():
            full[name] = posy.evaluate(full, p)
        lam, spread = _equal_marginals(problem, x, p)
        table = {
            "N": np.asarray(full.get("N", problem.unused.get("N", np.nan)), float),
            "D": np.asarray(full.get("D", problem.unused.get("D", np.nan)), float),
            "C": np.asarray(full.get("C", problem.unused.get("C", np.nan)), float),
            "loss": np.asarray(problem.reported_loss(x), float),
            "cost": problem.cost_terms.evaluate(full, p) + problem.fixed_cost,
            "shadow_price": lam if problem.mode == "loss" else 1 / lam,
            "spread": spread,
        }
        if committed is not None:  # the fixed plan under each point's law and prices
            fixed = {r: committed[r] for r in problem.levers}
            # The law at amounts as arrays, like its fields: numpy's power of one base to
            # an array of exponents does not vectorise (3x slower over 1e4 laws).
            table["committed_loss"] = np.asarray(problem.reported_loss(
                {r: np.full(n, v) for r, v in fixed.items()}), float)
            table["committed_cost"] = (problem.cost_terms.evaluate(
                {**problem.constants, **fixed}, p) + problem.fixed_cost)
    # A scalar column (C under a fixed budget) is a view; the redo below copies what it edits.
    table = {k: v if np.shape(v) == (n,) else np.broadcast_to(np.asarray(v, dtype=float), (n,))
             for k, v in table.items()}
    spans = {**{r: (problem.lower[r], problem.upper[r]) for r in problem.levers},
             **problem.limits}
    inside = np.all([(lo * (1 - tol) <= full[r]) & (full[r] <= hi * (1 + tol))
                     for r, (lo, hi) in spans.items()], axis=0)
    checked = [k for k in OUTPUTS if k != "loss" or problem.law.predicts_loss]
    good = valid & inside & np.all([np.isfinite(table[k]) for k in checked], axis=0) & (
        table["spread"] <= tol)
    labels = {"status": "optimal", "method": f"closed_form:{closed_form.kind(problem)}",
              "reason": ""}
    # Constant text columns are read-only views (no per-row objects: 1e6 rows stay fast).
    out = {**table, **{k: np.broadcast_to(np.array(v, dtype=object), (n,))
                       for k, v in labels.items()}}
    redo = np.flatnonzero(~good)
    if redo.size:  # a bound binds, or the budget is too small: solve those points fully
        again = solve_points(scenario, inputs, redo, tol, jobs, None, continuation, committed)
        for key, column in again.items():
            out[key] = out[key].copy()
            out[key][redo] = column
    return out


def _equal_marginals(problem: Problem, x: Mapping[str, np.ndarray],
                     p: Mapping[str, Any]) -> tuple[Any, Any]:
    """The certificate without limits at every point (module docstring): lambda, spread.

    A function of its own so that its temporaries are freed before the plan's columns
    are made (at 1e4 points, each is 80 kB).
    """
    gL = problem.loss_gradient(x)
    gc = problem.cost_terms.gradient({**problem.constants, **x}, p, problem.levers)
    gain = [-gL[r] / gc[r] for r in problem.levers]  # loss reduction per unit of cost
    del gL, gc
    num = den = 0.0
    for q in gain:
        weight = 1 / np.square(1 + np.abs(q))
        num, den = num + weight * q, den + weight
    lam = num / den
    if len(gain) == 1:
        return lam, np.abs(gain[0] / lam - 1)
    return lam, (functools.reduce(np.maximum, gain) - functools.reduce(np.minimum, gain)
                 ) / np.abs(lam)


def solve_points(scenario: Scenario, inputs: Mapping[str, np.ndarray], points: np.ndarray,
             tol: float, jobs: int, progress: Callable[[int], None] | None,
             continuation: bool = True, committed: Mapping[str, float] | None = None
             ) -> dict[str, np.ndarray]:
    """Solve each point; with ``committed`` levers, also their loss and cost there."""
    from joblib import Parallel, delayed

    base = scenario.model_dump(exclude_unset=True)  # as written: defaults stay defaults
    chunks = [points[i:i + CHUNK] for i in range(0, len(points), CHUNK)]
    work: Any = Parallel(n_jobs=jobs, return_as="generator")(
        delayed(_solve_points)(base, {k: v[chunk] for k, v in inputs.items()}, tol,
                               continuation, committed)
        for chunk in chunks)
    numeric = (*OUTPUTS, *(COMMITTED if committed is not None else ()))
    columns: dict[str, list[Any]] = {k: [] for k in (*numeric, *LABELS)}
    for rows in work:
        for row in rows:
            for key in columns:
                columns[key].append(row[key])
        if progress is not None:
            progress(len(rows))
    return {k: np.array(v, dtype=float if k in numeric else object)
            for k, v in columns.items()}


def _solve_points(base: dict[str, Any], values: Mapping[str, np.ndarray], tol: float,
                  continuation: bool, committed: Mapping[str, float] | None = None
                  ) -> list[dict[str, Any]]:
    """A joblib task: solve a chunk of points, on one BLAS thread.

    The workers are the parallelism; a BLAS thread pool per worker would only compete.
    """
    with one_thread():
        return _solve_chunk(base, values, tol, continuation, committed)


def _solve_chunk(base: dict[str, Any], values: Mapping[str, np.ndarray], tol: float,
                 continuation: bool, committed: Mapping[str, float] | None = None
                 ) -> list[dict[str, Any]]:
    from optimizer.solvers.solve import solve

    rows = []
    count = len(next(iter(values.values())))
    warm: dict[str, float] | None = None  # the previous point's plan: a nearby start
    for i in range(count):
        data = copy.deepcopy(base)
        for path, column in values.items():
            set_path(data, path, float(column[i]))
        row: dict[str, Any] = dict.fromkeys((*OUTPUTS, *COMMITTED), math.nan) | {
            "method": "", "reason": ""}
        try:
            plan = solve(parse_scenario(data), tol=tol, warm=warm)
        except ScenarioError as exc:
            row |= {"status": "invalid", "reason": " ".join(str(exc).split())}
        except (InfeasibleError, UnboundedError) as exc:
            kind = "infeasible" if isinstance(exc, InfeasibleError) else "unbounded"
            row |= {"status": kind, "reason": " ".join(str(exc).split())}
        except OptimizerError as exc:
            row |= {"status": "failed", "reason": " ".join(str(exc).split())}
        else:
            warm = plan.allocation if continuation else None
            certificate = plan.certificate
            if committed is not None:
                problem = plan.problem
                x = {r: committed[r] for r in problem.levers}
                row |= {"committed_loss": float(problem.reported_loss(x)),
                        "committed_cost": float(problem.cost(x))}
            row |= {**{r: plan.allocation[r] for r in ("N", "D", "C")}, "loss": plan.loss,
                    "cost": plan.cost, "shadow_price": certificate.shadow_price,
                    "spread": certificate.max_relative_spread, "method": plan.method,
                    "status": "optimal" if certificate.optimal else "not_certified"}
        rows.append(row)
    return rows


