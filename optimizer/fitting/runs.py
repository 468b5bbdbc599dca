"""Training runs read from a CSV file: the data a law is fitted to.

One row per run, with its parameter count N, training tokens D (or training compute
C, with D derived as C / (k N), k = 6 FLOPs per parameter per token by default) and
its final loss. Every problem in the file is reported at once, naming the file, the
column and the rows (as line numbers, the header being line 1) so that the user can
find them in an editor or a spreadsheet.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from optimizer.errors import ScenarioError
from optimizer.io.files import RUNS_BYTES, read_bytes

COLUMNS = ("N", "D", "C", "loss", "U")
"""The quantities a run can give (U, the unique tokens of its data, is optional: the
data-constrained law needs it)."""

ALIASES: dict[str, tuple[str, ...]] = {
    "N": ("n", "params", "parameters", "model size", "model_size", "num_params"),
    "D": ("d", "tokens", "training tokens", "training_tokens", "num_tokens"),
    "C": ("c", "flops", "flop", "compute", "training flop", "training flops",
          "training_flops"),
    "loss": ("loss", "final loss", "final_loss", "smoothed loss", "eval loss", "eval_loss"),
    "U": ("u", "unique tokens", "unique_tokens", "unique"),
}
"""Header names recognised without a ``--*-column`` option (compared case-insensitively)."""

MAX_LISTED = 12
"""Row numbers listed per problem before the message says "and k more"."""


@dataclass(frozen=True)
class Runs:
    """Training runs, one entry per run, in file order.

    Attributes
    ----------
    N, D, C, loss : ndarray of shape (n,)
        Parameters, training tokens, training FLOPs and final loss. Whichever of D or
        C the file lacks is derived through ``C = flops_per_param_token * N * D``.
    lines : ndarray of int, shape (n,)
        The line of the file each run came from (the header is line 1).
    U : ndarray of shape (n,), optional
        Unique tokens of each run's data (D / U epochs), when the file gives them.
    """

    N: np.ndarray
    D: np.ndarray
    C: np.ndarray
    loss: np.ndarray
    lines: np.ndarray
    path: str = ""
    sha256: str = ""
    columns: dict[str, str] = field(default_factory=dict)
    """Quantity -> the header it was read from (derived quantities are absent)."""
    flops_per_param_token: float = 6.0
    dropped: tuple[int, ...] = ()
    """Lines left out of the fit on purpose (see :meth:`drop_highest_loss`)."""
    U: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.loss.size)

    def amounts(self) -> dict[str, np.ndarray]:
        """N, D and C by name: the resources a run bought."""
        return {"N": self.N, "D": self.D, "C": self.C}

    def inputs(self) -> dict[str, np.ndarray]:
        """What a law reads at the runs: N, D, C, and U when the file gives it."""
        return {**self.amounts(), **({"U": self.U} if self.U is not None else {})}

    def clusters(self) -> list[np.ndarray]:
        """Indices of the runs grouped by configuration: the same N, D and C.

        Groups come in order of first appearance. Repeats of one configuration (seeds)
        are not independent evidence about the law, so the bootstrap resamples each
        group whole. Without repeats every run is its own group.
        """
        keys = np.column_stack([self.N, self.D, self.C, *([self.U] if self.U is not None
                                                           else [])])
        _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
        rank = np.empty_like(first)
        rank[np.argsort(first, kind="stable")] = np.arange(first.size)
        label = rank[inverse.ravel()]
        order = np.argsort(label, kind="stable")
        return np.split(order, np.cumsum(np.bincount(label))[:-1])

    def take(self, index: np.ndarray) -> Runs:
        """The runs at ``index`` (in that order, repeats allowed: a bootstrap resample)."""
        return Runs(self.N[index], self.D[index], self.C[index], self.loss[index],
                    self.lines[index], self.path, self.sha256, self.columns,
                    self.flops_per_param_token, self.dropped,
                    None if self.U is None else self.U[index])

    def drop_highest_loss(self, count: int) -> Runs:
        """Leave out the ``count`` runs of highest loss (Besiroglu et al. 2024, sec. 2)."""
        if count <= 0:
            return self
        if count >= len(self):
            raise ScenarioError(f"--drop-highest-loss {count}: the file has only "
                                f"{len(self)} runs", self.path)
        order = np.argsort(self.loss, kind="stable")
        keep, drop = np.sort(order[:-count]), order[-count:]
        return dataclasses.replace(self.take(keep), dropped=tuple(
            sorted(int(line) for line in self.lines[drop])))


def read_runs(path: str | Path, columns: dict[str, str] | None = None, *,
              flops_per_param_token: float = 6.0) -> Runs:
    """Read and check training runs from a CSV file with a header row.

    Parameters
    ----------
    path : str or Path
        The CSV file.
    columns : dict, optional
        Quantity (``N``, ``D``, ``C``, ``loss``) -> header, for headers the
        :data:`ALIASES` do not recognise.
    flops_per_param_token : float
        k in C = k N D, used to derive D from C (or C from D).

    Raises
    ------
    ScenarioError
        Listing every problem: a missing file or column, non-numeric, missing, NaN,
        infinite or non-positive cells, and duplicate rows, each with its line numbers.
    """
    table = read_columns(path, COLUMNS, ALIASES, columns or {},
                         needs=(("N",), ("loss",), ("D", "C")), what="run")
    arrays, used, lines = table.arrays, table.used, table.lines
    k = flops_per_param_token
    N = arrays["N"]
    D = arrays["D"] if "D" in arrays else arrays["C"] / (k * N)
    C = arrays["C"] if "C" in arrays else k * N * D
    if "D" in arrays and "C" in arrays:
        _check_coupling(N, D, C, k, used, lines, str(path))
    return Runs(N, D, C, arrays["loss"], lines, str(path), table.sha256, used, k,
                U=arrays.get("U"))


@dataclass(frozen=True)
class Columns:
    """Numeric columns read from a CSV file, each checked cell by cell."""

    arrays: dict[str, np.ndarray]
    """Quantity -> its values, one per row."""
    used: dict[str, str]
    """Quantity -> the header it was read from."""
    lines: np.ndarray
    """The line of the file each row came from (the header is line 1)."""
    sha256: str
    """SHA-256 of the file's bytes."""


LABELS = {"D": "D (tokens)", "C": "C (FLOPs)"}
"""How a missing quantity is named when either of two columns would do."""


def read_columns(path: str | Path, quantities: tuple[str, ...],
                 aliases: dict[str, tuple[str, ...]], given: dict[str, str], *,
                 needs: tuple[tuple[str, ...], ...], what: str) -> Columns:
    """Read the ``quantities`` of a CSV file with a header row; one entry per ``what``.

    A column is found by ``given`` (quantity -> header) or else by its ``aliases``
    (compared case-insensitively). Each group of ``needs`` must be found (any one of
    its quantities). Every problem is reported at once, naming the rows.
    """
    path = Path(path)
    raw = read_bytes(path, RUNS_BYTES, f"{what}s file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ScenarioError(f"not a UTF-8 text file; save the {what}s as CSV",
                            str(path)) from None
    reader = csv.reader(text.splitlines())
    header = [name.strip() for name in next(reader, [])]
    if not any(header):
        raise ScenarioError(f"the file is empty; it needs a header row and one row per {what}",
                            str(path))
    repeated = sorted(name for name, n in Counter(header).items() if name and n > 1)
    if repeated:
        raise ScenarioError(f"the header names {', '.join(map(repr, repeated))} more than "
                            "once, so which column to use is ambiguous; rename or remove "
                            "the extra columns", str(path))
    used = _match_columns(header, given, str(path), quantities, aliases, needs)
    where = {q: header.index(name) for q, name in used.items()}
    problems: dict[str, list[str]] = defaultdict(list)
    values: dict[str, list[float]] = {q: [] for q in used}
    lines: list[int] = []
    for cells in reader:
        if not any(cell.strip() for cell in cells):
            continue  # blank line
        line = reader.line_num
        lines.append(line)
        for q, index in where.items():
            name = header[index]
            cell = cells[index].strip() if index < len(cells) else ""
            values[q].append(_number(cell, f"{q} ({name!r})", line, problems))
    if not lines:
        raise ScenarioError(f"the file has a header but no {what}s", str(path))
    _check_duplicates(values, lines, problems)
    if problems:
        raise ScenarioError([_listed(what, rows) for what, rows in problems.items()],
                            str(path))
    return Columns({q: np.asarray(v, dtype=float) for q, v in values.items()}, used,
                   np.asarray(lines), hashlib.sha256(raw).hexdigest())


COUPLING = 3.0
"""How far (a factor) a run's C may be from k N D: attention and embeddings add tens of
percent, a different N convention up to about 2x; beyond 3x the columns disagree."""


def _check_coupling(N: np.ndarray, D: np.ndarray, C: np.ndarray, k: float,
                    used: dict[str, str], lines: np.ndarray, source: str) -> None:
    """Refuse a C column that contradicts C = k N D (the N, D and C of a run must agree)."""
    ratio = C / (k * N * D)
    off = np.flatnonzero((ratio > COUPLING) | (ratio < 1 / COUPLING))
    if off.size:
        what = (f"C ({used['C']!r}) contradicts C = {k:g} N D with N ({used['N']!r}) and "
                f"D ({used['D']!r}) by more than {COUPLING:g}x")
        raise ScenarioError(
            _listed(what, [f"{lines[i]} ({ratio[i]:.3g}x)" for i in off])
            + ": check the columns or --flops-per-param-token, or leave the C column out "
            "(C then follows from N and D)", source)


def _match_columns(header: list[str], given: dict[str, str], source: str,
                   quantities: tuple[str, ...], aliases: dict[str, tuple[str, ...]],
                   needs: tuple[tuple[str, ...], ...]) -> dict[str, str]:
    """Quantity -> header name, from explicit options first, then the aliases."""
    problems = []
    for q, name in given.items():
        if name not in header:
            problems.append(f"column {name!r} (for {q}) is not in the header; "
                            f"the columns are {_columns(header)}")
    used = {q: name for q, name in given.items() if name in header}
    lower = {name.lower(): name for name in header}
    for q in quantities:
        if q not in given:
            found = [lower[a] for a in aliases[q] if a in lower]
            if len(found) > 1:
                problems.append(f"several columns could be {q}: {', '.join(map(repr, found))}; "
                                f"choose one with --{q.lower()}-column")
            elif found:
                used[q] = found[0]
    for group in needs:
        if any(q in used or q in given for q in group):
            continue
        if len(group) == 1:
            problems.append(f"no {group[0]} column: name one with --{group[0].lower()}-column "
                            f"(the columns are {_columns(header)})")
        else:
            problems.append(f"no {' or '.join(LABELS.get(q, q) for q in group)} column: name "
                            "one with " + " or ".join(f"--{q.lower()}-column" for q in group))
    if problems:
        raise ScenarioError(problems, source)
    return {q: used[q] for q in quantities if q in used}


def _columns(header: list[str]) -> str:
    """The header's names for a message: the first dozen, then how many in all."""
    shown = ", ".join(repr(name[:40]) for name in header[:MAX_LISTED])
    return shown + (f", ... ({len(header)} in all)" if len(header) > MAX_LISTED else "")


def _number(cell: str, what: str, line: int, problems: dict[str, list[str]]) -> float:
    """The cell as a positive finite float, or NaN after recording the problem."""
    try:
        value = float(cell)
    except ValueError:
        problem = f"{what} is missing" if not cell else f"{what} is not a number"
        problems[problem].append(f"{line} ({cell[:40]!r})" if cell else str(line))
        return math.nan
    if math.isnan(value):
        problems[f"{what} is NaN"].append(str(line))
    elif math.isinf(value):
        problems[f"{what} is infinite"].append(str(line))
    elif value <= 0:
        problems[f"{what} must be positive"].append(f"{line} ({cell[:40]})")
    return value


def _check_duplicates(values: dict[str, list[float]], lines: list[int],
                      problems: dict[str, list[str]]) -> None:
    """Record rows whose values repeat an earlier row exactly (a copy-paste slip)."""
    seen: dict[tuple[float, ...], int] = {}
    for row, line in zip(zip(*values.values(), strict=True), lines, strict=True):
        if any(math.isnan(v) for v in row):
            continue
        if row in seen:
            problems["duplicate rows, each the same as an earlier one"].append(
                f"{line} (= {seen[row]})")
        else:
            seen[row] = line


def _listed(what: str, lines: list[str]) -> str:
    shown = ", ".join(map(str, lines[:MAX_LISTED]))
    more = f" and {len(lines) - MAX_LISTED} more" if len(lines) > MAX_LISTED else ""
    noun = "line" if len(lines) == 1 else "lines"
    return f"{what}: {noun} {shown}{more}"
