"""The strict, frozen pydantic base model and the constrained number types.

Every scenario model derives from :class:`StrictModel`: unknown keys are rejected,
instances are immutable, strings are never coerced to numbers, and each field's
docstring becomes its description in the JSON Schema (``optimizer schema``).
"""

from __future__ import annotations

from typing import Annotated, Any

import annotated_types
import numpy as np
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.fields import FieldInfo

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
    if not _exponents_ok(np.asarray(value)):
        low, high = EXPONENT_RANGE
        raise ValueError(f"an exponent's magnitude must be from {low:g} to {high:g} "
                         "(fitted laws have 0.03 to 1)")
    return value


def _exponents_ok(values: np.ndarray) -> np.ndarray:
    """Which values pass :func:`_exponent` (0, or a magnitude in :data:`EXPONENT_RANGE`)."""
    low, high = EXPONENT_RANGE
    magnitude = np.abs(values)
    return (values == 0) | ((low <= magnitude) & (magnitude <= high))


VECTORISED: dict[Any, Any] = {_exponent: _exponents_ok}
"""Field validators with an array twin (values -> mask of the valid ones)."""


def valid_values(field: FieldInfo, values: np.ndarray) -> np.ndarray | None:
    """Which ``values`` the number ``field`` accepts, for all of them at once.

    Reads the field's constraints (``gt``, ``ge``, ``lt``, ``le``, finiteness and the
    validators of :data:`VECTORISED`). None when a constraint has no array form: the
    values must then be validated one by one.
    """
    values = np.asarray(values, dtype=float)
    ok = np.ones(values.shape, dtype=bool)
    finite = False
    for item in field.metadata:
        if isinstance(item, annotated_types.Gt):
            ok &= values > float(item.gt)  # type: ignore[arg-type]
        elif isinstance(item, annotated_types.Ge):
            ok &= values >= float(item.ge)  # type: ignore[arg-type]
        elif isinstance(item, annotated_types.Lt):
            ok &= values < float(item.lt)  # type: ignore[arg-type]
        elif isinstance(item, annotated_types.Le):
            ok &= values <= float(item.le)  # type: ignore[arg-type]
        elif isinstance(item, AfterValidator):
            twin = VECTORISED.get(item.func)
            if twin is None:
                return None
            ok &= twin(values)
        elif getattr(item, "allow_inf_nan", None) is False:
            finite = True
        else:
            return None
    return ok & np.isfinite(values) if finite else ok


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
