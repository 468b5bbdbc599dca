r"""The live model of a plan: its formulas as spreadsheet expressions, checked.

The closed forms of :mod:`optimizer.solvers.closed_form` and the law's
:meth:`~optimizer.model.laws.Law.formula` are evaluated on
:class:`~optimizer.output.formula.Expr` cells, and the gradients by forward
differentiation (:class:`~optimizer.output.formula.Dual`) of the same code. Each
formula's value is checked against the certified plan (:func:`live`) before
:mod:`optimizer.output.workbook` writes it.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from optimizer.model.problem import Problem, bound_candidates, guarded, parameter
from optimizer.model.scenario import Capability, MinimizeCost, Scenario
from optimizer.model.units import AMOUNT_UNITS, currency
from optimizer.output.formula import Dual, Expr, call, compare, name
from optimizer.solvers import closed_form
from optimizer.solvers.solve import Plan

CONTRACT = {"objective.budget": "budget", "objective.target_loss": "target_loss",
            "objective.target_error": "target_error",
            "objective.target_accuracy": "target_accuracy"}
"""Inputs whose cell names are part of the contract (other tools refer to them)."""
OUTPUTS = {"N": "plan_N", "D": "plan_D", "C": "plan_C", "loss": "plan_loss",
           "cost": "plan_cost"}
"""The plan's named output cells."""
def cell_name(path: str) -> str:
    """The defined name of the input at ``path`` (``law.alpha`` -> ``law_alpha``)."""
    return CONTRACT.get(path) or re.sub(r"\W", "_", path)


# ------------------------------------------------------------------ the live model

@dataclass(frozen=True)
class Row:
    """One formula cell of the Plan sheet: its label, formula, solver value and unit."""

    label: str
    formula: Expr
    solver: float
    unit: str = ""
    name: str | None = None


@dataclass(frozen=True)
class Live:
    """The plan's formulas, each checked against the certified plan."""

    plan_rows: list[Row]
    certificate_rows: list[tuple[str, Row, Row, Row]]
    """Per lever: marginal loss reduction, marginal cost, gain per unit cost."""
    valid: Expr
    """TRUE while the formulas give the optimum: see :func:`guard`."""
    followed: frozenset[str]
    """The input cells the formulas follow; the others are held at their exported value."""


@guarded
def live(plan: Plan, inputs: Mapping[str, float]) -> Live | str:
    """The live formulas of ``plan``, or the reason it has none.

    ``inputs`` maps each scenario path written to the Inputs sheet to its value. The
    formulas are the closed form, the law and the cost evaluated on a copy of the
    scenario whose numbers are the named input cells (:func:`symbolic`); derived
    numbers (a FLOP's price from ``hardware``, a deadline's compute cap) come from the
    same code the solver uses (:func:`~optimizer.model.problem.parameter`,
    :func:`~optimizer.model.problem.bound_candidates`), so they are formulas too.
    """
    problem = plan.problem
    if closed_form.kind(problem) is None:
        return f"no closed form: {closed_form.why_not(problem)}"
    if not plan.method.startswith("closed_form"):
        return ("the closed form does not give the plan at these inputs: "
                + closed_form.why_not(problem))
    if problem.fixed_cost:
        return "part of the cost is fixed (a resource held fixed is priced)"
    objective = plan.scenario.objective
    if isinstance(objective, MinimizeCost) and objective.target[0] != "target_loss":
        return (f"the target is a downstream score (objective.{objective.target[0]}); live "
                "formulas follow loss targets only")
    cells = {path: name(cell_name(path), value) for path, value in inputs.items()}
    sym = symbolic(plan.scenario, cells)
    p = {path: Expr.of(parameter(sym, path)) for path in problem.params}
    law = sym.law
    constants = {r: Expr.of(parameter(sym, f"resources.{r}.fixed")) for r in problem.constants}
    x = closed_form.allocate(dataclasses.replace(problem, law=law, constants=constants), p)
    unit_of = {**AMOUNT_UNITS, "loss": "loss (nats per token)", "cost": currency(plan.scenario)}
    rows: list[Row] = []
    amounts: dict[str, Expr] = {}
    for r in ("N", "D", "C"):
        if r in x:
            formula = x[r]
        elif r in problem.derived:
            formula = problem.derived[r].evaluate({**constants, **amounts}, p)
        elif r in constants:
            formula = constants[r]
        else:  # unused: neither the law nor a coupling needs it, so bought at its minimum
            formula = Expr.of(problem.unused[r])
        rows.append(Row(f"{r}*", formula, plan.allocation[r], unit_of[r], OUTPUTS[r]))
        amounts[r] = name(OUTPUTS[r], formula.value)
    coefficients = {k: p[f"law.{k}"] for k in problem.law.coefficients()}
    loss = law.formula(amounts, coefficients)
    cost = problem.cost_terms.evaluate(amounts, p)
    if law.predicts_loss:  # an allocation law's value is not a loss to show
        rows.append(Row("loss L*", loss, plan.loss, unit_of["loss"], OUTPUTS["loss"]))
    rows.append(Row("total cost", cost, plan.cost, unit_of["cost"], OUTPUTS["cost"]))
    total = name(OUTPUTS["cost"], cost.value)
    for term in problem.cost_terms.terms:
        spend = term.evaluate(amounts, p)
        what = _priced(term.coef[0])
        solver = term.evaluate(plan.allocation, problem.params) / plan.cost
        rows.append(Row(f"share of spend: {what}", spend / total, solver, "fraction"))
    certificate = []
    for r in problem.levers:
        dual = {s: Dual(amounts[s], 1.0 if s == r else 0.0) for s in amounts}
        for s, posy in problem.derived.items():
            dual[s] = posy.evaluate({**constants, **dual}, p)
        d_loss = -_slope(law.formula(dual, coefficients))
        d_cost = _slope(problem.cost_terms.evaluate(dual, p))
        m = plan.certificate.resources[r]
        certificate.append((r, Row("", d_loss, m.marginal_loss_reduction),
                            Row("", d_cost, m.marginal_cost),
                            Row("", d_loss / d_cost, m.gain_per_cost)))
    conditions = _within_bounds(problem, sym, {**problem.unused, **constants, **x}, p)
    formulas = [row.formula for row in rows] + [
        cell.formula for _, *cells_ in certificate for cell in cells_] + conditions
    followed = frozenset[str]().union(*(f.names for f in formulas)) & {
        c.text for c in cells.values()}
    conditions += _in_domain(sym, cells, followed)
    found = Live(rows, certificate, guard(inputs, followed, conditions), followed)
    _check(found)
    return found


def symbolic(scenario: Scenario, cells: Mapping[str, Expr]) -> Scenario:
    """A copy of ``scenario`` whose non-zero numbers are the named input ``cells``.

    Zeros stay numbers: a zero price or exponent removes a term, which changes the
    problem's shape, so the formulas cannot follow it (it is held). So does a
    capability model's threshold, found by root-finding rather than arithmetic.
    """
    def walk(model: BaseModel, prefix: str) -> Any:
        update: dict[str, Any] = {}
        for key in type(model).model_fields:
            value, path = getattr(model, key), prefix + key
            if isinstance(value, BaseModel) and not (
                    isinstance(value, Capability) and value.min_params is None):
                update[key] = walk(value, path + ".")
            elif isinstance(value, float) and value != 0 and path in cells:
                update[key] = cells[path]
        return model.model_copy(update=update)

    return walk(scenario, "")


def _within_bounds(problem: Problem, sym: Scenario, x: Mapping[str, Any],
                   p: Mapping[str, Any]) -> list[Expr]:
    """Every bound on a lever or a derived resource, as a condition on the formulas.

    ``x`` holds the levers' formulas (and the fixed and unused amounts), ``p`` the
    parameters' cells. Each bound the scenario sets is tested, not only the tightest at
    export, since a changed input may make another one the tightest. A derived amount
    (C = k N D) is the formula of the cells it depends on: with the exported numbers
    instead, a changed k moved C past a deadline's cap while the plan still showed.
    """
    amounts = dict(x)
    for r, posy in problem.derived.items():
        amounts[r] = posy.evaluate(amounts, p)
    out = []
    for bound in bound_candidates(sym):
        value = amounts.get(bound.resource)
        if value is not None:
            out.append(compare(value, ">=" if bound.side == "lower" else "<=", bound.value))
    return out


def _in_domain(sym: Scenario, cells: Mapping[str, Expr], followed: frozenset[str]
               ) -> list[Expr]:
    """Conditions that keep followed inputs where the closed form holds.

    Every followed input keeps its sign (a price stays positive, an exponent
    negative), an MFU stays at most 1, and a target loss stays above the law's floor.
    """
    out = []
    for cell in cells.values():
        if cell.text in followed:
            out.append(compare(cell, ">" if cell.value > 0 else "<", 0.0))
    mfu = cells.get("hardware.mfu")
    if mfu is not None and mfu.text in followed:
        out.append(compare(mfu, "<=", 1.0))
    objective = sym.objective
    if isinstance(objective, MinimizeCost):
        out.append(compare(Expr.of(sym.target_loss()), ">", sym.law.floor()))
    return out


HELD_TOLERANCE = 1e-12
"""Relative change of a held input that still counts as unchanged (the cell's own
rounding when a spreadsheet reads it back)."""


def guard(inputs: Mapping[str, float], followed: frozenset[str],
          conditions: list[Expr] | None = None) -> Expr:
    """``plan_valid``: the ``conditions``, and every input not ``followed`` at its value.

    A held input that a user changes makes the guard FALSE, so the plan shows
    ``#N/A`` rather than a plan computed for other inputs.
    """
    held = []
    for path, value in inputs.items():
        cell = name(cell_name(path), value)
        if cell.text in followed:
            continue
        if value == 0:
            held.append(compare(cell, "=", 0.0))
        else:
            held.append(compare(call("ABS", cell - value), "<=",
                                abs(value) * HELD_TOLERANCE))
    parts = [*(conditions or []), *held]
    if not parts:
        return Expr("TRUE()", 1.0)
    # AND does not short-circuit: with an input out of its domain (a target below the
    # floor, say) a bound's formula is an error, which would spread to every plan cell.
    return call("IFERROR", call("AND", *parts), Expr("FALSE()", 0.0),
                value=float(all(c.value for c in parts)))


def _slope(value: Any) -> Expr:
    return Expr.of(value.slope if isinstance(value, Dual) else 0.0)


def _priced(coef: str) -> str:
    parts = coef.split(".")
    return parts[1] if parts[0] == "resources" else parts[0]


def _check(found: Live, rtol: float = 1e-9) -> None:
    """Every formula must reproduce the certified plan (else it is a bug: say so)."""
    rows = [*found.plan_rows, *(row for _, *cells in found.certificate_rows for row in cells)]
    for row in rows:
        if not math.isclose(row.formula.value, row.solver, rel_tol=rtol, abs_tol=1e-300):
            raise AssertionError(f"the formula of {row.label or 'a certificate cell'} gives "
                                 f"{row.formula.value!r}, the plan {row.solver!r}")
