r"""Fitting a loss law to training runs, and how sure the fit is.

The estimator is that of Hoffmann et al. 2022 (appendix D.2), kept by Besiroglu et
al. 2024: minimise the Huber loss of the log residuals,

.. math::

    \min_\theta \sum_i \mathrm{Huber}_\delta\!\left(\log \hat L(x_i; \theta) - \log L_i\right),
    \qquad \mathrm{Huber}_\delta(r) = \begin{cases} r^2/2 & |r| \le \delta \\
    \delta(|r| - \delta/2) & \text{otherwise,} \end{cases}

with :math:`\delta = 10^{-3}` by default. Coefficients are fitted through their logs
(so they stay positive) and exponents directly, within :data:`EXPONENT_BOUNDS`.

**Starts by variable projection.** Every law here is linear in its coefficients once
its exponents are fixed: :math:`L = E + A N^{-\alpha} + B D^{-\beta}` is linear in
:math:`(E, A, B)`, and Kaplan's :math:`L^{1/\alpha_D}` is linear in
:math:`(N_c^{\alpha_N/\alpha_D}, D_c)`. So for each point of a grid of exponents the
coefficients are solved exactly, as a non-negative least-squares problem in the
relative residual (the first-order form of the log residual), and the grid point is
scored by this least-squares profile. The best few distinct grid points are zoomed in
on with finer grids, then seed L-BFGS-B on the full Huber problem with its analytic
Jacobian, and the best result wins. The grid spans every exponent from 0.01 to 2, so
the answer does not depend on a lucky start; how many starts reached the best
objective is reported.

**One formula.** Each model here evaluates its law in parameter space (it needs the
Jacobian in the parameters, which :class:`~optimizer.model.laws.Law` does not give); the
tests check :meth:`Model.log_predict` against :meth:`~optimizer.model.laws.Law.value` of
the law it builds, so the two cannot drift apart.

**Uncertainty** comes from the bootstrap (Efron & Tibshirani 1993): resample the runs
with replacement (repeats of one configuration together, as a cluster), refit each
resample from the full fit's point estimate, and read percentile intervals off the
refits. Refits that end degenerate (see :func:`degeneracy`) are counted and left out.
A resample moves the optimum only a little from the full fit's, so one polish from
there finds it: on the 240 Chinchilla runs, 200 refits from the point estimate gave
the same 95% intervals, to four digits, as refits that also searched two grid starts
each. The refits of a bootstrap are one batched problem (:func:`polish`), every
resample a weighting of the same runs, solved together in numpy: on those runs, the
same refits as one L-BFGS-B polish each, to 1e-13 of the objective, 32x faster on one
core (benchmarks/bench_fit.py).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import TypeAdapter
from scipy.optimize import minimize

from optimizer.errors import ScenarioError
from optimizer.fitting.runs import Runs
from optimizer.model.fields import EXPONENT_RANGE
from optimizer.model.laws import AnyLaw, Law
from optimizer.parallel import one_thread

DELTA = 1e-3
"""Huber threshold on log residuals (Hoffmann et al. 2022, appendix D.2)."""
EXPONENT_BOUNDS = (EXPONENT_RANGE[0], 5.0)
"""Exponents are fitted within these bounds; a fit that ends on one is degenerate. The
lower is the schema's least exponent (:data:`~optimizer.model.fields.EXPONENT_RANGE`), so
every fitted law is a valid law (it was 1e-4: a fit could end between the two, flag
nothing, and give a law the schema refuses)."""
GRID = (0.01, 2.0)
"""Range of each exponent on the variable-projection grid (log-spaced)."""
GRID_SIZE = 400
"""About this many grid points in all: 400 for one exponent, 20 x 20 for two."""
STARTS = 4
"""Distinct grid points refined by L-BFGS-B."""
BLOCK = 1 << 20
"""Grid points times runs profiled at once (8 MiB per array per term)."""
SEPARATION = 2.5
"""Grid steps (in log exponent) that separate two starts."""
ZOOMS = 3
"""Finer grids around each start before L-BFGS-B."""
NEGLIGIBLE = 1e-6
"""A term whose share of the predicted loss stays below this at every run is degenerate."""
SPARE = 3
"""Fewer spare runs (runs minus free parameters) than this get a warning."""
DECAY_BOUNDS = (math.log(1e-3), math.log(1e6))
"""L-BFGS-B bounds on the log of the data-constrained law's decay constants R_D* and
R_N* (the schema's least is 0.001; beyond 1e6 repeats are as good as fresh data)."""
DECAY_GRID = 13
"""Grid points per decay constant in the data-constrained law's starts."""
CONDITION = 1e8
"""Largest condition number of the (column-scaled) Jacobian of a usable fit. Fits of
real runs have 1e2 to 1e3; collinear parameters give about 1e16."""
CORRELATION = 0.99
"""Correlation of two estimates (from the fit's curvature, :func:`correlations`) above
which the report warns that the runs barely separate them. Fits of well-spread runs
stay below 0.97 (0.96 on the 240 Chinchilla runs); runs from a narrow range of N, or
only far beyond the N term's reach, give 0.9999 between E and the N term, and their
fitted E is then off by up to 30% (tests/test_fit.py)."""

Method = Literal["huber", "ols"]

_LAW = TypeAdapter(AnyLaw)


class FitError(ScenarioError):
    """The runs do not determine the law: too few, or the best fit is degenerate."""


# ----------------------------------------------------------------------------- models

class Model(ABC):
    """A law form in parameter space: log prediction, Jacobian and starting grid."""

    form: str
    """The law's ``form`` in a scenario."""
    names: tuple[str, ...]
    """The law's fields fitted, as dotted paths (``exponents.N`` for a power law)."""
    bounds: Sequence[tuple[float | None, float | None]]
    """L-BFGS-B bounds on the parameter vector theta."""
    exponents: tuple[int, ...]
    """Indices of theta that are exponents (bounded by :data:`EXPONENT_BOUNDS`)."""
    resources: tuple[str, ...]
    """The resources (N, D, C) the loss depends on."""

    @abstractmethod
    def log_predict(self, theta: np.ndarray, logs: dict[str, np.ndarray]
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Log predicted loss (n,), its Jacobian in theta (p, n) and term shares (m, n).

        ``logs`` holds log N, log D and log C of the runs (and log U when they give it:
        :class:`DataConstrainedModel`). ``theta`` may carry leading
        batch axes, (..., p): the outputs then carry them too, (..., n), (..., p, n) and
        (..., m, n), which is how the bootstrap refits every resample at once.
        """

    needs_data: bool = False
    """Whether the law reads each run's unique tokens U (the runs must give them)."""
    projects: bool = True
    """Whether the law is linear in its coefficients once its exponents are fixed, so
    that :meth:`profiles` solves them (variable projection) and :meth:`seeds` searches
    a grid of exponents. A model without it gives its own :meth:`seeds`."""

    def profiles(self, points: np.ndarray, runs: Runs, fixed: dict[int, float] | None = None,
                 tied: Sequence[Sequence[int]] = ()) -> tuple[np.ndarray, np.ndarray]:
        """Theta (G, p) and log predictions (G, n) at the exponents ``points`` (G, k).

        The coefficients are solved exactly; rows without a solution are NaN. ``fixed``
        (theta index -> the coefficient's value) and ``tied`` (groups of theta indices
        sharing one value) constrain the coefficients (see :class:`Constrained`).
        Only for models that :attr:`projects`.
        """
        raise NotImplementedError(f"the {self.form} law has no variable projection")

    @abstractmethod
    def values(self, theta: np.ndarray) -> dict[str, float]:
        """The law's fields (dotted paths, as :attr:`names`) at ``theta``."""

    @abstractmethod
    def theta(self, values: dict[str, float]) -> np.ndarray:
        """The inverse of :meth:`values`."""

    def centring(self, theta: np.ndarray, logs: dict[str, np.ndarray]) -> np.ndarray:
        """Linear map (p, p) from theta to coordinates whose correlations mean something.

        A coefficient fitted at x = 1, far from the runs, correlates with its own
        exponent whatever the runs (about 0.999: a line's intercept with its slope far
        from the data). :class:`SumOfPowers` measures each coefficient's term at the
        runs instead; the default is theta itself.
        """
        return np.eye(self.size)

    @property
    def size(self) -> int:
        """Number of fitted (free) parameters."""
        return len(self.names)

    @property
    def fields(self) -> tuple[str, ...]:
        """Every field of the law, fitted or held (:attr:`names` when none is held)."""
        return self.names

    @property
    def coefficient_names(self) -> list[str]:
        """The law's coefficients, in the order of the term shares of :meth:`log_predict`."""
        return [n for i, n in enumerate(self.names) if i not in self.exponents]

    @property
    def tied(self) -> tuple[str, ...]:
        """Fields fitted as another field (tied to it), which is in :attr:`names`."""
        return ()

    def law(self, theta: np.ndarray) -> Law:
        """The scenario law at ``theta``."""
        return law_from(self.form, self.values(theta))

    def seeds(self, runs: Runs, count: int, fixed: dict[str, float] | None = None,
              tied: Sequence[Sequence[str]] = ()) -> list[np.ndarray]:
        """Up to ``count`` starting thetas from the variable-projection grid.

        ``fixed`` and ``tied`` (by name) are for models that do not :attr:`projects`;
        here :class:`Constrained` applies them through :meth:`profiles`.

        The grid points are scored by their least-squares profile (the sum of squared
        log residuals with the coefficients solved exactly); the best ``count`` points
        at least :data:`SEPARATION` grid steps apart are each zoomed in on
        (:data:`ZOOMS` finer 9-point-per-axis grids, each a quarter as wide).
        """
        k = len(self.exponents)
        per_axis = max(8, round(GRID_SIZE ** (1 / k)))
        axis = np.linspace(math.log(GRID[0]), math.log(GRID[1]), per_axis)
        step = float(axis[1] - axis[0])
        points = np.array(np.meshgrid(*[axis] * k, indexing="ij")).reshape(k, -1).T
        scores, _ = self._scored(points, runs)
        chosen: list[np.ndarray] = []
        for g in np.argsort(scores):
            if not np.isfinite(scores[g]) or len(chosen) == count:
                break
            if all(np.max(np.abs(points[g] - c)) > SEPARATION * step for c in chosen):
                chosen.append(points[g])
        return [self._zoom(point, runs, step) for point in chosen]

    def _scored(self, log_points: np.ndarray, runs: Runs) -> tuple[np.ndarray, np.ndarray]:
        """Least-squares profile score (inf where unsolved) and theta at each point.

        The profiles are computed a block of grid points at a time, each block holding
        about :data:`BLOCK` values per term, so memory stays proportional to the runs.
        """
        size = max(1, BLOCK // runs.loss.size)
        scores, thetas = [], []
        for start in range(0, len(log_points), size):
            block_thetas, predictions = self.profiles(np.exp(log_points[start:start + size]),
                                                      runs)
            with np.errstate(invalid="ignore"):
                scores.append(((predictions - np.log(runs.loss)) ** 2).sum(axis=1))
            thetas.append(block_thetas)
        score = np.concatenate(scores)
        return np.where(np.isfinite(score), score, np.inf), np.concatenate(thetas)

    def _zoom(self, point: np.ndarray, runs: Runs, step: float) -> np.ndarray:
        """Theta at the best of successively finer grids centred on ``point``."""
        k = point.size
        low, high = np.log(EXPONENT_BOUNDS)
        offsets = np.linspace(-1, 1, 9)
        grid = np.array(np.meshgrid(*[offsets] * k, indexing="ij")).reshape(k, -1).T
        for _ in range(ZOOMS):
            candidates = np.clip(point + step * grid, low, high)
            point, step = candidates[int(np.argmin(self._scored(candidates, runs)[0]))], step / 4
        return self._scored(point[None, :], runs)[1][0]


@dataclass(frozen=True)
class Term:
    """One term c * prod_r x_r^(-p_r) of a sum of powers."""

    coefficient: str
    """The law field holding c (its log is fitted)."""
    powers: tuple[tuple[str, str, float], ...] = ()
    """(resource, law field, sign): the field holds sign * p_r."""


class SumOfPowers(Model):
    r"""A law :math:`L = \sum_j c_j \prod_r x_r^{-p_{jr}}` (Chinchilla; power law + floor).

    With :math:`t_j = \log c_j - \sum_r p_{jr} \log x_r` and
    :math:`w_j = e^{t_j} / \sum_k e^{t_k}` (each term's share of the loss),

    .. math::

        \log L = \log \sum_j e^{t_j}, \qquad
        \frac{\partial \log L}{\partial \log c_j} = w_j, \qquad
        \frac{\partial \log L}{\partial p_{jr}} = -w_j \log x_r.
    """

    def __init__(self, form: str, terms: Sequence[Term]):
        self.form, self.terms = form, tuple(terms)
        self.powers = [(j, r, name, sign) for j, term in enumerate(self.terms)
                       for r, name, sign in term.powers]
        m = len(self.terms)
        self.names = tuple(t.coefficient for t in self.terms) + tuple(
            name for _, _, name, _ in self.powers)
        self.exponents = tuple(range(m, m + len(self.powers)))
        self.bounds = [(None, None)] * m + [EXPONENT_BOUNDS] * len(self.powers)
        self.resources = tuple(r for r in ("N", "D", "C")
                               if any(r == q for _, q, _, _ in self.powers))

    def log_predict(self, theta, logs):  # noqa: D102
        m, batch = len(self.terms), theta.shape[:-1]
        t = np.empty((*batch, m, logs["N"].shape[-1]))
        t[:] = theta[..., :m, None]
        for i, (j, r, _, _) in enumerate(self.powers):
            t[..., j, :] -= theta[..., m + i, None] * logs[r]
        top = t.max(axis=-2)
        t -= top[..., None, :]
        weights = np.exp(t, out=t)  # in place: the bootstrap calls this on large batches
        total = weights.sum(axis=-2)
        weights /= total[..., None, :]
        jac = np.empty((*batch, self.size, t.shape[-1]))
        jac[..., :m, :] = weights
        for i, (j, r, _, _) in enumerate(self.powers):
            np.multiply(weights[..., j, :], -logs[r], out=jac[..., m + i, :])
        return top + np.log(total), jac, weights

    def profiles(self, points, runs, fixed=None, tied=()):  # noqa: D102
        logs = _logs(runs)
        m = len(self.terms)
        exponent = np.zeros((points.shape[0], runs.loss.size, m))
        for i, (j, r, _, _) in enumerate(self.powers):
            exponent[:, :, j] -= points[:, i, None] * logs[r]
        basis = np.exp(exponent)
        held = np.zeros(m)
        for j, value in (fixed or {}).items():
            held[j] = value
        coefficients = _constrained_fits(basis / runs.loss[:, None], held, fixed or {}, tied)
        with np.errstate(divide="ignore", invalid="ignore"):
            predictions = np.log(np.einsum("gnm,gm->gn", basis, coefficients))
        thetas = np.concatenate([_safe_log(coefficients, runs.loss), points], axis=1)
        return thetas, predictions

    def centring(self, theta, logs):
        r"""Each term's log at the runs' centre: :math:`\log c_j - \sum_r p_{jr}\bar\ell_r`.

        :math:`\bar\ell_r` is the mean of :math:`\log x_r` over the runs weighted by
        the term's squared share of the loss (the runs that carry information about it),
        which makes the term's size and its exponent as uncorrelated as the runs allow.
        """
        _, _, shares = self.log_predict(theta, logs)
        m, out = len(self.terms), np.eye(self.size)
        for i, (j, r, _, _) in enumerate(self.powers):
            out[j, m + i] = -_centre(shares[j], logs[r])
        return out

    def values(self, theta):  # noqa: D102
        m = len(self.terms)
        out = {t.coefficient: math.exp(theta[j]) for j, t in enumerate(self.terms)}
        out.update({name: sign * float(theta[m + i])
                    for i, (_, _, name, sign) in enumerate(self.powers)})
        return out

    def theta(self, values):  # noqa: D102
        return np.array([math.log(values[t.coefficient]) for t in self.terms]
                        + [values[name] * sign for _, _, name, sign in self.powers])


class KaplanModel(Model):
    r"""Kaplan et al. 2020, eq. 1.5, with :math:`\theta = (\log N_c, \log D_c, \alpha_N, \alpha_D)`.

    With :math:`r = \alpha_N/\alpha_D`, :math:`u = (N_c/N)^r`, :math:`v = D_c/D`,
    :math:`S = u + v` and shares :math:`w_u = u/S`, :math:`w_v = v/S`:

    .. math::

        \log L = \alpha_D \log S, \quad
        \frac{\partial \log L}{\partial \log N_c} = \alpha_N w_u, \quad
        \frac{\partial \log L}{\partial \log D_c} = \alpha_D w_v,

        \frac{\partial \log L}{\partial \alpha_N} = w_u \log\frac{N_c}{N}, \quad
        \frac{\partial \log L}{\partial \alpha_D} = \log S - r\, w_u \log\frac{N_c}{N}.

    For fixed exponents :math:`L^{1/\alpha_D} = N_c^r N^{-r} + D_c D^{-1}` is linear in
    :math:`(N_c^r, D_c)`: the variable-projection step.
    """

    form = "kaplan"
    names = ("N_c", "D_c", "alpha_N", "alpha_D")
    resources = ("N", "D")
    bounds = [(None, None), (None, None), EXPONENT_BOUNDS, EXPONENT_BOUNDS]
    exponents = (2, 3)

    def log_predict(self, theta, logs):  # noqa: D102
        nc, dc, a_N, a_D = (theta[..., k, None] for k in range(4))
        r = a_N / a_D
        gap = nc - logs["N"]
        t = np.stack([r * gap, dc - logs["D"]], axis=-2)
        top = t.max(axis=-2)
        weights = np.exp(t - top[..., None, :])
        total = weights.sum(axis=-2)
        weights /= total[..., None, :]
        log_S = top + np.log(total)
        u, v = weights[..., 0, :], weights[..., 1, :]
        jac = np.stack([a_N * u, a_D * v, u * gap, log_S - r * u * gap], axis=-2)
        return a_D * log_S, jac, weights

    def profiles(self, points, runs, fixed=None, tied=()):  # noqa: D102
        if tied:
            raise ScenarioError("--tie: Kaplan's N_c and D_c cannot be tied (they scale "
                                "different terms); tie alpha_N=alpha_D, or fix either")
        a_N, a_D = points[:, 0, None], points[:, 1, None]
        r = a_N / a_D
        log_response = np.log(runs.loss) / a_D  # log of L^(1/alpha_D), (G, n)
        per_param = np.exp(-r * np.log(runs.N))
        basis = np.stack([per_param, np.broadcast_to(1 / runs.D, per_param.shape)], axis=2)
        fixed = fixed or {}
        held = np.zeros((points.shape[0], 2))  # the held coefficients (N_c^r, D_c)
        if 0 in fixed:
            with np.errstate(over="ignore"):  # an overflowing grid point is left unsolved
                held[:, 0] = fixed[0] ** r[:, 0]
        if 1 in fixed:
            held[:, 1] = fixed[1]
        with np.errstate(over="ignore", invalid="ignore"):
            coefficients = _constrained_fits(basis * np.exp(-log_response)[:, :, None], held,
                                             fixed, ())
            predictions = a_D * np.log(np.einsum("gnm,gm->gn", basis, coefficients))
        scale = np.exp(log_response.mean(axis=1))
        logs = np.log(np.maximum(coefficients, 1e-12 * scale[:, None]))
        return np.column_stack([logs[:, 0] / r[:, 0], logs[:, 1], points]), predictions

    def centring(self, theta, logs):
        r"""Each term's log at the runs' centre, linearised at ``theta``.

        That is :math:`\alpha_N(\log N_c - \bar\ell_N)` and
        :math:`\alpha_D(\log D_c - \bar\ell_D)`. The centres are weighted by each
        term's squared share, as in :meth:`SumOfPowers.centring`.
        """
        _, _, shares = self.log_predict(theta, logs)
        out = np.eye(4)
        for j, (r, exponent) in enumerate((("N", 2), ("D", 3))):
            out[j, j], out[j, exponent] = theta[exponent], theta[j] - _centre(shares[j],
                                                                               logs[r])
        return out

    def values(self, theta):  # noqa: D102
        return {"N_c": math.exp(theta[0]), "D_c": math.exp(theta[1]),
                "alpha_N": float(theta[2]), "alpha_D": float(theta[3])}

    def theta(self, values):  # noqa: D102
        return np.array([math.log(values["N_c"]), math.log(values["D_c"]),
                         values["alpha_N"], values["alpha_D"]])


class DataConstrainedModel(Model):
    r"""Muennighoff et al. 2023 (:class:`~optimizer.model.laws.DataConstrainedLaw`).

    :math:`\theta = (\log E, \log A, \log B, \alpha, \beta, \log R_D^*, \log R_N^*)`. With
    :math:`T_N = A N'^{-\alpha}`, :math:`T_D = B D'^{-\beta}` and
    :math:`L = E + T_N + T_D`, the Jacobian of :math:`\log L` follows the effective
    amounts: :math:`D' = U_D(1 + \rho(1 - e^{-R_D/\rho}))` depends on
    :math:`\rho = R_D^*` only; :math:`N' = U_N(1 + \sigma(1 - e^{-R_N/\sigma}))` on
    :math:`\sigma = R_N^*`, and, for a run with more parameters than the
    Chinchilla-optimal :math:`N_{opt}(U_D) = G^{1+\beta/\alpha} U_D^{\beta/\alpha}`
    (:math:`U_N = N_{opt}`), on the base law through :math:`N_{opt}`:

    .. math::

        \frac{\partial \log N_{opt}}{\partial \log A} = \frac{1}{\alpha}
            = -\frac{\partial \log N_{opt}}{\partial \log B}, \quad
        \frac{\partial \log N_{opt}}{\partial \alpha}
            = \frac{1 - \log\frac{\alpha A}{\beta B} - \beta \log U_D}{\alpha^2}, \quad
        \frac{\partial \log N_{opt}}{\partial \beta} = \frac{\log U_D - 1/\beta}{\alpha},

        \frac{\partial N'}{\partial N_{opt}} = 1 + \sigma(1 - e) - (1 + R_N)\, e, \qquad
        e = e^{-R_N/\sigma}.

    The law is not linear in its coefficients (:math:`N_{opt}` moves with
    :math:`A/B`), so there is no variable projection: the starts are the Chinchilla
    fit's own (:meth:`seeds`), each completed by a grid over the two decay constants.
    Muennighoff et al. hold the base law at a Chinchilla fit and fit
    :math:`R_D^*, R_N^*` alone (``--fix`` the five base parameters), or all jointly.
    """

    form = "data_constrained"
    names = ("E", "A", "B", "alpha", "beta", "R_D_star", "R_N_star")
    resources = ("N", "D")
    exponents = (3, 4)
    bounds = [(None, None)] * 3 + [EXPONENT_BOUNDS] * 2 + [DECAY_BOUNDS] * 2
    projects = False
    needs_data = True

    @property
    def coefficient_names(self) -> list[str]:  # noqa: D102
        return ["E", "A", "B"]  # the terms' (the decay constants shape no term of their own)

    def log_predict(self, theta, logs):  # noqa: D102
        log_E, log_A, log_B, alpha, beta, log_rho, log_sigma = (
            theta[..., k, None] for k in range(7))
        rho, sigma = np.exp(log_rho), np.exp(log_sigma)
        log_N, log_D = logs["N"], logs["D"]
        log_U_D = np.minimum(log_D, logs["U"])
        R_D = np.expm1(log_D - log_U_D)
        grown_D = -np.expm1(-R_D / rho)
        D_eff = np.exp(log_U_D) * (1 + rho * grown_D)
        log_ratio = np.log(alpha) + log_A - np.log(beta) - log_B  # log(alpha A / beta B)
        log_G = log_ratio / (alpha + beta)
        log_N_opt = (1 + beta / alpha) * log_G + beta / alpha * log_U_D
        excess = log_N > log_N_opt
        log_U_N = np.where(excess, log_N_opt, log_N)
        R_N = np.expm1(log_N - log_U_N)
        decay_N = np.exp(-R_N / sigma)
        grown_N = -np.expm1(-R_N / sigma)
        U_N = np.exp(log_U_N)
        N_eff = U_N * (1 + sigma * grown_N)
        log_N_eff, log_D_eff = np.log(N_eff), np.log(D_eff)
        T_N = np.exp(log_A - alpha * log_N_eff)
        T_D = np.exp(log_B - beta * log_D_eff)
        L = np.exp(log_E) + T_N + T_D
        E = np.broadcast_to(np.exp(log_E), L.shape)
        # How log L moves with log N_opt (zero for runs within the optimal size).
        via = np.where(excess, -alpha * T_N / N_eff * (1 + sigma * grown_N
                                                        - (1 + R_N) * decay_N) * U_N, 0.0)
        jac = np.stack([
            E, T_N + via / alpha, T_D - via / alpha,
            -T_N * log_N_eff + via * (1 - log_ratio - beta * log_U_D) / alpha**2,
            -T_D * log_D_eff + via * (log_U_D - 1 / beta) / alpha,
            -beta * T_D / D_eff * np.exp(log_U_D) * (grown_D - R_D / rho * (1 - grown_D))
            * rho,
            -alpha * T_N / N_eff * U_N * (grown_N - R_N / sigma * decay_N) * sigma,
        ], axis=-2) / L[..., None, :]
        return np.log(L), jac, np.stack([E, T_N, T_D], axis=-2) / L[..., None, :]

    def seeds(self, runs, count, fixed=None, tied=()):
        """Starts: the Chinchilla fit's, each completed by a grid of decay constants.

        The Chinchilla starts keep the base parameters held (``fixed``) or tied; the
        decay constants take their held values, or the best of the grid. Chinchilla's
        law is this law with no repetition penalty, so its starts come from the same
        variable-projection grid as a Chinchilla fit. The decay constants are searched
        on a log grid from 0.1 to 1000 (:data:`DECAY_GRID` per axis),
        scored by the Huber objective with the base at the start.
        """
        fixed = dict(fixed or {})
        chinchilla = model_for("chinchilla")
        base = constrain(chinchilla, {n: v for n, v in fixed.items() if n in chinchilla.names},
                         [g for g in tied if all(n in chinchilla.names for n in g)])
        if base.size == 0:
            starts = [chinchilla.theta(fixed)]
        else:
            found = base.seeds(runs, count)
            starts = [base.expand(t) if isinstance(base, Constrained) else t for t in found]
        axis = np.log(np.geomspace(0.1, 1000, DECAY_GRID))
        decays = [np.full(1, math.log(fixed[n])) if n in fixed else axis
                  for n in ("R_D_star", "R_N_star")]
        grid = np.array(np.meshgrid(*decays, indexing="ij")).reshape(2, -1).T
        logs, target = _logs(runs), np.log(runs.loss)
        out = []
        for start in starts:
            candidates = np.column_stack([np.repeat(start[None, :], len(grid), axis=0), grid])
            with np.errstate(all="ignore"):
                r = self.log_predict(candidates, logs)[0] - target
                score = np.where(np.isfinite(r).all(axis=1),
                                 huber(np.nan_to_num(r), DELTA).sum(axis=1), np.inf)
            out.append(candidates[int(np.argmin(score))])
        return out

    def values(self, theta):  # noqa: D102
        return {"E": math.exp(theta[0]), "A": math.exp(theta[1]), "B": math.exp(theta[2]),
                "alpha": float(theta[3]), "beta": float(theta[4]),
                "R_D_star": math.exp(theta[5]), "R_N_star": math.exp(theta[6])}

    def theta(self, values):  # noqa: D102
        return np.array([math.log(values["E"]), math.log(values["A"]), math.log(values["B"]),
                         values["alpha"], values["beta"], math.log(values["R_D_star"]),
                         math.log(values["R_N_star"])])

    def centring(self, theta, logs):
        """The A and B terms taken at the runs, as in :meth:`SumOfPowers.centring`.

        Centred on log N and log D: the effective amounts differ from them only by the
        repetition discounts.
        """
        _, _, shares = self.log_predict(theta, logs)
        out = np.eye(7)
        for j, r, exponent in ((1, "N", 3), (2, "D", 4)):
            out[j, exponent] = -_centre(shares[j], logs[r])
        return out


def _centre(share: np.ndarray, log: np.ndarray) -> float:
    """Mean of ``log`` over the runs, weighted by a term's squared ``share`` of the loss.

    The weight picks the runs that carry information about that term
    (:meth:`Model.centring`).
    """
    weight = share**2
    return float(weight @ log) / max(float(weight.sum()), 1e-300)


class Constrained(Model):
    r"""A model with some parameters held at given values and some tied equal.

    The free vector :math:`\phi` maps to the base model's :math:`\theta = A\phi + h`:
    a held parameter is a constant of :math:`h`, and tied parameters share one column of
    :math:`A`. Predictions and their Jacobian (:math:`A^\top J`) come from the base
    model, and so does the variable-projection grid, over the free exponents only, with
    the coefficients solved under the same constraints. Gadre et al. 2024 tie the two
    exponents of the over-training law (``--tie alpha=beta``) to fit five small runs.
    """

    def __init__(self, base: Model, fixed: dict[str, float], tied: Sequence[Sequence[str]]):
        index = {n: i for i, n in enumerate(base.names)}
        representative = list(range(len(base.names)))
        for group in tied:
            for name in group:
                representative[index[name]] = index[group[0]]
        held = {index[n] for n in fixed}
        self.base, self.form, self.resources = base, base.form, base.resources
        self.needs_data, self.projects = base.needs_data, base.projects
        self.free = [i for i in range(len(base.names))
                     if i not in held and representative[i] == i]
        self.names = tuple(base.names[i] for i in self.free)
        self.exponents = tuple(k for k, i in enumerate(self.free) if i in base.exponents)
        self.bounds = [base.bounds[i] for i in self.free]
        self.map = np.zeros((len(base.names), len(self.free)))
        for i in range(len(base.names)):
            if i not in held:
                self.map[i, self.free.index(representative[i])] = 1.0
        placeholder = {n: fixed.get(n, 1.0) for n in base.names}
        self.offset = np.where([i in held for i in range(len(base.names))],
                               base.theta(placeholder), 0.0)
        self.representative, self.held = representative, held
        self.fixed_values, self.tied_names = dict(fixed), [list(g) for g in tied]
        self.fixed_coefficients = {index[n]: v for n, v in fixed.items()
                                   if index[n] not in base.exponents}
        self.tied_coefficients = [[index[n] for n in group] for group in tied
                                  if index[group[0]] not in base.exponents]

    @property
    def fields(self) -> tuple[str, ...]:  # noqa: D102
        return self.base.names

    @property
    def coefficient_names(self) -> list[str]:  # noqa: D102
        return self.base.coefficient_names

    @property
    def tied(self) -> tuple[str, ...]:  # noqa: D102
        return tuple(n for i, n in enumerate(self.base.names)
                     if i not in self.held and self.representative[i] != i)

    def seeds(self, runs, count, fixed=None, tied=()):  # noqa: D102
        if not self.projects:  # the base's own starts, with the held values kept
            return [theta[self.free] for theta in self.base.seeds(
                runs, count, self.fixed_values, self.tied_names)]
        return super().seeds(runs, count)

    def expand(self, phi: np.ndarray) -> np.ndarray:
        """The base model's theta at the free parameters ``phi``."""
        return phi @ self.map.T + self.offset

    def log_predict(self, theta, logs):  # noqa: D102
        prediction, jac, shares = self.base.log_predict(self.expand(theta), logs)
        return prediction, self.map.T @ jac, shares

    def profiles(self, points, runs, fixed=None, tied=()):  # noqa: D102
        columns = [np.full(len(points), self.offset[i]) if i in self.held
                   else points[:, self.exponents.index(self.free.index(self.representative[i]))]
                   for i in self.base.exponents]
        thetas, predictions = self.base.profiles(np.column_stack(columns), runs,
                                                 self.fixed_coefficients,
                                                 self.tied_coefficients)
        return thetas[:, self.free], predictions

    def centring(self, theta, logs):  # noqa: D102
        return (self.base.centring(self.expand(theta), logs) @ self.map)[self.free]

    def values(self, theta):  # noqa: D102
        return self.base.values(self.expand(theta))

    def theta(self, values):  # noqa: D102
        return self.base.theta(values)[self.free]


def constrain(model: Model, fixed: dict[str, float] | None = None,
              tied: Sequence[Sequence[str]] = ()) -> Model:
    """``model`` with parameters held (``fixed``: name -> value) or tied in groups.

    Raises
    ------
    ScenarioError
        For a name the law does not have, a parameter both held and tied (or twice in
        ties), a tie between an exponent and a coefficient, or a value out of range.
    """
    fixed, tied = dict(fixed or {}), [list(group) for group in tied]
    if not fixed and not tied:
        return model
    known = ", ".join(model.names)
    problems = []
    for option, names in [("--fix", list(fixed)), ("--tie", [n for g in tied for n in g])]:
        for name in names:
            if name not in model.names:
                problems.append(f"{option} {name}: the {model.form} law's parameters are "
                                f"{known}")
    if problems:
        raise ScenarioError(problems)
    exponent = {n for i, n in enumerate(model.names) if i in model.exponents}
    tied_names = [n for group in tied for n in group]
    for name in {n for n in tied_names if tied_names.count(n) > 1 or n in fixed}:
        problems.append(f"--tie {name}: a parameter may be in one tie and not also fixed; "
                        "write a tie of three as a=b=c, or fix each")
    for group in tied:
        if len(group) < 2:
            problems.append(f"--tie {group[0]}: write two names, e.g. --tie alpha=beta")
        elif len({n in exponent for n in group}) > 1:
            problems.append(f"--tie {'='.join(group)}: an exponent cannot be tied to a "
                            "coefficient")
    low, high = EXPONENT_BOUNDS
    for name, value in fixed.items():
        if name in exponent:  # theta holds the exponent as the law's sign makes it positive
            theta = model.theta({n: fixed.get(n, 1.0) for n in model.names})
            size = float(theta[model.names.index(name)])
            if not (math.isfinite(size) and low <= size <= high):
                sign = "positive" if size * value > 0 else "negative"  # theta = sign * value
                problems.append(f"--fix {name}={value!r}: the {model.form} law's {name} is "
                                f"{sign}, of size {low:g} to {high:g}")
        elif not (math.isfinite(value) and value > 0):
            problems.append(f"--fix {name}={value!r}: a coefficient must be positive")
    if problems:
        raise ScenarioError(problems)
    return Constrained(model, fixed, tied)


FORMS = ("chinchilla", "power_law", "kaplan", "data_constrained")
"""Law forms :func:`model_for` can fit."""


def model_for(form: str, resources: Sequence[str] = ("N",), floor: bool = True) -> Model:
    """The model fitting ``form``; ``resources`` and ``floor`` shape a power law."""
    if form == "chinchilla":
        return SumOfPowers(form, [Term("E"), Term("A", (("N", "alpha", 1.0),)),
                                  Term("B", (("D", "beta", 1.0),))])
    if form == "kaplan":
        return KaplanModel()
    if form == "data_constrained":
        return DataConstrainedModel()
    if form == "power_law":
        unknown = [r for r in resources if r not in ("N", "D", "C")]
        if unknown or not resources or len(set(resources)) < len(resources):
            raise ScenarioError(f"--resources {','.join(resources)!r}: give distinct names "
                                "among N, D, C, e.g. --resources N")
        power = Term("k", tuple((r, f"exponents.{r}", -1.0) for r in resources))
        return SumOfPowers(form, [Term("E"), power] if floor else [power])
    raise ScenarioError(f"--law {form!r}: fitting supports {', '.join(FORMS)}")


def law_from(form: str, values: dict[str, float]) -> Law:
    """Build a law from its form and field values (dotted paths for nested fields)."""
    data: dict[str, Any] = {"form": form}
    for name, value in values.items():
        *parents, leaf = name.split(".")
        node = data
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = float(value)
    return _LAW.validate_python(data)


# -------------------------------------------------------------------------- fitting

@dataclass(frozen=True)
class Fit:
    """A fitted law, its residuals and what the fit says about itself."""

    model: Model = field(repr=False)
    runs: Runs = field(repr=False)
    theta: np.ndarray = field(repr=False)
    values: dict[str, float]
    """The law's fitted fields (dotted paths)."""
    method: Method
    delta: float
    objective: float
    """Sum of Huber losses over delta (for ``ols``: the sum of squared log residuals)."""
    residuals: np.ndarray = field(repr=False)
    """log(predicted) - log(observed), per run."""
    starts: int
    """L-BFGS-B starts run (0 for ``ols``)."""
    agreeing: int
    """Starts that reached the best objective (within 1e-7 of it, relative above 1)."""
    problems: tuple[str, ...] = ()
    """Why the fit is degenerate; empty for a usable fit."""
    standard_errors: dict[str, float] | None = None
    """Analytic standard errors (``ols`` only; Huber fits rely on the bootstrap)."""

    @property
    def law(self) -> Law:
        """The fitted law, as a scenario would hold it."""
        return self.model.law(self.theta)

    def quality(self) -> dict[str, float | int]:
        """Goodness of fit, on log loss: Huber, RMSE, largest residual and R^2."""
        r, target = self.residuals, np.log(self.runs.loss)
        worst = int(np.argmax(np.abs(r)))
        spread = float(((target - target.mean()) ** 2).sum())
        return {"points": len(self.runs),
                "huber": float(huber(r, self.delta).mean()),
                "rmse_log": float(np.sqrt(np.mean(r**2))),
                "max_abs_log_residual": float(abs(r[worst])),
                "worst_line": int(self.runs.lines[worst]),
                "r2_log": 1 - float((r**2).sum()) / spread if spread > 0 else math.nan}


def huber(r: np.ndarray, delta: float) -> np.ndarray:
    """Huber loss of each residual (quadratic within delta, linear beyond)."""
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))


SPREAD = 0.1
"""Least spread (standard deviation, in e-folds: about 10%) the runs must have along
every direction of the log resources the law depends on; with less, those terms
cannot be told apart and the fit is an artefact of noise."""


def identifiability(runs: Runs, model: Model) -> list[str]:
    """Why ``runs`` cannot identify ``model``'s terms (empty when they can).

    Each resource the law depends on must vary across the runs, and the resources
    must not move together: runs all at D = 20 N fit any split between the N and D
    terms equally well, so the plan they give is arbitrary (a 5x error in N, outside
    the bootstrap's own interval, in a test).
    """
    return _identifiability(runs, model, np.ones((1, len(runs))))[0]


def _identifiability(runs: Runs, model: Model, weights: np.ndarray) -> list[list[str]]:
    """:func:`identifiability` of each resample, given as counts of the runs (K, n)."""
    names = list(model.resources)
    logs = np.column_stack([np.log(getattr(runs, r)) for r in names])
    share = weights / weights.sum(axis=-1, keepdims=True)
    centred = (logs - (share @ logs)[:, None, :]) * np.sqrt(share)[..., None]
    spreads = np.sqrt((centred**2).sum(axis=1))
    if len(names) >= 2:  # the least spread along any direction, and that direction
        variance, axes = np.linalg.eigh(np.swapaxes(centred, 1, 2) @ centred)
        least = np.sqrt(np.maximum(variance[:, :1], 0))
        directions = np.swapaxes(axes, 1, 2)[:, :1]
    found = []
    for k, spread in enumerate(spreads):
        problems = [f"every run has nearly the same {r} (spread {v:.2g} e-folds): the "
                    f"law's {r} term cannot be fitted; add runs at other {r}"
                    for r, v in zip(names, spread, strict=True) if v < SPREAD]
        if len(names) >= 2 and not problems and least[k, 0] < SPREAD:
            weight = directions[k, 0] / np.abs(directions[k, 0]).max()
            moving = [r for r, w in zip(names, weight, strict=True) if abs(w) > 0.1]
            ratio = ", ".join(moving[:-1]) + f" and {moving[-1]}"
            a, b = names[0], names[1]
            median = float(np.median(getattr(runs, b) / getattr(runs, a)))
            problems.append(f"{ratio} move together across the runs (e.g. {b}/{a} is "
                            f"about {median:.3g} in every run; spread {least[k, 0]:.2g} "
                            "e-folds), so their terms cannot be told apart and the plan "
                            f"would be arbitrary; add runs at other ratios of {ratio}")
        found.append(problems)
    return found


def fit(runs: Runs, model: Model, *, method: Method = "huber", delta: float = DELTA,
        starts: int = STARTS, extra: Iterable[np.ndarray] = ()) -> Fit:
    """Fit ``model`` to ``runs``.

    Parameters
    ----------
    runs : Runs
        The training runs.
    model : Model
        The law form (see :func:`model_for`).
    method : {"huber", "ols"}
        ``huber``: Huber loss on log residuals from a variable-projection grid of
        starts. ``ols``: ordinary least squares of log L on log x, for a power law in
        one resource without a floor (the textbook log-log line).
    delta : float
        Huber threshold.
    starts : int
        Distinct grid points refined by L-BFGS-B.
    extra : iterable of ndarray
        Further starting thetas (the bootstrap adds the full fit).

    Raises
    ------
    FitError
        When there are too few runs for the law's parameters.
    """
    if method == "ols" and not _is_line(model):
        raise ScenarioError("--method ols fits a power law in one resource without a "
                            "floor: use --law power_law --resources N --no-floor")
    if model.needs_data and runs.U is None:
        raise FitError(f"the {model.form} law needs each run's unique tokens U (D / U "
                       "epochs): add a column U (or unique_tokens), or name yours with "
                       "--u-column", runs.path)
    if len(runs) <= model.size:
        counted = "1 run" if len(runs) == 1 else f"{len(runs)} runs"
        raise FitError(f"{counted} cannot determine the {model.form} law's {model.size} "
                       f"parameters ({', '.join(model.names)}); give at least "
                       f"{model.size + 1}", runs.path)
    unidentified = identifiability(runs, model)
    if unidentified:
        raise FitError(unidentified, runs.path)
    if method == "ols":
        return _ols(runs, model)
    with one_thread():  # small matrices: a BLAS thread pool only gets in the way
        return _huber_fit(runs, model, delta, starts, extra)


def _huber_fit(runs: Runs, model: Model, delta: float, starts: int,
               extra: Iterable[np.ndarray]) -> Fit:
    """The Huber fit of :func:`fit`, from the variable-projection starts and ``extra``."""
    logs, target = _logs(runs), np.log(runs.loss)

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        prediction, jac, _ = model.log_predict(theta, logs)
        r = prediction - target
        return float(huber(r, delta).sum() / delta), jac @ np.clip(r, -delta, delta) / delta

    results = []
    chosen = model.seeds(runs, starts) if starts else []
    for start in [*chosen, *extra]:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            found = minimize(objective, start, jac=True, method="L-BFGS-B",
                             bounds=model.bounds,
                             options={"maxiter": 5000, "ftol": 1e-15, "gtol": 1e-12,
                                      "maxcor": 20})
        if np.isfinite(found.fun):
            results.append((float(found.fun), found.x))
    if not results:
        return Fit(model, runs, np.full(model.size, np.nan), {}, "huber", delta, math.inf,
                   np.full(len(runs), np.nan), 0, 0, ("no start reached a finite objective",))
    results.sort(key=lambda item: item[0])
    best, theta = results[0]
    agreeing = sum(value <= best + 1e-7 * max(abs(best), 1.0) for value, _ in results)
    residuals = model.log_predict(theta, logs)[0] - target
    return Fit(model, runs, theta, model.values(theta), "huber", delta, best, residuals,
               len(results), agreeing, degeneracy(model, theta, runs))


def _ols(runs: Runs, model: Model) -> Fit:
    """Least squares of log L on log x: slope = the exponent, intercept = log k."""
    from scipy.stats import linregress

    assert isinstance(model, SumOfPowers)  # by _is_line
    _, r, name, _ = model.powers[0]
    x, y = np.log(runs.amounts()[r]), np.log(runs.loss)
    if np.ptp(x) == 0:
        raise FitError(f"every run has the same {r}; the slope is undetermined", runs.path)
    line: Any = linregress(x, y)  # slope, intercept and their standard errors
    theta = np.array([line.intercept, -line.slope])
    residuals = line.intercept + line.slope * x - y
    problems = () if line.slope < 0 else (
        f"the loss does not fall with {r} (slope {line.slope:+.4g})",)
    k = math.exp(line.intercept)
    return Fit(model, runs, theta, model.values(theta), "ols", DELTA,
               float((residuals**2).sum()), residuals, 0, 0, problems,
               {"k": k * line.intercept_stderr, name: float(line.stderr)})


def _is_line(model: Model) -> bool:
    """Whether ``model`` is a power law in one resource without a floor (log-log line)."""
    return (isinstance(model, SumOfPowers) and model.form == "power_law"
            and len(model.terms) == 1 and len(model.powers) == 1)


def degeneracy(model: Model, theta: np.ndarray, runs: Runs) -> tuple[str, ...]:
    """Why ``theta`` is not a usable fit (empty if it is).

    Reasons: an exponent on its bound, a vanished term, or parameters whose effects on
    the runs cannot be told apart.
    """
    return _degeneracy(model, theta[None], _logs(runs), np.ones((1, len(runs))))[0]


def _degeneracy(model: Model, thetas: np.ndarray, logs: dict[str, np.ndarray],
                weights: np.ndarray) -> list[tuple[str, ...]]:
    """:func:`degeneracy` of each fit ``thetas`` (K, p) to a resample of the runs.

    The resamples are given as counts of the runs (K, n): a run drawn twice counts
    twice, one not drawn not at all.
    """
    low, high = EXPONENT_BOUNDS
    _, jac, shares = model.log_predict(thetas, logs)
    largest = np.where(weights[:, None, :] > 0, shares, 0.0).max(axis=-1)
    scaled = np.swapaxes(jac * np.sqrt(weights)[:, None, :], 1, 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        columns = scaled / np.linalg.norm(scaled, axis=1, keepdims=True)
    effective = np.all(np.isfinite(columns), axis=(1, 2))  # else a parameter does nothing
    columns[~effective] = 0
    # The condition number from the columns' Gram matrix where that is exact enough
    # (its least eigenvalue far above rounding), else from their SVD.
    eigenvalues, eigenvectors = np.linalg.eigh(np.swapaxes(columns, 1, 2) @ columns)
    with np.errstate(divide="ignore", invalid="ignore"):
        condition = np.sqrt(eigenvalues[:, -1] / eigenvalues[:, 0])
    directions = eigenvectors[:, :, 0]
    close = effective & ~(eigenvalues[:, 0] > 1e-12 * eigenvalues[:, -1])
    if close.any():
        _, singular, vh = np.linalg.svd(columns[close], full_matrices=False)
        with np.errstate(divide="ignore"):
            condition[close] = singular[:, 0] / singular[:, -1]
        directions[close] = vh[:, -1]
    found = []
    for k, theta in enumerate(thetas):
        problems = []
        for i in model.exponents:
            name = model.names[i]
            if abs(theta[i]) <= low * 1.01:
                problems.append(f"{name} fell to its lower bound {low:g}: the term it "
                                "shapes is flat over these runs")
            elif abs(theta[i]) >= high * 0.99:
                problems.append(f"{name} rose to its upper bound {high:g}")
        for i, (lo, hi) in enumerate(model.bounds):  # a decay constant at an end
            if i not in model.exponents and lo is not None and hi is not None and not (
                    lo + 0.01 < theta[i] < hi - 0.01):
                problems.append(f"{model.names[i]} reached the end of its range "
                                f"({math.exp(theta[i]):.3g}): the runs do not determine it "
                                "(repetitions or excess parameters that cost nothing, or "
                                "everything)")
        for name, share in zip(model.coefficient_names, largest[k], strict=True):
            if share < NEGLIGIBLE:
                problems.append(f"the {name} term vanished (under {NEGLIGIBLE:g} of the "
                                "loss at every run), so the runs do not determine it")
        if not effective[k]:
            problems.append("a parameter has no effect on the predicted loss at any run")
        elif condition[k] > CONDITION:
            size = np.abs(directions[k])
            tangled = [n for n, w in zip(model.names, size, strict=True) if w > 0.1 * size.max()]
            problems.append(f"the runs cannot tell {', '.join(tangled)} apart (their "
                            f"effects on the loss are collinear; condition number "
                            f"{condition[k]:.2g})")
        found.append(tuple(problems))
    return found


def correlations(result: Fit, centring: np.ndarray | None = None) -> np.ndarray:
    r"""Correlation matrix (p, p) of the fitted parameters, from the fit's curvature.

    The covariance is taken as :math:`(J J^\top)^{-1}`, the Gauss-Newton information of
    the log residuals at the optimum (the noise level scales it and cancels in a
    correlation), in the coordinates of :meth:`Model.centring`. It depends on where the
    runs are, not on the bootstrap, so it is there without one. ``centring`` may be
    given when the caller has it already.
    """
    logs = _logs(result.runs)
    _, jac, _ = result.model.log_predict(result.theta, logs)
    if centring is None:
        centring = result.model.centring(result.theta, logs)
    with np.errstate(all="ignore"):
        covariance = centring @ np.linalg.pinv(jac @ jac.T) @ centring.T
        scale = np.sqrt(np.diag(covariance))
        return covariance / np.outer(scale, scale)


def cautions(result: Fit) -> tuple[str, ...]:
    """What a usable fit still warns of, for the report and its JSON ``warnings``.

    Fewer than :data:`SPARE` runs beyond the free parameters: the fit cannot show its
    own misfit. A floor above a loss already observed: the fitted law says no run can reach a loss
    that one has, so a plan under it may be worse than a run that exists. It happens on
    runs that pin the floor poorly (iso-FLOP sets with few sizes, Porian et al. 2024).
    Two parameters whose estimates correlate above :data:`CORRELATION`: the runs
    barely tell them apart, and what one is fitted at sets the other.
    """
    found = []
    names = result.model.names
    centring = result.model.centring(result.theta, _logs(result.runs))
    corr = correlations(result, centring)
    recentred = ~np.all(centring == np.eye(len(names)), axis=1)
    pairs = sorted(((abs(float(corr[i, j])), i, j) for i in range(len(names))
                    for j in range(i) if abs(corr[i, j]) > CORRELATION), reverse=True)
    if pairs:
        listed = ", ".join(f"{names[j]} and {names[i]} ({float(corr[i, j]):+.4f})"
                           for _, i, j in pairs[:3])
        shifted = sorted({names[k] for _, i, j in pairs[:3] for k in (j, i) if recentred[k]})
        taken = (f", with {' and '.join(shifted)} taken where the runs are (at N = 1 or "
                 "D = 1 a coefficient always correlates with its exponent)" if shifted else "")
        first = names[pairs[0][2]]
        found.append(f"the runs barely separate {listed}: the correlation of their "
                     f"estimates, from the fit's curvature{taken}; each could move with the "
                     "other at almost no cost in fit, so the plan rests on which way the "
                     f"noise tipped them: hold one (--fix {first}=...) or add runs that move "
                     "one without the other (a wider range of N and D)")
    spare = len(result.runs) - result.model.size
    if spare < SPARE:
        found.append(f"{len(result.runs)} runs for {result.model.size} free parameters leave "
                     f"{spare} degree{'s' if spare > 1 else ''} of freedom: the fit passes "
                     "close to every run whatever the truth, so neither its residuals nor "
                     "its bootstrap intervals say how well the law holds")
    floor = result.law.floor()
    lowest = int(np.argmin(result.runs.loss))
    observed = float(result.runs.loss[lowest])
    if floor > observed:
        found.append(f"the fitted floor E = {floor:.6g} is above the lowest observed loss "
                     f"{observed:.6g} (line {int(result.runs.lines[lowest])}): the law says "
                     "no run can reach a loss one already has, so its plans may be worse "
                     "than that run; check that run, or add runs that pin the floor (larger "
                     "N and D)")
    return tuple(found)


def holdout(result: Fit, count: int) -> list[dict[str, float | int]]:
    """Refit without the ``count`` runs of largest compute; how well it predicts them.

    An extrapolation audit on the user's own runs: a law that misses its own largest
    runs when fitted without them should not be trusted orders of magnitude beyond
    them. Each held-out run gets its line, C, observed and predicted loss, and the
    relative error (predicted / observed - 1), in order of compute.

    Raises
    ------
    FitError
        When the runs left cannot determine the law, or their fit is degenerate.
    """
    runs = result.runs
    if count <= 0:
        return []
    if count >= len(runs):
        raise FitError(f"--holdout {count}: there are only {len(runs)} runs", runs.path)
    order = np.argsort(runs.C, kind="stable")
    kept, held = runs.take(np.sort(order[:-count])), runs.take(order[-count:])
    try:
        audit = fit(kept, result.model, method=result.method, delta=result.delta)
    except FitError as exc:
        raise FitError(f"--holdout {count}: the {len(kept)} runs left cannot be fitted: "
                       f"{exc}", runs.path) from None
    if audit.problems:
        raise FitError([f"--holdout {count}: the fit to the runs left is degenerate: {p}"
                        for p in audit.problems], runs.path)
    predicted = audit.law.value(held.inputs())
    return [{"line": int(line), "C": float(c), "observed": float(y), "predicted": float(f),
             "relative_error": float(f / y - 1)}
            for line, c, y, f in zip(held.lines, held.C, held.loss, predicted, strict=True)]


def _logs(runs: Runs) -> dict[str, np.ndarray]:
    return {r: np.log(v) for r, v in runs.inputs().items()}


def _constrained_fits(basis: np.ndarray, held: np.ndarray, fixed: dict[int, float],
                      tied: Sequence[Sequence[int]]) -> np.ndarray:
    r"""Coefficients :math:`c \ge 0` minimising :math:`\|B_g c - 1\|`, some held or tied.

    ``held`` (m,) or (G, m) holds the fixed coefficients' values (0 elsewhere); each
    group in ``tied`` shares one value. With :math:`c = P c' + h` the problem is a
    non-negative least squares in the free :math:`c'` against the target
    :math:`1 - B_g h`.
    """
    G, _, m = basis.shape
    representative = list(range(m))
    for group in tied:
        for j in group:
            representative[j] = group[0]
    free = [j for j in range(m) if j not in fixed and representative[j] == j]
    P = np.zeros((m, len(free)))
    for j in range(m):
        if j not in fixed:
            P[j, free.index(representative[j])] = 1.0
    held = np.broadcast_to(held, (G, m))
    if not free:
        return np.array(held, dtype=float)
    target = 1 - np.einsum("gnm,gm->gn", basis, held) if fixed else None
    return _nonnegative_fits(basis @ P, target) @ P.T + held


def _nonnegative_fits(basis: np.ndarray, target: np.ndarray | None = None) -> np.ndarray:
    r"""Non-negative least squares :math:`\min_{c \ge 0} \|B_g c - t_g\|` for a stack of B_g.

    The target :math:`t_g` is 1 unless given as ``target`` (G, n).

    ``basis`` is (G, n, m) with m small (at most 3 here). The optimum is the
    least-squares solution on its own support, so it is the best, over the
    :math:`2^m - 1` supports, of the unconstrained solutions that come out
    non-negative: an exact, vectorised active-set enumeration (the same answer as
    ``scipy.optimize.nnls``, tested). Rows with no usable solution are NaN.
    """
    G, n, m = basis.shape
    gram = np.matmul(basis.transpose(0, 2, 1), basis)
    if target is None:
        rhs, constant = basis.sum(axis=1), np.full(G, float(n))  # B^T 1 and 1'1
    else:
        rhs, constant = np.einsum("gnm,gn->gm", basis, target), (target**2).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        norm = np.sqrt(np.einsum("gii->gi", gram))  # column scaling, for conditioning
        usable = np.all(np.isfinite(gram), axis=(1, 2)) & np.all(norm > 0, axis=1)
        scaled = np.where(usable[:, None, None],
                          gram / (norm[:, :, None] * norm[:, None, :]), np.eye(m))
    best = np.full((G, m), np.nan)
    best_residual = np.full(G, np.inf)
    for support in range(1, 2**m):
        columns = [j for j in range(m) if support >> j & 1]
        c = np.zeros((G, m))
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            c[:, columns] = (np.linalg.pinv(scaled[:, columns][:, :, columns])
                             @ (rhs[:, columns] / norm[:, columns])[:, :, None]
                             )[:, :, 0] / norm[:, columns]
            # ||B c - t||^2 = c'Gc - 2 c'B't + t't
            total = (np.einsum("gi,gij,gj->g", c, gram, c) - 2 * (c * rhs).sum(axis=1)
                     + constant)
        better = usable & np.all(c >= 0, axis=1) & np.isfinite(total) & (total < best_residual)
        best[better] = c[better]
        best_residual[better] = total[better]
    return best


def _safe_log(coefficients: np.ndarray, response: np.ndarray) -> np.ndarray:
    """Log of each coefficient; a zero becomes tiny (1e-12 of the mean response)."""
    return np.log(np.maximum(coefficients, 1e-12 * float(np.mean(response))))


# ------------------------------------------------------------------------ bootstrap

@dataclass(frozen=True)
class Bootstrap:
    """Refits of the law to resampled runs."""

    names: tuple[str, ...]
    samples: np.ndarray = field(repr=False)
    """Shape (usable, parameters): the fitted fields of each usable refit."""
    count: int
    """Resamples drawn."""
    degenerate: int
    """Refits left out because they ended degenerate."""
    seed: int
    clusters: int = 0
    """Configurations resampled (runs with the same N, D and C count once)."""

    def interval(self, level: float) -> dict[str, tuple[float, float]]:
        """Percentile interval of each parameter at confidence ``level``."""
        return percentiles(dict(zip(self.names, self.samples.T, strict=True)), level)

    def standard_errors(self) -> dict[str, float]:
        """Standard deviation of each parameter over the refits."""
        return {n: float(np.std(s, ddof=1))
                for n, s in zip(self.names, self.samples.T, strict=True)}

    def laws(self, form: str) -> list[Law]:
        """The law of each usable refit."""
        return [law_from(form, dict(zip(self.names, row, strict=True))) for row in self.samples]


def bootstrap(result: Fit, count: int, *, seed: int = 0, jobs: int = 1,
              progress: Callable[[int], None] | None = None) -> Bootstrap:
    """Refit ``result``'s law to ``count`` resamples of its runs.

    Runs that repeat a configuration (:meth:`~optimizer.fitting.runs.Runs.clusters`)
    are drawn together, as one cluster: seeds of one model are not independent evidence
    about the law, and resampling them singly would make the intervals too narrow.
    Resamples are drawn from ``numpy.random.default_rng(seed)`` in order, so the result
    does not depend on ``jobs`` (joblib workers; -1 for every core). ``progress`` is
    called with the number of refits finished since its last call.
    """
    from joblib import Parallel, delayed, effective_n_jobs

    runs = result.runs
    clusters = runs.clusters()
    rng = np.random.default_rng(seed)
    # Resamples are drawn a chunk at a time, in order from one generator, as joblib
    # dispatches the chunks: the same draws whatever ``jobs`` (each refit is its own
    # row of the batch, so neither does the answer depend on the chunks), in memory
    # bounded by the chunks in flight rather than count x runs. A chunk is one batch
    # of refits (:func:`polish`): one per worker, or what fits in BLOCK values.
    workers = effective_n_jobs(jobs)
    size = int(np.clip(BLOCK // (len(runs) * (result.model.size + 3)), 1,
                       -(-count // workers)))

    def chunk(done: int) -> list[np.ndarray]:
        drawn = rng.integers(0, len(clusters), size=(min(size, count - done), len(clusters)))
        if len(clusters) == len(runs):  # no repeats: a cluster is a run
            return list(drawn)
        return [np.concatenate([clusters[c] for c in row]) for row in drawn]

    work: Any = Parallel(n_jobs=jobs, return_as="generator", prefer="threads")(
        delayed(_refit)(result, chunk(i)) for i in range(0, count, size))
    rows: list[np.ndarray] = []
    degenerate = 0
    for chunk_rows, chunk_degenerate, done in work:
        rows.extend(chunk_rows)
        degenerate += chunk_degenerate
        if progress is not None:
            progress(done)
    samples = np.array(rows) if rows else np.empty((0, len(result.model.fields)))
    return Bootstrap(result.model.fields, samples, count, degenerate, seed, len(clusters))


def _refit(result: Fit, draws: Sequence[np.ndarray]) -> tuple[list[np.ndarray], int, int]:
    """Refit ``result``'s law to each resample (indices of the runs).

    Returns the usable rows, the count left out, and the count done. A joblib task: its
    batched linear algebra runs on one BLAS thread, the workers being the parallelism.
    """
    with one_thread():
        return _refit_all(result, draws)


def _refit_all(result: Fit, draws: Sequence[np.ndarray]
               ) -> tuple[list[np.ndarray], int, int]:
    runs, model = result.runs, result.model
    if result.method == "ols":  # a closed form: one at a time is fast
        thetas, problems = [], []
        for index in draws:
            try:
                refit = fit(runs.take(index), model, method="ols")
            except FitError:  # a resample with too few distinct runs
                thetas.append(None)
                problems.append(("unfittable",))
            else:
                thetas.append(refit.theta)
                problems.append(refit.problems)
    else:
        weights = np.array([np.bincount(index, minlength=len(runs)) for index in draws],
                           dtype=float)
        unfittable = [bool(p) for p in _identifiability(runs, model, weights)]
        fitted, _, converged = polish(model, result.theta, runs, weights, result.delta)
        thetas = list(fitted)
        for k in np.flatnonzero(~converged).tolist():  # rare: L-BFGS-B from the same start
            if not unfittable[k]:
                thetas[k] = fit(runs.take(draws[k]), model, delta=result.delta, starts=0,
                                extra=[result.theta]).theta
        problems = [("unfittable",) if bad else p for bad, p in zip(
            unfittable, _degeneracy(model, np.array(thetas), _logs(runs), weights),
            strict=True)]
    values = [model.values(theta) for theta, found in zip(thetas, problems, strict=True)
              if not found]
    rows = [np.array([v[n] for n in model.fields]) for v in values]
    return rows, len(draws) - len(rows), len(draws)


POLISH_STEPS = 200
"""Most Levenberg-Marquardt steps :func:`polish` takes before handing a resample to
L-BFGS-B."""


def polish(model: Model, start: np.ndarray, runs: Runs, weights: np.ndarray,
           delta: float = DELTA) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Minimise the Huber objective for many weightings of the runs at once.

    A bootstrap resample is a weighting of the runs (how often each was drawn), so all
    refits are one batched problem: ``weights`` (K, n) gives K objectives
    :math:`f_k(\theta) = \sum_i w_{ki}\,\mathrm{Huber}_\delta(r_i(\theta))/\delta`,
    each minimised from ``start`` by Levenberg-Marquardt steps. The curvature is
    Gauss-Newton's on the residuals within :math:`\delta` (where the Huber loss is
    quadratic); those beyond contribute the gradient only, and the damping, raised
    tenfold after every step that does not lower :math:`f_k` and cut threefold after
    one that does, keeps each step a descent. Every step is checked against the
    objective itself, so the answer is a minimum of the same objective L-BFGS-B
    minimises (the tests compare the two). A resample stops when a step changes
    :math:`f_k` by under 1e-12 of itself or :math:`\theta` by under 1e-10.

    Returns
    -------
    thetas : ndarray (K, p)
    objectives : ndarray (K,)
    converged : ndarray of bool (K,)
        False for a resample still moving after :data:`POLISH_STEPS` steps.
    """
    low = np.array([-np.inf if lo is None else lo for lo, _ in model.bounds])
    high = np.array([np.inf if hi is None else hi for _, hi in model.bounds])
    # Each resample sees only the runs it drew (about 63% of them), first in its row;
    # the rest of the row, up to the widest resample, is padding of weight 0.
    drawn = np.argsort(weights == 0, axis=1, kind="stable")[:, :int((weights > 0).sum(1).max())]
    w = np.take_along_axis(weights, drawn, axis=1)
    logs = {r: v[drawn] for r, v in _logs(runs).items()}
    target = np.log(runs.loss)[drawn]

    def evaluate(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        prediction, jac, _ = model.log_predict(theta, logs)
        r = prediction - target
        return (w * huber(r, delta)).sum(axis=-1) / delta, r, jac

    thetas = np.repeat(start[None, :], len(weights), axis=0)
    objectives = np.empty(len(weights))
    # The working set: the resamples still moving, compacted whenever a quarter of it
    # has stopped (the rows that stopped meanwhile are carried along, unchanged).
    rows = np.arange(len(weights))
    theta = thetas
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        objective, r, jac = evaluate(theta)
        damping = np.full(len(weights), 1e-4)
        live = np.ones(len(weights), dtype=bool)
        for _ in range(POLISH_STEPS):
            if not live.any():
                break
            if live.sum() < 0.75 * len(rows):
                thetas[rows], objectives[rows] = theta, objective
                rows, theta, objective = rows[live], theta[live], objective[live]
                w, r, jac, damping = w[live], r[live], jac[live], damping[live]
                logs, target = {k: v[live] for k, v in logs.items()}, target[live]
                live = live[live]
            gradient = (jac @ (w * np.clip(r, -delta, delta))[..., None])[..., 0] / delta
            inside = w * (np.abs(r) < delta) / delta
            curvature = (jac * inside[:, None, :]) @ np.swapaxes(jac, 1, 2)
            # Damping scaled by the Huber loss's majorant (every residual weighed by
            # 1/max(|r|, delta)): positive wherever a parameter moves any prediction.
            majorant = (jac**2 @ (w / np.maximum(np.abs(r), delta))[..., None])[..., 0]
            scale = damping[:, None] * (majorant + 1e-200)
            step = np.linalg.solve(curvature + scale[:, :, None] * np.eye(theta.shape[1]),
                                   -gradient[..., None])[..., 0]
            trial = np.clip(theta + step, low, high)
            tried, r_tried, jac_tried = evaluate(trial)
            better = live & (tried < objective)
            still = (np.abs(objective - tried) <= 1e-12 * np.maximum(1, objective)) | (
                np.abs(trial - theta).max(axis=1) < 1e-10)
            theta[better], objective[better] = trial[better], tried[better]
            r[better], jac[better] = r_tried[better], jac_tried[better]
            damping[better] = np.maximum(damping[better] / 3, 1e-12)
            damping[live & ~better] *= 10
            live &= ~(still | (damping > 1e12))
    thetas[rows], objectives[rows] = theta, objective
    converged = np.ones(len(weights), dtype=bool)
    converged[rows] = ~live
    return thetas, objectives, converged


def percentiles(samples: dict[str, np.ndarray], level: float
                ) -> dict[str, tuple[float, float]]:
    """Central percentile interval at ``level`` of each non-empty sample."""
    tail = 50 * (1 - level)
    return {name: (float(np.percentile(s, tail)), float(np.percentile(s, 100 - tail)))
            for name, s in samples.items() if s.size}
