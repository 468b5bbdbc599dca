"""The strict, frozen pydantic base model and the constrained number types.

Every scenario model derives from :class:`StrictModel`: unknown keys are rejected,
instances are immutable, strings are never coerced to numbers, and each field's
docstring becomes its description in the JSON Schema (``optimizer schema``).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

#: A finite number.
Finite = Annotated[float, Field(allow_inf_nan=False)]
#: A finite number > 0.
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
#: A finite number >= 0.
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
#: The range of an exponent's magnitude. Fitted scaling laws have exponents from about
#: 0.03 to 1; outside this range the plan's amounts leave floating point (N = A^(1/alpha)
#: overflows for alpha near 0) or lose meaning (a loss that falls a factor 1e30 per
#: doubling), so such a value is a typo, not a law.
EXPONENT_RANGE = (1e-3, 10.0)


def _exponent(value: float) -> float:
    low, high = EXPONENT_RANGE
    if value != 0 and not low <= abs(value) <= high:
        raise ValueError(f"an exponent's magnitude must be from {low:g} to {high:g} "
                         "(fitted laws have 0.03 to 1)")
    return value


#: An exponent alpha > 0 within :data:`EXPONENT_RANGE`.
Exponent = Annotated[float, Field(gt=0, allow_inf_nan=False, json_schema_extra={
    "minimum": EXPONENT_RANGE[0], "maximum": EXPONENT_RANGE[1]}), AfterValidator(_exponent)]
#: A signed power-law exponent: 0 (no effect), or -10 to -1e-3.
SignedExponent = Annotated[float, Field(le=0, allow_inf_nan=False, json_schema_extra={
    "minimum": -EXPONENT_RANGE[1]}), AfterValidator(_exponent)]
#: A repetition decay constant R*: at least 0.001 (Muennighoff et al. fit 15.4 and 5.3).
#: Repeats that lose their value within a thousandth of an epoch make a kink sharper
#: than the solvers resolve; to forbid repetition, give resources.D a max instead.
DecayConstant = Annotated[float, Field(ge=1e-3, allow_inf_nan=False)]

#: The resources a plan buys: parameters, training tokens, training FLOPs.
RESOURCES = ("N", "D", "C")


class StrictModel(BaseModel):
    """Base of every scenario model: strict, frozen, documented."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        strict=True,
        use_attribute_docstrings=True,
        validate_default=True,
    )
