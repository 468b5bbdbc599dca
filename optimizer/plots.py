"""Figures, drawn with matplotlib's object API (no global pyplot state) and written atomically.

The file format follows the extension: ``.png``, ``.svg`` or ``.pdf``.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import ScenarioError
from .scenario import write_atomic

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .fit import Fit

FORMATS = (".png", ".svg", ".pdf")


def check_path(path: str | Path, option: str = "--plot") -> Path:
    """Reject an unknown image format before any work is done."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise ScenarioError(f"{option} {str(path)!r}: use a file ending in "
                            f"{', '.join(FORMATS)}")
    return path


def save(figure: Figure, path: str | Path) -> Path:
    """Render ``figure`` in the format of ``path``'s extension and write it atomically."""
    path = check_path(path)
    buffer = io.BytesIO()
    figure.savefig(buffer, format=path.suffix.lower().lstrip("."), dpi=150,
                   bbox_inches="tight")
    write_atomic(path, buffer.getvalue())
    return path


def fit_diagnostics(result: Fit) -> Figure:
    """Predicted against observed loss, and log residuals against training compute.

    Points are coloured by log10 C; the worst-fitted run is labelled with its line.
    """
    from matplotlib.figure import Figure

    runs = result.runs
    observed = runs.loss
    predicted = observed * np.exp(result.residuals)
    colour = np.log10(runs.C)
    figure = Figure(figsize=(11, 4.6), layout="constrained")
    left, right = figure.subplots(1, 2)
    dots = left.scatter(observed, predicted, c=colour, s=14, cmap="viridis")
    span = [min(observed.min(), predicted.min()), max(observed.max(), predicted.max())]
    left.plot(span, span, color="0.3", lw=1, ls="--", label="predicted = observed")
    left.set(xlabel="observed loss", ylabel="predicted loss",
             title=f"{result.law.form} fit to {len(runs)} runs")
    left.legend(loc="upper left", frameon=False)
    right.scatter(runs.C, result.residuals, c=colour, s=14, cmap="viridis")
    right.axhline(0, color="0.3", lw=1)
    if result.method == "huber":
        right.axhspan(-result.delta, result.delta, color="0.85", zorder=0,
                      label=f"Huber delta = {result.delta:g}")
        right.legend(loc="upper right", frameon=False)
    worst = int(np.argmax(np.abs(result.residuals)))
    right.annotate(f"line {runs.lines[worst]}", (runs.C[worst], result.residuals[worst]),
                   textcoords="offset points", xytext=(6, 4), fontsize=8)
    quality = result.quality()
    right.set(xscale="log", xlabel="training compute C (FLOPs)",
              ylabel="log(predicted) - log(observed)",
              title=f"residuals: RMSE {quality['rmse_log']:.3g}, "
                    f"R² {quality['r2_log']:.4f} (log loss)")
    figure.colorbar(dots, ax=[left, right], label="log10 C", shrink=0.9)
    return figure
