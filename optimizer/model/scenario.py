"""Scenario files: the strict schema, loading (YAML, TOML, JSON) and dumping.

A scenario states a fitted loss law, what each resource costs, an optional compute
coupling ``C = flops_per_param_token * N * D``, and an objective: the lowest loss
for a budget, or the lowest cost for a target loss. ``docs/scenarios.md`` is the
reference; ``optimizer schema`` prints the JSON Schema generated from this module.
"""

from __future__ import annotations

import difflib
import math
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, ValidationError, model_validator

from optimizer.display import html_table, one_line
from optimizer.errors import ScenarioError
from optimizer.io.documents import document_text, read_mapping
from optimizer.io.files import write_atomic
from optimizer.model.downstream import AnyMapping
from optimizer.model.fields import RESOURCES, Finite, NonNegative, Positive, StrictModel
from optimizer.model.laws import AnyLaw
from optimizer.model.messages import describe
from optimizer.model.provenance import FitRecord


class Resource(StrictModel):
    """What one unit of a resource costs, and the limits on how much can be bought."""

    unit_cost: NonNegative = 0.0
    """Price of one unit (one parameter, one token, one FLOP) in budget units; default 0.
    With ``hardware``, C's price is derived and must be left out."""
    min: Positive | None = None
    """Smallest amount allowed (a lower bound), if any."""
    max: Positive | None = None
    """Largest amount allowed (an upper bound), if any."""
    fixed: Positive | None = None
    """Hold the resource at exactly this amount (excludes min and max)."""

    @model_validator(mode="after")
    def _consistent_bounds(self) -> Resource:
        if self.fixed is not None and (self.min is not None or self.max is not None):
            raise ValueError("give either fixed or min/max, not both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min:g}) is greater than max ({self.max:g}); "
                             "swap them or widen the range")
        return self

    @property
    def lower(self) -> float:
        """Lower bound (0 when there is none)."""
        return self.fixed if self.fixed is not None else (self.min or 0.0)

    @property
    def upper(self) -> float:
        """Upper bound (inf when there is none)."""
        if self.fixed is not None:
            return self.fixed
        return self.max if self.max is not None else math.inf


FREE = Resource()
"""A resource the scenario does not list: it costs nothing and is unbounded."""


class Resources(StrictModel):
    """The three resources a plan buys. One left out costs nothing and has no bounds."""

    N: Resource = FREE
    """Model parameters."""
    D: Resource = FREE
    """Training tokens."""
    C: Resource = FREE
    """Training compute in FLOPs."""

    def __getitem__(self, name: str) -> Resource:
        return getattr(self, name)


class Attention(StrictModel):
    """Attention FLOPs per token (Kaplan et al. 2020, Table 1): k * n_layer * n_ctx * d_model.

    Give the shape either as ``layers`` and ``width`` (a fixed architecture) or as
    ``aspect_ratio`` = width / layers, in which case the shape follows N through
    N = 12 * n_layer * d_model**2 and the term becomes k * n_ctx * (N/12)**(2/3) /
    aspect_ratio**(1/3) per token.
    """

    context: Positive
    """Context length n_ctx in tokens."""
    layers: Positive | None = None
    """Number of layers n_layer (with ``width``)."""
    width: Positive | None = None
    """Model width d_model = d_attn (with ``layers``)."""
    aspect_ratio: Positive | None = None
    """width / layers, so the shape scales with N (instead of ``layers`` and ``width``)."""

    @model_validator(mode="after")
    def _one_shape(self) -> Attention:
        fixed = self.layers is not None or self.width is not None
        if fixed == (self.aspect_ratio is not None):
            raise ValueError("give either layers and width, or aspect_ratio, not both "
                             "or neither")
        if fixed and (self.layers is None or self.width is None):
            raise ValueError("layers and width go together; give both")
        return self


class Compute(StrictModel):
    """Couples the resources: training compute C = flops_per_param_token * N * D (+ attention)."""

    flops_per_param_token: Positive = 6.0
    """FLOPs per parameter per training token (6: forward + backward, Kaplan et al. 2020)."""
    attention: Attention | None = None
    """Optional attention term added to the FLOPs per token; without it C = k * N * D."""


class Hardware(StrictModel):
    """The accelerators: they price a FLOP and may impose a deadline and a memory cap.

    With ``hardware``, C's unit cost is derived (leave ``resources.C.unit_cost`` out):
    ``price_per_device_hour / (3600 * peak_flops * mfu)`` dollars per FLOP, or
    ``1 / (3600 * peak_flops * mfu)`` device-hours per FLOP when ``bill`` is
    ``device_hours``. Other unit costs and the budget are then in the same currency.
    """

    accelerator: str | None = None
    """A named device (see ``optimizer.model.hardware.ACCELERATORS``), supplying peak_flops and
    memory_bytes unless they are given."""
    peak_flops: Positive | None = None
    """Peak dense FLOP/s of one device."""
    mfu: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]
    """Model FLOPs utilisation achieved in training, in (0, 1]."""
    price_per_device_hour: Positive | None = None
    """Dollars per device-hour; needed when ``bill`` is ``dollars``."""
    bill: Literal["dollars", "device_hours"] | None = None
    """Currency of the budget: dollars (default when a price is given) or device_hours."""
    devices: Annotated[float, Field(ge=1, allow_inf_nan=False)] | None = None
    """Devices in the cluster; needed for a deadline or a memory cap."""
    deadline_hours: Positive | None = None
    """Wall-clock limit: C <= devices * peak_flops * mfu * 3600 * deadline_hours."""
    memory_bytes: Positive | None = None
    """Memory per device in bytes (with ``memory_cap``)."""
    memory_cap: bool = False
    """Cap N at devices * memory_bytes / bytes_per_param (whole training state in memory)."""
    bytes_per_param: Positive = 16.0
    """Training-state bytes per parameter: 16 for mixed-precision Adam (2 weights + 2
    gradients + 12 fp32 master copy and moments; Rajbhandari et al. 2020, ZeRO)."""

    @model_validator(mode="after")
    def _complete(self) -> Hardware:
        from optimizer.model.hardware import ACCELERATORS

        problems = []
        if self.accelerator is not None and self.accelerator not in ACCELERATORS:
            close = difflib.get_close_matches(self.accelerator, ACCELERATORS, n=1)
            problems.append(f"accelerator: {self.accelerator!r} is not known; "
                            + (f"did you mean {close[0]!r}? " if close else "")
                            + f"known: {', '.join(ACCELERATORS)}; or give peak_flops")
        elif self.peak is None:
            problems.append("peak_flops: missing; give it or name an accelerator")
        if self.currency == "dollars" and self.price_per_device_hour is None:
            problems.append("price_per_device_hour: missing; bill: dollars needs it")
        if self.devices is None and (self.deadline_hours or self.memory_cap):
            problems.append("devices: missing; a deadline or a memory cap needs the "
                            "number of devices")
        if self.memory_cap and self.memory is None:
            problems.append("memory_bytes: missing; memory_cap needs it (or an accelerator)")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @property
    def peak(self) -> float | None:
        """Peak FLOP/s per device, given or from the named accelerator."""
        from optimizer.model.hardware import ACCELERATORS

        if self.peak_flops is not None or self.accelerator not in ACCELERATORS:
            return self.peak_flops
        return ACCELERATORS[self.accelerator].peak_flops

    @property
    def memory(self) -> float | None:
        """Memory per device in bytes, given or from the named accelerator."""
        from optimizer.model.hardware import ACCELERATORS

        if self.memory_bytes is not None or self.accelerator not in ACCELERATORS:
            return self.memory_bytes
        return ACCELERATORS[self.accelerator].memory_bytes

    @property
    def currency(self) -> str:
        """What the budget counts: ``dollars`` or ``device_hours``."""
        return self.bill or ("dollars" if self.price_per_device_hour else "device_hours")

    def flops_per_device_hour(self, mfu: float | None = None) -> float:
        """FLOPs one device achieves per hour (at ``mfu``, default the training MFU)."""
        from optimizer.model.hardware import flops_per_device_hour

        return flops_per_device_hour(self.peak or 0.0, mfu or self.mfu)

    def price_per_flop(self, mfu: float | None = None) -> float:
        """Price of one FLOP in the budget's currency (at ``mfu``, default training's)."""
        hour = (self.price_per_device_hour or 0.0) if self.currency == "dollars" else 1.0
        return hour / self.flops_per_device_hour(mfu)

    def compute_cap(self) -> float | None:
        """Most FLOPs the cluster delivers before the deadline, if there is one."""
        if self.deadline_hours is None or self.devices is None:
            return None
        return self.devices * self.deadline_hours * self.flops_per_device_hour()

    def parameter_cap(self) -> float | None:
        """Most parameters the cluster's memory holds with training state, if capped."""
        if not self.memory_cap or self.devices is None or self.memory is None:
            return None
        return self.devices * self.memory / self.bytes_per_param


class Inference(StrictModel):
    """Lifetime serving demand (Sardana & Frankle 2023), added to the plan's cost.

    Each token served costs flops_per_param_token * N FLOPs.
    """

    tokens: Positive
    """Tokens served over the model's life (prompt and output)."""
    flops_per_param_token: Positive = 2.0
    """Inference FLOPs per parameter per token (2: a forward pass)."""
    unit_cost: NonNegative | None = None
    """Price of one inference FLOP; default the price of a training FLOP (C's)."""
    mfu: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)] | None = None
    """Utilisation when serving, pricing an inference FLOP with ``hardware``'s device
    and price (instead of ``unit_cost``)."""

    @model_validator(mode="after")
    def _one_price(self) -> Inference:
        if self.unit_cost is not None and self.mfu is not None:
            raise ValueError("give either unit_cost or mfu, not both")
        return self


class Data(StrictModel):
    """The stock of unique training tokens (Muennighoff et al. 2023)."""

    unique_tokens: Positive
    """Unique tokens available, U. Laws without repetition modelling get D <= U; the
    data_constrained law lets D exceed U by repeating epochs."""
    unit_cost: NonNegative = 0.0
    """Price per unique token used (min(D, U) of them)."""


class Capability(StrictModel):
    """A capability the model must have, as a lower bound on N.

    Either ``min_params`` directly, or a capability model
    G(N) = a * ln(N) + b * max(0, N - N_c)**2 that must reach ``required``; the
    threshold is the root of G(N) = required, found exactly.
    """

    min_params: Positive | None = None
    """The smallest N that has the capability."""
    a: Positive | None = None
    """Slope of G in the natural log of N."""
    b: NonNegative | None = None
    """Strength of the emergent (quadratic) term above N_c."""
    N_c: Positive | None = None
    """Size above which the emergent term switches on."""
    required: float | None = Field(default=None, allow_inf_nan=False)
    """The level G(N) must reach."""

    @model_validator(mode="after")
    def _one_form(self) -> Capability:
        model = (self.a, self.b, self.N_c, self.required)
        if (self.min_params is None) == all(v is None for v in model):
            raise ValueError("give either min_params, or a, b, N_c and required")
        if self.min_params is None and any(v is None for v in model):
            missing = [k for k, v in zip(("a", "b", "N_c", "required"), model, strict=True)
                       if v is None]
            raise ValueError(f"the capability model needs {', '.join(missing)} as well")
        return self

    def level(self, N: float) -> float:
        """G(N), the capability of a model of N parameters."""
        a, b, N_c, _ = self._model()
        return a * math.log(N) + b * max(0.0, N - N_c) ** 2

    def _model(self) -> tuple[float, float, float, float]:
        """(a, b, N_c, required); the validator guarantees all four when min_params is unset."""
        return (float(self.a or 0), float(self.b or 0), float(self.N_c or 0),
                float(self.required or 0))

    def threshold(self) -> float:
        """The smallest N with the capability: ``min_params``, or the root of G(N) = required.

        G is strictly increasing (a > 0, b >= 0). Below N_c it is a * ln N, so when
        the root lies there it is exp(required / a) exactly; above N_c, Brent's
        method brackets it to machine precision.
        """
        if self.min_params is not None:
            return self.min_params
        a, _, N_c, required = self._model()
        below = math.exp(required / a) if required / a < 700 else math.inf
        if below <= N_c:
            return below
        from scipy.optimize import root_scalar

        def gap(N: float) -> float:
            return self.level(N) - required

        hi = 2 * N_c
        while gap(hi) < 0:
            hi *= 2
            if hi > 1e300:
                raise ScenarioError(f"capability.required: {required:g} is out of reach of "
                                    f"the capability model below N = 1e300 parameters")
        found = root_scalar(gap, bracket=(N_c, hi), method="brentq", xtol=1e-300,
                            rtol=4 * sys.float_info.epsilon, maxiter=500)
        return float(found.root)


class Distribution(StrictModel):
    """The uncertainty of one scenario number (``uncertainty.fields``)."""

    dist: Literal["normal", "lognormal", "uniform"]
    """``normal`` (mean, sd), ``lognormal`` (median, sigma of its log) or ``uniform``
    (low, high)."""
    mean: Finite | None = None
    """Normal: the mean."""
    sd: Positive | None = None
    """Normal: the standard deviation."""
    median: Positive | None = None
    """Lognormal: the median, exp of the mean of the log."""
    sigma: Positive | None = None
    """Lognormal: the standard deviation of the log (0.1 is about 10%)."""
    low: Finite | None = None
    """Uniform: the lower end."""
    high: Finite | None = None
    """Uniform: the upper end."""

    @model_validator(mode="after")
    def _complete(self) -> Distribution:
        needs = {"normal": ("mean", "sd"), "lognormal": ("median", "sigma"),
                 "uniform": ("low", "high")}[self.dist]
        missing = [k for k in needs if getattr(self, k) is None]
        extra = [k for k in ("mean", "sd", "median", "sigma", "low", "high")
                 if k not in needs and getattr(self, k) is not None]
        if missing or extra:
            raise ValueError(f"a {self.dist} distribution takes {' and '.join(needs)}"
                             + (f"; missing {', '.join(missing)}" if missing else "")
                             + (f"; remove {', '.join(extra)}" if extra else ""))
        if self.dist == "uniform" and not (self.low is not None and self.high is not None
                                           and self.low < self.high):
            raise ValueError(f"uniform needs low < high, got low {self.low}, high {self.high}")
        return self


class Correlation(StrictModel):
    """A correlation between two uncertain fields (a Gaussian copula)."""

    a: str
    """One field's path."""
    b: str
    """The other field's path."""
    rho: Annotated[float, Field(gt=-1, lt=1)]
    """Correlation of their normal scores, strictly between -1 and 1."""


class Uncertainty(StrictModel):
    """Distributions of scenario numbers, for ``optimizer uncertainty``."""

    fields: Annotated[dict[str, Distribution], Field(min_length=1)]
    """Scenario path (e.g. ``law.alpha``) -> its distribution."""
    correlations: list[Correlation] = []
    """Pairwise correlations; the matrix they make must be positive definite."""


class Band(StrictModel):
    """How the epsilon-optimal band is reported."""

    epsilon: Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False)] = 0.005
    """Fraction of the optimum's reducible loss (L* - E) a plan may give up and still
    count as near-optimal (default 0.5%)."""


class MinimizeLoss(StrictModel):
    """Find the lowest loss whose total cost is within the budget."""

    minimize: Literal["loss"]
    """Minimise the predicted loss."""
    budget: Positive
    """Upper bound on the total cost sum(unit_cost * amount)."""


Share = Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False)]
"""A share strictly between 0 and 1: a target error or accuracy."""


class MinimizeCost(StrictModel):
    """Find the cheapest plan that reaches a target: a loss, or a downstream score."""

    minimize: Literal["cost"]
    """Minimise the total cost."""
    target_loss: Positive | None = None
    """The loss the plan must reach; must exceed the law's irreducible loss."""
    target_error: Share | None = None
    """Instead: the benchmark error to reach, through the ``downstream`` mapping."""
    target_accuracy: Share | None = None
    """Instead: the benchmark accuracy to reach (1 - error), through ``downstream``."""

    @model_validator(mode="after")
    def _one_target(self) -> MinimizeCost:
        given = [k for k in TARGETS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give one of target_loss, target_error and target_accuracy"
                             + (f", not {' and '.join(given)}" if given else ""))
        return self

    @property
    def target(self) -> tuple[str, float]:
        """The target's field and value."""
        key = next(k for k in TARGETS if getattr(self, k) is not None)
        return key, float(getattr(self, key))

    @property
    def target_error_value(self) -> float | None:
        """The benchmark error the target asks for, if it is a downstream target."""
        key, value = self.target
        return None if key == "target_loss" else value if key == "target_error" else 1 - value


TARGETS = ("target_loss", "target_error", "target_accuracy")
"""The fields a cost-mode objective may name its target with."""


Objective = Annotated[MinimizeLoss | MinimizeCost, Field(discriminator="minimize")]


class Scenario(StrictModel):
    """A planning problem: a loss law, resource prices and limits, and an objective.

    ``repr(scenario)`` is one line (name, law, objective, optional blocks); in Jupyter it
    shows as a table; ``to_dict()`` gives the file's contents as plain data.
    """

    name: str = "scenario"
    """A short title shown in reports (default: the file's name without its extension)."""
    source: str = ""
    """Where the law's coefficients came from (free text: paper, equation, fit)."""
    description: str = ""
    """Anything else worth saying about the scenario."""
    law: AnyLaw
    """The fitted loss law, chosen by its ``form``."""
    resources: Resources = Resources()
    """Unit cost and bounds of N, D and C."""
    compute: Compute | None = None
    """Optional coupling C = flops_per_param_token * N * D; without it N, D, C are
    independent levers."""
    hardware: Hardware | None = None
    """Accelerators: price C in dollars or device-hours; optional deadline and memory cap."""
    inference: Inference | None = None
    """Lifetime serving demand, priced into the cost (inference-aware planning)."""
    data: Data | None = None
    """A finite stock of unique tokens, optionally priced."""
    capability: Capability | None = None
    """A capability the model must have: a lower bound on N."""
    downstream: AnyMapping | None = None
    """A benchmark's error as a function of the loss: reported with each plan, and the
    target of ``objective.target_error`` or ``target_accuracy``."""
    band: Band = Band()
    """The epsilon-optimal band reported with the plan."""
    fit: FitRecord | None = None
    """Provenance written by ``optimizer fit``: data, method, quality, uncertainty."""
    uncertainty: Uncertainty | None = None
    """Distributions of uncertain inputs, for ``optimizer uncertainty``."""
    objective: Objective
    """Minimise loss within a budget, or minimise cost to reach a target loss."""

    def replace(self, changes: Mapping[str, Any]) -> Scenario:
        """A validated copy with ``changes`` applied, by dotted path.

        ``scenario.replace({"objective.budget": 1e22})`` is this scenario at another
        budget. Unlike pydantic's ``model_copy(update=...)``, which skips validation,
        every rule of the schema applies to the copy: a budget of -5, or a path that
        does not exist, is a :class:`ScenarioError` naming the field.
        """
        data = self.model_dump(exclude_unset=True)
        for path, value in changes.items():
            set_path(data, path, value)
        return parse_scenario(data)

    def summary(self) -> dict[str, Any]:
        """Name, law, objective and the optional blocks the scenario sets."""
        objective = self.objective
        if isinstance(objective, MinimizeLoss):
            goal = f"least loss for budget {objective.budget:.4g}"
        else:
            key, value = objective.target
            goal = f"least cost to reach {key.removeprefix('target_')} {value:.4g}"
        blocks = [name for name in ("compute", "hardware", "inference", "data", "capability",
                                    "downstream", "uncertainty", "fit")
                  if getattr(self, name) is not None]
        return {"name": self.name, "law": self.law.form, "objective": goal, "blocks": blocks}

    def to_dict(self) -> dict[str, Any]:
        """The scenario as plain data, without keys left at their defaults."""
        return scenario_dict(self)

    def __repr__(self) -> str:
        return one_line("Scenario", self.summary())

    def _repr_html_(self) -> str:
        return html_table("Scenario", self.summary())

    def target_loss(self) -> float:
        """The loss a cost-mode objective must reach: given, or through ``downstream``.

        Raises
        ------
        ValueError
            In loss mode, or for a downstream target the mapping cannot reach.
        """
        objective = self.objective
        if not isinstance(objective, MinimizeCost):
            raise ValueError("a budget objective has no target loss")
        key, value = objective.target
        error = objective.target_error_value
        if error is None:
            return value
        if self.downstream is None:
            raise ValueError(f"objective.{key}: a downstream target needs a downstream "
                             "block: the mapping from the loss to the benchmark's error")
        loss = float(self.downstream.loss_for(error))
        low, high = self.downstream.reach()
        if math.isinf(loss):
            raise ValueError(
                f"objective.{key}: {value:g} is reached at any loss: the {self.downstream.form}"
                f" mapping's error never exceeds {high:g}; ask for a lower error")
        if math.isnan(loss):
            raise ValueError(
                f"objective.{key}: {value:g} is out of reach of the {self.downstream.form} "
                f"mapping, whose error stays above {low:g} at any loss")
        return loss

    def target_losses(self, inputs: Mapping[str, Any]) -> Any:
        """The loss a cost-mode objective must reach at each point of ``inputs``.

        ``inputs`` maps paths to arrays (a sweep's, an uncertainty analysis's samples). The
        target is the objective's, or the downstream mapping's inverse at the target
        error, with the objective's and the mapping's fields taken from ``inputs`` where
        they vary: ``inf`` where every loss reaches it, ``nan`` where none does
        (:meth:`target_loss` says why, for one point).
        """
        objective = self.objective
        assert isinstance(objective, MinimizeCost)
        key, value = objective.target
        value = np.asarray(inputs.get(f"objective.{key}", value), float)
        if key == "target_loss":
            return value
        assert self.downstream is not None
        return self.downstream.varied(dict(inputs)).loss_for(
            value if key == "target_error" else 1 - value)

    def unit_cost(self, r: str) -> float:
        """The price of one unit of resource ``r``; C's comes from ``hardware`` if given."""
        if r == "C" and self.hardware is not None:
            return self.hardware.price_per_flop()
        return self.resources[r].unit_cost

    def inference_price(self) -> float:
        """The price of one inference FLOP (0 without ``inference``)."""
        if self.inference is None:
            return 0.0
        if self.inference.unit_cost is not None:
            return self.inference.unit_cost
        if self.inference.mfu is not None and self.hardware is not None:
            return self.hardware.price_per_flop(self.inference.mfu)
        return self.unit_cost("C")

    @model_validator(mode="after")
    def _meaningful(self) -> Scenario:
        problems = []
        if isinstance(self.objective, MinimizeCost):
            try:
                target = self.target_loss()
            except ValueError as exc:
                problems.append(str(exc))
            else:
                key, value = self.objective.target
                floor = self.law.floor()
                if key == "target_loss" and target <= floor:
                    problems.append(
                        f"objective.target_loss: {target:g} is at or below the law's "
                        f"irreducible loss {floor:g}, which no plan can reach; choose a "
                        f"target above {floor:g}")
                elif target <= floor:
                    problems.append(
                        f"objective.{key}: {value:g} needs a loss of {target:.6g} under the "
                        f"{self.downstream.form if self.downstream else ''} mapping, at or "
                        f"below the law's irreducible loss {floor:g}, which no plan reaches")
        if self.hardware is not None and "unit_cost" in self.resources.C.model_fields_set:
            problems.append("resources.C.unit_cost: hardware already prices a FLOP; "
                            "remove one of the two")
        priced = [self.unit_cost(r) for r in RESOURCES] + [
            self.inference_price(), self.data.unit_cost if self.data else 0.0]
        if all(price == 0 for price in priced):
            problems.append(
                "resources: every unit_cost is 0, so nothing limits the plan; "
                "give at least one resource a positive unit_cost")
        if self.compute is not None and self.resources.N.fixed and self.resources.D.fixed \
                and self.resources.C.fixed:
            problems.append("resources: N, D and C are all fixed while compute couples them; "
                            "leave one of them free")
        if self.inference is not None:
            if self.inference.mfu is not None and self.hardware is None:
                problems.append("inference.mfu: prices inference on the training hardware, "
                                "but there is no hardware section; give inference.unit_cost")
            elif self.inference_price() == 0 and self.inference.unit_cost is None:
                problems.append("inference.unit_cost: missing; a training FLOP costs nothing "
                                "here, so give the price of an inference FLOP")
        if not self.law.predicts_loss:
            problems += self._allocation_problems()
        if self.law.needs_data and self.data is None:
            problems.append(f"data.unique_tokens: missing; the {self.law.form} law needs the "
                            "stock of unique tokens")
        if problems:
            raise ValueError("\n".join(problems))
        return self


    def _allocation_problems(self) -> list[str]:
        """What an allocation law needs: a budget, and the coupling it is stated under."""
        from optimizer.model.laws import AllocationLaw

        law = self.law
        assert isinstance(law, AllocationLaw)
        problems = []
        if isinstance(self.objective, MinimizeCost):
            problems.append(
                "objective.minimize: cost needs a target loss, but the allocation law "
                "predicts no loss (it states only the optimal allocation); give "
                "objective: {minimize: loss, budget: ...}")
        if self.compute is None:
            problems.append(
                "compute: missing; an allocation law gives the optimal amounts as a function "
                "of the compute C = k N D, so add compute: {flops_per_param_token: 6} (the "
                "k the law was fitted with)")
        elif (why := law.inconsistency(self.compute.flops_per_param_token)) is not None:
            problems.append(why)
        # With compute the only price, the plan is the published split held within the
        # limits, whatever curvature the equivalent law has (docs/theory.md). A price on N
        # or D asks how loss trades against it, which an allocation does not say.
        if self.downstream is not None:
            problems.append("downstream: the allocation law predicts no loss for a mapping "
                            "to turn into a benchmark score; remove the downstream block")
        priced = [f"resources.{r}.unit_cost" for r in ("N", "D") if self.unit_cost(r) > 0]
        priced += ["inference"] if self.inference is not None else []
        priced += ["data.unit_cost"] if self.data is not None and self.data.unit_cost else []
        if priced:
            problems.append(
                f"{priced[0]}: an allocation law states only the compute-optimal split, "
                "not how loss trades against the price of parameters or tokens, so only "
                "compute may be priced; remove " + " and ".join(priced)
                + ", or plan with a loss law (form: chinchilla)")
        return problems


# --------------------------------------------------------------------------- loading

def parse_scenario(data: dict[str, Any], source: str | None = None) -> Scenario:
    """Validate a mapping as a :class:`Scenario`, reporting every problem at once.

    A scenario without a ``name`` is named after its ``source`` file's stem.
    """
    if "name" not in data and source is not None:
        data = {**data, "name": Path(source).stem}
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(describe(exc, Scenario), source) from None


def load_scenario(path: str | os.PathLike[str]) -> Scenario:
    """Read and validate a scenario file (``.yaml``/``.yml``, ``.toml`` or ``.json``)."""
    return parse_scenario(read_mapping(path), str(path))


RECORDS = ("fit", "uncertainty")
"""Scenario blocks that describe the inputs (provenance, spreads) rather than set them;
so does a downstream mapping's own ``fit`` block."""


def numeric_paths(scenario: Scenario) -> list[str]:
    """Every numeric input the scenario sets (or defaults), as dotted paths.

    The :data:`RECORDS` blocks are not inputs: varying them would not change the plan.
    """
    found: list[str] = []

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                walk(value, f"{prefix}{key}.")
        elif isinstance(node, (int, float)) and not isinstance(node, bool):
            found.append(prefix[:-1])

    walk(scenario.model_dump(exclude={**dict.fromkeys(RECORDS, True),
                                      "downstream": {"fit"}}), "")
    return found


def get_path(data: Mapping[str, Any], path: str) -> Any:
    """The value at the dotted ``path`` of a scenario mapping."""
    node: Any = data
    for key in path.split("."):
        node = node[key]
    return node


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    """Set the dotted ``path`` in a scenario mapping, creating sections left unset."""
    *parents, leaf = path.split(".")
    node = data
    for key in parents:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise ScenarioError(f"{path}: {key} is a value, not a section with fields")
    node[leaf] = value


def scenario_dict(scenario: Scenario) -> dict[str, Any]:
    """The scenario as plain data, without keys left at their defaults."""
    return scenario.model_dump(mode="json", exclude_defaults=True)


def dump_scenario(scenario: Scenario, path: str | os.PathLike[str]) -> None:
    """Write a scenario to ``path`` atomically, in the format its extension names."""
    path = Path(path)
    write_atomic(path, scenario_text(scenario, path))


def scenario_text(scenario: Scenario, path: Path) -> str:
    """The scenario as the text of a file named ``path`` (.yaml/.yml, .toml or .json)."""
    return document_text(scenario_dict(scenario), path)
