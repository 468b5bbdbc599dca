r"""The data-constrained law (Muennighoff et al. 2023): repeated tokens are worth less."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import numpy as np

from optimizer.model.fields import DecayConstant, Exponent, Positive
from optimizer.model.laws.chinchilla import ChinchillaLaw
from optimizer.model.laws.law import Amounts, Law


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
    :mod:`optimizer.solvers.nlp`. Its gradient is continuous except across :math:`D = U` when
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
