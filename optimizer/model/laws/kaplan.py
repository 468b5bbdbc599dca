r"""Kaplan et al.'s (2020) joint law of model size and data."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np

from optimizer.model.fields import Exponent, Positive
from optimizer.model.laws.law import Amounts, Law


class KaplanLaw(Law):
    r"""Joint N-D law of Kaplan et al. 2020, eq. 1.5.

    ``scenarios/kaplan.yaml`` gives it the constants of the separate fits, eq. 1.1
    (:math:`L(N)`: :math:`\alpha_N` 0.076, :math:`N_c` 8.8e13) and eq. 1.2 (:math:`L(D)`:
    :math:`\alpha_D` 0.095, :math:`D_c` 5.4e13); their Table 2 fits eq. 1.5 itself
    (:math:`\alpha_D` 0.103, :math:`N_c` 6.4e13, :math:`D_c` 1.8e13).

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
    """Critical parameter count N_c (Kaplan et al. 2020: 8.8e13 non-embedding params in
    eq. 1.1; 6.4e13 in Table 2's joint fit)."""
    D_c: Positive
    """Critical dataset size D_c in tokens (Kaplan et al. 2020: 5.4e13 in eq. 1.2; 1.8e13 in
    Table 2's joint fit)."""
    alpha_N: Exponent
    """Exponent alpha_N (Kaplan et al. 2020: 0.076)."""
    alpha_D: Exponent
    """Exponent alpha_D (Kaplan et al. 2020: 0.095 in eq. 1.2; 0.103 in Table 2's joint fit)."""

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
