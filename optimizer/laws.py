r"""Loss laws: each is given once, as a formula, an analytic gradient and a schema.

A law maps the resources :math:`x = (N, D, C)` to a predicted loss :math:`L(x)`.
Each law class is a scenario model (its fields are the law's coefficients) and
implements

* :meth:`Law.reducible` -- the law above its floor, written once with ordinary
  arithmetic, so that the same code evaluates numpy arrays (:meth:`Law.value`,
  :meth:`Law.reducible_value`) and builds the cvxpy DGP expression
  (:meth:`Law.expression`) with coefficients as ``cvxpy.Parameter``;
* :meth:`Law.gradient` -- the analytic partial derivatives, used by the certificate,
  the refinement and (later) the sensitivity analysis; tested against finite
  differences of :meth:`Law.value`;
* :meth:`Law.floor` -- the irreducible loss, the infimum over all resources;
* :meth:`Law.powers` -- the exponents, kept as exact constants in the GP.

To add a law: subclass :class:`Law` with a ``form`` literal, implement the four
methods, and add the class to :data:`AnyLaw`.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from .base import (
    DecayConstant,
    Exponent,
    NonNegative,
    Positive,
    SignedExponent,
    StrictModel,
)

Amounts = Mapping[str, Any]
"""Resource name -> amount: floats, numpy arrays, or cvxpy expressions."""


class Law(StrictModel):
    """Interface shared by every loss law."""

    form: str

    geometric: ClassVar[bool] = True
    """Whether the law is a posynomial (so plans under it are geometric programs)."""
    needs_data: ClassVar[bool] = False
    """Whether the law reads the stock of unique tokens ``U`` (``data.unique_tokens``)."""
    context: ClassVar[tuple[str, ...]] = ()
    """Scenario constants the law reads besides its inputs (e.g. ``U``)."""

    @property
    @abstractmethod
    def inputs(self) -> tuple[str, ...]:
        """The resources the loss depends on, in canonical order."""

    @abstractmethod
    def coefficients(self) -> dict[str, float]:
        """Positive multiplicative constants, which the GP may hold as parameters."""

    @abstractmethod
    def powers(self) -> tuple[Any, ...]:
        """The numbers that enter as powers; they shape the GP, so they key its cache."""

    @abstractmethod
    def reducible(self, x: Amounts, c: Mapping[str, Any]) -> Any:
        """The law minus its floor, at amounts ``x`` with coefficients ``c``.

        Written with ``+``, ``*``, ``/`` and ``**`` only, so that ``x`` and ``c`` may
        be numpy values or cvxpy expressions alike. Solvers work on this part: adding
        the constant floor would only dilute their relative accuracy.
        """

    def formula(self, x: Amounts, c: Mapping[str, Any]) -> Any:
        """The law: the floor ``c["E"]`` (when the law has one) plus :meth:`reducible`."""
        part = self.reducible(x, c)
        return c["E"] + part if "E" in c else part

    @abstractmethod
    def gradient(self, x: Amounts) -> dict[str, np.ndarray]:
        r"""Analytic partial derivatives :math:`\partial L / \partial x_r` for r in inputs."""

    @abstractmethod
    def floor(self) -> float:
        """The irreducible loss: the infimum of the law over all resources."""

    def value(self, x: Amounts) -> np.ndarray:
        """Predicted loss at amounts ``x`` (numpy, broadcasting)."""
        return np.asarray(self.formula(self._arrays(x), self.coefficients()), dtype=float)

    def reducible_value(self, x: Amounts) -> np.ndarray:
        """Predicted loss minus the floor, computed without subtracting (no cancellation)."""
        return np.asarray(self.reducible(self._arrays(x), self.coefficients()), dtype=float)

    def _arrays(self, x: Amounts) -> dict[str, np.ndarray]:
        return {r: np.asarray(x[r], dtype=float) for r in (*self.inputs, *self.context)}

    def expression(self, x: Amounts, c: Mapping[str, Any]) -> Any:
        """The cvxpy DGP expression of the law, with coefficients ``c`` (parameters)."""
        if not self.geometric:
            raise TypeError(f"the {self.form} law is not a posynomial; it has no GP form")
        return self.formula(x, c)


class PowerLawExponents(StrictModel):
    """Signed exponents of a power law, one per resource; each must be <= 0."""

    N: SignedExponent = 0.0
    """Exponent of the parameter count N (Kaplan et al. 2020: -0.076)."""
    D: SignedExponent = 0.0
    """Exponent of the training tokens D (Kaplan et al. 2020: -0.095)."""
    C: SignedExponent = 0.0
    """Exponent of the training compute C (Kaplan et al. 2020: -0.050)."""

    def items(self) -> tuple[tuple[str, float], ...]:
        """(resource, exponent) pairs in the canonical order N, D, C."""
        return (("N", self.N), ("D", self.D), ("C", self.C))


class PowerLaw(Law):
    r"""Pure power law with an optional floor (Kaplan et al. 2020, eqs. 1.1-1.3).

    .. math::

        L = E + k \, N^{a_N} D^{a_D} C^{a_C}, \qquad a_r \le 0.

    A resource left out of ``exponents`` (or with exponent 0) does not affect the loss.

    .. math::

        \frac{\partial L}{\partial x_r} = a_r \, \frac{L - E}{x_r}.
    """

    form: Literal["power_law"]
    k: Positive
    """Scale factor k of the power law (loss units)."""
    exponents: PowerLawExponents
    """Signed exponents a_N, a_D, a_C as printed in papers of this form; each <= 0."""
    E: NonNegative = 0.0
    """Irreducible loss floor E added to the power law (default 0)."""

    @property
    def inputs(self) -> tuple[str, ...]:  # noqa: D102
        return tuple(r for r, a in self.exponents.items() if a != 0)

    def coefficients(self) -> dict[str, float]:  # noqa: D102
        return {"k": self.k, "E": self.E} if self.E > 0 else {"k": self.k}

    def powers(self) -> tuple[Any, ...]:  # noqa: D102
        return self.exponents.items()

    def reducible(self, x: Amounts, c: Mapping[str, Any]) -> Any:  # noqa: D102
        term = c["k"]
        for r, a in self.exponents.items():
            if a != 0:
                term = term * x[r] ** a
        return term

    def gradient(self, x: Amounts) -> dict[str, np.ndarray]:  # noqa: D102
        reducible = self.reducible_value(x)
        return {r: a * reducible / np.asarray(x[r], float)
                for r, a in self.exponents.items() if a != 0}

    def floor(self) -> float:  # noqa: D102
        return self.E

    @model_validator(mode="after")
    def _some_exponent(self) -> PowerLaw:
        if not self.inputs:
            raise ValueError("every exponent is 0, so the loss depends on nothing; "
                             "give at least one of N, D, C a negative exponent")
        return self




class ChinchillaLaw(Law):
    r"""Parametric loss of Hoffmann et al. 2022, eq. 2 (fitted in their eq. 10).

    .. math::

        L(N, D) = E + \frac{A}{N^{\alpha}} + \frac{B}{D^{\beta}}, \qquad
        \frac{\partial L}{\partial N} = -\frac{\alpha A}{N^{\alpha+1}}, \quad
        \frac{\partial L}{\partial D} = -\frac{\beta B}{D^{\beta+1}}.
    """

    form: Literal["chinchilla"]
    E: Positive
    """Irreducible loss E (Hoffmann et al. 2022, eq. 10: 1.69)."""
    A: Positive
    """Coefficient A of the parameter term (eq. 10: 406.4)."""
    B: Positive
    """Coefficient B of the data term (eq. 10: 410.7)."""
    alpha: Exponent
    """Exponent alpha of N in the parameter term (eq. 10: 0.34)."""
    beta: Exponent
    """Exponent beta of D in the data term (eq. 10: 0.28)."""

    @property
    def inputs(self) -> tuple[str, ...]:  # noqa: D102
        return ("N", "D")

    def coefficients(self) -> dict[str, float]:  # noqa: D102
        return {"E": self.E, "A": self.A, "B": self.B}

    def powers(self) -> tuple[Any, ...]:  # noqa: D102
        return (self.alpha, self.beta)

    def reducible(self, x: Amounts, c: Mapping[str, Any]) -> Any:  # noqa: D102
        return c["A"] * x["N"] ** (-self.alpha) + c["B"] * x["D"] ** (-self.beta)

    def gradient(self, x: Amounts) -> dict[str, np.ndarray]:  # noqa: D102
        N, D = np.asarray(x["N"], float), np.asarray(x["D"], float)
        return {"N": -self.alpha * self.A * N ** (-self.alpha - 1),
                "D": -self.beta * self.B * D ** (-self.beta - 1)}

    def floor(self) -> float:  # noqa: D102
        return self.E


class KaplanLaw(Law):
    r"""Joint N-D law of Kaplan et al. 2020, eq. 1.5 (constants in their Table 2).

    .. math::

        L(N, D) = \left[\left(\frac{N_c}{N}\right)^{\alpha_N/\alpha_D}
                  + \frac{D_c}{D}\right]^{\alpha_D}.

    With :math:`S` the bracket and :math:`r = \alpha_N/\alpha_D`,

    .. math::

        \frac{\partial L}{\partial N} = -\alpha_D S^{\alpha_D-1}\, r\,
            \frac{(N_c/N)^{r}}{N}, \qquad
        \frac{\partial L}{\partial D} = -\alpha_D S^{\alpha_D-1} \frac{D_c}{D^2}.
    """

    form: Literal["kaplan"]
    N_c: Positive
    """Critical parameter count N_c (Kaplan et al. 2020: 8.8e13 non-embedding params)."""
    D_c: Positive
    """Critical dataset size D_c in tokens (Kaplan et al. 2020: 5.4e13)."""
    alpha_N: Exponent
    """Exponent alpha_N (Kaplan et al. 2020: 0.076)."""
    alpha_D: Exponent
    """Exponent alpha_D (Kaplan et al. 2020: 0.095)."""

    @property
    def inputs(self) -> tuple[str, ...]:  # noqa: D102
        return ("N", "D")

    def coefficients(self) -> dict[str, float]:  # noqa: D102
        return {"N_c": self.N_c, "D_c": self.D_c}

    def powers(self) -> tuple[Any, ...]:  # noqa: D102
        return (self.alpha_N, self.alpha_D)

    def reducible(self, x: Amounts, c: Mapping[str, Any]) -> Any:  # noqa: D102
        return ((c["N_c"] / x["N"]) ** (self.alpha_N / self.alpha_D)
                + c["D_c"] / x["D"]) ** self.alpha_D

    def gradient(self, x: Amounts) -> dict[str, np.ndarray]:  # noqa: D102
        N, D = np.asarray(x["N"], float), np.asarray(x["D"], float)
        r = self.alpha_N / self.alpha_D
        n_term = (self.N_c / N) ** r
        outer = self.alpha_D * (n_term + self.D_c / D) ** (self.alpha_D - 1)
        return {"N": -outer * r * n_term / N, "D": -outer * self.D_c / D**2}

    def floor(self) -> float:  # noqa: D102
        return 0.0


class DataConstrainedLaw(Law):
    r"""Data-constrained law of Muennighoff et al. 2023 (section 5, eqs. 5-7; released code).

    Repeated tokens and excess parameters are worth less than fresh ones:

    .. math::

        L = E + \frac{A}{N'^{\alpha}} + \frac{B}{D'^{\beta}}, \qquad
        D' = U_D + U_D R_D^* \left(1 - e^{-R_D/R_D^*}\right), \qquad
        N' = U_N + U_N R_N^* \left(1 - e^{-R_N/R_N^*}\right),

    with :math:`U_D = \min(D, U)` the unique tokens seen, :math:`R_D = D/U_D - 1` the
    repetitions, :math:`U_N = \min(N, N_{opt}(U_D))` where
    :math:`N_{opt}(D) = G^{1+\beta/\alpha} D^{\beta/\alpha}`,
    :math:`G = (\alpha A/\beta B)^{1/(\alpha+\beta)}` is the Chinchilla-optimal size for
    :math:`D` tokens, and :math:`R_N = N/U_N - 1`; exactly as in the authors' released
    ``scaling_law`` (github.com/huggingface/datablations, README "Parametric Fit").

    Not a posynomial (the exponentials), so plans under it are solved by
    :mod:`optimizer.nlp`. Its gradient is continuous except across :math:`D = U` when
    :math:`N > N_{opt}(U_D)`, where :math:`U_N` stops growing with :math:`D`.
    """

    form: Literal["data_constrained"]
    E: Positive
    """Irreducible loss E (Muennighoff et al. 2023 fit: exp(0.6254804) = 1.869)."""
    A: Positive
    """Coefficient A of the parameter term (fit: exp(6.255414) = 520.8)."""
    B: Positive
    """Coefficient B of the data term (fit: exp(7.3049974) = 1487.7)."""
    alpha: Exponent
    """Exponent of effective parameters N' (fit: 0.3526596)."""
    beta: Exponent
    """Exponent of effective data D' (fit: 0.3526596)."""
    R_D_star: DecayConstant
    """Decay constant of repeated data: the repetitions worth 1 - 1/e of their value
    (15.387756); at least 0.001."""
    R_N_star: DecayConstant
    """Decay constant of excess parameters (5.309743); at least 0.001."""

    geometric: ClassVar[bool] = False
    needs_data: ClassVar[bool] = True
    context: ClassVar[tuple[str, ...]] = ("U",)

    @property
    def inputs(self) -> tuple[str, ...]:  # noqa: D102
        return ("N", "D")

    def coefficients(self) -> dict[str, float]:  # noqa: D102
        return {"E": self.E, "A": self.A, "B": self.B}

    def powers(self) -> tuple[Any, ...]:  # noqa: D102
        return (self.alpha, self.beta, self.R_D_star, self.R_N_star)

    def optimal_params(self, D: Any) -> Any:
        """Chinchilla-optimal N for D tokens under this law's A, B, alpha, beta."""
        G = (self.alpha * self.A / (self.beta * self.B)) ** (1 / (self.alpha + self.beta))
        return G ** (1 + self.beta / self.alpha) * np.asarray(D, float) ** (self.beta / self.alpha)

    def effective(self, x: Amounts) -> dict[str, np.ndarray]:
        """Effective parameters N' and data D', and the pieces they are built from."""
        N, D, U = (np.asarray(x[r], float) for r in ("N", "D", "U"))
        U_D = np.minimum(D, U)
        R_D = np.maximum(D / U_D - 1, 0.0)
        decay_D = np.exp(-R_D / self.R_D_star)
        N_U = self.optimal_params(U_D)
        U_N = np.minimum(N, N_U)
        R_N = np.maximum(N / U_N - 1, 0.0)
        decay_N = np.exp(-R_N / self.R_N_star)
        # 1 - exp(-R/R*) by expm1: with R* large (repeats almost as good as new data) the
        # difference would cancel to 0 and D' freeze at U.
        grown_N = -np.expm1(-R_N / self.R_N_star)
        return {"N'": U_N + U_N * self.R_N_star * grown_N,
                "D'": U_D + U_D * self.R_D_star * -np.expm1(-R_D / self.R_D_star),
                "U_D": U_D, "N_U": N_U, "R_N": R_N, "decay_D": decay_D, "decay_N": decay_N,
                "grown_N": grown_N}

    def reducible(self, x: Amounts, c: Mapping[str, Any]) -> Any:  # noqa: D102
        e = self.effective(x)
        return c["A"] * e["N'"] ** (-self.alpha) + c["B"] * e["D'"] ** (-self.beta)

    def gradient(self, x: Amounts) -> dict[str, np.ndarray]:  # noqa: D102
        N, D, U = (np.asarray(x[r], float) for r in ("N", "D", "U"))
        e = self.effective(x)
        dL_dN_eff = -self.alpha * self.A * e["N'"] ** (-self.alpha - 1)
        dL_dD_eff = -self.beta * self.B * e["D'"] ** (-self.beta - 1)
        excess = N > e["N_U"]
        dN_eff_dN = np.where(excess, e["decay_N"], 1.0)
        dN_eff_dN_U = np.where(excess, 1 + self.R_N_star * e["grown_N"]
                               - (1 + e["R_N"]) * e["decay_N"], 0.0)
        fresh = D <= U
        dD_eff_dD = np.where(fresh, 1.0, e["decay_D"])
        dN_U_dD = np.where(fresh, self.beta / self.alpha * e["N_U"] / D, 0.0)
        return {"N": dL_dN_eff * dN_eff_dN,
                "D": dL_dD_eff * dD_eff_dD + dL_dN_eff * dN_eff_dN_U * dN_U_dD}

    def floor(self) -> float:  # noqa: D102
        return self.E

    def surrogate(self) -> ChinchillaLaw:
        """The same law without repetition penalties: a GP whose optimum seeds the search."""
        return ChinchillaLaw(form="chinchilla", E=self.E, A=self.A, B=self.B,
                             alpha=self.alpha, beta=self.beta)


AnyLaw = Annotated[PowerLaw | ChinchillaLaw | KaplanLaw | DataConstrainedLaw,
                   Field(discriminator="form")]
"""Every law a scenario can name, chosen by its ``form`` key."""
