r"""Chinchilla's law (Hoffmann et al. 2022): :math:`L = E + A N^{-\alpha} + B D^{-\beta}`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np

from optimizer.model.fields import Exponent, Positive
from optimizer.model.laws.law import Amounts, Law


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
