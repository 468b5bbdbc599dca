r"""Uncertainty: how unsure the plan is when the inputs are, and what committing costs.

Inputs are drawn either from the bootstrap ``optimizer fit`` wrote (joint rows of the
refitted law, resampled, so their correlations are kept), or from the distributions a
scenario declares under ``uncertainty`` (normal, lognormal or uniform per field, joined
by a Gaussian copula with the declared correlations). Every sample is solved and
certified through the sweep machinery (:mod:`optimizer.analysis.sweep`), which gives

* quantiles of N*, D*, C*, L* and cost;
* the **regret** of committing to the point-estimate plan :math:`\hat x` (the plan at the
  nominal inputs): per sample, :math:`L_s(\hat x) - L_s(x_s^*)` in loss mode (the extra
  loss; what :math:`\hat x` costs under that sample is reported too), and
  :math:`\text{cost}_s(\hat x) - \text{cost}_s(x_s^*)` in cost mode, with the share of
  samples where :math:`\hat x` misses the target;
* optionally the **robust plan** minimising the expected loss
  :math:`\tfrac1S\sum_s L_s(x)` within the nominal budget (loss mode), by SLSQP in log
  variables from the point estimate, over up to :data:`ROBUST_SAMPLES` samples;
* **Sobol indices** (first order and total) of each output, from SALib's Saltelli
  sampling and analysis of the declared marginals. Sobol indices assume independent
  inputs, so declared correlations are left out of that part (the report says so); for
  a bootstrap, each parameter's marginal is approximated as normal (exponents) or
  lognormal (coefficients) with the bootstrap's mean and spread.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from optimizer import options
from optimizer.analysis.sweep import POINT_BYTES
from optimizer.display import Table
from optimizer.errors import (
    InfeasibleError,
    OptimizerError,
    ScenarioError,
    SolverError,
    UnboundedError,
)
from optimizer.model.scenario import Distribution, Scenario, numeric_paths, parse_scenario, set_path
from optimizer.solvers.certificate import DEFAULT_TOLERANCE
from optimizer.solvers.many import optimal_rows, solve_many
from optimizer.solvers.solve import Plan, solve

OUTPUTS = ("N", "D", "C", "loss", "cost")
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
ROBUST_SAMPLES = 500
"""Samples the robust plan's expected loss averages over."""

Progress = Callable[[str, int], Callable[[int], None]]


@dataclass(frozen=True, repr=False)
class UncertaintyAnalysis(Table):
    """Samples of the inputs, the optimal plan under each, and what they imply."""

    nominal: Plan
    source: str
    """``bootstrap`` or ``scenario`` (its declared distributions)."""
    inputs: dict[str, np.ndarray]
    """Path -> sampled values, shape (S,)."""
    table: dict[str, np.ndarray]
    """Per sample: N, D, C, loss, cost, committed_loss, committed_cost, status, ..."""
    sobol: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    """Output -> input -> {S1, S1_conf, ST, ST_conf}; empty when not computed."""
    notes: tuple[str, ...] = ()
    robust: dict[str, float] | None = None
    """The plan minimising expected loss: N, D, C, expected loss, and the nominal
    plan's expected loss for comparison."""

    @property
    def solved(self) -> np.ndarray:
        """Mask of the samples with a certified optimal plan."""
        return optimal_rows(self.table)

    def quantiles(self, q: Sequence[float] = QUANTILES) -> dict[str, dict[float, float]]:
        """Output -> quantile -> value, over the solved samples."""
        ok = self.solved
        return {o: {p: float(np.quantile(self.table[o][ok], p)) for p in q}
                for o in OUTPUTS if ok.any()}

    def regret(self) -> dict[str, float]:
        """Mean and worst-decile regret of committing to the point-estimate plan.

        Empty under a law that predicts no loss (an allocation law): nothing to regret.
        """
        if not self.nominal.scenario.law.predicts_loss:
            return {}
        ok = self.solved
        scenario, n = self.nominal.scenario, len(self)
        if self.nominal.mode == "loss":  # each sample's own budget, where it is uncertain
            budget = np.broadcast_to(self.inputs.get("objective.budget",
                                                     self.nominal.problem.budget), n)
            extra = self.table["committed_loss"][ok] - self.table["loss"][ok]
            over = self.table["committed_cost"][ok] / budget[ok] - 1
            out = {"over_budget_share": float(np.mean(over > 1e-9))}
        else:  # each sample's own target loss: its target, or its downstream mapping's
            target = np.broadcast_to(scenario.target_losses(self.inputs), n)[ok]
            missed = self.table["committed_loss"][ok] > target * (1 + 1e-9)
            extra = self.table["committed_cost"][ok] - self.table["cost"][ok]
            out = {"misses_target_share": float(np.mean(missed))}
        extra = np.maximum(extra, 0.0)  # rounding can make it -1e-16
        with np.errstate(invalid="ignore"):
            decile = np.quantile(extra, 0.9) if extra.size else math.nan
        if math.isnan(decile) and extra.size:  # infinite regrets (inf - inf in between)
            decile = math.inf
        worst = extra[extra >= decile]
        return {"expected": float(extra.mean()) if extra.size else math.nan,
                "worst_decile_mean": float(worst.mean()) if worst.size else math.nan,
                "max": float(extra.max()) if extra.size else math.nan, **out}

    def __len__(self) -> int:
        return len(self.table["status"])

    def summary(self) -> dict[str, Any]:
        """Samples solved, the source, and the median and 90% range of the loss."""
        q = self.quantiles((0.05, 0.5, 0.95)).get("loss", {})
        return {"scenario": self.nominal.scenario.name, "source": self.source,
                "samples": len(self), "solved": int(self.solved.sum()),
                **{f"loss_q{round(100 * k)}": v for k, v in q.items()}}

    def records(self) -> list[dict[str, Any]]:
        """One row per sample: the sampled inputs, then the plan found under them."""
        columns = {k: np.asarray(v).tolist() for k, v in {**self.inputs, **self.table}.items()}
        return [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(),
                                                                    strict=True)]

    def to_dict(self) -> dict[str, Any]:
        """The summary figures (not the samples: :meth:`records`) as plain data."""
        nominal = self.nominal
        return {"scenario": nominal.scenario.name, "source": self.source,
                "samples": len(self), "solved": int(self.solved.sum()), "mode": nominal.mode,
                "point_estimate": {**nominal.allocation, "loss": nominal.loss,
                                   "cost": nominal.cost},
                "quantiles": {o: {str(q): v for q, v in qs.items()}
                              for o, qs in self.quantiles().items()},
                "regret": self.regret(), "sobol": self.sobol, "robust": self.robust,
                "notes": list(self.notes)}


# --------------------------------------------------------------------- sampling

@dataclass(frozen=True)
class Marginal:
    """One declared distribution, as a function of a standard normal score.

    Normal and lognormal values are a line (or its exponential) in the score; a uniform
    goes through the score's probability (``scipy.special.ndtr``). Quantiles use the
    inverse (``ndtri``). Both are numpy ufuncs: 1e4 samples cost microseconds.
    """

    dist: str
    a: float
    """normal: mean; lognormal: log of the median; uniform: low."""
    b: float
    """normal: sd; lognormal: sigma; uniform: high - low."""

    @classmethod
    def of(cls, d: Distribution) -> Marginal:
        """The marginal a scenario's distribution declares."""
        if d.dist == "normal":
            return cls("normal", float(d.mean or 0), float(d.sd or 0))
        if d.dist == "lognormal":
            return cls("lognormal", math.log(float(d.median or 1)), float(d.sigma or 0))
        return cls("uniform", float(d.low or 0), float(d.high or 0) - float(d.low or 0))

    def from_score(self, score: np.ndarray) -> np.ndarray:
        """Values at standard normal ``score``: F^-1(Phi(score))."""
        from scipy.special import ndtr

        if self.dist == "normal":
            return self.a + self.b * score
        if self.dist == "lognormal":
            return np.exp(self.a + self.b * score)
        return self.a + self.b * ndtr(score)

    def ppf(self, q: Sequence[float]) -> np.ndarray:
        """The quantiles at probabilities ``q``."""
        from scipy.special import ndtri

        p = np.asarray(q, dtype=float)
        return self.a + self.b * p if self.dist == "uniform" else self.from_score(ndtri(p))


def declared(scenario: Scenario) -> tuple[list[str], list[Marginal], np.ndarray]:
    """Paths, marginals and correlation matrix declared under ``uncertainty``.

    Raises
    ------
    ScenarioError
        For a path that is not a numeric field, a correlation naming an undeclared
        field, or correlations that do not make a positive definite matrix.
    """
    block = scenario.uncertainty
    if block is None:
        raise ScenarioError("uncertainty: this scenario declares no distributions and has "
                            "no bootstrap; add an uncertainty block (docs/sweeps.md) or fit "
                            "it with optimizer fit")
    known = set(numeric_paths(scenario))
    names = list(block.fields)
    problems = [f"uncertainty.fields.{n}: not a numeric field of this scenario"
                for n in names if n not in known]
    matrix = np.eye(len(names))
    for i, c in enumerate(block.correlations):
        if c.a not in block.fields or c.b not in block.fields or c.a == c.b:
            problems.append(f"uncertainty.correlations[{i}]: {c.a} and {c.b} must be two "
                            "different fields declared under uncertainty.fields")
            continue
        a, b = names.index(c.a), names.index(c.b)
        matrix[a, b] = matrix[b, a] = c.rho
    if block.correlations and not problems and np.linalg.eigvalsh(matrix).min() <= 1e-12:
        problems.append("uncertainty.correlations: these correlations contradict each other "
                        "(their matrix is not positive definite)")
    if problems:
        raise ScenarioError(problems)

    marginals = [Marginal.of(block.fields[n]) for n in names]
    problems = _outside(scenario, names, marginals)
    if problems:
        raise ScenarioError(problems)
    return names, marginals, matrix


QUANTILES = (0.5, 0.01, 0.99)
"""Where each declared distribution must give a valid value of its field."""


def _outside(scenario: Scenario, names: list[str], marginals: list[Marginal]) -> list[str]:
    """Why distributions put more than 1% of their samples outside their field's domain.

    The domain is the field's own: the scenario is validated with the value in place,
    at the 1%, 50% and 99% quantiles. An MFU typed as a percentage (uniform 40 to 50),
    or a normal spread that reaches below zero for a price, is refused up front
    rather than failing sample by sample. Every field is put at the same quantile at
    once (three validations in all); only if one of those fails is each field tried
    alone, to name it. A field's own constraints are so checked exactly; a rule across
    fields (a target above an uncertain floor) is checked with both at equal quantiles,
    and a sample that breaks it otherwise is an ``invalid`` row, counted in the notes.
    """
    at = {n: m.ppf(QUANTILES) for n, m in zip(names, marginals, strict=True)}
    levels = {q: {n: float(values[j]) for n, values in at.items()}
              for j, q in enumerate(QUANTILES)}
    if all(_valid(scenario, values) is None for values in levels.values()):
        return []
    block = scenario.uncertainty
    assert block is not None
    problems = []
    for n in names:
        for q in QUANTILES:
            value = levels[q][n]
            if (why := _valid(scenario, {n: value})) is not None:
                problems.append(
                    f"uncertainty.fields.{n}: the {block.fields[n].dist} distribution's "
                    f"{q:.0%} quantile, {value:.6g}, is not a valid {n} ({why}); every "
                    "sample must be a valid value of the field")
                break
    return problems


def _valid(scenario: Scenario, values: dict[str, float]) -> str | None:
    """Why ``scenario`` with ``values`` in place is invalid (its first problem), or None."""
    try:
        scenario.replace(values)
    except ScenarioError as exc:
        return exc.problems[0]
    return None


def draw(marginals: Sequence[Marginal], correlation: np.ndarray, count: int,
         rng: np.random.Generator) -> list[np.ndarray]:
    """``count`` joint samples, one array (count,) per input.

    Normal scores are correlated, then mapped through each marginal. Uncorrelated inputs
    draw their scores one input at a time: the same stream as one (k, count) draw, without
    its large temporary.
    """
    k = len(marginals)
    if np.array_equal(correlation, np.eye(k)):
        scores = [rng.standard_normal(count) for _ in range(k)]
    else:
        scores = list(np.linalg.cholesky(correlation) @ rng.standard_normal((k, count)))
    return [m.from_score(score) for m, score in zip(marginals, scores, strict=True)]


def _salib_problem(scenario: Scenario, names: list[str]) -> dict[str, Any]:
    block = scenario.uncertainty
    assert block is not None
    bounds, dists = [], []
    for n in names:
        d = block.fields[n]
        if d.dist == "normal":
            bounds.append([d.mean, d.sd])
            dists.append("norm")
        elif d.dist == "lognormal":
            assert d.median is not None
            bounds.append([math.log(d.median), d.sigma])
            dists.append("lognorm")
        else:
            bounds.append([d.low, d.high])
            dists.append("unif")
    return {"num_vars": len(names), "names": names, "bounds": bounds, "dists": dists}


def _bootstrap_problem(names: list[str], rows: np.ndarray) -> dict[str, Any]:
    """Normal (exponents) or lognormal (positive coefficients) marginals of the refits."""
    bounds, dists = [], []
    for j, _ in enumerate(names):
        column = rows[:, j]
        if np.all(column > 0) and np.ptp(np.log(column)) > 0.5:
            logs = np.log(column)
            bounds.append([float(logs.mean()), float(logs.std(ddof=1))])
            dists.append("lognorm")
        else:
            bounds.append([float(column.mean()), float(column.std(ddof=1))])
            dists.append("norm")
    return {"num_vars": len(names), "names": names, "bounds": bounds, "dists": dists}


# ---------------------------------------------------------------------- analysis

def uncertainty(scenario: Scenario, samples: int = 10_000, *,
                scenario_path: str | Path | None = None, source: str = "auto", seed: int = 0,
                sobol: bool = True, robust: bool = False, jobs: int = 1,
                tol: float = DEFAULT_TOLERANCE,
                progress: Progress | None = None) -> UncertaintyAnalysis:
    """Sample the uncertain inputs, solve each sample, and summarise.

    Parameters
    ----------
    scenario : Scenario
        The scenario; its nominal plan is the point estimate.
    samples : int
        Samples for the quantiles and regret (the Sobol analysis adds about as many).
    scenario_path : path, optional
        Where the scenario was read from: a bootstrap's samples file is beside it.
    source : {"auto", "bootstrap", "scenario"}
        ``auto``: the scenario's ``uncertainty`` block if it has one, else its bootstrap.
    seed : int
        Seed of numpy's default generator (and of SALib's sampler).
    sobol, robust : bool
        Whether to compute Sobol indices and the robust plan.
    jobs : int
        joblib workers for the solves.
    """
    options.expect(scenario, Scenario, "uncertainty's scenario", options.LOAD)
    options.count("--samples", samples, least=1)
    options.jobs(jobs)
    options.fraction("--tol", tol)
    # Each sample is a solved point; the Sobol analysis adds about as many again.
    options.fits_in_memory("--samples", samples * (2 if sobol else 1),
                           "solves (with the Sobol analysis's)", POINT_BYTES,
                           advice="10,000 samples give the 5% and 95% quantiles to "
                                  "about a percent")
    if source not in ("auto", "bootstrap", "scenario"):
        raise ScenarioError(f"--source {source!r}: use auto, bootstrap or scenario")
    if source == "auto":
        fitted = scenario.fit is not None and scenario.fit.bootstrap is not None
        source = "bootstrap" if scenario.uncertainty is None and fitted else "scenario"
    nominal = solve(scenario, tol=tol)
    rng = np.random.default_rng(seed)
    notes: list[str] = []
    if source == "scenario":
        names, marginals, correlation = declared(scenario)
        inputs = dict(zip(names, draw(marginals, correlation, samples, rng), strict=True))
        salib = _salib_problem(scenario, names)
        if scenario.uncertainty is not None and scenario.uncertainty.correlations:
            notes.append("Sobol indices assume independent inputs: the declared "
                         "correlations are used for the quantiles and regret only")
    else:
        from optimizer.fitting.fitted import read_samples

        if scenario_path is None:
            raise ScenarioError("a bootstrap source needs the scenario's file path")
        boot = read_samples(scenario_path, scenario)
        # A parameter the fit held (--fix) is the same in every refit: not uncertain.
        varying = [j for j in range(len(boot.names)) if np.ptp(boot.samples[:, j]) > 0]
        names = [f"law.{boot.names[j]}" for j in varying]
        rows = boot.samples[rng.integers(0, len(boot.samples), samples)]
        inputs = {n: rows[:, j] for n, j in zip(names, varying, strict=True)}
        salib = _bootstrap_problem(names, boot.samples[:, varying])
        notes.append("Sobol indices use normal or lognormal marginals fitted to the "
                     "bootstrap, independent of each other")
    committed = dict(nominal.allocation)  # every resource, in case a sample adds a lever
    advance = progress("samples", samples) if progress else None
    table, _ = solve_many(scenario, inputs, tol=tol, jobs=jobs, progress=advance,
                          committed=committed)
    failed = samples - int(np.count_nonzero(optimal_rows(table)))
    if failed == samples:
        raise _every_sample_failed(table)
    if failed:
        notes.append(f"{failed} of {samples} samples have no optimal plan (status and "
                     "reason per sample in the table); quantiles use the others")
    indices = _sobol(scenario, salib, samples, seed, tol, jobs, progress, notes) if sobol \
        else {}
    best = _robust(nominal, inputs, table) if robust else None
    return UncertaintyAnalysis(nominal, source, inputs, table, indices, tuple(notes), best)


def _every_sample_failed(table: Mapping[str, np.ndarray]) -> OptimizerError:
    """The error for a run in which no sample has a plan: the commonest reason, by kind.

    Invalid samples are bad input (exit 2); infeasible or unbounded ones mean no plan
    exists (exit 3); solver failures are exit 4.
    """
    statuses, counts = np.unique(table["status"], return_counts=True)
    status = str(statuses[counts.argmax()])
    reason = str(table["reason"][np.flatnonzero(table["status"] == status)[0]])
    tally = ", ".join(f"{c} {s}" for s, c in zip(statuses, counts, strict=True))
    message = f"every sample failed ({tally}); the first {status} one: {reason}"
    kind = {"invalid": ScenarioError, "infeasible": InfeasibleError,
            "unbounded": UnboundedError}.get(status, SolverError)
    return kind(message)


def _sobol(scenario: Scenario, problem: dict[str, Any], samples: int, seed: int, tol: float,
           jobs: int, progress: Progress | None, notes: list[str]
           ) -> dict[str, dict[str, dict[str, float]]]:
    from SALib.analyze import sobol as analyze
    from SALib.sample import sobol as sample

    k = problem["num_vars"]
    base = 2 ** max(3, int(math.log2(max(1, samples // (k + 2)))))
    points = sample.sample(problem, base, calc_second_order=False, seed=seed)
    inputs = {n: points[:, j] for j, n in enumerate(problem["names"])}
    advance = progress("Sobol samples", len(points)) if progress else None
    table, _ = solve_many(scenario, inputs, tol=tol, jobs=jobs, progress=advance)
    out: dict[str, dict[str, dict[str, float]]] = {}
    for o in OUTPUTS:
        if o == "loss" and not scenario.law.predicts_loss:
            continue
        y = table[o]
        if not np.all(np.isfinite(y)):
            notes.append(f"no Sobol indices for {o}: some Sobol samples have no plan")
            continue
        if np.ptp(y) <= 1e-9 * np.abs(y).max():
            continue  # constant output (C under a fixed budget): nothing to apportion
        found = analyze.analyze(problem, y, calc_second_order=False, seed=seed)
        out[o] = {n: {"S1": float(found["S1"][j]), "S1_conf": float(found["S1_conf"][j]),
                      "ST": float(found["ST"][j]), "ST_conf": float(found["ST_conf"][j])}
                  for j, n in enumerate(problem["names"])}
    return out


def _robust(nominal: Plan, inputs: dict[str, np.ndarray], table: dict[str, np.ndarray]
            ) -> dict[str, float] | None:
    """The plan minimising expected loss within the nominal budget.

    Loss mode only, and only under a law that predicts a loss.
    """
    from scipy.optimize import minimize

    from optimizer.model.problem import Problem

    if nominal.mode != "loss" or not nominal.scenario.law.predicts_loss:
        return None
    problem = nominal.problem
    base = nominal.scenario.model_dump(exclude_unset=True)
    ok = np.flatnonzero(optimal_rows(table))[:ROBUST_SAMPLES]
    problems = []
    for i in ok:
        data = copy.deepcopy(base)
        for path, column in inputs.items():
            set_path(data, path, float(column[i]))
        problems.append(Problem.from_scenario(parse_scenario(data), problem.region))
    levers = list(problem.levers)
    x0 = np.log([nominal.allocation[r] for r in levers])

    def expected(u: np.ndarray) -> float:
        x = dict(zip(levers, np.exp(u), strict=True))
        return float(np.mean([p.loss(x) for p in problems]))

    def budget(u: np.ndarray) -> float:
        x = dict(zip(levers, np.exp(u), strict=True))
        return 1 - float(problem.cost(x)) / problem.budget

    bounds = [(math.log(problem.lower[r]) if problem.lower[r] > 0 else None,
               math.log(problem.upper[r]) if math.isfinite(problem.upper[r]) else None)
              for r in levers]
    found = minimize(expected, x0, method="SLSQP", bounds=bounds,
                     constraints=[{"type": "ineq", "fun": budget}],
                     options={"ftol": 1e-14, "maxiter": 500})
    x = dict(zip(levers, np.exp(found.x), strict=True))
    amounts = problem.amounts(x)
    return {"N": float(amounts["N"]), "D": float(amounts["D"]), "C": float(amounts["C"]),
            "expected_loss": float(found.fun), "nominal_expected_loss": expected(x0),
            "samples": len(problems), "converged": bool(found.success)}
