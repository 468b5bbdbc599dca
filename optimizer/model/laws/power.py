r"""A pure power law with a floor: :math:`L = E + k \prod_r x_r^{a_r}` with :math:`a_r \le 0`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import model_validator

from optimizer.model.fields import NonNegative, Positive, SignedExponent, StrictModel
from optimizer.model.laws.law import Amounts, Law


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

    structural_rules: ClassVar[bool] = True  # some exponent is not 0

    @property
    def inputs(self) -> tuple[str, ...]:  # noqa: D102
        return tuple(r for r, a in self.exponents.items() if _nonzero(a))

    def coefficients(self) -> dict[str, float]:  # noqa: D102
        return {"k": self.k, "E": self.E} if _nonzero(self.E) else {"k": self.k}

    def powers(self) -> tuple[Any, ...]:  # noqa: D102
        return self.exponents.items()

    def reducible(self, x: Amounts, c: Mapping[str, Any]) -> Any:  # noqa: D102
        term = c["k"]
        for r, a in self.exponents.items():
            if _nonzero(a):
                term = term * x[r] ** a
        return term

    def gradient(self, x: Amounts) -> dict[str, np.ndarray]:  # noqa: D102
        reducible = self.reducible_value(x)
        return {r: a * reducible / np.asarray(x[r], float)
                for r, a in self.exponents.items() if _nonzero(a)}

    def floor(self) -> float:  # noqa: D102
        return self.E

    @model_validator(mode="after")
    def _some_exponent(self) -> PowerLaw:
        if not self.inputs:
            raise ValueError("every exponent is 0, so the loss depends on nothing; "
                             "give at least one of N, D, C a negative exponent")
        return self


def _nonzero(value: Any) -> bool:
    """Whether a number the law's shape depends on is not 0 (for an array, any of them).

    A law evaluated at many points keeps a term that is 0 at some of them: it adds 0 there.
    """
    return bool(np.any(np.asarray(value) != 0))
