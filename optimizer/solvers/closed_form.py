r"""Closed-form optima: the fast path, and an independent check of the GP solver.

Three problem shapes have closed forms (derivations in ``docs/theory.md``).

**Power law with linear costs** (no coupling). Minimising
:math:`k\prod_i x_i^{a_i}` subject to :math:`\sum_i c_i x_i \le S` gives, from the
Lagrangian, :math:`|a_i|\,(L-E) = \lambda c_i x_i`: the optimal *spend* on each
resource is proportional to its exponent's magnitude,

.. math::

    c_i x_i^* = \frac{|a_i|}{\sum_j |a_j|}\, S.

In cost mode the same shares hold, and the spend :math:`S` solves
:math:`L(S) = L_{\text{target}}`:
:math:`S = \big(k \prod_i (s_i/c_i)^{a_i} / (L_{\text{target}} - E)\big)^{1/\sum|a|}`.

**Chinchilla law under a compute budget** with :math:`C = kND` and only compute
priced. Hoffmann et al. 2022, eq. 4 (with their :math:`k = 6`):

.. math::

    N^*(C) = G \left(\frac{C}{k}\right)^{\frac{\beta}{\alpha+\beta}}, \quad
    D^*(C) = G^{-1} \left(\frac{C}{k}\right)^{\frac{\alpha}{\alpha+\beta}}, \quad
    G = \left(\frac{\alpha A}{\beta B}\right)^{\frac{1}{\alpha+\beta}}.

Both modes share the optimality condition :math:`\alpha A N^{-\alpha} = \beta B
D^{-\beta}`; for a target loss it fixes the two terms at
:math:`A N^{-\alpha} = \tfrac{\beta}{\alpha+\beta}(L_{\text{target}} - E)` and
:math:`B D^{-\beta} = \tfrac{\alpha}{\alpha+\beta}(L_{\text{target}} - E)`.

**An allocation law** (:mod:`optimizer.model.laws.allocation`) under the same budget is
its own closed form: :math:`X^* = a\,C^{e}` for the stated half, the other from
:math:`C = kND`.

Every function here accepts array-valued budgets and targets (numpy broadcasting)
and never imports cvxpy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from optimizer.model.laws import AllocationLaw, ChinchillaLaw, PowerLaw

if TYPE_CHECKING:
    from optimizer.model.problem import Problem


def kind(problem: Problem) -> str | None:
    """Name the closed form ``problem`` admits (ignoring bounds and limits), or ``None``."""
    terms = problem.cost_terms.terms
    if isinstance(problem.law, PowerLaw) and not problem.derived:
        linear = {t.powers[0][0] for t in terms if len(t.coef) == 1 and t.powers
                  and len(t.powers) == 1 and t.powers[0][1] == 1}
        if len(terms) == len(problem.levers) and linear == set(problem.levers):
            return "power_law"
    if (isinstance(problem.law, (ChinchillaLaw, AllocationLaw))
            and problem.levers == ("N", "D")
            and set(problem.derived) == {"C"} and len(problem.derived["C"].terms) == 1
            and len(terms) == 1 and terms[0].coef == ("resources.C.unit_cost",
                                                      "compute.flops_per_param_token")):
        return "chinchilla" if isinstance(problem.law, ChinchillaLaw) else "allocation"
    return None


def why_not(problem: Problem) -> str:
    """Why :func:`solve` gives no closed-form plan for ``problem``, in words."""
    if kind(problem) is not None:
        x = {r: float(v) for r, v in allocate(problem).items()}
        return "a bound binds: the closed form would put " + "; ".join(_broken(problem, x))
    law = problem.law
    if isinstance(law, (ChinchillaLaw, AllocationLaw)):
        extra = []
        if problem.levers != ("N", "D"):
            extra.append("N or D is held fixed")
        if "C" not in problem.derived:
            extra.append("there is no compute coupling")
        elif len(problem.derived["C"].terms) > 1:
            extra.append("compute.attention adds FLOPs")
        priced = sorted({t.coef[0] for t in problem.cost_terms.terms}
                        - {"resources.C.unit_cost"})
        if priced:
            extra.append(f"{', '.join(priced)} prices more than compute")
        name = "Chinchilla's law" if isinstance(law, ChinchillaLaw) else "an allocation law"
        return (f"{name} has one under C = k*N*D with only compute priced, but "
                + ("; ".join(extra) or "the cost has another shape"))
    if isinstance(law, PowerLaw):
        return ("a power law has one with independent, linearly priced resources, but "
                + ("a compute coupling ties them" if problem.derived else
                   "some resource the law uses is not priced or is held fixed"))
    return f"the {law.form} law has none"


def allocate(problem: Problem, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The closed-form optimal levers, ignoring bounds.

    Parameters
    ----------
    problem : Problem
        A problem whose :func:`kind` is not ``None``.
    params : mapping, optional
        Overrides of ``problem.params`` (e.g. an array of budgets for a sweep).

    Returns
    -------
    dict of str to float or ndarray
        The optimal amount of each lever.
    """
    p = {**problem.params, **(params or {})}
    found = kind(problem)
    if found == "power_law":
        return _power_law(problem, p)
    if found == "chinchilla":
        return _chinchilla(problem, p)
    if found == "allocation":
        return _allocation(problem, p)
    raise ValueError("this problem has no closed form")


def solve(problem: Problem) -> dict[str, float] | None:
    """Closed-form optimum if one applies and respects every bound and limit, else ``None``.

    The closed form ignores bounds and limits; when its point satisfies them all it is
    also the optimum of the constrained problem, which is convex in logs.
    """
    if kind(problem) is None:
        return None
    x = {r: float(v) for r, v in allocate(problem).items()}
    return None if _broken(problem, x) else x


def _broken(problem: Problem, x: Mapping[str, float]) -> list[str]:
    """The bounds and limits that the levers ``x`` break, each with its scenario source."""
    if not all(math.isfinite(v) and v > 0 for v in x.values()):
        return ["a lever outside floating-point range"]
    amounts = {**problem.amounts(x), **x}
    spans = {**{r: (problem.lower[r], problem.upper[r]) for r in problem.levers},
             **problem.limits}
    broken = []
    for r, (lo, hi) in spans.items():
        if amounts[r] < lo:
            broken.append(f"{r} below {lo:.6g} ({problem.bound_source(r, 'lower')})")
        if amounts[r] > hi:
            broken.append(f"{r} above {hi:.6g} ({problem.bound_source(r, 'upper')})")
    return broken


def _power_law(problem: Problem, p: Mapping[str, Any]) -> dict[str, Any]:
    law = problem.law
    assert isinstance(law, PowerLaw)
    a = dict(law.exponents.items())
    sigma = sum(-a[r] for r in problem.levers)
    share = {r: -a[r] / sigma for r in problem.levers}
    price = {r: p[f"resources.{r}.unit_cost"] for r in problem.levers}
    if problem.mode == "loss":
        spend = p["objective.budget"] - problem.fixed_cost
    else:
        k = p["law.k"] * math.prod(v ** a[r] for r, v in problem.constants.items())
        unit = math.prod((share[r] / price[r]) ** a[r] for r in problem.levers)
        spend = (k * unit / (p["objective.target_loss"] - law.E)) ** (1 / sigma)
    return {r: share[r] * spend / price[r] for r in problem.levers}


def _chinchilla(problem: Problem, p: Mapping[str, Any]) -> dict[str, Any]:
    law = problem.law
    assert isinstance(law, ChinchillaLaw)
    alpha, beta = law.alpha, law.beta
    A, B = p["law.A"], p["law.B"]
    if problem.mode == "loss":
        k = p["compute.flops_per_param_token"]
        C = (p["objective.budget"] - problem.fixed_cost) / p["resources.C.unit_cost"]
        G = (alpha * A / (beta * B)) ** (1 / (alpha + beta))
        return {"N": G * _power(C / k, beta / (alpha + beta)),
                "D": _power(C / k, alpha / (alpha + beta)) / G}
    reducible = p["objective.target_loss"] - p["law.E"]
    return {"N": (A * (alpha + beta) / (beta * reducible)) ** (1 / alpha),
            "D": (B * (alpha + beta) / (alpha * reducible)) ** (1 / beta)}


def _power(base: Any, exponent: Any) -> Any:
    """``base ** exponent``; for one number to an array of exponents, as exp(e log b).

    numpy's power of one base to many exponents does not vectorise, and exp and log do:
    3x faster over 1e4 sampled laws. Other operands (arrays of bases, the workbook's
    formulas) use ``**``.
    """
    if isinstance(exponent, np.ndarray) and np.ndim(base) == 0:
        return np.exp(np.log(base) * exponent)
    return base ** exponent


def _allocation(problem: Problem, p: Mapping[str, Any]) -> dict[str, Any]:
    """The published allocation itself: X* = a C^e, the other lever from C = k N D."""
    law = problem.law
    assert isinstance(law, AllocationLaw)
    assert problem.mode == "loss"
    C = (p["objective.budget"] - problem.fixed_cost) / p["resources.C.unit_cost"]
    stated = law.half.at(C)
    other = C / (p["compute.flops_per_param_token"] * stated)
    return {law.stated: stated, "D" if law.stated == "N" else "N": other}
