"""Spreadsheets written with XlsxWriter: tables now, live plans with the export issue.

Workbooks are built in memory and handed to :func:`~optimizer.scenario.write_atomic`,
so a failed write never leaves half a file.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any


def table_xlsx(columns: Sequence[str], rows: Sequence[dict[str, Any]], *,
               sheet: str = "Sweep", title: str = "") -> bytes:
    """One sheet holding a table: a bold header row, then one row per item.

    Numbers stay numbers (NaN and infinities become empty cells); the header is frozen
    and the columns sized to their names, so the table is ready to filter and chart.
    """
    import xlsxwriter

    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    page = book.add_worksheet(sheet)
    bold = book.add_format({"bold": True, "bottom": 1})
    first = 0
    if title:
        page.write(0, 0, title, book.add_format({"bold": True, "font_size": 12}))
        first = 2
    for j, name in enumerate(columns):
        page.write(first, j, name, bold)
        page.set_column(j, j, max(12, len(name) + 2))
    for i, row in enumerate(rows, start=first + 1):
        for j, name in enumerate(columns):
            value = row[name]
            if isinstance(value, float) and not math.isfinite(value):
                continue
            if value is None:
                continue
            page.write(i, j, value)
    page.freeze_panes(first + 1, 0)
    if rows:
        page.autofilter(first, 0, first + len(rows), len(columns) - 1)
    book.close()
    return buffer.getvalue()
