r"""Laws published as allocations: the compute-optimal N*(C) or D*(C), with no loss.

Some labs publish only the optimal allocation, as a power law of compute: Llama 3
(Grattafiori et al. 2024, section 3.2.1) gives the optimal training tokens
:math:`D^*(C) = 0.29\,C^{0.53}`; DeepSeek LLM (2024, eq. 4) gives both halves in its own
unit of compute. Under a coupling :math:`C = kND` either half gives the other
(:math:`N^* = C/(kD^*)`), so one is enough.

There is no loss to report. To plan with limits and prices, and to certify the plan,
the allocation is written as the optimum of an equivalent Chinchilla-form law: for the
stated half :math:`X^*(C) = a\,C^{e}` (X is N or D),

.. math::

    \tilde L(X, C) = A\,X^{-(1-e)} + X^{e}\,C^{-e}, \qquad A = \frac{a\,e}{1-e},

whose minimum over X at fixed C is exactly :math:`X^* = a\,C^{e}` (``docs/theory.md``,
"Laws published as allocations"). Under :math:`C = kND` this is Chinchilla's form
:math:`A X^{-\alpha} + B Y^{-\beta}` with :math:`\alpha = 1-e`, :math:`\beta = e` and
:math:`B = k^{-e}` (Y the other of N and D), so the plan is a geometric program and the
equal-marginal certificate applies. :math:`\tilde L` is a device, not a prediction:
plans report no loss.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from optimizer.model.fields import Positive, StrictModel
from optimizer.model.laws.law import Amounts, Law

SHARE = Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False)]


class Allocation(StrictModel):
    """One half of a compute-optimal allocation: amount* = coefficient * C**exponent."""

    coefficient: Positive
    """The optimal amount at C = 1 FLOP (Llama 3, D: 0.29)."""
    exponent: SHARE
    """How the optimal amount grows with compute, strictly between 0 and 1 (Llama 3, D:
    0.53); the two halves' exponents sum to 1 under C = k N D."""

    def at(self, C: Any) -> Any:
        """The optimal amount at compute ``C``."""
        return self.coefficient * C ** self.exponent


CONSISTENT_EXPONENTS = 1e-3
"""How far from 1 the two exponents' sum may be when both halves are given (published
exponents are rounded to two or three digits)."""
CONSISTENT_COEFFICIENTS = 0.01
"""Relative difference allowed between the product of the two coefficients and 1/k."""


class AllocationLaw(Law):
    r"""A published compute-optimal allocation :math:`N^*(C)` and/or :math:`D^*(C)`.

    Planned through the equivalent law of this module's docstring; the loss it would
    report is not a prediction, so plans under it have none (``Law.predicts_loss``).
    """

    form: Literal["allocation"]
    N: Allocation | None = None
    """Optimal parameters N* = coefficient * C**exponent (DeepSeek LLM: model scale)."""
    D: Allocation | None = None
    """Optimal training tokens D* = coefficient * C**exponent (Llama 3: 0.29, 0.53)."""

    predicts_loss: ClassVar[bool] = False
    structural_rules: ClassVar[bool] = True  # N or D must be given

    @model_validator(mode="after")
    def _one_half(self) -> AllocationLaw:
        if self.N is None and self.D is None:
            raise ValueError("give N or D (or both): the optimal amount as "
                             "{coefficient: a, exponent: e}, meaning a * C**e")
        return self

    @property
    def stated(self) -> str:
        """The half the equivalent law uses: ``N`` when given, else ``D``."""
        return "N" if self.N is not None else "D"

    @property
    def half(self) -> Allocation:
        """The stated half's allocation."""
        found = self.N if self.N is not None else self.D
        assert found is not None
        return found

    @property
    def inputs(self) -> tuple[str, ...]:  # noqa: D102
        return (self.stated, "C")

    @property
    def A(self) -> Any:
        """Coefficient of the equivalent law, a e / (1 - e) (arithmetic: export cells too)."""
        half = self.half
        return half.coefficient * half.exponent / (1 - half.exponent)

    def coefficients(self) -> dict[str, float]:  # noqa: D102
        return {"A": self.A}

    def powers(self) -> tuple[Any, ...]:  # noqa: D102
        return (self.stated, self.half.exponent)

    def reducible(self, x: Amounts, c: Mapping[str, Any]) -> Any:  # noqa: D102
        e, X = self.half.exponent, x[self.stated]
        return c["A"] * X ** (e - 1) + X ** e * x["C"] ** (-e)

    def gradient(self, x: Amounts) -> dict[str, np.ndarray]:  # noqa: D102
        e = self.half.exponent
        X, C = np.asarray(x[self.stated], float), np.asarray(x["C"], float)
        return {self.stated: (e - 1) * self.A * X ** (e - 2) + e * X ** (e - 1) * C ** (-e),
                "C": -e * X ** e * C ** (-e - 1)}

    def floor(self) -> float:  # noqa: D102
        return 0.0

    def consistent(self, k: Any) -> Any:
        """Whether N and D, when both are given, agree under C = k N D (arrays: per point)."""
        if self.N is None or self.D is None:
            return True
        return ((abs(self.N.exponent + self.D.exponent - 1) <= CONSISTENT_EXPONENTS)
                & (abs(self.N.coefficient * self.D.coefficient * k - 1)
                   <= CONSISTENT_COEFFICIENTS))

    def inconsistency(self, k: float) -> str | None:
        """Why N and D, when both are given, disagree under C = k N D; ``None`` if they agree.

        N* D* = C / k for every C requires exponents summing to 1 and coefficients
        multiplying to 1/k.
        """
        if self.consistent(k):
            return None
        assert self.N is not None
        assert self.D is not None
        total = self.N.exponent + self.D.exponent
        product = self.N.coefficient * self.D.coefficient
        problems = []
        if abs(total - 1) > CONSISTENT_EXPONENTS:
            problems.append(f"the exponents {self.N.exponent:g} + {self.D.exponent:g} sum to "
                            f"{total:g}, not 1")
        if abs(product * k - 1) > CONSISTENT_COEFFICIENTS:
            problems.append(f"the coefficients {self.N.coefficient:g} x "
                            f"{self.D.coefficient:g} = {product:.6g}, not 1/k = "
                            f"1/{k:g} = {1 / k:.6g}")
        return ("law.N and law.D disagree under C = k N D (compute.flops_per_param_token "
                f"k = {k:g}): " + "; ".join(problems) + "; give one of them, or correct them")
