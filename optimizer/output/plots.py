"""Figures, drawn with matplotlib's object API (no global pyplot state) and written atomically.

The file format follows the extension: ``.png``, ``.svg`` or ``.pdf``.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from optimizer.errors import ScenarioError
from optimizer.io.files import write_atomic

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from optimizer.analysis.sensitivity import Sensitivity
    from optimizer.analysis.sweep import Sweep
    from optimizer.analysis.uncertainty import UncertaintyAnalysis
    from optimizer.fitting.fit import Fit

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


def sweep_figure(result: Sweep, band: Mapping[str, np.ndarray] | None = None) -> Figure:
    """One axis: the frontier (L* against the input) and the allocations on log axes.

    With ``band`` (from :func:`optimizer.analysis.sweep.bands`), the epsilon-optimal ranges of N
    and D are shaded around their optima, and a third panel draws them relative to the
    optimum (on the allocation's many decades they are thin). Two axes: a heatmap of L*
    with contours. Points with no optimal plan are gaps.
    """
    from matplotlib.figure import Figure

    table = result.table
    ok = np.asarray(table["status"] == "optimal")
    if len(result.axes) == 1:
        axis = result.axes[0]
        x = table[axis.path]
        figure = Figure(figsize=(11 if band is None else 16, 4.6), layout="constrained")
        panels = figure.subplots(1, 2 if band is None else 3)
        left, right = panels[:2]
        key = "loss" if result.mode == "loss" else "cost"
        left.plot(x[ok], table[key][ok], color="C0")
        left.set(xlabel=axis.path, ylabel=f"optimal {key}",
                 title=f"frontier: optimal {key} against {axis.path}")
        for name, colour in (("N", "C0"), ("D", "C1"), ("C", "C2")):
            right.plot(x[ok], table[name][ok], color=colour, label=f"{name}*")
        right.set(yscale="log", xlabel=axis.path, ylabel="amount",
                  title="optimal allocation")
        if band is not None:
            _band_panels(right, panels[2], band, axis.path)
        right.legend(frameon=False)
        for ax in panels:
            if axis.log:
                ax.set_xscale("log")
        if result.mode == "cost":
            left.set_yscale("log")
        return figure
    figure = Figure(figsize=(11, 4.6), layout="constrained")
    if len(result.axes) != 2:
        raise ScenarioError("--plot draws one or two varied inputs; this sweep has "
                            f"{len(result.axes)}")
    first, second = result.axes
    shape = (first.values.size, second.values.size)
    value = np.where(ok, table["loss"], np.nan).reshape(shape)
    ax = figure.subplots()
    mesh = ax.pcolormesh(second.values, first.values, value, shading="nearest",
                         cmap="viridis")
    if np.isfinite(value).sum() > 3 and min(shape) > 1:
        lines = ax.contour(second.values, first.values, value, colors="white",
                           linewidths=0.8)
        ax.clabel(lines, fontsize=8)
    ax.set(xlabel=second.path, ylabel=first.path, title="optimal loss L*")
    if second.log:
        ax.set_xscale("log")
    if first.log:
        ax.set_yscale("log")
    figure.colorbar(mesh, ax=ax, label="L*")
    return figure


def _band_panels(allocation: Any, relative: Any, band: Mapping[str, np.ndarray],
                 path: str) -> None:
    """Shade the epsilon-optimal ranges on the allocation, and relative to the optimum."""
    x = band[path]
    for name, colour in (("N", "C0"), ("D", "C1")):
        low, high, best = band[f"{name}_low"], band[f"{name}_high"], band[name]
        shown = np.isfinite(low) & np.isfinite(high)
        if not shown.any():
            continue
        label = f"{name} within the ε band"
        allocation.fill_between(x[shown], low[shown], high[shown], color=colour, alpha=0.25,
                                lw=0, label=label)
        relative.fill_between(x[shown], (low / best)[shown], (high / best)[shown],
                              color=colour, alpha=0.3, lw=0, label=label)
        relative.plot(x[shown], (low / best)[shown], color=colour, lw=1)
        relative.plot(x[shown], (high / best)[shown], color=colour, lw=1)
    relative.axhline(1, color="0.3", lw=1)
    relative.set(yscale="log", xlabel=path, ylabel="amount / optimum",
                 title="near-optimal range (loss within ε of L* - E)")
    relative.legend(frameon=False)


def tornado(result: Sensitivity, output: str = "loss", top: int = 15) -> Figure:
    """Horizontal bars of d log ``output`` / d log input, largest magnitude on top."""
    from matplotlib.figure import Figure

    ranked = [(p, e) for p, e in result.ranked(output) if np.isfinite(e)][:top][::-1]
    figure = Figure(figsize=(8, 0.35 * len(ranked) + 1.5), layout="constrained")
    ax = figure.subplots()
    names = [p for p, _ in ranked]
    values = [e for _, e in ranked]
    ax.barh(names, values, color=["C3" if v > 0 else "C0" for v in values])
    ax.axvline(0, color="0.3", lw=1)
    ax.set(xlabel=f"elasticity: d log {output}* / d log input",
           title=f"{result.plan.scenario.name}: what moves the optimal {output} most")
    return figure


def uncertainty_figure(result: UncertaintyAnalysis) -> Figure:
    """Histograms of N*, D* and L* (or cost) over the samples, and of the regret."""
    from matplotlib.figure import Figure

    ok = result.solved
    nominal = result.nominal
    figure = Figure(figsize=(13, 3.6), layout="constrained")
    panels = figure.subplots(1, 4)
    key = "loss" if nominal.mode == "loss" else "cost"
    point = {"N": nominal.allocation["N"], "D": nominal.allocation["D"],
             "loss": nominal.loss, "cost": nominal.cost}
    for ax, name in zip(panels[:3], ("N", "D", key), strict=True):
        values = result.table[name][ok]
        logs = name in ("N", "D", "cost")
        ax.hist(np.log10(values) if logs else values, bins=40, color="C0", alpha=0.8)
        ax.axvline(np.log10(point[name]) if logs else point[name], color="C3",
                   label="point estimate")
        ax.set(xlabel=f"log10 {name}*" if logs else f"{name}*", ylabel="samples")
    panels[0].legend(frameon=False)
    committed = result.table[f"committed_{key}"][ok] - result.table[key][ok]
    panels[3].hist(np.maximum(committed, 0), bins=40, color="C1")
    panels[3].set(xlabel=f"extra {key} of the point-estimate plan", ylabel="samples",
                  title="regret")
    figure.suptitle(f"{nominal.scenario.name}: {int(ok.sum())} samples ({result.source})")
    return figure
