"""A sweep as a table: CSV (one row per point), JSON or an XLSX workbook."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

from optimizer.analysis.sweep import Sweep
from optimizer.errors import ScenarioError
from optimizer.output.report import SCHEMA_VERSION, to_json
from optimizer.output.workbook import sweep_xlsx

TABLE_FORMATS = (".csv", ".json", ".xlsx")


def sweep_dict(result: Sweep) -> dict[str, Any]:
    """The sweep as JSON-ready data (the ``--json`` output)."""
    return {"schema_version": SCHEMA_VERSION, "command": "sweep", **result.to_dict()}


def check_table_path(path: str | os.PathLike[str]) -> str:
    """The table format ``path`` names (its extension), or a ScenarioError."""
    suffix = Path(path).suffix.lower()
    if suffix not in TABLE_FORMATS:
        raise ScenarioError(f"-o {str(path)!r}: write the table as "
                            f"{' or '.join(TABLE_FORMATS)}")
    return suffix


def table_text(result: Sweep, path: str | os.PathLike[str]) -> str | bytes:
    """The sweep as a file's contents, by the extension of ``path``.

    CSV has one row per point; JSON is ``schema_version`` 1; XLSX (bytes) is a
    workbook with the table on a "Sweep" sheet.
    """
    suffix = check_table_path(path)
    if suffix == ".xlsx":
        return sweep_xlsx(result, "optimizer sweep of " + ", ".join(a.path for a in result.axes))
    if suffix == ".json":
        return to_json(sweep_dict(result)) + "\n"
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(result.columns)
    for row in result.rows():
        writer.writerow("" if v is None else repr(v) if isinstance(v, float) else v
                        for v in row.values())
    return buffer.getvalue()
