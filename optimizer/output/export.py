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

The formulas are not written by hand: the closed forms of :mod:`optimizer.solvers.closed_form`
and the law's :meth:`~optimizer.model.laws.Law.formula` are evaluated on
:class:`~optimizer.output.formula.Expr` cells, and the gradients by forward differentiation
(:class:`~optimizer.output.formula.Dual`) of the same code. Each formula's value is checked
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
import io
import math
import os
from pathlib import Path
from typing import Any

from optimizer.analysis.sweep import Sweep
from optimizer.errors import ScenarioError
from optimizer.model.scenario import Scenario, get_path, numeric_paths
from optimizer.model.units import AMOUNT_UNITS, currency, describe, unit
from optimizer.output.live import CONTRACT, Live, cell_name, guard, live
from optimizer.output.report import plan_dict, to_json
from optimizer.output.tables import sweep_dict
from optimizer.output.workbook import plan_xlsx
from optimizer.solvers.solve import Plan

FORMATS = (".xlsx", ".csv", ".json")


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
    inputs = inputs_of(plan.scenario)
    if model is None:
        model = live(plan, inputs)
    valid = model.valid if isinstance(model, Live) else guard(inputs, frozenset())
    rows = [(p, cell_name(p), v, unit(plan.scenario, p), describe(plan.scenario, p))
            for p, v in inputs.items()]
    return plan_xlsx(plan, rows, model, valid, sweep)


def json_text(plan: Plan, sweep: Sweep | None = None) -> str:
    """The plan as the ``solve --json`` object, with the sweep's rows if any."""
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
