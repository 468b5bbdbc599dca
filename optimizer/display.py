"""How results show themselves: a short ``repr``, an HTML table in Jupyter, plain data.

Every result (:class:`~optimizer.solvers.solve.Plan`,
:class:`~optimizer.solvers.certificate.Certificate`,
:class:`~optimizer.analysis.check.CheckResult`, the sweep, sensitivity and uncertainty
results) derives from :class:`Result` and says two things: :meth:`Result.summary`, the
few figures that identify it, and :meth:`Result.to_dict`, all of it as JSON-ready data.
Tabular results also give :meth:`Table.records`, one mapping per row, which
:meth:`Table.to_pandas` turns into a DataFrame when pandas is installed.
"""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    import pandas  # pyright: ignore[reportMissingTypeStubs]

SHOWN_ROWS = 20
"""Rows of a table shown in a notebook; the rest are counted."""


class Result:
    """A result that shows itself briefly: ``repr``, Jupyter HTML, :meth:`to_dict`."""

    __slots__ = ()

    def summary(self) -> dict[str, Any]:
        """The few figures that identify this result, for ``repr`` and notebooks."""
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """Everything in this result as plain data (dicts, lists, str, float, bool)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return one_line(type(self).__name__, self.summary())

    def _repr_html_(self) -> str:
        return html_table(type(self).__name__, self.summary())


class Table(Result):
    """A result with one row per point, input or sample: adds :meth:`to_pandas`."""

    __slots__ = ()

    def records(self) -> list[dict[str, Any]]:
        """One mapping per row, the same keys in each."""
        raise NotImplementedError

    def to_pandas(self) -> pandas.DataFrame:
        """The rows as a pandas DataFrame (pandas is optional: ``pip install pandas``)."""
        try:
            import pandas  # pyright: ignore[reportMissingTypeStubs]
        except ImportError:
            raise ImportError(f"{type(self).__name__}.to_pandas needs pandas, which is not "
                              "installed: pip install pandas (or use .records(), a list "
                              "of dicts)") from None
        return pandas.DataFrame.from_records(self.records())  # pyright: ignore[reportUnknownMemberType]

    def _repr_html_(self) -> str:
        records = self.records()
        columns = list(records[0]) if records else []
        head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(row[c]))}</td>"
                                        for c in columns) + "</tr>"
                       for row in records[:SHOWN_ROWS])
        more = (f"<p>{len(records) - SHOWN_ROWS} more rows: .records() or .to_pandas() "
                "for all</p>" if len(records) > SHOWN_ROWS else "")
        return f"{super()._repr_html_()}<table><tr>{head}</tr>{body}</table>{more}"


def one_line(name: str, summary: dict[str, Any]) -> str:
    """``Name(key=value, ...)`` with each value in brief."""
    return f"{name}({', '.join(f'{k}={brief(v)}' for k, v in summary.items())})"


def html_table(name: str, summary: dict[str, Any]) -> str:
    """A two-column HTML table of ``summary``, captioned ``name``."""
    rows = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
                   f"<td style='text-align:left'>{html.escape(brief(v))}</td></tr>"
                   for k, v in summary.items())
    return f"<table><caption>{name}</caption>{rows}</table>"


def brief(value: Any, digits: int = 4) -> str:
    """``value`` in a few characters: floats to ``digits`` significant figures."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value + 0.0:.{digits}g}"
    if isinstance(value, dict):
        pairs = cast(dict[Any, Any], value).items()
        return "{" + ", ".join(f"{k}: {brief(v, digits)}" for k, v in pairs) + "}"
    if isinstance(value, list | tuple):
        items = list(cast(list[Any] | tuple[Any, ...], value))
        inner = ", ".join(brief(v, digits) for v in items[:4])
        return f"[{inner}{', ...' if len(items) > 4 else ''}]"
    if isinstance(value, str):
        return repr(value) if len(value) <= 60 else repr(value[:57] + "...")
    try:
        return brief(float(value), digits) if hasattr(value, "__float__") else str(value)
    except (TypeError, ValueError):
        return str(value)


def _cell(value: Any) -> str:
    return value if isinstance(value, str) else brief(value)
