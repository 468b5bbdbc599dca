"""Tables of many plans (a sweep, the uncertainty samples): CSV, Parquet, JSON or XLSX.

CSV and Parquet are written by pyarrow, a chunk of :data:`CHUNK_ROWS` rows at a time,
into a temporary file renamed into place when complete: a sweep of 1e7 points never
holds its formatted rows at once, and an interrupted write leaves nothing behind.
Floats are written so they read back exactly; a missing number (a point with no plan)
is an empty CSV cell, a null in Parquet.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np

from optimizer.analysis.sweep import Sweep
from optimizer.errors import ScenarioError
from optimizer.io.files import atomic_file, write_atomic
from optimizer.output.report import SCHEMA_VERSION, to_json
from optimizer.output.workbook import sweep_xlsx

TABLE_FORMATS = (".csv", ".parquet", ".json", ".xlsx")
"""What a sweep table may be written as."""
COLUMN_FORMATS = (".csv", ".parquet")
"""Formats written column by column, in chunks (any table of named arrays)."""
CHUNK_ROWS = 1 << 16
"""Rows per chunk written (about 6 MB of CSV): bounds the memory a large table takes."""


def sweep_dict(result: Sweep, shown: int | None = None) -> dict[str, Any]:
    """The sweep as JSON-ready data (the ``--json`` output).

    With ``shown``, ``rows`` holds at most that many rows spread evenly over the sweep
    (for the terminal), and ``every`` says the stride; ``points`` still counts them all.
    """
    data = {"schema_version": SCHEMA_VERSION, "command": "sweep", **result.to_dict(rows=False)}
    every = 1 if shown is None or len(result) <= shown else len(result) // shown
    return data | {"rows": result.rows(range(0, len(result), every)), "every": every}


def check_table_path(path: str | os.PathLike[str],
                     formats: tuple[str, ...] = TABLE_FORMATS) -> str:
    """The table format ``path`` names (its extension), or a ScenarioError."""
    suffix = Path(path).suffix.lower()
    if suffix not in formats:
        raise ScenarioError(f"-o {str(path)!r}: write the table as "
                            f"{' or '.join(formats)}")
    return suffix


def write_sweep(result: Sweep, path: str | os.PathLike[str]) -> None:
    """Write the sweep to ``path`` in the format its extension names, atomically."""
    suffix = check_table_path(path)
    if suffix in COLUMN_FORMATS:
        write_columns(result.table, path)
    else:
        write_atomic(Path(path), table_text(result, path))


def write_columns(columns: Mapping[str, np.ndarray], path: str | os.PathLike[str]) -> None:
    """Named columns (equal lengths) as CSV or Parquet at ``path``, streamed, atomically."""
    suffix = check_table_path(path, COLUMN_FORMATS)
    with atomic_file(Path(path)) as handle:
        _stream(columns, handle, suffix)


def table_text(result: Sweep, path: str | os.PathLike[str]) -> str | bytes:
    """The sweep as a file's contents, by the extension of ``path``.

    CSV has one row per point; Parquet (bytes) one column per input and output; JSON is
    ``schema_version`` 1; XLSX (bytes) is a workbook with the table on a "Sweep" sheet.
    """
    suffix = check_table_path(path)
    if suffix == ".xlsx":
        return sweep_xlsx(result, "optimizer sweep of " + ", ".join(a.path for a in result.axes))
    if suffix == ".json":
        return to_json(sweep_dict(result)) + "\n"
    buffer = io.BytesIO()
    _stream(result.table, buffer, suffix)
    return buffer.getvalue().decode("utf-8") if suffix == ".csv" else buffer.getvalue()


def _stream(columns: Mapping[str, np.ndarray], handle: IO[bytes], suffix: str) -> None:
    """Write ``columns`` to ``handle`` as CSV or Parquet, a chunk of rows at a time."""
    import pyarrow as pa
    import pyarrow.csv as csv
    import pyarrow.parquet as parquet

    count = len(next(iter(columns.values()))) if columns else 0
    schema = pa.schema([(name, pa.float64() if _numeric(column) else pa.string())
                        for name, column in columns.items()])
    writer: Any = (csv.CSVWriter(handle, schema) if suffix == ".csv"
                   else parquet.ParquetWriter(handle, schema))
    with writer:
        for start in range(0, count, CHUNK_ROWS):
            rows = slice(start, min(start + CHUNK_ROWS, count))
            writer.write_batch(pa.record_batch(
                [_arrow(column[rows], pa) for column in columns.values()], schema=schema))
        if not count:
            writer.write_batch(pa.record_batch([pa.array([], f.type) for f in schema],
                                               schema=schema))


def _numeric(column: np.ndarray) -> bool:
    return column.dtype.kind in "fiub"


def _arrow(chunk: np.ndarray, pa: Any) -> Any:
    """A chunk of a column as an Arrow array: NaN a null, a constant text column cheap."""
    if _numeric(chunk):
        return pa.array(np.asarray(chunk, dtype=float), type=pa.float64(), from_pandas=True)
    if chunk.size and chunk.strides[0] == 0:  # one value broadcast (a closed-form sweep)
        return pa.repeat(pa.scalar(str(chunk[0]), pa.string()), chunk.size)
    return pa.array([None if v is None else str(v) for v in chunk], type=pa.string())
