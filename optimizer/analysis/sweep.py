r"""Sweeps: the optimal plan over a grid of scenario inputs, every point certified.

An axis names a numeric field of the scenario by its path (``objective.budget``,
``law.alpha``, ``resources.C.unit_cost``) and gives its values: ``a:b:log:n`` (n
log-spaced points), ``a:b:n`` or ``a:b:lin:n`` (linear), or a list ``a,b,c``. Several
axes make a full grid.

Each point is solved by :func:`~optimizer.solvers.many.solve_many`: the whole grid as
one vectorised closed form where the scenario has one (certified alike; points that
leave a bound re-solved), else point by point, each certified. A point with no optimal
plan (infeasible, unbounded, or inputs the schema rejects) is a row with its status and
reason; it does not stop the sweep.
"""

from __future__ import annotations

import copy
import difflib
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from optimizer import options
from optimizer.display import Table
from optimizer.errors import OptimizerError, ScenarioError
from optimizer.model.problem import Problem, guarded
from optimizer.model.scenario import Scenario, numeric_paths, parse_scenario, set_path
from optimizer.solvers.certificate import DEFAULT_TOLERANCE
from optimizer.solvers.many import optimal_rows, solve_many


@dataclass(frozen=True)
class Axis:
    """One varied input: a scenario path and its values."""

    path: str
    values: np.ndarray
    log: bool = False
    """Whether the values are log-spaced (plots use a log axis)."""


@dataclass(frozen=True, repr=False)
class Sweep(Table):
    """A tidy table: one row per grid point, columns named by path or output.

    ``rows()`` (or ``records()``) gives one dict per point, ``to_pandas()`` a DataFrame.
    """

    axes: tuple[Axis, ...]
    table: dict[str, np.ndarray]
    """Input paths, then :data:`~optimizer.solvers.many.OUTPUTS` (float) and
    :data:`~optimizer.solvers.many.LABELS` (str), each (n,)."""
    mode: str
    """``loss`` or ``cost``, the scenario's objective."""
    method: str
    """``closed_form`` (vectorised) or ``solve`` (point by point)."""
    seconds: float
    scenario: Scenario
    """The base scenario (figures and exports read its units from it)."""

    def __len__(self) -> int:
        return len(self.table["status"])

    @property
    def solved(self) -> np.ndarray:
        """Which points have an optimal plan (bool, (n,))."""
        return optimal_rows(self.table)

    @property
    def columns(self) -> list[str]:
        """Column names in order."""
        return list(self.table)

    def rows(self, indices: Iterable[int] | None = None) -> list[dict[str, Any]]:
        """The table as one dict per point (floats as Python floats).

        Only the points at ``indices`` when given.
        """
        names = self.columns
        chosen = range(len(self)) if indices is None else indices
        return [{n: _plain(self.table[n][i]) for n in names} for i in chosen]

    def records(self) -> list[dict[str, Any]]:
        """The rows (see :meth:`rows`)."""
        return self.rows()

    def summary(self) -> dict[str, Any]:
        """Points, axes, objective, method, how many points solved, and the time."""
        solved = int(np.count_nonzero(self.solved))
        return {"points": len(self), "axes": [a.path for a in self.axes], "mode": self.mode,
                "method": self.method, "solved": solved, "seconds": self.seconds}

    def to_dict(self, rows: bool = True) -> dict[str, Any]:
        """The axes and (unless ``rows`` is False) every row as plain data."""
        return {"mode": self.mode, "method": self.method, "seconds": self.seconds,
                "points": len(self),
                "axes": [{"path": a.path, "values": a.values.tolist(), "log": a.log}
                         for a in self.axes]} | ({"rows": self.rows()} if rows else {})

    def to_pandas(self) -> Any:
        """The table as a pandas DataFrame: one copy of the columns, no per-row objects."""
        try:
            import pandas  # pyright: ignore[reportMissingTypeStubs]
        except ImportError:
            raise ImportError("Sweep.to_pandas needs pandas, which is not installed: pip "
                              "install pandas (or use .records(), a list of dicts)") from None
        # One copy: pandas gathers the columns into its blocks (a broadcast column too).
        return pandas.DataFrame(dict(self.table))  # pyright: ignore[reportUnknownMemberType]


# ------------------------------------------------------------------------- axes

def parse_axis(spec: str) -> Axis:
    """Parse ``PATH=a:b:log:n``, ``PATH=a:b:n``, ``PATH=a:b:lin:n`` or ``PATH=a,b,c``.

    Raises
    ------
    ScenarioError
        For a malformed spec, an empty or inverted range, a count below 1, or a log
        range that is not positive.
    """
    path, sep, grid = (part.strip() for part in spec.partition("="))
    where = f"--vary {spec!r}"
    if not sep or not path or not grid:
        raise ScenarioError(f"{where}: write PATH=START:STOP:log:COUNT, PATH=START:STOP:COUNT "
                            "or PATH=V1,V2,..., e.g. --vary objective.budget=1e19:1e25:log:50")
    try:
        if ":" not in grid:
            values = np.array([float(v) for v in grid.split(",") if v.strip()])
            if values.size == 0:
                raise ScenarioError(f"{where}: the list is empty")
            return Axis(path, values)
        parts = grid.split(":")
        scale = parts.pop(2).lower() if len(parts) == 4 else "lin"
        if len(parts) != 3 or scale not in ("lin", "log"):
            raise ValueError
        start, stop, count = float(parts[0]), float(parts[1]), float(parts[2])
        if not (math.isfinite(start) and math.isfinite(stop) and count.is_integer()):
            raise ValueError
        count = int(count)  # 1e3 is accepted as a count
    except ValueError:
        raise ScenarioError(f"{where}: cannot read {grid!r}; write START:STOP:log:COUNT, "
                            "START:STOP:COUNT or V1,V2,...") from None
    if count < 1:
        raise ScenarioError(f"{where}: the count must be at least 1")
    options.fits_in_memory(where, count, "points", POINT_BYTES, advice=ADVICE)
    if not start < stop:
        raise ScenarioError(f"{where}: the range is empty or inverted ({start:g} to "
                            f"{stop:g}); give START < STOP")
    if not (math.isfinite(start) and math.isfinite(stop)):
        raise ScenarioError(f"{where}: the range must be finite")
    if scale == "log":
        if start <= 0:
            raise ScenarioError(f"{where}: a log range must be positive")
        return Axis(path, np.geomspace(start, stop, count), log=True)
    return Axis(path, np.linspace(start, stop, count))


POINT_BYTES = 1000
"""Memory per sweep point: the table is about 0.35 kB (measured peak of a 1e6-point
closed-form sweep written to CSV or Parquet, streamed), a general sweep's rows up to
1 kB. JSON and XLSX hold every formatted row: :data:`ROW_BYTES` (docs/limits.md)."""
ROW_BYTES = 4000
"""Memory per point of a sweep written as JSON or XLSX, or printed with ``--json``."""
ADVICE = "use fewer points, or split the grid into several sweeps"


def check_axes(scenario: Scenario, axes: Sequence[Axis]) -> None:
    """Every axis must name a numeric field of this scenario, once."""
    known = numeric_paths(scenario)
    problems = []
    seen = set()
    for axis in axes:
        if axis.path in seen:
            problems.append(f"--vary {axis.path}: given twice")
        seen.add(axis.path)
        if axis.path not in known:
            close = difflib.get_close_matches(axis.path, known, n=3, cutoff=0.6)
            hint = (f"; did you mean {' or '.join(close)}?" if close else
                    f"; numeric fields here: {', '.join(known)}")
            problems.append(f"--vary {axis.path}: not a numeric field of this scenario{hint}")
    if problems:
        raise ScenarioError(problems)


# ------------------------------------------------------------------------ sweep

@guarded
def sweep(scenario: Scenario, axes: Sequence[Axis | str] | str, *, jobs: int = 1,
          tol: float = DEFAULT_TOLERANCE, continuation: bool = True,
          progress: Callable[[int], None] | None = None) -> Sweep:
    """Solve ``scenario`` at every point of the grid the ``axes`` span.

    Parameters
    ----------
    scenario : Scenario
        The base scenario.
    axes : sequence of Axis or str
        The varied inputs, as :class:`Axis` or as ``--vary`` specs that
        :func:`parse_axis` reads (``"objective.budget=1e19:1e25:log:50"``); the grid is
        their Cartesian product (first axis slowest). One spec may be given alone.
    jobs : int
        joblib workers for the general path (-1: every core).
    tol : float
        Certificate tolerance.
    continuation : bool
        On the general path, start each point's Newton polish from the previous
        point's plan before re-solving the compiled GP (see ``solve(warm=...)``);
        False re-solves the GP at every point.
    progress : callable, optional
        Called with the number of points finished since its last call.
    """
    options.expect(scenario, Scenario, "sweep's scenario", options.LOAD)
    if isinstance(axes, str):
        axes = [axes]
    if isinstance(axes, Mapping) or not all(isinstance(a, Axis | str) for a in axes):
        raise TypeError("sweep's axes must be a list of Axis or of specs, e.g. "
                        "['objective.budget=1e19:1e25:log:50'] or "
                        "[parse_axis('objective.budget=1e19:1e25:log:50')]")
    axes = [parse_axis(a) if isinstance(a, str) else a for a in axes]
    if not axes:
        raise ScenarioError("give at least one --vary PATH=...")
    options.fraction("--tol", tol)
    options.jobs(jobs)
    options.fits_in_memory("--vary", math.prod(a.values.size for a in axes), "grid points",
                           POINT_BYTES, advice=ADVICE)
    check_axes(scenario, axes)
    start = time.perf_counter()
    mesh = np.meshgrid(*[a.values for a in axes], indexing="ij")
    inputs = {a.path: m.ravel() for a, m in zip(axes, mesh, strict=True)}
    table, method = solve_many(scenario, inputs, tol=tol, jobs=jobs, progress=progress,
                               continuation=continuation)
    if scenario.downstream is not None:  # the benchmark's error at each point's loss
        with np.errstate(all="ignore"):
            table["error"] = np.asarray(scenario.downstream.varied(inputs).error(
                table["loss"]), float) * np.ones(len(table["loss"]))
    return Sweep(tuple(axes), {**inputs, **table}, Problem.from_scenario(scenario).mode,
                 method, time.perf_counter() - start, scenario)


BAND_POINTS = 24
"""Points of a one-axis sweep at which :func:`bands` finds the epsilon-optimal band."""


def bands(scenario: Scenario, result: Sweep, *, points: int = BAND_POINTS,
          epsilon: float | None = None, jobs: int = 1,
          progress: Callable[[int], None] | None = None) -> dict[str, np.ndarray]:
    """The epsilon-optimal band of N and D along a one-axis sweep (for its plot).

    The band (:func:`optimizer.analysis.findings.band`) takes a few dozen solves per point, so
    it is found at up to ``points`` optimal rows spread evenly over the sweep.

    Returns
    -------
    dict of str to ndarray
        The axis's values at those rows, the optima ``N`` and ``D`` there, and
        ``N_low``, ``N_high``, ``D_low``, ``D_high`` (NaN where the resource is not a
        lever or the band failed).
    """
    if len(result.axes) != 1:
        raise ScenarioError("the epsilon-optimal band is drawn along one varied input; "
                            f"this sweep has {len(result.axes)}")
    options.jobs(jobs)
    from joblib import Parallel, delayed

    path = result.axes[0].path
    optimal = np.flatnonzero(result.solved)
    chosen = optimal[np.unique(np.linspace(0, optimal.size - 1, min(points, optimal.size))
                               .round().astype(int))] if optimal.size else optimal
    base = scenario.model_dump(exclude_unset=True)
    work: Any = Parallel(n_jobs=jobs, return_as="generator")(
        delayed(_band_at)(base, path, float(result.table[path][i]), epsilon) for i in chosen)
    edges: list[list[float]] = []
    for found in work:
        edges.append(found)
        if progress is not None:
            progress(1)
    columns = np.array(edges, dtype=float).reshape(-1, 4).T
    return {path: np.asarray(result.table[path][chosen], dtype=float),
            "N": np.asarray(result.table["N"][chosen], dtype=float),
            "D": np.asarray(result.table["D"][chosen], dtype=float),
            **dict(zip(("N_low", "N_high", "D_low", "D_high"), columns, strict=True))}


def _band_at(base: dict[str, Any], path: str, value: float,
             epsilon: float | None) -> list[float]:
    from optimizer.analysis.findings import band
    from optimizer.solvers.solve import solve

    data = copy.deepcopy(base)
    set_path(data, path, value)
    try:
        ranges = band(solve(parse_scenario(data)), epsilon).ranges
    except OptimizerError:
        return [math.nan] * 4
    return [getattr(ranges.get(r), side, math.nan) for r in ("N", "D")
            for side in ("low", "high")]


def _plain(value: Any) -> Any:
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    return value
