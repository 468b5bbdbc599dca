r"""Plans as live spreadsheets, tidy CSV and JSON (``optimizer export``).

The workbook is a small model, not a pasted table:

* **Inputs** -- one named cell per number of the scenario, with its unit, path and
  meaning. ``budget`` (or ``target_loss``) is named so; every other name is the path
  with ``_`` for ``.`` (``law_alpha``, ``resources_C_unit_cost``).
* **Plan** -- N*, D*, C*, L*, the cost and the spend shares as formulas of the
  Inputs (named ``plan_N``, ``plan_D``, ``plan_C``, ``plan_loss``, ``plan_cost``),
  the solver's values beside them, and the certificate: each lever's marginal loss
  reduction, marginal cost and gain per unit cost, also as formulas.
* **Sweep** -- with ``--vary``: the sweep's table and native charts of the frontier.

The formulas are not written by hand: the closed forms of :mod:`optimizer.closed_form`
and the law's :meth:`~optimizer.laws.Law.formula` are evaluated on
:class:`~optimizer.formula.Expr` cells, and the gradients by forward differentiation
(:class:`~optimizer.formula.Dual`) of the same code. Each formula's value is checked
against the certified plan before anything is written.

A plan is live when its scenario has a closed form that holds at the exported inputs:
a power law with linear costs, or Chinchilla's law under a compute budget, in either
mode, with no limit on a derived resource and no fixed purchases. A bound on a lever
(``min``, ``max``, a capability) is checked by a ``plan_valid`` cell: when changed
inputs push the closed form past a bound, the plan cells show ``#N/A`` rather than a
plan that breaks the bound. Other plans are written as values, with a note.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from . import closed_form
from .errors import ScenarioError
from .formula import Dual, Expr, call, compare, name
from .problem import Problem, bound_candidates, guarded, parameter
from .scenario import Capability, MinimizeCost, Scenario, get_path, numeric_paths
from .solve import Plan
from .sweep import Sweep

FORMATS = (".xlsx", ".csv", ".json")
CONTRACT = {"objective.budget": "budget", "objective.target_loss": "target_loss"}
"""Inputs whose cell names are part of the contract (other tools refer to them)."""
OUTPUTS = {"N": "plan_N", "D": "plan_D", "C": "plan_C", "loss": "plan_loss",
           "cost": "plan_cost"}
"""The plan's named output cells."""
AMOUNT_UNITS = {"N": "parameters", "D": "tokens", "C": "FLOPs"}
SINGULAR = {"N": "parameter", "D": "token", "C": "FLOP"}


def cell_name(path: str) -> str:
    """The defined name of the input at ``path`` (``law.alpha`` -> ``law_alpha``)."""
    return CONTRACT.get(path) or re.sub(r"\W", "_", path)


def currency(scenario: Scenario) -> str:
    """What the budget and costs are counted in."""
    if scenario.hardware is not None:
        return "dollars" if scenario.hardware.currency == "dollars" else "device-hours"
    return "cost units"


def unit(scenario: Scenario, path: str) -> str:
    """The unit of the number at ``path``, for the Inputs sheet and CSV headers."""
    money = currency(scenario)
    parts = path.split(".")
    if parts[0] == "resources" and len(parts) == 3:
        r, field = parts[1], parts[2]
        return f"{money} per {SINGULAR[r]}" if field == "unit_cost" else AMOUNT_UNITS[r]
    return {
        "objective.budget": money, "objective.target_loss": "loss (nats per token)",
        "law.E": "loss (nats per token)", "compute.flops_per_param_token":
            "FLOPs per parameter per token", "hardware.mfu": "fraction",
        "hardware.peak_flops": "FLOP/s per device", "hardware.price_per_device_hour":
            "dollars per device-hour", "hardware.deadline_hours": "hours",
        "hardware.memory_bytes": "bytes", "hardware.bytes_per_param": "bytes per parameter",
        "inference.tokens": "tokens", "data.unique_tokens": "tokens",
    }.get(path, "exponent" if re.search(r"alpha|beta|exponents", path) else "")


def describe(scenario: Scenario, path: str) -> str:
    """The field's documentation (its docstring), on one line."""
    node: Any = scenario
    *parents, leaf = path.split(".")
    for key in parents:
        node = getattr(node, key, None)
    fields = type(node).model_fields if isinstance(node, BaseModel) else {}
    text = (fields[leaf].description or "") if leaf in fields else ""
    return " ".join(text.split())


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
    same code the solver uses (:func:`~optimizer.problem.parameter`,
    :func:`~optimizer.problem.bound_candidates`), so they are formulas too.
    """
    problem = plan.problem
    if problem.closed_form_kind is None:
        return f"no closed form: {closed_form.why_not(problem)}"
    if not plan.method.startswith("closed_form"):
        return ("the closed form does not give the plan at these inputs: "
                + closed_form.why_not(problem))
    if problem.fixed_cost:
        return "part of the cost is fixed (a resource held fixed is priced)"
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
    rows += [Row("loss L*", loss, plan.loss, unit_of["loss"], OUTPUTS["loss"]),
             Row("total cost", cost, plan.cost, unit_of["cost"], OUTPUTS["cost"])]
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
    conditions = _within_bounds(problem, sym, x)
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


def _within_bounds(problem: Problem, sym: Scenario, x: Mapping[str, Any]) -> list[Expr]:
    """Every bound on a lever or a derived resource, as a condition on the formulas.

    Each bound the scenario sets is tested, not only the tightest at export, since a
    changed input may make another one the tightest.
    """
    amounts = problem.amounts(x) if problem.derived else {}
    out = []
    for bound in bound_candidates(sym):
        r = bound.resource
        value = x.get(r) if r in problem.levers else amounts.get(r)
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
        out.append(compare(Expr.of(objective.target_loss), ">", sym.law.floor()))
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


# ------------------------------------------------------------------------ writing

def check_path(path: str | os.PathLike[str]) -> str:
    """The export format ``path`` names (its extension), or a ScenarioError."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ScenarioError(f"-o {str(path)!r}: export to {', '.join(FORMATS)}")
    return suffix


def inputs_of(scenario: Scenario) -> dict[str, float]:
    """Every numeric input the plan depends on (what the Inputs sheet holds), by path.

    The ``band`` block only sets how the solve report describes the plan, so it is
    left out.
    """
    full = scenario.model_dump()
    return {path: float(get_path(full, path)) for path in numeric_paths(scenario)
            if not path.startswith("band.")}


def export_text(plan: Plan, path: str | os.PathLike[str], sweep: Sweep | None = None,
                model: Live | str | None = None) -> str | bytes:
    """The export of ``plan`` (and ``sweep``) as a file's contents, by extension.

    ``model`` is :func:`live`'s answer for ``plan``, if already known.
    """
    suffix = check_path(path)
    if suffix == ".json":
        return json_text(plan, sweep)
    if suffix == ".csv":
        return csv_text(plan, sweep)
    from .workbook import plan_xlsx

    inputs = inputs_of(plan.scenario)
    if model is None:
        model = live(plan, inputs)
    valid = model.valid if isinstance(model, Live) else guard(inputs, frozenset())
    rows = [(p, cell_name(p), v, unit(plan.scenario, p), describe(plan.scenario, p))
            for p, v in inputs.items()]
    return plan_xlsx(plan, rows, model, valid, sweep)


def json_text(plan: Plan, sweep: Sweep | None = None) -> str:
    """The plan as the ``solve --json`` object, with the sweep's rows if any."""
    from .report import plan_dict, to_json
    from .sweep import sweep_dict

    data = plan_dict(plan) | {"command": "export"}
    if sweep is not None:
        data["sweep"] = sweep_dict(sweep)
    return to_json(data) + "\n"


def csv_text(plan: Plan, sweep: Sweep | None = None) -> str:
    """Tidy CSV: one row per plan (or sweep point), units in the headers."""
    scenario = plan.scenario
    money = currency(scenario)
    heads = {"N": f"N ({AMOUNT_UNITS['N']})", "D": f"D ({AMOUNT_UNITS['D']})",
             "C": f"C ({AMOUNT_UNITS['C']})", "loss": "loss (nats per token)",
             "cost": f"cost ({money})", "shadow_price": "shadow price (" + (
                 f"loss per {money}" if plan.mode == "loss" else f"{money} per loss") + ")",
             "spread": "certificate spread", "status": "status", "method": "method"}
    if sweep is None:
        inputs = [a for a in CONTRACT if a in inputs_of(scenario)]
        values = {a: inputs_of(scenario)[a] for a in inputs}
        rows = [{**values, **plan.allocation, "loss": plan.loss, "cost": plan.cost,
                 "shadow_price": plan.certificate.shadow_price,
                 "spread": plan.certificate.max_relative_spread, "status": plan.status,
                 "method": plan.method}]
    else:
        inputs = [a.path for a in sweep.axes]
        rows = [{k: v for k, v in row.items() if k != "reason"} for row in sweep.rows()]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*(f"{a} ({unit(scenario, a)})" if unit(scenario, a) else a
                       for a in inputs), *heads.values()])
    for row in rows:
        writer.writerow(_csv_cell(row.get(k)) for k in (*inputs, *heads))
    return buffer.getvalue()


def _csv_cell(value: Any) -> Any:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return repr(value) if isinstance(value, float) else value
