"""Figures, drawn with matplotlib's object API (no global pyplot state) and written atomically.

The file format follows the extension: ``.png``, ``.svg`` or ``.pdf``. Every axis names
its unit (:func:`optimizer.model.units.unit`): parameters, tokens, FLOPs, nats per token,
or the budget's own unit. Log axes that span less than a decade or two get plain-number
ticks (1, 2, 5 per decade); legends sit outside the plotting area, so they never cover
data; heatmap cells are centred on their sample points on log axes too.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from optimizer.errors import ScenarioError
from optimizer.io.files import write_atomic
from optimizer.model.units import LOSS, currency, label, unit

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from optimizer.analysis.sensitivity import Sensitivity
    from optimizer.analysis.sweep import Sweep
    from optimizer.analysis.uncertainty import UncertaintyAnalysis
    from optimizer.fitting.downstream import DownstreamOutcome
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


def mapping_figure(outcome: DownstreamOutcome) -> Figure:
    """The (loss, error) pairs and the fitted mapping, with its bootstrap band."""
    from matplotlib.figure import Figure

    from optimizer.fitting.downstream import FORMS

    result = outcome.fit
    pairs = result.pairs
    figure = Figure(figsize=(7.5, 4.6), layout="constrained")
    ax = figure.subplots()
    span = float(np.ptp(pairs.loss)) or 0.5
    grid = np.linspace(pairs.loss.min() - 0.3 * span, pairs.loss.max() + 0.3 * span, 200)
    boot = outcome.bootstrap
    if boot is not None and len(boot.samples) > 1:
        shape = FORMS[result.form]
        curves = np.array([shape.predict(theta, grid)[0] for theta in boot.samples])
        tail = 50 * (1 - outcome.level)
        ax.fill_between(grid, np.percentile(curves, tail, axis=0),
                        np.percentile(curves, 100 - tail, axis=0), color="C0", alpha=0.2,
                        label=f"{outcome.level:.0%} bootstrap band")
    ax.plot(grid, result.mapping.error(grid), color="C0", label=f"fitted {result.form}")
    ax.scatter(pairs.loss, pairs.error, color="0.2", s=16, zorder=3, label="pairs")
    ax.set(xlabel=f"loss ({LOSS})", ylabel="error (fraction of questions)",
           title=f"{result.mapping.benchmark}: error against loss")
    _legend_outside(ax)
    return figure


def fit_diagnostics(result: Fit) -> Figure:
    """Predicted against observed loss, and log residuals against training compute.

    Points are coloured by log10 C; the worst-fitted run is labelled with its line.
    """
    from matplotlib.figure import Figure

    runs = result.runs
    observed = runs.loss
    predicted = observed * np.exp(result.residuals)
    colour = np.log10(runs.C)
    figure = Figure(figsize=(12, 4.6), layout="constrained")
    left, right = figure.subplots(1, 2)
    dots = left.scatter(observed, predicted, c=colour, s=14, cmap="viridis")
    span = [min(observed.min(), predicted.min()), max(observed.max(), predicted.max())]
    left.plot(span, span, color="0.3", lw=1, ls="--", label="predicted = observed")
    left.set(xlabel=f"observed loss ({LOSS})", ylabel=f"predicted loss ({LOSS})",
             title=f"{result.law.form} fit to {len(runs)} runs")
    _legend_outside(left)
    right.scatter(runs.C, result.residuals, c=colour, s=14, cmap="viridis")
    right.axhline(0, color="0.3", lw=1)
    if result.method == "huber":
        right.axhspan(-result.delta, result.delta, color="0.85", zorder=0,
                      label=f"Huber delta = {result.delta:g}")
        _legend_outside(right)
    worst = int(np.argmax(np.abs(result.residuals)))
    right.annotate(f"line {runs.lines[worst]}", (runs.C[worst], result.residuals[worst]),
                   textcoords="offset points", xytext=(6, 4), fontsize=8)
    quality = result.quality()
    right.set(xscale="log", xlabel="training compute C (FLOPs)",
              ylabel="log(predicted / observed) (nats)",
              title=f"residuals: RMSE {quality['rmse_log']:.3g}, "
                    f"R² {quality['r2_log']:.4f} (log loss)")
    _readable_log(right.xaxis)
    figure.colorbar(dots, ax=[left, right], label="log10 C (FLOPs)", shrink=0.9)
    return figure


AMOUNTS = (("N", "C0"), ("D", "C1"), ("C", "C2"))
"""Each resource and its colour, the same in every figure."""


def sweep_figure(result: Sweep, band: Mapping[str, np.ndarray] | None = None) -> Figure:
    """One axis: the frontier (L* against the input) and the allocations on log axes.

    With ``band`` (from :func:`optimizer.analysis.sweep.bands`), the epsilon-optimal ranges
    of N and D are shaded around their optima (N filled, D hatched, so they stay apart
    where they overlap), and a third panel draws them relative to the optimum (on the
    allocation's many decades they are thin). Two axes: a heatmap of L* with contours.
    Points with no optimal plan are gaps.
    """
    from matplotlib.figure import Figure

    table = result.table
    scenario = result.scenario
    ok = result.solved
    if len(result.axes) == 1:
        axis = result.axes[0]
        x = table[axis.path]
        figure = Figure(figsize=(12 if band is None else 17, 4.6), layout="constrained")
        panels = figure.subplots(1, 2 if band is None else 3)
        left, right = panels[:2]
        if scenario.law.predicts_loss:
            key = "loss" if result.mode == "loss" else "cost"
            left.plot(x[ok], table[key][ok], color="0.2")
            left.set(xlabel=label(scenario, axis.path),
                     ylabel=f"optimal {key} ({unit(scenario, key)})",
                     title=f"frontier: optimal {key} against {axis.path}")
        else:  # an allocation law: no loss to draw, but the split it states
            left.plot(x[ok], table["D"][ok] / table["N"][ok], color="0.2")
            left.set(xlabel=label(scenario, axis.path),
                     ylabel="D*/N* (tokens per parameter)",
                     title=f"optimal split against {axis.path}")
        for name, colour in AMOUNTS:
            right.plot(x[ok], table[name][ok], color=colour,
                       label=f"{name}* ({unit(scenario, name)})")
        right.set(yscale="log", xlabel=label(scenario, axis.path),
                  ylabel="optimal amount (parameters, tokens, FLOPs)",
                  title="optimal allocation")
        if band is not None:
            _band_panels(right, panels[2], band, axis.path, label(scenario, axis.path))
        _legend_outside(right)
        for ax in panels:
            if axis.log:
                ax.set_xscale("log")
                _readable_log(ax.xaxis)
        _readable_log(right.yaxis)
        if result.mode == "cost":
            left.set_yscale("log")
            _readable_log(left.yaxis)
        return figure
    figure = Figure(figsize=(11, 4.6), layout="constrained")
    if len(result.axes) != 2:
        raise ScenarioError("--plot draws one or two varied inputs; this sweep has "
                            f"{len(result.axes)}")
    first, second = result.axes
    shape = (first.values.size, second.values.size)
    shown = "loss" if scenario.law.predicts_loss else "N"  # an allocation law has no loss
    value = np.where(ok, table[shown], np.nan).reshape(shape)
    ax = figure.subplots()
    mesh = ax.pcolormesh(cell_edges(second.values, second.log),
                         cell_edges(first.values, first.log), value, shading="flat",
                         cmap="viridis")
    if np.isfinite(value).sum() > 3 and min(shape) > 1:
        lines = ax.contour(second.values, first.values, value, colors="white",
                           linewidths=0.8)
        ax.clabel(lines, fontsize=8)
    ax.set(xlabel=label(scenario, second.path), ylabel=label(scenario, first.path),
           title="optimal loss L*" if shown == "loss" else "optimal parameters N*")
    if second.log:
        ax.set_xscale("log")
        _readable_log(ax.xaxis)
    if first.log:
        ax.set_yscale("log")
        _readable_log(ax.yaxis)
    figure.colorbar(mesh, ax=ax, label=f"L* ({LOSS})" if shown == "loss"
                    else f"N* ({unit(scenario, 'N')})")
    return figure


def cell_edges(values: np.ndarray, log: bool) -> np.ndarray:
    """Edges of cells centred on ``values``: geometric midpoints on a log axis.

    A lone value gets a cell of a factor of 10 (log) or of 10% of itself either side.
    """
    v = np.log(values) if log else np.asarray(values, dtype=float)
    if v.size == 1:
        half = 0.5 * math.log(10) if log else 0.1 * max(abs(v[0]), 1e-300)
        edges = np.array([v[0] - half, v[0] + half])
    else:
        middle = (v[1:] + v[:-1]) / 2
        edges = np.concatenate([[2 * v[0] - middle[0]], middle, [2 * v[-1] - middle[-1]]])
    return np.exp(edges) if log else edges


def _band_panels(allocation: Any, relative: Any, band: Mapping[str, np.ndarray],
                 path: str, xlabel: str) -> None:
    """Shade the epsilon-optimal ranges on the allocation, and relative to the optimum.

    N's range is filled and edged with solid lines, D's hatched and edged with dashed
    ones, so both stay readable where they overlap. The relative panel is linear, in
    percent of the optimum; the legend gives each range's widest reach.
    """
    from matplotlib.ticker import PercentFormatter

    x = band[path]
    styles = {"N": {"alpha": 0.25, "lw": 0}, "D": {"hatch": "///", "facecolor": "none",
                                                    "lw": 0}}
    for (name, colour), edge in zip(AMOUNTS[:2], ("-", "--"), strict=True):
        low, high, best = band[f"{name}_low"], band[f"{name}_high"], band[name]
        shown = np.isfinite(low) & np.isfinite(high)
        if not shown.any():
            continue
        style = {**styles[name], ("edgecolor" if name == "D" else "color"): colour}
        ratio_low, ratio_high = (low / best)[shown], (high / best)[shown]
        text = (f"{name} within the ε band (×{np.min(ratio_low):.2f} to "
                f"×{np.max(ratio_high):.2f})")
        allocation.fill_between(x[shown], low[shown], high[shown], label=text, **style)
        relative.fill_between(x[shown], ratio_low, ratio_high, label=text, **style)
        for edge_values in (ratio_low, ratio_high):
            relative.plot(x[shown], edge_values, color=colour, lw=1, ls=edge)
    relative.axhline(1, color="0.3", lw=1)
    relative.yaxis.set_major_formatter(PercentFormatter(1.0))
    relative.set(xlabel=xlabel, ylabel="amount relative to the optimum (%)",
                 title="near-optimal range (loss within ε of L* - E)")
    relative.margins(y=0.12)
    _legend_outside(relative)


def tornado(result: Sensitivity, output: str | None = None, top: int = 15) -> Figure:
    """Horizontal bars of d log ``output`` / d log input, largest magnitude on top.

    ``output`` defaults to the loss (N* under a law that predicts none).

    Each input's name carries its unit; an elasticity itself has none (a percent
    change per percent change).
    """
    from matplotlib.figure import Figure

    scenario = result.plan.scenario
    output = output or result.main
    ranked = [(p, e) for p, e in result.ranked(output) if np.isfinite(e)][:top][::-1]
    figure = Figure(figsize=(9, 0.35 * len(ranked) + 1.6), layout="constrained")
    ax = figure.subplots()
    names = [label(scenario, p) for p, _ in ranked]
    values = [e for _, e in ranked]
    ax.barh(names, values, color=["C3" if v > 0 else "C0" for v in values])
    ax.axvline(0, color="0.3", lw=1)
    ax.set(xlabel=f"elasticity d log {output}* / d log input (% per %)",
           ylabel="input (unit)",
           title=f"{scenario.name}: what moves the optimal {output} most")
    return figure


def uncertainty_figure(result: UncertaintyAnalysis) -> Figure:
    """Histograms of N*, D* and L* (or cost) over the samples, and of the regret.

    Under a law that predicts no loss (an allocation law): N*, D* and D*/N*, no regret.
    """
    from matplotlib.figure import Figure

    ok = result.solved
    nominal = result.nominal
    scenario = nominal.scenario
    split = not scenario.law.predicts_loss
    figure = Figure(figsize=(11.5 if split else 15, 3.8), layout="constrained")
    panels = figure.subplots(1, 3 if split else 4)
    key = "ratio" if split else "loss" if nominal.mode == "loss" else "cost"
    table = {**result.table, "ratio": result.table["D"] / result.table["N"]}
    point = {"N": nominal.allocation["N"], "D": nominal.allocation["D"],
             "loss": nominal.loss, "cost": nominal.cost,
             "ratio": nominal.allocation["D"] / nominal.allocation["N"]}
    units = {"ratio": "tokens per parameter"}
    for ax, name in zip(panels[:3], ("N", "D", key), strict=True):
        values = table[name][ok]
        logs = name in ("N", "D", "cost")
        ax.hist(np.log10(values) if logs else values, bins=40, color="C0", alpha=0.8)
        ax.axvline(np.log10(point[name]) if logs else point[name], color="C3",
                   label="point estimate")
        what = f"log10 {name}*" if logs else "D*/N*" if name == "ratio" else f"{name}*"
        ax.set(xlabel=f"{what} ({units.get(name) or unit(scenario, name)})",
               ylabel="samples (count)")
    _legend_outside(panels[2])
    figure.suptitle(f"{scenario.name}: {int(ok.sum())} samples ({result.source})")
    if split:
        return figure
    committed = result.table[f"committed_{key}"][ok] - result.table[key][ok]
    panels[3].hist(np.maximum(committed, 0), bins=40, color="C1")
    money = currency(scenario) if key == "cost" else LOSS
    panels[3].set(xlabel=f"extra {key} of the point-estimate plan ({money})",
                  ylabel="samples (count)", title="regret")
    return figure


def _legend_outside(ax: Any) -> None:
    """The axes' legend to its right, outside the plotting area: it covers no data."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0,
              frameon=False, fontsize=8)


def _readable_log(axis: Any) -> None:
    """Plain-number ticks on a log axis that spans less than 2 decades.

    Ticks fall at 1, 2 and 5 per decade, or at every digit below 0.7 of a decade.

    On a short log axis matplotlib shows one decade tick, or none, and labels a few
    minor ticks in scientific notation; these ticks say the numbers plainly instead.
    """
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    low, high = sorted(axis.get_view_interval())
    if not (low > 0 and math.isfinite(high)) or math.log10(high / low) >= 2:
        return
    subs = (1.0, 2.0, 5.0) if math.log10(high / low) >= 0.7 else tuple(range(1, 10))
    axis.set_major_locator(LogLocator(base=10, subs=subs))
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:.3g}"))
    axis.set_minor_formatter(NullFormatter())
