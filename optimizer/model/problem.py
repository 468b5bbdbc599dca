r"""From a scenario to an optimisation problem over the free resources (the levers).

A :class:`Problem` is what every solve method, the certificate and the reports work
on. It reduces the scenario to

* the **levers**: the resources the plan chooses (N and D under a compute coupling,
  otherwise the resources the law depends on), each with bounds;
* **constants**: resources held ``fixed``;
* **derived** resources: ``C = flops_per_param_token * N * D`` under the coupling;
* the **cost**, a posynomial in the levers: :math:`\sum_r c_r\, x_r(\text{levers})`;
* the **main constraint**: ``cost <= budget`` (minimise loss) or
  ``loss <= target_loss`` (minimise cost);
* **limits** on derived resources, e.g. ``C <= max``.

Numbers the problem uses are named by their scenario path (``law.A``,
``resources.C.unit_cost``, ``objective.budget``) in :attr:`Problem.params`, so a GP can
hold them as parameters and later tools can vary them by name.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, TypeVar

import numpy as np

from optimizer.errors import InfeasibleError, ScenarioError, UnboundedError
from optimizer.model.fields import RESOURCES
from optimizer.model.laws import Law
from optimizer.model.scenario import (
    Attention,
    MinimizeCost,
    MinimizeLoss,
    Scenario,
    get_path,
    numeric_paths,
)


@dataclass(frozen=True)
class Term:
    """One monomial: the product of named coefficients times a product of powers."""

    coef: tuple[str, ...]
    """Names (keys of the parameter mapping) whose product is the coefficient."""
    powers: tuple[tuple[str, float], ...]
    """(resource, exponent) pairs."""

    def evaluate(self, x: Mapping[str, Any], p: Mapping[str, Any]) -> Any:
        """The term's value; works for numbers, arrays and cvxpy expressions."""
        value = p[self.coef[0]]
        for name in self.coef[1:]:
            value = value * p[name]
        for r, e in self.powers:
            value = value * (x[r] if e == 1 else x[r] ** e)
        return value


@dataclass(frozen=True)
class Posynomial:
    r"""A sum of monomials :math:`\sum_k c_k \prod_r x_r^{e_{kr}}` with :math:`c_k > 0`."""

    terms: tuple[Term, ...] = ()

    def evaluate(self, x: Mapping[str, Any], p: Mapping[str, Any]) -> Any:
        """Value (numbers or arrays) or cvxpy expression, from the same code."""
        values = [t.evaluate(x, p) for t in self.terms]
        return sum(values[1:], values[0]) if values else 0.0

    def gradient(self, x: Mapping[str, Any], p: Mapping[str, Any],
                 wrt: tuple[str, ...]) -> dict[str, Any]:
        r""":math:`\partial/\partial x_r = \sum_k e_{kr} \, \text{term}_k / x_r` for r in wrt."""
        grad: dict[str, Any] = {r: 0.0 for r in wrt}
        for t in self.terms:
            value = t.evaluate(x, p)
            for r, e in t.powers:
                if r in grad:
                    grad[r] = grad[r] + e * value / x[r]
        return grad

    def involves(self, r: str) -> bool:
        """Whether any term depends on resource ``r``."""
        return any(name == r for t in self.terms for name, _ in t.powers)

    def times(self, name: str) -> Posynomial:
        """Multiply by the named coefficient."""
        return Posynomial(tuple(Term((name, *t.coef), t.powers) for t in self.terms))


Mode = Literal["loss", "cost"]
Region = Literal["fresh", "repeat"]


def _attention(attention: Attention) -> tuple[float, tuple[tuple[str, float], ...]]:
    """Coefficient and powers of the attention FLOPs per token, over flops_per_param_token."""
    if attention.aspect_ratio is not None:
        # N = 12 n_layer d^2 and d = aspect * n_layer give
        # n_layer * d = (N/12)^(2/3) / aspect^(1/3).
        return (attention.context * 12.0 ** (-2 / 3) * attention.aspect_ratio ** (-1 / 3),
                (("N", 2 / 3), ("D", 1.0)))
    return attention.context * (attention.layers or 0.0) * (attention.width or 0.0), (
        ("D", 1.0),)


def _capability(scenario: Scenario) -> str:
    capability = scenario.capability
    assert capability is not None
    if capability.min_params is not None:
        return "capability.min_params"
    return (f"capability: G(N) = {capability.a:g}*ln(N) + {capability.b:g}*max(0, N - "
            f"{capability.N_c:g})^2 reaches {capability.required:g}")


@dataclass(frozen=True)
class Bound:
    """One limit a scenario puts on a resource, and where it comes from."""

    resource: str
    side: Literal["lower", "upper"]
    value: Any
    """The limit: a number, or a formula cell when the export evaluates it symbolically."""
    label: str
    """The scenario field (and its value, where it is not the bound itself), for messages."""


def bound_candidates(scenario: Scenario, region: Region | None = None) -> list[Bound]:
    """Every bound the scenario sets on N, D and C; the problem keeps the tightest.

    Written with arithmetic only (no comparisons), so that the export can evaluate it
    on a scenario whose numbers are spreadsheet cells and guard a live plan with every
    bound that could become the tightest when an input changes.
    """
    res, hw, data = scenario.resources, scenario.hardware, scenario.data
    out: list[Bound] = []
    for r in RESOURCES:
        if res[r].fixed is not None:
            out += [Bound(r, "lower", res[r].fixed, f"resources.{r}.fixed"),
                    Bound(r, "upper", res[r].fixed, f"resources.{r}.fixed")]
        if res[r].min is not None:
            out.append(Bound(r, "lower", res[r].min, f"resources.{r}.min"))
        if res[r].max is not None:
            out.append(Bound(r, "upper", res[r].max, f"resources.{r}.max"))
    if hw is not None and (cap := hw.compute_cap()) is not None:
        out.append(Bound("C", "upper", cap, f"hardware.deadline_hours: "
                         f"{float(hw.deadline_hours or 0):g} h on {float(hw.devices or 0):g} "
                         "devices"))
    if hw is not None and (cap := hw.parameter_cap()) is not None:
        out.append(Bound("N", "upper", cap, f"hardware.memory_cap: {float(hw.devices or 0):g} "
                         f"devices x {float(hw.memory or 0):.4g} bytes / "
                         f"{float(hw.bytes_per_param):g} bytes per parameter"))
    if scenario.capability is not None:
        out.append(Bound("N", "lower", scenario.capability.threshold(), _capability(scenario)))
    if data is not None and not scenario.law.needs_data:
        out.append(Bound("D", "upper", data.unique_tokens, "data.unique_tokens"))
    elif data is not None and region == "fresh":
        out.append(Bound("D", "upper", data.unique_tokens, "data.unique_tokens (fresh data only)"))
    elif data is not None and region == "repeat":
        out.append(Bound("D", "lower", data.unique_tokens, "data.unique_tokens (repeated data)"))
    return out


def parameter(scenario: Scenario, path: str) -> Any:
    """The number a problem holds under ``path`` (a key of :attr:`Problem.params`).

    Most are scenario fields. Three are derived: a resource's unit cost (C's priced by
    ``hardware``), the price of an inference FLOP, and the attention FLOPs per token.
    Arithmetic only, so the export evaluates it on spreadsheet cells too.
    """
    if path == "compute.attention":
        attention = scenario.compute.attention if scenario.compute is not None else None
        assert attention is not None, "compute.attention is a parameter only when it is set"
        return _attention(attention)[0]
    if path == "inference.unit_cost":
        return scenario.inference_price()
    parts = path.split(".")
    if parts[0] == "resources" and parts[2] == "unit_cost":
        return scenario.unit_cost(parts[1])
    node: Any = scenario
    for key in parts:
        node = getattr(node, key)
    return node


@dataclass(frozen=True)
class Problem:
    """A scenario reduced to levers, a posynomial cost, a law and constraints."""

    scenario: Scenario
    law: Law
    mode: Mode
    levers: tuple[str, ...]
    """Resources the plan chooses, in canonical order."""
    constants: dict[str, float]
    """Resources the law or a coupling uses but the scenario holds fixed."""
    unused: dict[str, float]
    """Resources that affect neither loss nor coupling: bought at their lower bound."""
    derived: dict[str, Posynomial]
    """Resources computed from the others (C under the compute coupling)."""
    cost_terms: Posynomial
    """The cost that depends on the levers."""
    fixed_cost: float
    """The cost of constants and unused resources."""
    lower: dict[str, float]
    upper: dict[str, float]
    limits: dict[str, tuple[float, float]]
    """Bounds on derived resources: name -> (lower, upper)."""
    params: dict[str, float] = field(repr=False)
    """Every number the cost and constraints use, by scenario path."""

    context: dict[str, float] = field(default_factory=dict)
    """Scenario constants the law reads besides the resources (``U`` for repetition)."""
    sources: dict[tuple[str, str], str] = field(default_factory=dict)
    """Where each bound comes from: (resource, "lower" | "upper") -> scenario key."""
    region: Region | None = None
    """For a priced data stock under a repetition law: the plan uses fresh data only
    (``fresh``: D <= U, each token priced) or repeats it (``repeat``: D >= U, all U bought)."""

    # ------------------------------------------------------------------ building
    @classmethod
    def from_scenario(cls, scenario: Scenario, region: Region | None = None) -> Problem:
        """Reduce a validated scenario to a problem over its levers."""
        law, res = scenario.law, scenario.resources
        derived: dict[str, Posynomial] = {}
        params: dict[str, float] = {f"law.{k}": v for k, v in law.coefficients().items()}
        compute = scenario.compute
        if compute is not None:
            params["compute.flops_per_param_token"] = compute.flops_per_param_token
            terms = [Term(("compute.flops_per_param_token",), (("N", 1.0), ("D", 1.0)))]
            if compute.attention is not None:
                params["compute.attention"], powers = _attention(compute.attention)
                terms.append(Term(("compute.flops_per_param_token", "compute.attention"),
                                  powers))
            derived["C"] = Posynomial(tuple(terms))
            candidates = ("N", "D")
        else:
            candidates = law.inputs

        bounds = {r: [0.0, math.inf] for r in RESOURCES}
        sources: dict[tuple[str, str], str] = {}
        for bound in bound_candidates(scenario, region):
            i = 0 if bound.side == "lower" else 1
            value = float(bound.value)
            if value > bounds[bound.resource][0] if i == 0 else value < bounds[bound.resource][1]:
                bounds[bound.resource][i] = value
                sources[bound.resource, bound.side] = bound.label

        data = scenario.data
        context: dict[str, float] = {}
        fixed_cost = 0.0
        cost_terms: list[Term] = []
        if data is not None:
            if data.unit_cost > 0:
                params["data.unit_cost"] = data.unit_cost
            if law.needs_data:
                context["U"] = data.unique_tokens
            if data.unit_cost > 0 and (not law.needs_data or region == "fresh"):
                cost_terms.append(Term(("data.unit_cost",), (("D", 1.0),)))
            elif data.unit_cost > 0 and region == "repeat":
                fixed_cost += data.unit_cost * data.unique_tokens

        for r, (lo, hi) in bounds.items():
            if lo > hi * (1 + 1e-12):
                raise InfeasibleError(
                    f"{r} must be at least {lo:.6g} ({sources[r, 'lower']}) but at most "
                    f"{hi:.6g} ({sources[r, 'upper']}); no plan meets both, so relax one")
        levers = tuple(r for r in candidates if res[r].fixed is None)
        constants = {r: res[r].lower for r in candidates if res[r].fixed is not None}
        unused = {r: bounds[r][0] for r in RESOURCES
                  if r not in candidates and r not in derived}
        for r in RESOURCES:
            name = f"resources.{r}.unit_cost"
            price = parameter(scenario, name)
            if price == 0:
                continue
            params[name] = price
            if r in derived:
                cost_terms += derived[r].times(name).terms
            elif r in levers:
                cost_terms.append(Term((name,), ((r, 1.0),)))
            else:
                fixed_cost += price * (constants | unused)[r]
        if scenario.inference is not None and (
                price := parameter(scenario, "inference.unit_cost")) > 0:
            params |= {"inference.unit_cost": price,
                       "inference.flops_per_param_token":
                           scenario.inference.flops_per_param_token,
                       "inference.tokens": scenario.inference.tokens}
            coef = ("inference.unit_cost", "inference.flops_per_param_token", "inference.tokens")
            if "N" in levers:
                cost_terms.append(Term(coef, (("N", 1.0),)))
            else:
                fixed_cost += math.prod(params[c] for c in coef) * (constants | unused)["N"]
        objective = scenario.objective
        if isinstance(objective, MinimizeLoss):
            mode: Mode = "loss"
            params["objective.budget"] = objective.budget
        else:
            assert isinstance(objective, MinimizeCost)
            mode = "cost"
            params["objective.target_loss"] = scenario.target_loss()
        return cls(
            scenario=scenario, law=law, mode=mode, levers=levers, constants=constants,
            unused=unused, derived=derived, cost_terms=Posynomial(tuple(cost_terms)),
            fixed_cost=fixed_cost,
            lower={r: bounds[r][0] for r in levers}, upper={r: bounds[r][1] for r in levers},
            limits={r: (bounds[r][0], bounds[r][1]) for r in derived
                    if bounds[r][0] > 0 or bounds[r][1] < math.inf},
            params=params, context=context,
            sources={k: v for k, v in sources.items() if k[0] not in constants},
            region=region)

    def describe_compute(self) -> str:
        """The FLOPs formula the plan used, in words."""
        compute = self.scenario.compute
        if compute is None:
            return "none: N, D and C are independent"
        k = f"{compute.flops_per_param_token:g}"
        formula = f"C = {k}*N*D"
        attention = compute.attention
        if attention is None:
            return formula
        if attention.aspect_ratio is not None:
            return (f"{formula} + {k}*n_layer*n_ctx*d_model*D with n_ctx = "
                    f"{attention.context:g} and d_model/n_layer = {attention.aspect_ratio:g}, "
                    "so n_layer*d_model = (N/12)^(2/3)/aspect^(1/3) (Kaplan et al. 2020, Table 1)")
        return (f"{formula} + {k}*n_layer*n_ctx*d_model*D with n_layer = {attention.layers:g}, "
                f"n_ctx = {attention.context:g}, d_model = {attention.width:g} "
                "(Kaplan et al. 2020, Table 1)")

    def bound_source(self, r: str, side: str) -> str:
        """Where the bound on ``r`` comes from, for messages."""
        return self.sources.get((r, side), f"resources.{r}")

    def limits_in_force(self, side: Literal["lower", "upper"]) -> list[str]:
        """Each bound of ``side`` on a lever or a derived resource, and each fixed amount.

        Each names the scenario field it comes from: what to say when no plan exists.
        """
        sign = ">=" if side == "lower" else "<="
        spans = {**{r: (self.lower[r], self.upper[r]) for r in self.levers}, **self.limits}
        out = [f"{r} = {v:.6g} (resources.{r}.fixed)" for r, v in self.constants.items()]
        for r, (lo, hi) in spans.items():
            value = lo if side == "lower" else hi
            if (value > 0) if side == "lower" else (value < math.inf):
                out.append(f"{r} {sign} {value:.6g} ({self.bound_source(r, side)})")
        if side == "upper" and "U" in self.context:
            out.append(f"data.unique_tokens {self.context['U']:.6g} (repeated tokens are worth "
                       f"less under the {self.law.form} law)")
        return out

    def unattained(self, proof: str, advice: str = "", diverges: bool = False
                   ) -> UnboundedError:
        """The error for a problem with no optimal plan though plans exist (exit code 3).

        Either the objective improves without limit (``diverges``: a solver proved the
        problem unbounded), or the plans run off towards the edge of what the budget
        (or target) and the limits allow without attaining an optimum. ``advice`` is
        the certificate's advice at the best point found: the direction they run off.
        """
        what = "loss" if self.mode == "loss" else "cost"
        limits = self.limits_in_force("lower") + self.limits_in_force("upper")
        unbounded = [f"resources.{r}" for r in self.levers
                     if self.lower[r] == 0 or self.upper[r] == math.inf]
        main = (f"objective.budget {self.budget:.6g}" if self.mode == "loss"
                else self.describe_target())
        how = (f"the {what} keeps improving without limit under {main}" if diverges else
               f"under {main}, the best plans run off towards an edge without attaining "
               "an optimum")
        return UnboundedError(
            f"no optimal plan exists: {how} "
            + (f"within {'; '.join(limits)} " if limits else "") + proof
            + (f"; at the best plan found the certificate advises: {advice}" if advice
               else "")
            + (f"; bound that direction by giving {' or '.join(unbounded)} a unit_cost, "
               "a min or a max" if unbounded else ""))

    def no_plan(self, proof: str) -> InfeasibleError:
        """The error for a problem with no feasible plan, naming what stands in the way.

        In cost mode the target is out of reach of the upper limits (and fixed amounts);
        in loss mode the budget cannot pay for the lower limits.
        """
        if self.mode == "cost":
            limits = self.limits_in_force("upper")
            return InfeasibleError(
                f"{self.describe_target()} is out of reach {proof} within "
                + ("; ".join(limits) or "the scenario's limits")
                + "; raise one of these limits, or the target")
        limits = self.limits_in_force("lower") or self.limits_in_force("upper")
        return InfeasibleError(
            f"objective.budget {self.budget:.6g} cannot pay for a plan within "
            + ("; ".join(limits) or "the scenario's limits") + f" {proof}; raise the "
            "budget, or relax one of these limits")

    def describe_target(self) -> str:
        """The cost-mode target as the scenario states it, for messages."""
        objective = self.scenario.objective
        assert isinstance(objective, MinimizeCost)
        key, value = objective.target
        if key == "target_loss":
            return f"objective.target_loss {value:.6g}"
        return (f"objective.{key} {value:.6g} (loss {self.target:.6g} under the downstream "
                "mapping)")

    # --------------------------------------------------------------- evaluation
    @property
    def budget(self) -> float:
        """The budget (minimise-loss mode)."""
        return self.params["objective.budget"]

    @property
    def target(self) -> float:
        """The target loss (minimise-cost mode)."""
        return self.params["objective.target_loss"]

    def amounts(self, x: Mapping[str, Any]) -> dict[str, Any]:
        """All resources (N, D, C) given the levers ``x``."""
        full = {**self.unused, **self.constants, **{r: x[r] for r in self.levers}}
        for r, posy in self.derived.items():
            full[r] = posy.evaluate(full, self.params)
        return {r: full[r] for r in RESOURCES}

    def levers_at(self, point: Mapping[str, float], option: str) -> dict[str, float]:
        """Validate a user's point (amounts by resource name) and return its levers.

        Every lever must be given as a finite positive number; a derived or fixed
        resource may be given too, but must agree with what the scenario implies.

        Raises
        ------
        ScenarioError
            Naming ``option`` (e.g. ``--plan``) and the offending resource.
        """
        problems = [f"{option} {r}: got {v!r}; must be a finite number > 0"
                    for r, v in point.items() if not (math.isfinite(v) and v > 0)]
        problems += [f"{option}: {r} is not a resource; use N, D and C"
                     for r in point if r not in RESOURCES]
        problems += [f"{option}: {r} is missing; give {', '.join(self.levers)}"
                     for r in self.levers if r not in point]
        if problems:
            raise ScenarioError(problems)
        x = {r: point[r] for r in self.levers}
        implied = self.amounts(x)
        for r, v in point.items():
            if r not in x and not math.isclose(v, implied[r], rel_tol=1e-6):
                why = "the compute coupling" if r in self.derived else "the scenario"
                raise ScenarioError(f"{option} {r}={v:g} contradicts {why}, which gives "
                                    f"{r} = {float(implied[r]):.6g}; leave {r} out or correct it")
        return x

    def law_inputs(self, x: Mapping[str, Any]) -> dict[str, Any]:
        """What the law reads at levers ``x``: every resource plus the context (``U``)."""
        return {**self.amounts(x), **self.context}

    def loss(self, x: Mapping[str, Any]) -> Any:
        """Predicted loss at levers ``x``."""
        return self.law.value(self.law_inputs(x))

    def reported_loss(self, x: Mapping[str, Any]) -> Any:
        """The loss a plan at levers ``x`` reports: NaN where the law predicts none.

        An allocation law's value is a device for planning, not a prediction
        (:attr:`Law.predicts_loss`); reports and tables show no loss for it.
        """
        loss = self.loss(x)
        return loss if self.law.predicts_loss else np.full(np.shape(loss), np.nan)

    def reducible_loss(self, x: Mapping[str, Any]) -> Any:
        """Predicted loss minus the law's floor at levers ``x``, without cancellation."""
        return self.law.reducible_value(self.law_inputs(x))

    @property
    def headroom(self) -> float:
        """Target loss minus the floor: the most reducible loss a plan may keep."""
        return self.target - self.law.floor()

    def cost(self, x: Mapping[str, Any]) -> Any:
        """Total cost at levers ``x``."""
        full = {**self.constants, **x}
        return self.cost_terms.evaluate(full, self.params) + self.fixed_cost

    def loss_gradient(self, x: Mapping[str, Any]) -> dict[str, Any]:
        r"""Total derivative of the loss with respect to each lever.

        Through a coupling the chain rule adds
        :math:`\partial L/\partial C \cdot \partial C/\partial x_i`.
        """
        full = self.law_inputs(x)
        partial = self.law.gradient(full)
        grad = {r: partial.get(r, 0.0) for r in self.levers}
        for r, posy in self.derived.items():
            if r in partial:
                inner = posy.gradient(full, self.params, self.levers)
                for i in self.levers:
                    grad[i] = grad[i] + partial[r] * inner[i]
        return grad

    def cost_gradient(self, x: Mapping[str, Any]) -> dict[str, Any]:
        """Marginal cost of each lever, including what a coupling adds."""
        return self.cost_terms.gradient({**self.constants, **x}, self.params, self.levers)

    def limit_gradient(self, name: str, x: Mapping[str, Any]) -> dict[str, Any]:
        """Gradient of a derived resource with respect to the levers."""
        full = self.amounts(x)
        return self.derived[name].gradient(full, self.params, self.levers)

    # ---------------------------------------------------------------- structure
    @cached_property
    def geometric(self) -> bool:
        """Whether the problem is a geometric program, so cvxpy's DGP solves it.

        The law must be a posynomial, and a derived resource that is a sum of terms
        (C with attention FLOPs) must not appear where a GP needs a monomial: under a
        lower limit (a posynomial bounded from below), or in a law that depends on it
        (a posynomial raised to a negative power). Such problems are solved in log
        variables by :mod:`optimizer.solvers.nlp`, from several starts.
        """
        if not self.law.geometric:
            return False
        return not any(len(posy.terms) > 1 and (self.limits.get(r, (0.0, 0.0))[0] > 0
                                                or r in self.law.inputs)
                       for r, posy in self.derived.items())

    def structure(self) -> tuple[Any, ...]:
        """Everything that shapes the GP except parameter values: its cache key."""
        return (type(self.law).__name__, self.law.powers(), tuple(sorted(self.params)),
                tuple(sorted(self.context)),
                self.mode, self.levers,
                tuple(sorted(self.constants)), tuple(sorted(self.derived)),
                self.cost_terms, tuple((r, self.lower[r] > 0, self.upper[r] < math.inf)
                                       for r in self.levers),
                tuple((r, lo > 0, hi < math.inf) for r, (lo, hi) in self.limits.items()))

    def check_well_posed(self) -> None:
        """Reject problems with no optimal plan, saying why in words.

        Raises
        ------
        UnboundedError
            A lever lowers the loss, costs nothing and has no upper bound.
        InfeasibleError
            The minimum amounts alone exceed the budget, or even the maximum amounts
            miss the target loss.
        """
        affects_loss = set(self.law.inputs) | (
            {r for p in self.derived.values() for r in self.levers if p.involves(r)}
            if set(self.law.inputs) & set(self.derived) else set())
        limited = {r for name, (_, hi) in self.limits.items() if hi < math.inf
                   for r in self.levers if self.derived[name].involves(r)}
        for r in self.levers:
            if (r in affects_loss and not self.cost_terms.involves(r)
                    and self.upper[r] == math.inf and r not in limited):
                what = "loss" if self.mode == "loss" else "cost"
                raise UnboundedError(
                    f"resources.{r}: {r} costs nothing and has no max, so the {what} keeps "
                    f"falling as {r} grows and no plan is optimal; give {r} a positive "
                    f"unit_cost, a max, or a compute coupling that prices it")
        if self.mode == "loss":
            cheapest = float(self.cost(self.lower))
            if cheapest > self.budget * (1 + 1e-12):
                raise self.no_plan(f"(the smallest amounts allowed cost {cheapest:.6g})")
        else:
            with np.errstate(all="ignore"):
                best = float(self.loss(self.upper))
                excess = float(self.reducible_loss(self.upper)) / self.headroom - 1
            if not excess <= 1e-12:  # reaching the target exactly is reaching it
                raise self.no_plan(f"(the largest amounts allowed give loss {best:.6g})")


# ------------------------------------------------------------ floating-point range

@contextmanager
def representable(scenario: Scenario) -> Iterator[None]:
    """Run a solve whose arithmetic may leave floating point; refuse it if it does.

    Inside, numpy's overflow and invalid-value warnings are silenced: the solvers meet
    infinities on the way (a trial point far out) and the certificate judges what they
    return. An arithmetic error that escapes (Python's float ``**`` raises where numpy
    returns inf) means the scenario's numbers put the plan beyond floating point: a
    :class:`ScenarioError` (exit 2) naming the inputs most likely to blame.
    """
    try:
        with np.errstate(all="ignore"):
            yield
    except (OverflowError, ZeroDivisionError, FloatingPointError) as exc:
        raise unrepresentable(scenario, f"{type(exc).__name__}: {exc}") from None


F = TypeVar("F", bound=Callable[..., Any])


def guarded(function: F) -> F:
    """Decorate an entry point so that it runs :func:`representable` on its scenario.

    The scenario is the entry point's first argument, or that argument's ``scenario``
    (a :class:`~optimizer.solvers.solve.Plan`).
    """
    first = next(iter(inspect.signature(function).parameters))

    @functools.wraps(function)
    def inner(*args: Any, **kwargs: Any) -> Any:
        given = args[0] if args else kwargs[first]
        with representable(getattr(given, "scenario", given)):
            return function(*args, **kwargs)
    return inner  # type: ignore[return-value]


def oddness(scenario: Scenario) -> dict[str, float]:
    """How far each nonzero input lies from the values scaling laws have, most odd first.

    A coefficient, price or amount scores its orders of magnitude; an exponent scores ten
    per order of magnitude away from 0.3 (an exponent of 3 is as odd as a coefficient of
    1e10). The bundled scenarios score at most 24 (a budget of 5.76e23 FLOPs).
    """
    data = scenario.model_dump()
    scores = {}
    for path in numeric_paths(scenario):
        value = abs(float(get_path(data, path)))
        if value == 0 or not math.isfinite(value):
            continue
        leaf = path.rsplit(".", 1)[-1]
        exponent = leaf.startswith(("alpha", "beta")) or ".exponents." in path
        scores[path] = 10 * abs(math.log10(value / 0.3)) if exponent else abs(math.log10(value))
    return dict(sorted(scores.items(), key=lambda item: item[1], reverse=True))


EXTREME = 40.0
"""An :func:`oddness` this high (a number beyond 1e+-40) takes a scenario outside what the
solvers are checked on; when no plan certifies, that, not the solver, is reported."""


def unrepresentable(scenario: Scenario, what: str,
                    head: str = "the plan cannot be computed in floating point") -> ScenarioError:
    """The error for a scenario whose plan floating point cannot hold (exit code 2).

    Names up to three inputs farthest from typical values (see :func:`oddness`).
    """
    scores = oddness(scenario)
    ranked = list(scores)
    odd = [p for p in ranked[:3] if scores[p] >= scores[ranked[0]] / 2] if ranked else []
    data = scenario.model_dump()
    named = ", ".join(f"{p} = {float(get_path(data, p)):.6g}" for p in odd)
    return ScenarioError(f"{head} ({what}); the inputs farthest from typical values: "
                         f"{named}: check them, or express amounts and prices in larger or "
                         "smaller units")
