"""Provenance of fitted numbers: the data, the method, the quality and the uncertainty.

``optimizer fit`` writes a :class:`FitRecord` beside what it fitted: the law (the
scenario's ``fit`` block) or a downstream mapping (its own ``fit`` block).
"""

from __future__ import annotations

from optimizer.model.fields import Positive, StrictModel


class Span(StrictModel):
    """A closed range of numbers."""

    low: float
    """Lower end."""
    high: float
    """Upper end."""


class FitData(StrictModel):
    """The data fitted: training runs (a law), or (loss, score) pairs (a mapping)."""

    file: str
    """The runs file, as given to ``optimizer fit``."""
    sha256: str
    """SHA-256 of the file's bytes: edit the file and the record no longer matches."""
    points: int
    """Runs (or pairs) fitted, after any dropped."""
    dropped_lines: list[int] = []
    """Lines of the file left out on purpose (``--drop-highest-loss``)."""
    columns: dict[str, str] = {}
    """Quantity (N, D, C, loss; or loss, error) -> the column it was read from; absent
    ones were derived."""
    flops_per_param_token: Positive = 6.0
    """k in C = k N D, used to derive D from C (or C from D)."""
    range: dict[str, Span] = {}
    """Smallest and largest N, D and C among the runs (the loss, for a mapping): the
    fit holds inside these."""


class FitBootstrap(StrictModel):
    """Refits to resampled runs: the fit's uncertainty."""

    count: int
    """Resamples drawn."""
    usable: int
    """Refits kept (the others ended degenerate)."""
    seed: int
    """Seed of numpy's default generator that drew the resamples."""
    level: float
    """Confidence level of the intervals."""
    samples: str = ""
    """CSV of the usable refits, one row each, in the scenario's folder (for the
    uncertainty analysis); empty if none was written."""
    standard_errors: dict[str, float] = {}
    """Bootstrap standard deviation of each fitted field."""
    intervals: dict[str, Span] = {}
    """Percentile interval of each fitted field."""
    plan: dict[str, Span] = {}
    """Percentile intervals of the optimal plan's N, D, C, loss and cost under the
    refitted laws, for the objective this scenario had when it was fitted."""
    plan_failures: int = 0
    """Refits under which no optimal plan exists (e.g. a target below their floor)."""


class FitRecord(StrictModel):
    """Provenance of a law written by ``optimizer fit``."""

    date: str
    """When the fit was made (ISO 8601)."""
    tool: str
    """The program and version that made it."""
    data: FitData
    """The runs."""
    method: str
    """``huber`` (Huber loss on log residuals) or ``ols`` (least squares, log-log)."""
    options: dict[str, float | int | str | bool] = {}
    """The fit's options: Huber delta, starts, law options."""
    quality: dict[str, float | int] = {}
    """Goodness of fit on log loss: points, mean Huber, RMSE, largest residual (and its
    line), R^2."""
    bootstrap: FitBootstrap | None = None
    """The fit's uncertainty, when bootstrapped."""
