"""Spreadsheets written with XlsxWriter: sweep tables with charts, and live plans.

Workbooks are built in memory and handed to :func:`~optimizer.io.files.write_atomic`,
so a failed write never leaves half a file. Formula cells carry their computed value
too, so a viewer that does not recalculate still shows the right numbers; Excel and
LibreOffice recalculate on opening.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from optimizer.output.live import OUTPUTS, Live, Row
from optimizer.solvers import closed_form
from optimizer.version import __version__

if TYPE_CHECKING:
    from optimizer.analysis.sweep import Sweep
    from optimizer.output.formula import Expr
    from optimizer.solvers.solve import Plan

NUMBER = "0.000000E+00"
"""Display format of amounts and costs (the cells hold full precision)."""


class _Book:
    """An in-memory XlsxWriter workbook and its shared formats."""

    def __init__(self) -> None:
        import xlsxwriter

        self.buffer = io.BytesIO()
        # A number that is not finite (a shadow price of 1/0) becomes the cell's error
        # (#DIV/0!, #NUM!) rather than stopping the export.
        self.book = xlsxwriter.Workbook(self.buffer, {"in_memory": True,
                                                      "nan_inf_to_errors": True})
        add = self.book.add_format
        self.title = add({"bold": True, "font_size": 13})
        self.head = add({"bold": True, "bottom": 1})
        self.note = add({"italic": True, "font_color": "#555555"})
        self.number = add({"num_format": NUMBER})
        self.input = add({"num_format": NUMBER, "bg_color": "#FFF2CC", "border": 1})
        self.held = add({"num_format": NUMBER, "bg_color": "#E7E6E6", "font_color": "#555555"})
        self.live = add({"num_format": NUMBER, "bold": True, "bg_color": "#E2EFDA"})
        self.plain = add({"num_format": "0.000000"})
        self.live_plain = add({"num_format": "0.000000", "bold": True, "bg_color": "#E2EFDA"})

    def sheet(self, name: str) -> Any:
        """A new worksheet that prints landscape, one page wide."""
        page = self.book.add_worksheet(name)
        page.set_landscape()
        page.fit_to_pages(1, 0)
        return page

    def close(self) -> bytes:
        self.book.close()
        return self.buffer.getvalue()


def sweep_xlsx(result: Sweep, title: str) -> bytes:
    """A sweep's table on a "Sweep" sheet, with native charts when it has one input."""
    book = _Book()
    _sweep(book, result, title)
    return book.close()


def _sweep(book: _Book, result: Sweep, title: str) -> None:
    one = len(result.axes) == 1
    _table(book, "Sweep", result.columns, result.rows(), title,
           frontier=result.mode if one else None, log_axis=one and result.axes[0].log)


def _table(book: _Book, sheet: str, columns: Sequence[str], rows: Sequence[dict[str, Any]],
           title: str, frontier: str | None = None, log_axis: bool = False) -> None:
    """A bold header row, then one row per item; numbers stay numbers (NaN: empty).

    With ``frontier`` (``loss`` or ``cost``: the column to chart), native scatter charts
    of it and of N*, D*, C* against the first column are placed beside the table.
    """
    page = book.sheet(sheet)
    first = 0
    if title:
        page.write(0, 0, title, book.title)
        first = 2
    for j, column in enumerate(columns):
        page.write(first, j, column, book.head)
        page.set_column(j, j, max(12, len(column) + 2))
    for i, row in enumerate(rows, start=first + 1):
        for j, column in enumerate(columns):
            value = row[column]
            if value is None or (isinstance(value, float) and not math.isfinite(value)):
                continue
            page.write(i, j, value)
    page.freeze_panes(first + 1, 0)
    if not rows:
        return
    last = first + len(rows)
    page.autofilter(first, 0, last, len(columns) - 1)
    if frontier is None:
        return
    axis = {"name": columns[0], "log_base": 10 if log_axis else None,
            "major_gridlines": {"visible": True, "line": {"color": "#DDDDDD"}}}

    def chart(title: str, series: Sequence[str], y_axis: dict[str, Any]) -> Any:
        found = book.book.add_chart({"type": "scatter", "subtype": "straight"})
        assert found is not None
        for column in series:
            j = columns.index(column)
            found.add_series({"name": column if len(series) == 1 else f"{column}*",
                              "categories": [sheet, first + 1, 0, last, 0],
                              "values": [sheet, first + 1, j, last, j]})
        found.set_title({"name": title})
        found.set_x_axis(axis)
        found.set_y_axis(y_axis)
        if len(series) == 1:
            found.set_legend({"none": True})
        return found

    key = frontier
    anchor, scale = len(columns) + 1, {"x_scale": 1.3, "y_scale": 1.3}
    page.insert_chart(first, anchor, chart(
        f"Frontier: optimal {key} against {columns[0]}", [key],
        {"name": key, "log_base": 10 if key == "cost" else None}), scale)
    page.insert_chart(first + 22, anchor, chart(
        "Optimal allocation", ["N", "D", "C"], {"name": "amount", "log_base": 10}), scale)


def plan_xlsx(plan: Plan, inputs: Sequence[tuple[str, str, float, str, str]],
              model: Live | str, valid: Expr, sweep: Sweep | None = None) -> bytes:
    """The live plan: Inputs, Plan (and Sweep) sheets; see :mod:`optimizer.output.export`.

    ``inputs`` holds (path, name, value, unit, meaning) per input; ``model`` the live
    formulas or the reason there are none; ``valid`` the ``plan_valid`` condition, under
    which every plan cell shows its number (``#N/A`` otherwise).
    """
    book = _Book()
    scenario = plan.scenario
    followed = model.followed if not isinstance(model, str) else frozenset()
    page = book.sheet("Inputs")
    page.write(0, 0, f"Inputs: {scenario.name}", book.title)
    page.write(1, 0, "Yellow values are live: change one and the Plan sheet follows. Grey "
               "values are held: the plan assumes them, and changing one shows #N/A on the "
               "Plan sheet until optimizer export is run again.", book.note)
    page.write(2, 0, "Each value is a named cell (Formulas > Name Manager)."
               + (f" Source: {' '.join(scenario.source.split())}" if scenario.source else ""),
               book.note)
    for j, head in enumerate(("name", "value", "unit", "scenario path", "meaning")):
        page.write(4, j, head, book.head)
    for i, (path, cell, value, unit, meaning) in enumerate(inputs, start=5):
        page.write(i, 0, cell)
        page.write_number(i, 1, value, book.input if cell in followed else book.held)
        page.write(i, 2, unit)
        page.write(i, 3, path)
        page.write(i, 4, meaning if cell in followed else f"(held) {meaning}")
        book.book.define_name(cell, f"=Inputs!$B${i + 1}")
    for j, width in enumerate((30, 16, 26, 34, 90)):
        page.set_column(j, j, width)
    page.freeze_panes(5, 0)

    page = book.sheet("Plan")
    page.write(0, 0, f"Plan: {scenario.name}", book.title)
    if isinstance(model, str):
        page.write(1, 0, f"Not live: {model}. These are the solver's values, shown while "
                   "every input is as exported; after changing one, run optimizer export "
                   "again.", book.note)
    else:
        page.write(1, 0, f"Live: formulas of the yellow inputs (closed form: "
                   f"{closed_form.kind(plan.problem)}). Column C holds the solver's values "
                   "at the exported inputs.", book.note)
    page.write(2, 0, f"optimizer {__version__}; {plan.mode} mode; certified "
               f"{'optimal' if plan.certificate.optimal else 'NOT optimal'} at the exported "
               "inputs", book.note)
    heads = ("quantity", "plan", "solver", "plan / solver - 1", "unit")
    for j, head in enumerate(heads):
        page.write(4, j, head, book.head)
    for j, width in enumerate((36, 24, 20, 22, 24, 20)):
        page.set_column(j, j, width)
    i = 5
    page.write(i, 0, "plan valid at these inputs")
    page.write_formula(i, 1, f"={valid.text}", None, bool(valid.value))
    page.write(i, 4, "if FALSE, re-run optimizer export")
    book.book.define_name("plan_valid", f"=Plan!$B${i + 1}")
    i += 1
    if isinstance(model, str):
        rows = [("N*", "N"), ("D*", "D"), ("C*", "C")]
        for label, r in rows:
            _value_row(book, page, i, label, plan.allocation[r], OUTPUTS[r])
            i += 1
        if plan.scenario.law.predicts_loss:
            _value_row(book, page, i, "loss L*", plan.loss, OUTPUTS["loss"])
            i += 1
        _value_row(book, page, i, "total cost", plan.cost, OUTPUTS["cost"])
        i += 2
        _certificate_values(book, page, i, plan)
    else:
        for row in model.plan_rows:
            _formula_row(book, page, i, row)
            i += 1
        i += 1
        _certificate_formulas(book, page, i, plan, model)
    if sweep is not None:
        _sweep(book, sweep, f"optimizer sweep of {', '.join(a.path for a in sweep.axes)}")
    book.book.set_properties({"title": f"optimizer plan: {scenario.name}",
                              "comments": scenario.source})
    return book.close()


GUARD = "plan_valid"
"""The cell every plan cell tests before showing its number."""


def _guarded(text: str) -> str:
    return f"=IF({GUARD},{text},NA())"


def _value_row(book: _Book, page: Any, i: int, label: str, value: float, name: str) -> None:
    page.write(i, 0, label)
    page.write_formula(i, 1, _guarded(repr(value)), book.number, value)
    page.write_number(i, 2, value, book.number)
    book.book.define_name(name, f"=Plan!$B${i + 1}")


def _formula_row(book: _Book, page: Any, i: int, row: Row) -> None:
    plain = row.unit.startswith(("loss", "fraction"))  # numbers near 1 read better fixed
    page.write(i, 0, row.label)
    page.write_formula(i, 1, _guarded(row.formula.text),
                       book.live_plain if plain else book.live, row.formula.value)
    page.write_number(i, 2, row.solver, book.plain if plain else book.number)
    if row.solver:
        page.write_formula(i, 3, f"=B{i + 1}/C{i + 1}-1", None, row.formula.value / row.solver - 1)
    else:  # an unused resource, bought at its minimum of 0: the difference instead
        page.write_formula(i, 3, f"=B{i + 1}-C{i + 1}", None, row.formula.value - row.solver)
    page.write(i, 4, row.unit)
    if row.name:
        book.book.define_name(row.name, f"=Plan!$B${i + 1}")


def _certificate_header(book: _Book, page: Any, i: int, plan: Plan) -> int:
    page.write(i, 0, "Certificate: at an optimum every free lever returns the same loss "
               "reduction per unit of cost.", book.title)
    heads = ("lever", "loss reduction per unit", "cost per unit", "gain per cost",
             "solver's gain per cost", "relative to the first")
    for j, head in enumerate(heads):
        page.write(i + 1, j, head, book.head)
    return i + 2


def _certificate_formulas(book: _Book, page: Any, i: int, plan: Plan, model: Live) -> None:
    top = i = _certificate_header(book, page, i, plan)
    first = model.certificate_rows[0][3].formula.value
    for r, d_loss, d_cost, gain in model.certificate_rows:
        page.write(i, 0, r)
        page.write_formula(i, 1, _guarded(d_loss.formula.text), book.live, d_loss.formula.value)
        page.write_formula(i, 2, _guarded(d_cost.formula.text), book.live, d_cost.formula.value)
        page.write_formula(i, 3, f"=B{i + 1}/C{i + 1}", book.live, gain.formula.value)
        page.write_number(i, 4, gain.solver, book.number)
        page.write_formula(i, 5, f"=D{i + 1}/D${top + 1}", None, gain.formula.value / first)
        i += 1
    ratios = f"F{top + 1}:F{i}"
    tol = plan.certificate.tolerance
    spread = max(g.formula.value for *_, g in model.certificate_rows) / first - min(
        g.formula.value for *_, g in model.certificate_rows) / first
    page.write(i, 0, "verdict (spread of the ratios within the tolerance)")
    page.write_formula(i, 1, f'=IF({GUARD},IF(MAX({ratios})-MIN({ratios})<={tol!r},'
                       f'"optimal","NOT optimal"),NA())', None,
                       "optimal" if spread <= tol else "NOT optimal")
    page.write_number(i, 4, tol)
    book.book.define_name("plan_verdict", f"=Plan!$B${i + 1}")
    _certificate_footer(book, page, i + 1, plan)


def _certificate_values(book: _Book, page: Any, i: int, plan: Plan) -> None:
    i = _certificate_header(book, page, i, plan)
    for r in plan.problem.levers:
        m = plan.certificate.resources[r]
        page.write(i, 0, f"{r} ({m.status.replace('_', ' ')})")
        for j, value in enumerate((m.marginal_loss_reduction, m.marginal_cost,
                                   m.gain_per_cost, m.gain_per_cost), start=1):
            if math.isfinite(value):
                page.write_number(i, j, value, book.number)
        i += 1
    _certificate_footer(book, page, i, plan)


def _certificate_footer(book: _Book, page: Any, i: int, plan: Plan) -> None:
    cert = plan.certificate
    what = "loss per unit of budget" if plan.mode == "loss" else "cost per unit of loss"
    page.write(i + 1, 0, f"shadow price ({what})")
    page.write_number(i + 1, 4, cert.shadow_price, book.number)
    page.write(i + 2, 0, "solver's largest relative spread")
    page.write_number(i + 2, 4, cert.max_relative_spread, book.number)
