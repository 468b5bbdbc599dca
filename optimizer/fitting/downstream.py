r"""Fit a downstream mapping (loss -> benchmark error) to a lab's own (loss, score) pairs.

The same care as a loss fit (:mod:`optimizer.fitting.fit`):

* **Huber loss on log residuals**, :math:`\log \widehat{\mathrm{Err}} - \log \mathrm{Err}`,
  so one odd evaluation does not drag the curve (threshold :data:`DELTA`: benchmark
  averages are noisier than losses, by about 1%).
* **Starts from variable projection.** Each mapping is linear in some of its constants
  once the others are fixed (:math:`\epsilon, k` for the exponential at fixed
  :math:`\gamma`; the two accuracy levels for the sigmoid at a fixed midpoint and
  steepness). Over a grid of the others, least squares gives the rest exactly; the best
  grid points, :data:`STARTS` of them, start scipy's ``least_squares`` with its Huber
  loss and the analytic Jacobian.
* **Refusal of degenerate fits**: fewer pairs than constants plus one, a constant at its
  bound, or a mapping the pairs do not rise along.
* **Bootstrap**: refits to resampled pairs give percentile intervals of every constant.

Pairs come from a CSV file with a ``loss`` column and an ``error`` (or ``accuracy``)
column; :func:`read_pairs` checks every cell as :func:`~optimizer.fitting.runs.read_runs`
does.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from optimizer import options
from optimizer.errors import ScenarioError
from optimizer.fitting.fit import Bootstrap, FitError, huber
from optimizer.fitting.fitted import fit_record
from optimizer.fitting.runs import ALIASES as RUN_ALIASES
from optimizer.fitting.runs import read_columns
from optimizer.model.downstream import MAPPINGS, ExponentialMapping, Mapping, SigmoidMapping
from optimizer.model.provenance import FitData, Span
from optimizer.model.scenario import Scenario, parse_scenario, read_mapping
from optimizer.solvers.solve import Plan, solve

DELTA = 1e-2
"""Huber threshold on log residuals of the error (about 1%: a benchmark average's noise)."""
STARTS = 4
"""Grid points that start the Huber fit."""
GRID = 60
"""Grid points per nonlinear constant."""

PAIR_ALIASES: dict[str, tuple[str, ...]] = {
    "loss": RUN_ALIASES["loss"],
    "error": ("error", "err", "top-1 error", "top1_error", "top-1 err", "err_avg"),
    "accuracy": ("accuracy", "acc", "score", "top-1 accuracy", "top1_accuracy"),
}
"""Header names recognised without a ``--*-column`` option (case-insensitively)."""


@dataclass(frozen=True)
class Pairs:
    """(loss, error) pairs, one per evaluated model, in file order."""

    loss: np.ndarray
    error: np.ndarray
    """Top-1 error, from an error column or as one minus an accuracy column."""
    lines: np.ndarray
    path: str = ""
    sha256: str = ""
    columns: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.loss.size)

    def take(self, index: np.ndarray) -> Pairs:
        """The pairs at ``index`` (a resample)."""
        return Pairs(self.loss[index], self.error[index], self.lines[index], self.path,
                     self.sha256, self.columns)


def read_pairs(path: str, columns: dict[str, str] | None = None) -> Pairs:
    """Read (loss, error or accuracy) pairs from a CSV file with a header row.

    Raises
    ------
    ScenarioError
        Every problem at once: a missing column, both error and accuracy columns, a
        bad cell (missing, not a number, not positive), or a score above 1.
    """
    table = read_columns(path, tuple(PAIR_ALIASES), PAIR_ALIASES, columns or {},
                         needs=(("loss",), ("error", "accuracy")), what="pair")
    arrays = table.arrays
    if "error" in arrays and "accuracy" in arrays:
        raise ScenarioError(f"both an error column ({table.used['error']!r}) and an "
                            f"accuracy column ({table.used['accuracy']!r}); name the one "
                            "to fit with --error-column or --accuracy-column", path)
    key = "error" if "error" in arrays else "accuracy"
    score = arrays[key]
    over = np.flatnonzero(score >= 1)
    if over.size:
        listed = ", ".join(str(table.lines[i]) for i in over[:12])
        raise ScenarioError(f"{key} ({table.used[key]!r}) must be below 1 (a share, not a "
                            f"percentage): lines {listed}", path)
    error = score if key == "error" else 1 - score
    return Pairs(arrays["loss"], error, table.lines, path, table.sha256, table.used)


# ------------------------------------------------------------------------------ forms

class Form(ABC):
    """A mapping's constants as a vector theta: prediction, Jacobian, starts, bounds."""

    names: ClassVar[tuple[str, ...]]
    lower: ClassVar[tuple[float, ...]]
    upper: ClassVar[tuple[float, ...]]

    @abstractmethod
    def predict(self, theta: np.ndarray, loss: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Predicted error (n,) and its Jacobian in theta (n, p)."""

    @abstractmethod
    def grid(self, pairs: Pairs) -> list[np.ndarray]:
        """Thetas on a grid of the nonlinear constants, the linear ones solved exactly."""

    @abstractmethod
    def mapping(self, theta: np.ndarray) -> Mapping:
        """The scenario's mapping at ``theta``."""


class Exponential(Form):
    r""":math:`\epsilon - k e^{-\gamma L}`: linear in (epsilon, k) at fixed gamma."""

    names = ("epsilon", "k", "gamma")
    lower = (1e-9, 1e-9, 1e-6)
    upper = (math.inf, math.inf, 100.0)

    def predict(self, theta, loss):  # noqa: D102
        epsilon, k, gamma = theta
        decay = np.exp(-gamma * loss)
        jac = np.stack([np.ones_like(loss), -decay, k * loss * decay], axis=1)
        return epsilon - k * decay, jac

    def grid(self, pairs):  # noqa: D102
        out = []
        for gamma in np.geomspace(1e-2, 20.0, GRID):
            basis = np.stack([np.ones_like(pairs.loss), -np.exp(-gamma * pairs.loss)], axis=1)
            (epsilon, k), *_ = np.linalg.lstsq(basis, pairs.error, rcond=None)
            if epsilon > 0 and k > 0:
                out.append(np.array([epsilon, k, gamma]))
        return out

    def mapping(self, theta):  # noqa: D102
        return ExponentialMapping(form="exponential", epsilon=float(theta[0]),
                                  k=float(theta[1]), gamma=float(theta[2]))


class Sigmoid(Form):
    """Accuracy from ``low`` to ``high``: linear in (low, high) at fixed midpoint, steepness."""

    names = ("low", "high", "midpoint", "steepness")
    lower = (0.0, 0.0, 1e-6, 1e-6)
    upper = (1.0, 1.0, math.inf, 1e3)

    @staticmethod
    def _share(theta: np.ndarray, loss: np.ndarray) -> np.ndarray:
        """1 / (1 + exp(s (L - m))), the share of the way from low to high."""
        return 0.5 * (1 - np.tanh(0.5 * theta[3] * (loss - theta[2])))

    def predict(self, theta, loss):  # noqa: D102
        low, high, midpoint, steepness = theta
        share = self._share(theta, loss)
        bend = share * (1 - share)
        jac = np.stack([-(1 - share), -share, -(high - low) * steepness * bend,
                        (high - low) * (loss - midpoint) * bend], axis=1)
        return 1 - low - (high - low) * share, jac

    def grid(self, pairs):  # noqa: D102
        out = []
        low_loss, high_loss = float(pairs.loss.min()), float(pairs.loss.max())
        span = max(high_loss - low_loss, 1e-3)
        for midpoint in np.linspace(low_loss - span, high_loss + span, GRID // 2):
            for steepness in np.geomspace(0.1 / span, 100 / span, GRID // 2):
                share = self._share(np.array([0, 0, midpoint, steepness]), pairs.loss)
                basis = np.stack([1 - share, share], axis=1)
                (low, high), *_ = np.linalg.lstsq(basis, 1 - pairs.error, rcond=None)
                if 0 <= low < high <= 1:
                    out.append(np.array([low, high, midpoint, steepness]))
        return out

    def mapping(self, theta):  # noqa: D102
        return SigmoidMapping(form="sigmoid", low=float(theta[0]), high=float(theta[1]),
                              midpoint=float(theta[2]), steepness=float(theta[3]))


FORMS: dict[str, Form] = {"exponential": Exponential(), "sigmoid": Sigmoid()}
assert set(FORMS) == set(MAPPINGS), "every mapping a scenario can name can be fitted"


# ---------------------------------------------------------------------------- fitting

@dataclass(frozen=True)
class MappingFit:
    """A fitted mapping and what the fit says about itself."""

    form: str
    pairs: Pairs = field(repr=False)
    theta: np.ndarray = field(repr=False)
    delta: float
    objective: float
    """Sum of Huber losses of the log residuals."""
    residuals: np.ndarray = field(repr=False)
    """log(predicted) - log(observed) error, per pair."""
    starts: int
    agreeing: int
    """Starts that reached the best objective (within 1e-7 of it, relative)."""

    @property
    def mapping(self) -> Mapping:
        """The fitted mapping, as a scenario's ``downstream`` block holds it."""
        return FORMS[self.form].mapping(self.theta)

    @property
    def values(self) -> dict[str, float]:
        """The fitted constants by name."""
        return dict(zip(FORMS[self.form].names, map(float, self.theta), strict=True))

    def quality(self) -> dict[str, float | int]:
        """Goodness of fit on log error: Huber, RMSE, largest residual and its line."""
        r = self.residuals
        worst = int(np.argmax(np.abs(r)))
        return {"points": len(self.pairs), "huber": float(huber(r, self.delta).mean()),
                "rmse_log": float(np.sqrt(np.mean(r**2))),
                "max_abs_log_residual": float(abs(r[worst])),
                "worst_line": int(self.pairs.lines[worst])}


def fit_mapping(pairs: Pairs, form: str, *, delta: float = DELTA) -> MappingFit:
    """Fit the ``form`` mapping to ``pairs`` by Huber loss on log residuals.

    Raises
    ------
    FitError
        Too few pairs, no grid point that fits, or a constant at its bound.
    """
    if form not in FORMS:
        raise ScenarioError(f"--downstream {form!r}: use one of {', '.join(FORMS)}")
    shape = FORMS[form]
    p = len(shape.names)
    distinct = np.unique(pairs.loss).size
    if distinct <= p:
        raise FitError(f"the {form} mapping has {p} constants and needs pairs at more than "
                       f"{p} distinct losses; the file has {distinct}", pairs.path)
    candidates = shape.grid(pairs)
    if not candidates:
        raise FitError(f"no {form} mapping rises through these pairs: the error should fall "
                       "as the loss falls", pairs.path)
    scores = [_objective(shape, theta, pairs, delta) for theta in candidates]
    order = np.argsort(scores)[:STARTS]
    found = [_polish(shape, candidates[i], pairs, delta) for i in order]
    objectives = [_objective(shape, theta, pairs, delta) for theta in found]
    best = int(np.argmin(objectives))
    theta = found[best]
    agreeing = sum(o <= objectives[best] * (1 + 1e-7) + 1e-12 for o in objectives)
    problems = _degenerate(shape, theta)
    if problems:
        raise FitError([f"the {form} fit is degenerate: {p}" for p in problems]
                       + ["try pairs over a wider range of losses, or the other mapping"],
                       pairs.path)
    predicted, _ = shape.predict(theta, pairs.loss)
    return MappingFit(form, pairs, theta, delta, objectives[best],
                      np.log(predicted) - np.log(pairs.error), len(found), agreeing)


def _objective(shape: Form, theta: np.ndarray, pairs: Pairs, delta: float) -> float:
    predicted, _ = shape.predict(theta, pairs.loss)
    if not np.all(predicted > 0):
        return math.inf
    return float(huber(np.log(predicted) - np.log(pairs.error), delta).sum())


def _polish(shape: Form, start: np.ndarray, pairs: Pairs, delta: float) -> np.ndarray:
    """Huber least squares on log residuals from ``start`` (scipy's ``least_squares``)."""
    from scipy.optimize import least_squares

    floor = 1e-12  # keeps the log finite where a trial step predicts no error

    def residuals(theta: np.ndarray) -> np.ndarray:
        predicted, _ = shape.predict(theta, pairs.loss)
        return np.log(np.maximum(predicted, floor)) - np.log(pairs.error)

    def jacobian(theta: np.ndarray) -> np.ndarray:
        predicted, jac = shape.predict(theta, pairs.loss)
        return jac / np.maximum(predicted, floor)[:, None]

    lower, upper = np.array(shape.lower), np.array(shape.upper)
    start = np.clip(start, lower + 1e-12, np.where(np.isfinite(upper), upper - 1e-12, upper))
    found = least_squares(residuals, start, jac=jacobian,  # type: ignore[arg-type]
                          bounds=(lower, upper),
                          loss="huber", f_scale=delta, x_scale="jac", xtol=1e-14,
                          ftol=1e-14, gtol=1e-14, max_nfev=2000)
    return np.asarray(found.x, dtype=float)


def _degenerate(shape: Form, theta: np.ndarray) -> list[str]:
    """Constants that ended at a bound: the pairs do not determine them."""
    out = []
    for name, value, low, high in zip(shape.names, theta, shape.lower, shape.upper,
                                      strict=True):
        if value <= low * (1 + 1e-6) + 1e-12 and low > 0:
            out.append(f"{name} ended at its lower bound {low:g}")
        elif math.isfinite(high) and value >= high * (1 - 1e-9) and high != 1.0:
            out.append(f"{name} ended at its upper bound {high:g}")
    if isinstance(shape, Sigmoid) and not theta[0] < theta[1]:
        out.append("the accuracy's low and high levels met")
    return out


def bootstrap_mapping(result: MappingFit, count: int, *, seed: int = 0,
                      progress: Any = None) -> Bootstrap:
    """Refit the mapping to ``count`` resamples of the pairs (numpy's default generator).

    Each refit starts from the fit to every pair and is kept when it is not degenerate;
    a resample with too few distinct losses is skipped. ``progress`` is called with the
    number of refits done since its last call.
    """
    shape = FORMS[result.form]
    pairs = result.pairs
    rng = np.random.default_rng(seed)
    kept, degenerate = [], 0
    for _ in range(count):
        sample = pairs.take(rng.integers(0, len(pairs), len(pairs)))
        if np.unique(sample.loss).size > len(shape.names):
            theta = _polish(shape, result.theta, sample, result.delta)
            if np.isfinite(_objective(shape, theta, sample, result.delta)) and not (
                    _degenerate(shape, theta)):
                kept.append(theta)
                if progress is not None:
                    progress(1)
                continue
        degenerate += 1
        if progress is not None:
            progress(1)
    samples = np.array(kept, dtype=float).reshape(-1, len(shape.names))
    return Bootstrap(shape.names, samples, count, degenerate, seed)


# ------------------------------------------------------------------------ the job

@dataclass(frozen=True)
class DownstreamOutcome:
    """What ``optimizer fit --downstream`` made: the fit, its bootstrap, and the scenario."""

    fit: MappingFit
    bootstrap: Bootstrap | None
    level: float
    scenario: Scenario | None
    """The base scenario with the fitted ``downstream`` block (None without a base)."""
    plan: Plan | None
    """The base scenario's plan with the mapping in place (None without a base)."""

    def to_dict(self) -> dict[str, Any]:
        """The fitted constants, their intervals and the fit's quality, as plain data."""
        boot = self.bootstrap
        return {"form": self.fit.form, "benchmark": self.fit.mapping.benchmark,
                "values": self.fit.values, "quality": self.fit.quality(),
                "starts": self.fit.starts, "starts_agreeing": self.fit.agreeing,
                "bootstrap": None if boot is None else {
                    "count": boot.count, "usable": len(boot.samples), "seed": boot.seed,
                    "level": self.level, "intervals": {
                        k: list(v) for k, v in boot.interval(self.level).items()}}}


def fit_downstream(path: str, form: str, *, base: str | None = None,
                   columns: dict[str, str] | None = None, delta: float = DELTA,
                   samples: int = 1000, seed: int = 0, level: float = 0.95,
                   benchmark: str | None = None, progress: Any = None) -> DownstreamOutcome:
    """Fit the ``form`` mapping to the pairs in ``path``, and bootstrap it.

    With ``base`` the mapping goes into that scenario (whose law stays), with its
    provenance in the mapping's own ``fit`` block, and the scenario is solved.
    """
    options.count("--bootstrap", samples, what=" (0 skips it)")
    options.fraction("--level", level, example="0.95")
    if not (math.isfinite(delta) and delta > 0):
        raise ScenarioError(f"--delta {delta}: the Huber threshold must be positive")
    pairs = read_pairs(path, columns)
    result = fit_mapping(pairs, form, delta=delta)
    boot = None
    if samples:
        boot = bootstrap_mapping(result, samples, seed=seed, progress=progress(
            "bootstrap refits", samples) if progress else None)
    if base is None:
        return DownstreamOutcome(result, boot, level, None, None)
    record = fit_record(
        FitData(file=str(path), sha256=pairs.sha256, points=len(pairs), columns=pairs.columns,
                range={"loss": Span(low=float(pairs.loss.min()), high=float(pairs.loss.max()))}),
        "huber", {"downstream": form, "delta": delta, "starts": result.starts,
                  "starts_agreeing": result.agreeing},
        result.quality(), boot, level)
    data = read_mapping(base)
    mapping = result.mapping.model_dump(mode="json", exclude_defaults=True)
    kept = (data.get("downstream") or {}).get("benchmark")
    if benchmark or kept:
        mapping["benchmark"] = benchmark or kept
    data["downstream"] = {**mapping, "fit": record.model_dump(mode="json",
                                                              exclude_defaults=True)}
    scenario = parse_scenario(data, base)
    return DownstreamOutcome(result, boot, level, scenario, solve(scenario))
