"""From a fit to a scenario file: the plan it implies, its uncertainty, its provenance.

:func:`fit_scenario` runs the whole ``optimizer fit`` job: read the runs, fit the law
(:mod:`optimizer.fitting.fit`), put it in a scenario (a partial ``base`` scenario supplies
prices, limits and objective; defaults otherwise), solve that scenario, bootstrap the
fit and re-solve the scenario under every refitted law, and record where it all came
from in the scenario's ``fit`` block. :func:`write_fit` then writes the scenario and
the bootstrap samples beside it, atomically. Nothing is written if any step fails.
"""

from __future__ import annotations

import csv
import datetime
import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from optimizer import options
from optimizer.errors import ScenarioError
from optimizer.fitting.fit import (
    Bootstrap,
    Fit,
    FitError,
    Method,
    bootstrap,
    cautions,
    constrain,
    fit,
    law_from,
    model_for,
    percentiles,
)
from optimizer.fitting.fit import holdout as run_holdout
from optimizer.fitting.runs import read_runs
from optimizer.io.files import RUNS_BYTES, read_bytes, write_atomic_all
from optimizer.model.laws import Law
from optimizer.model.provenance import FitBootstrap, FitData, FitRecord, Span
from optimizer.model.scenario import (
    Scenario,
    parse_scenario,
    read_mapping,
    scenario_text,
)
from optimizer.solvers.certificate import DEFAULT_TOLERANCE
from optimizer.solvers.many import solve_many
from optimizer.solvers.solve import Plan, solve

Progress = Callable[[str, int], Callable[[int], None]]
"""``progress(description, total)`` returns a callback advanced by the work done."""

PLAN_KEYS = ("N", "D", "C", "loss", "cost")


@dataclass(frozen=True)
class FitOutcome:
    """Everything ``optimizer fit`` found, before anything is written."""

    fit: Fit
    scenario: Scenario
    """The scenario with the fitted law and its ``fit`` record."""
    plan: Plan
    """The optimal plan under the fitted law."""
    bootstrap: Bootstrap | None = None
    plan_samples: dict[str, np.ndarray] = field(default_factory=dict)
    """N, D, C, loss and cost of the optimal plan under each usable refit."""
    warnings: tuple[str, ...] = ()
    """What the fit warns of (:func:`~optimizer.fitting.fit.cautions`)."""
    holdout: list[dict[str, float | int]] = field(default_factory=list)
    """The extrapolation audit (:func:`~optimizer.fitting.fit.holdout`), if asked for."""
    prediction: dict[str, Any] | None = None
    """Intervals of the loss of a run at the plan (:func:`loss_intervals`), with a bootstrap."""


def fit_scenario(path: str | Path, form: str = "chinchilla", *,
                 columns: dict[str, str] | None = None, flops_per_param_token: float = 6.0,
                 drop_highest_loss: int = 0, resources: tuple[str, ...] = ("N",),
                 floor: bool = True, method: Method = "huber", delta: float = 1e-3,
                 base: str | Path | None = None, budget: float | None = None,
                 samples: int = 1000, level: float = 0.95, seed: int = 0, jobs: int = 1,
                 fix: dict[str, float] | None = None, tie: Sequence[Sequence[str]] = (),
                 holdout: int = 0, progress: Progress | None = None) -> FitOutcome:
    """Fit a law to the runs in ``path`` and build the scenario that plans with it.

    Parameters mirror ``optimizer fit --help``; ``samples`` is the bootstrap count
    (0 for none); ``fix`` holds parameters at values (``{"E": 1.69}``) and ``tie`` fits
    each group of parameters as one (``[("alpha", "beta")]``); ``holdout`` runs of
    largest compute are left out of a second fit, which is judged on them.

    Raises
    ------
    ScenarioError
        Bad runs, options or base scenario (exit 2); :class:`~optimizer.fitting.fit.FitError`
        when the fit is degenerate.
    InfeasibleError
        When the scenario has no optimal plan under the fitted law (exit 3).
    """
    options.count("--bootstrap", samples, what=" (0 skips it)")
    options.count("--drop-highest-loss", drop_highest_loss)
    options.count("--holdout", holdout, what=" (0 skips the audit)")
    options.jobs(jobs)
    options.fraction("--level", level, example="0.95")
    if not (math.isfinite(delta) and delta > 0):
        raise ScenarioError(f"--delta {delta}: the Huber threshold must be positive")
    if method == "ols" and (fix or tie):
        raise ScenarioError("--fix and --tie need --method huber")
    model = constrain(model_for(form, resources, floor), fix, tie)
    options.fits_in_memory("--bootstrap", samples, "refits", 64 * len(model.names),
                           advice="1,000 refits give 95% intervals")
    runs = read_runs(path, columns, flops_per_param_token=flops_per_param_token)
    runs = runs.drop_highest_loss(drop_highest_loss)
    result = fit(runs, model, method=method, delta=delta)
    if result.problems:
        raise FitError([f"the {form} fit is degenerate: {p}" for p in result.problems]
                       + ["try more runs spread over N and D, or a simpler law "
                          "(e.g. --law power_law)"], runs.path)
    audit = run_holdout(result, holdout)
    settings: dict[str, float | int | str | bool] = {"law": form}
    if fix:
        settings["fix"] = ",".join(f"{name}={value!r}" for name, value in fix.items())
    if tie:
        settings["tie"] = ",".join("=".join(group) for group in tie)
    if form == "power_law":
        settings.update(resources=",".join(resources), floor=floor)
    if method == "huber":
        settings.update(delta=delta, starts=result.starts, starts_agreeing=result.agreeing)
    scenario = _scenario(result, base, budget)
    plan = solve(scenario)
    boot, spread = None, {}
    if samples:
        boot = bootstrap(result, samples, seed=seed, jobs=jobs,
                         progress=progress("bootstrap refits", samples) if progress else None)
        spread = _plan_samples(scenario, boot, jobs, progress)
    record = fit_record(
        FitData(file=str(path), sha256=runs.sha256, points=len(runs),
                dropped_lines=list(runs.dropped), columns=runs.columns,
                flops_per_param_token=runs.flops_per_param_token,
                range={r: Span(low=float(v.min()), high=float(v.max()))
                       for r, v in runs.amounts().items()}),
        method, settings, result.quality(), boot, level, spread)
    scenario = scenario.model_copy(update={"fit": record})
    prediction = None
    if boot is not None and len(boot.samples):
        at = plan.problem.law_inputs({r: plan.allocation[r] for r in plan.problem.levers})
        prediction = loss_intervals(boot.laws(form), at, float(result.quality()["rmse_log"]),
                                    level, seed)
    return FitOutcome(result, scenario, replace(plan, scenario=scenario), boot, spread,
                      cautions(result), audit, prediction)


def _scenario(result: Fit, base: str | Path | None, budget: float | None) -> Scenario:
    """The base scenario (or the defaults) with the fitted law and an objective."""
    runs = result.runs
    data: dict[str, Any] = read_mapping(base) if base is not None else {}
    data.pop("fit", None)
    source = str(base) if base is not None else f"optimizer fit {runs.path}"
    data["law"] = result.law.model_dump(mode="json", exclude_defaults=True)
    data.setdefault("name", f"{result.law.form} law fitted to {Path(runs.path).name}")
    data.setdefault("source", f"optimizer fit of {len(runs)} runs in {runs.path} "
                              f"(sha256 {runs.sha256[:12]})")
    if result.law.needs_data and runs.U is not None and "data" not in data:
        # Plan with the largest stock of unique tokens the runs had; a base scenario's
        # data block (the stock you will really have) takes precedence.
        data["data"] = {"unique_tokens": float(runs.U.max())}
    if "resources" not in data and "hardware" not in data:
        data["resources"] = {"C": {"unit_cost": 1.0}}
        data.setdefault("compute", {"flops_per_param_token": runs.flops_per_param_token})
    if budget is not None:
        if not budget > 0:
            raise ScenarioError(f"--budget {budget}: must be positive")
        data["objective"] = {"minimize": "loss", "budget": float(budget)}
    elif "objective" not in data:
        data["objective"] = {"minimize": "loss", "budget": 1.0}
        priced = parse_scenario(data, source)
        largest = int(np.argmax(runs.C))
        data["objective"]["budget"] = sum(
            priced.unit_cost(r) * float(v[largest]) for r, v in runs.amounts().items())
    return parse_scenario(data, source)


def _plan_samples(scenario: Scenario, boot: Bootstrap, jobs: int,
                  progress: Progress | None) -> dict[str, np.ndarray]:
    """The optimal plan under each refitted law (NaN where none exists).

    One call of :func:`~optimizer.solvers.many.solve_many` with the refits' law fields
    as its inputs: a vectorised closed form where the scenario has one.
    """
    inputs = {f"law.{name}": column
              for name, column in zip(boot.names, boot.samples.T, strict=True)}
    if not len(boot.samples):
        return {k: np.empty(0) for k in PLAN_KEYS}
    advance = progress("plans under the refits", len(boot.samples)) if progress else None
    table, _ = solve_many(scenario, inputs, tol=DEFAULT_TOLERANCE, jobs=jobs, progress=advance)
    solved = np.isin(table["status"], ("optimal", "not_certified"))
    return {k: np.where(solved, table[k], np.nan) for k in PLAN_KEYS}


def fit_record(data: FitData, method: str, settings: dict[str, float | int | str | bool],
               quality: dict[str, float | int], boot: Bootstrap | None, level: float,
               spread: dict[str, np.ndarray] | None = None) -> FitRecord:
    """The provenance of a fit, dated and signed with this tool's version.

    ``spread`` holds the plans under the refits (a law's fit); a mapping has none.
    """
    return FitRecord(
        date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        tool=f"optimizer {version('optimizer')}", data=data, method=method,
        options=settings, quality=quality,
        bootstrap=None if boot is None else _bootstrap_record(boot, spread or {}, level))


def _bootstrap_record(boot: Bootstrap, spread: dict[str, np.ndarray], level: float
                      ) -> FitBootstrap:
    solved = {k: v[np.isfinite(v)] for k, v in spread.items()}
    failures = int(np.sum(~np.isfinite(spread["loss"]))) if spread else 0
    return FitBootstrap(
        count=boot.count, usable=len(boot.samples), seed=boot.seed, level=level,
        standard_errors=boot.standard_errors() if len(boot.samples) > 1 else {},
        intervals={k: Span(low=lo, high=hi) for k, (lo, hi) in boot.interval(level).items()},
        plan={k: Span(low=lo, high=hi) for k, (lo, hi) in percentiles(solved, level).items()},
        plan_failures=failures)


# ----------------------------------------------------------------------- writing

def samples_path(output: str | Path) -> Path:
    """Where the bootstrap samples of scenario ``output`` go: ``NAME.bootstrap.csv``."""
    output = Path(output)
    return output.with_name(output.stem + ".bootstrap.csv")


def write_fit(outcome: FitOutcome, output: str | Path) -> list[Path]:
    """Write the scenario (and its bootstrap samples beside it); return the paths.

    Both files are written as one atomic step (:func:`~optimizer.io.files.write_atomic_all`):
    if either cannot be written, neither existing file is touched.
    """
    output = Path(output)
    scenario, samples = outcome.scenario, []
    record = scenario.fit
    if outcome.bootstrap is not None and record is not None and record.bootstrap is not None:
        target = samples_path(output)
        samples.append((target, samples_csv(outcome.bootstrap)))
        scenario = scenario.model_copy(update={"fit": record.model_copy(update={
            "bootstrap": record.bootstrap.model_copy(update={"samples": target.name})})})
    write_atomic_all([(output, scenario_text(scenario, output)), *samples])
    return [output, *(path for path, _ in samples)]


def samples_csv(boot: Bootstrap) -> str:
    """The usable refits as CSV text: a header of field names, one row per refit."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(boot.names)
    writer.writerows([repr(float(v)) for v in row] for row in boot.samples)
    return buffer.getvalue()


def read_samples(scenario_path: str | Path, scenario: Scenario) -> Bootstrap:
    """The bootstrap samples that ``optimizer fit`` wrote beside ``scenario_path``.

    Raises
    ------
    ScenarioError
        When the scenario has no bootstrap, or the samples file is missing or does
        not match the scenario's law.
    """
    record = scenario.fit.bootstrap if scenario.fit is not None else None
    if record is None or not record.samples:
        raise ScenarioError("fit.bootstrap.samples: this scenario has no bootstrap samples; "
                            "refit it with optimizer fit --bootstrap N -o FILE",
                            str(scenario_path))
    path = Path(scenario_path).parent / record.samples
    try:
        text = read_bytes(path, RUNS_BYTES, "bootstrap samples file").decode("utf-8")
        names, *rows = list(csv.reader(text.splitlines()))
        values = np.array(rows, dtype=float).reshape(len(rows), len(names))
        law_from(scenario.law.form, dict(zip(names, values[0], strict=True)))  # fields fit?
    except (ScenarioError, IndexError, ValueError) as exc:
        raise ScenarioError(f"fit.bootstrap.samples: cannot use {path} "
                            f"({' '.join(str(exc).split())})", str(scenario_path)) from None
    return Bootstrap(tuple(names), values, record.count, record.count - record.usable, record.seed)


def loss_intervals(laws: Sequence[Law], amounts: Mapping[str, float], noise: float,
                   level: float = 0.95, seed: int = 0) -> dict[str, Any]:
    r"""Intervals of the loss at ``amounts``: of the mean, and of one new run.

    The mean's interval is the percentile interval of the loss under each bootstrap
    refit (``laws``): how unsure the law is. A new run also scatters about the mean by
    the observation noise the fit's residuals show, ``noise`` (the RMS of the log
    residuals): each refit's loss is multiplied by :math:`e^{\sigma z}`, z standard
    normal (seeded), and the percentile interval of those is the new run's.
    """
    mean = np.array([float(law.value(amounts)) for law in laws])
    rng = np.random.default_rng(seed)
    one_run = mean * np.exp(noise * rng.standard_normal(mean.size))
    spans = percentiles({"mean": mean, "new_run": one_run}, level)
    return {"level": level, "noise_log_sd": noise, "samples": int(mean.size),
            **{name: list(span) for name, span in spans.items()}}


def predict_intervals(scenario_path: str | Path, scenario: Scenario,
                      amounts: Mapping[str, float], level: float = 0.95
                      ) -> dict[str, Any] | None:
    """:func:`loss_intervals` for a fitted scenario's law at ``amounts``.

    ``None`` when the scenario has no bootstrap samples to draw them from.
    """
    record = scenario.fit
    if record is None or record.bootstrap is None or not record.bootstrap.samples:
        return None
    boot = read_samples(scenario_path, scenario)
    return loss_intervals(boot.laws(scenario.law.form), amounts,
                          float(record.quality.get("rmse_log", 0.0)), level)
