"""The strict, frozen pydantic base model and the constrained number types.

Every scenario model derives from :class:`StrictModel`: unknown keys are rejected,
instances are immutable, strings are never coerced to numbers, and each field's
docstring becomes its description in the JSON Schema (``optimizer schema``).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

#: A finite number > 0.
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
#: A finite number >= 0.
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
#: A finite number <= 0 (a signed power-law exponent).
NonPositive = Annotated[float, Field(le=0, allow_inf_nan=False)]

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
