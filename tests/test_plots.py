"""Figures: every bundled scenario renders, every axis names its unit, nothing is hidden.

Each figure is drawn to PNG (so layout and tick labels are computed), then read back
from its matplotlib objects: labels, tick labels, legend positions, mesh edges.
"""

from __future__ import annotations

import io
import math
import re
from pathlib import Path

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from optimizer import load_scenario, sensitivity, solve, sweep, uncertainty
from optimizer.analysis.sweep import bands
from optimizer.model.units import unit
from optimizer.output.plots import (
    cell_edges,
    fit_diagnostics,
    mapping_figure,
    sweep_figure,
    tornado,
    uncertainty_figure,
)

SCENARIOS = sorted((Path(__file__).resolve().parent.parent / "scenarios").glob("*.yaml"))
UNIT = re.compile(r"\(([^()]*(?:\([^()]*\))?[^()]*)\)\s*$")
"""An axis label ends with its unit in parentheses: ``objective.budget (dollars)``."""


def _drawn(figure):
    FigureCanvasAgg(figure)  # the canvas that renders PNG; also measures the layout
    figure.savefig(io.BytesIO(), format="png", dpi=60)
    figure.canvas.draw()
    return figure


def _objective_axis(scenario) -> str:
    if scenario.objective.minimize == "loss":
        budget = scenario.objective.budget
        return f"objective.budget={budget / 30:.6g}:{budget * 30:.6g}:log:7"
    key, target = scenario.objective.target
    return f"objective.{key}={target * 1.02:.6g}:{target * 1.2:.6g}:5"


def _labelled_axes(figure):
    """Every axis of the figure that shows data (colour bars included), with its label."""
    for ax in figure.axes:
        for axis in (ax.xaxis, ax.yaxis):
            if axis.get_visible() and any(t.get_text() for t in axis.get_ticklabels()):
                yield ax, axis, axis.get_label_text()


def _check_units(figure):
    for ax, _, text in _labelled_axes(figure):
        assert UNIT.search(text), f"axis label without a unit: {text!r} ({ax.get_title()!r})"


def _check_ticks(figure):
    for _, axis, text in _labelled_axes(figure):
        low, high = sorted(axis.get_view_interval())
        shown = [t for t, v in zip(axis.get_ticklabels(), axis.get_ticklocs(), strict=False)
                 if t.get_text() and low <= v <= high]
        assert len(shown) >= 2, f"{text!r} has {len(shown)} labelled ticks in view"


def _check_legends_outside(figure):
    renderer = figure.canvas.get_renderer()
    plots = [ax.get_window_extent(renderer) for ax in figure.axes if ax.has_data()]
    for ax in figure.axes:
        legend = ax.get_legend()
        if legend is None:
            continue
        box = legend.get_window_extent(renderer)
        for area in plots:
            assert not box.overlaps(area), f"the legend of {ax.get_title()!r} covers a plot"


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.name)
def test_every_bundled_scenario_draws_with_units(path):
    scenario = load_scenario(path)
    frontier = sweep(scenario, _objective_axis(scenario))
    exponent = next(p for p in ("law.alpha", "law.alpha_N", "law.exponents.N",
                                "law.D.exponent")
                    if _has(scenario, p))
    value = _value(scenario, exponent)
    grid = sweep(scenario, [_objective_axis(scenario),
                            f"{exponent}={min(value * 0.95, value * 1.05):.6g}:"
                            f"{max(value * 0.95, value * 1.05):.6g}:4"])
    figures = [sweep_figure(frontier), sweep_figure(grid), tornado(sensitivity(solve(scenario)))]
    for figure in figures:
        _drawn(figure)
        _check_units(figure)
        _check_ticks(figure)
        _check_legends_outside(figure)


def test_the_band_panels_keep_n_and_d_apart_and_read_their_edges():
    scenario = load_scenario(SCENARIOS[0].parent / "chinchilla_gopher.yaml")
    result = sweep(scenario, "objective.budget=1e21:1e24:log:8")
    band = bands(scenario, result, points=4)
    figure = _drawn(sweep_figure(result, band))
    _check_units(figure)
    _check_ticks(figure)
    _check_legends_outside(figure)
    relative = figure.axes[2]
    fills = relative.collections
    # N filled, D hatched: told apart even where the ranges coincide.
    assert {bool(c.get_hatch()) for c in fills} == {True, False}
    ticks = [t.get_text() for t in relative.yaxis.get_ticklabels() if t.get_text()]
    assert all(t.endswith("%") for t in ticks), ticks
    reach = np.nanmax(band["N_high"] / band["N"])
    texts = [t.get_text() for t in relative.get_legend().get_texts()]
    assert any(f"×{reach:.2f}" in t for t in texts), texts
    # The ticks reach past the band's upper edge, so it can be read off.
    locations = [v for t, v in zip(relative.yaxis.get_ticklabels(),
                                   relative.yaxis.get_ticklocs(), strict=False) if t.get_text()]
    assert max(locations) >= reach - 0.1


def test_heatmap_cells_are_centred_on_their_points_on_log_axes():
    scenario = load_scenario(SCENARIOS[0].parent / "chinchilla_gopher.yaml")
    result = sweep(scenario, ["objective.budget=1e20:1e25:log:6", "law.alpha=0.3:0.4:3"])
    figure = _drawn(sweep_figure(result))
    mesh = figure.axes[0].collections[0]
    coordinates = np.asarray(mesh.get_coordinates())  # (rows + 1, columns + 1, 2) corners
    budget_edges = coordinates[:, 0, 1]
    budgets = result.axes[0].values
    assert list(np.sqrt(budget_edges[:-1] * budget_edges[1:])) == pytest.approx(
        list(budgets), rel=1e-13)  # achieved: 2.6e-15
    alpha_edges = coordinates[0, :, 0]
    alphas = result.axes[1].values
    assert list((alpha_edges[:-1] + alpha_edges[1:]) / 2) == pytest.approx(
        list(alphas), rel=1e-14)  # achieved: 0


@pytest.mark.parametrize(("values", "log"), [([5.0], True), ([5.0], False),
                                             ([1.0, 10.0, 100.0], True),
                                             ([1.0, 10.0, 1000.0], True), ([0.1, 0.2], False)])
def test_cell_edges_bracket_each_value(values, log):
    edges = cell_edges(np.array(values), log)
    assert len(edges) == len(values) + 1
    assert all(a < v < b for a, v, b in zip(edges[:-1], values, edges[1:], strict=True))
    steps = np.diff(np.log(values) if log else values)
    if np.allclose(steps, steps[0]) if steps.size else True:  # evenly spaced: centred
        centres = np.sqrt(edges[:-1] * edges[1:]) if log else (edges[:-1] + edges[1:]) / 2
        assert centres == pytest.approx(values, rel=1e-14)  # achieved: 6e-16


def test_a_narrow_log_range_gets_plain_ticks():
    scenario = load_scenario(SCENARIOS[0].parent / "chinchilla_gopher.yaml")
    figure = _drawn(sweep_figure(sweep(scenario, "objective.budget=1e22:3e22:log:5")))
    _check_ticks(figure)
    labels = [t.get_text() for t in figure.axes[0].xaxis.get_ticklabels() if t.get_text()]
    assert "1e+22" in labels
    assert "2e+22" in labels


def test_the_uncertainty_figure_names_its_units():
    scenario = load_scenario(SCENARIOS[0].parent / "chinchilla_gopher.yaml")
    scenario = scenario.replace({"uncertainty": {"fields": {
        "law.alpha": {"dist": "normal", "mean": scenario.law.alpha, "sd": 0.01}}}})
    figure = _drawn(uncertainty_figure(uncertainty(scenario, 60, sobol=False)))
    _check_units(figure)
    _check_legends_outside(figure)
    labels = [ax.get_xlabel() for ax in figure.axes]
    assert any(f"({unit(scenario, 'N')})" in text for text in labels)
    assert any("(nats per token)" in text for text in labels)


def _has(scenario, path):
    try:
        _value(scenario, path)
    except (AttributeError, TypeError):
        return False
    return True


def _value(scenario, path):
    node = scenario
    for key in path.split("."):
        node = getattr(node, key)
    if not isinstance(node, float) or not math.isfinite(node):
        raise TypeError(path)
    return node


def test_the_fit_diagnostics_name_their_units_and_show_every_run():
    from optimizer.fitting.fit import fit, model_for
    from optimizer.fitting.runs import read_runs

    runs = read_runs(SCENARIOS[0].parent / "example_runs.csv")
    result = fit(runs, model_for("chinchilla"))
    figure = _drawn(fit_diagnostics(result))
    _check_units(figure)
    _check_ticks(figure)
    _check_legends_outside(figure)
    left, right = figure.axes[:2]
    assert left.get_title() == "chinchilla fit to 64 runs"
    observed, predicted = left.collections[0].get_offsets().T
    np.testing.assert_array_equal(observed, runs.loss)
    np.testing.assert_allclose(predicted, result.law.value(runs.amounts()), rtol=1e-14)
    compute, residual = right.collections[0].get_offsets().T
    np.testing.assert_array_equal(compute, runs.C)
    np.testing.assert_array_equal(residual, result.residuals)
    worst = int(np.argmax(np.abs(result.residuals)))
    assert [t.get_text() for t in right.texts] == [f"line {runs.lines[worst]}"]
    quality = result.quality()
    assert f"R² {quality['r2_log']:.4f}" in right.get_title()


def test_the_mapping_figure_names_its_units_and_shows_every_pair():
    from optimizer.fitting.downstream import fit_downstream

    pairs = Path(__file__).parent / "data" / "gadre_rpj_downstream.csv"
    outcome = fit_downstream(str(pairs), "exponential", samples=50)
    figure = _drawn(mapping_figure(outcome))
    _check_units(figure)
    _check_ticks(figure)
    _check_legends_outside(figure)
    ax = figure.axes[0]
    loss, error = ax.collections[-1].get_offsets().T  # the pairs, drawn last
    np.testing.assert_array_equal(loss, outcome.fit.pairs.loss)
    np.testing.assert_array_equal(error, outcome.fit.pairs.error)
    curve = ax.lines[0]
    np.testing.assert_allclose(curve.get_ydata(), outcome.fit.mapping.error(curve.get_xdata()),
                               rtol=1e-15)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "95% bootstrap band", "fitted exponential", "pairs"]


def assert_png_drawn(path: Path, least: tuple[int, int] = (300, 400)) -> np.ndarray:
    """Read a written PNG back: at least ``least`` pixels (rows, columns), not blank
    (ink on 2% to 60% of it, in more than a few colours). Returns its pixels."""
    from matplotlib.image import imread

    pixels = imread(path)
    assert pixels.ndim == 3, pixels.shape
    assert np.all(np.array(pixels.shape[:2]) >= least), pixels.shape
    ink = np.any(pixels[..., :3] < 0.9, axis=-1).mean()
    assert 0.02 < ink < 0.6, ink
    channels = np.round(255 * pixels).astype(np.uint32)  # one integer per colour
    colours = np.unique(channels @ 256 ** np.arange(pixels.shape[-1], dtype=np.uint32))
    assert colours.size > 16, colours.size
    return pixels
