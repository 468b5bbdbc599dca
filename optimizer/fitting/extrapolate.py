r"""The two textbook uses of a power law fitted on smaller runs.

If loss scales as :math:`L \propto x^{a}` in each resource (Kaplan et al. 2020,
eqs. 1.1-1.3), then scaling resources by factors :math:`s_r` gives

.. math::

    L_2 = L_1 \prod_r s_r^{a_r},

and reaching a target :math:`L_2` by growing one resource alone needs

.. math::

    x_2 = x_1 \left(\frac{L_2}{L_1}\right)^{1/a}.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping

from optimizer.errors import ScenarioError


def predict(loss: float, scale: Mapping[str, float], exponent: Mapping[str, float]) -> float:
    """Loss after scaling resources by ``scale``, under exponents ``exponent``.

    Raises
    ------
    ScenarioError
        A value is not finite, a loss or scale is not positive, an exponent is
        positive, or a scaled resource has no exponent.
    """
    _check(loss=loss, exponent=exponent, positive={f"--scale {r}": v for r, v in scale.items()})
    missing = sorted(set(scale) - set(exponent))
    if missing:
        raise ScenarioError(f"--scale {missing[0]} has no --exponent {missing[0]}=...; "
                            "give the exponent of every scaled resource")
    log10 = math.log10(loss) + sum(exponent[r] * math.log10(s) for r, s in scale.items())
    return _representable(log10, "the predicted loss", "--scale")


def required(loss: float, target: float, reference: Mapping[str, float],
             exponent: Mapping[str, float]) -> dict[str, float]:
    """Amount of each resource that alone takes the loss from ``loss`` to ``target``."""
    _check(loss=loss, exponent=exponent,
           positive={"--target": target, **{f"--reference {r}": v for r, v in reference.items()}})
    out = {}
    for r, x1 in reference.items():
        a = exponent.get(r)
        if a is None:
            raise ScenarioError(f"--reference {r} has no --exponent {r}=...; give one")
        if a == 0:
            raise ScenarioError(f"--exponent {r}=0: a resource that does not affect the loss "
                                "cannot reach a target; use a negative exponent")
        log10 = math.log10(x1) + (math.log10(target) - math.log10(loss)) / a
        out[r] = _representable(log10, f"the {r} required", "--target")
    return out


def _representable(log10: float, what: str, option: str) -> float:
    """``10**log10``, or a ScenarioError when it is beyond floating point."""
    if not sys.float_info.min_10_exp <= log10 <= sys.float_info.max_10_exp:
        raise ScenarioError(f"{option}: {what} would be 1e{log10:+.4g}, beyond the range of "
                            "floating point (1e-308 to 1e308); check the values")
    return 10.0 ** log10


def _check(loss: float, exponent: Mapping[str, float], positive: Mapping[str, float]) -> None:
    problems = [f"{name}: got {v!r}; must be a finite number > 0"
                for name, v in {"--loss": loss, **positive}.items()
                if not (math.isfinite(v) and v > 0)]
    problems += [f"--exponent {r}: got {a!r}; exponents are signed and must be <= 0 "
                 f"(write {-abs(a)!r})" if math.isfinite(a) else
                 f"--exponent {r}: got {a!r}; must be finite" for r, a in exponent.items()
                 if not (math.isfinite(a) and a <= 0)]
    if problems:
        raise ScenarioError(problems)
