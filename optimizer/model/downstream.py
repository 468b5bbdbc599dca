r"""Downstream targets: published mappings from the loss to a benchmark's error.

A plan's loss is a means; what a lab reports is a score on benchmarks. A mapping
:math:`\mathrm{Err}(L)` turns the law's loss into a benchmark's top-1 error (accuracy is
one minus it). Both published forms rise with the loss, so the cheapest plan that reaches
an error :math:`e` is the cheapest that reaches the loss :math:`L_e =
\mathrm{Err}^{-1}(e)`, and the plan with the least loss for a budget has the least error:
the plan and its equal-marginal certificate are those of the loss problem
(``docs/theory.md``, "Downstream targets").

* ``exponential`` (Gadre et al. 2024, arXiv:2403.08540; fitted in their released code,
  mlfoundations/scaling ``scaling/shared.py::fit_ds``, as ``E - a * exp(-b * L)``):

  .. math:: \mathrm{Err}(L) = \epsilon - k\,e^{-\gamma L}.

* ``sigmoid`` (the shape of Llama 3's loss-to-accuracy step, Grattafiori et al. 2024,
  section 3.2.1; the paper publishes no constants, so every field is required):

  .. math:: \mathrm{Acc}(L) = a_{lo} + \frac{a_{hi} - a_{lo}}{1 + e^{s (L - L_{mid})}},
            \qquad \mathrm{Err} = 1 - \mathrm{Acc}.

Each mapping is written once with numpy arithmetic, so it evaluates arrays, and has an
analytic derivative tested against finite differences.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, model_validator

from optimizer.model.fields import Positive, StrictModel
from optimizer.model.provenance import FitRecord

Fraction = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
"""A share from 0 to 1: an error or an accuracy."""


class Mapping(StrictModel):
    """Interface of a loss-to-error mapping: rising in the loss, invertible."""

    form: str
    benchmark: str = "downstream"
    """What the error is measured on, for reports (e.g. "17-task average")."""
    fit: FitRecord | None = None
    """Provenance written by ``optimizer fit --downstream``: pairs, method, quality and
    uncertainty."""

    @abstractmethod
    def error(self, loss: Any) -> Any:
        """The benchmark's top-1 error at ``loss`` (numpy, broadcasting)."""

    @abstractmethod
    def slope(self, loss: Any) -> Any:
        """D error / d loss, positive."""

    @abstractmethod
    def loss_for(self, error: Any) -> Any:
        """The loss at which the error is ``error`` (numpy, broadcasting).

        ``inf`` if every loss reaches it, ``nan`` if none does (:meth:`reach` says why).
        """

    @abstractmethod
    def reach(self) -> tuple[float, float]:
        """The errors the mapping takes, (lowest, highest), both open."""

    def varied(self, inputs: dict[str, Any]) -> Mapping:
        """The mapping with the ``downstream.*`` entries of ``inputs`` (arrays) as fields.

        The mapping is numpy arithmetic on its fields, so the copy evaluates every point
        of a sweep at once.
        """
        update = {path.removeprefix("downstream."): np.asarray(values, float)
                  for path, values in inputs.items() if path.startswith("downstream.")}
        return self.model_copy(update=update) if update else self


class ExponentialMapping(Mapping):
    r"""Gadre et al. 2024: :math:`\mathrm{Err}(L) = \epsilon - k e^{-\gamma L}`.

    The error approaches :math:`\epsilon` (chance) as the loss grows and falls by a factor
    :math:`e^{-\gamma}` of its distance from :math:`\epsilon` per nat of loss. Fitted to
    their 17-task average on RedPajama (tests/data/gadre_rpj_downstream.csv), their
    estimator gives :math:`\epsilon = 0.857, k = 2.21, \gamma = 0.715`.
    """

    form: Literal["exponential"]
    epsilon: Positive
    """The error the mapping approaches as the loss grows (about chance level)."""
    k: Positive
    """How far below epsilon the error would be at loss 0."""
    gamma: Positive
    """Rate, per nat of loss, at which the error falls away from epsilon."""

    def error(self, loss: Any) -> Any:  # noqa: D102
        return self.epsilon - self.k * np.exp(-self.gamma * np.asarray(loss, float))

    def slope(self, loss: Any) -> Any:  # noqa: D102
        return self.gamma * self.k * np.exp(-self.gamma * np.asarray(loss, float))

    def loss_for(self, error: Any) -> Any:  # noqa: D102
        gap = self.epsilon - np.asarray(error, float)
        with np.errstate(all="ignore"):
            loss = np.log(self.k / gap) / self.gamma
        return np.where(gap <= 0, math.inf, np.where(gap >= self.k, math.nan, loss))

    def reach(self) -> tuple[float, float]:  # noqa: D102
        return self.epsilon - self.k, self.epsilon


class SigmoidMapping(Mapping):
    r"""A sigmoid of the loss: accuracy from ``low`` (high loss) to ``high`` (low loss).

    The shape Llama 3 fits from a benchmark's normalised negative log-likelihood to its
    accuracy (Grattafiori et al. 2024, section 3.2.1, Figure 4). The paper gives no
    constants; fit them to your own (loss, score) pairs with ``optimizer fit
    --downstream sigmoid``. Its loss must be the one the law predicts.
    """

    form: Literal["sigmoid"]
    low: Fraction
    """Accuracy as the loss grows without bound (chance level)."""
    high: Fraction
    """Accuracy as the loss falls (the benchmark's ceiling); above ``low``."""
    midpoint: Positive
    """The loss at which the accuracy is halfway from low to high."""
    steepness: Positive
    """How fast, per nat of loss, the accuracy rises around the midpoint."""

    @model_validator(mode="after")
    def _ordered(self) -> SigmoidMapping:
        if self.high <= self.low:
            raise ValueError(f"high ({self.high:g}) must exceed low ({self.low:g})")
        return self

    def error(self, loss: Any) -> Any:  # noqa: D102
        z = self.steepness * (np.asarray(loss, float) - self.midpoint)
        return 1 - self.low - (self.high - self.low) / (1 + np.exp(z))

    def slope(self, loss: Any) -> Any:  # noqa: D102
        z = self.steepness * (np.asarray(loss, float) - self.midpoint)
        # (high - low) s e^z / (1 + e^z)^2, written to stay finite for large |z|.
        return (self.high - self.low) * self.steepness / (
            2 + np.exp(-np.abs(z)) + np.exp(np.abs(z)))

    def loss_for(self, error: Any) -> Any:  # noqa: D102
        accuracy = 1 - np.asarray(error, float)
        with np.errstate(all="ignore"):
            loss = self.midpoint + np.log((self.high - accuracy) / (accuracy - self.low)) / (
                self.steepness)
        return np.where(accuracy <= self.low, math.inf,
                        np.where(accuracy >= self.high, math.nan, loss))

    def reach(self) -> tuple[float, float]:  # noqa: D102
        return 1 - self.high, 1 - self.low


AnyMapping = Annotated[ExponentialMapping | SigmoidMapping, Field(discriminator="form")]
"""Every mapping a scenario's ``downstream`` block can name, chosen by its ``form``."""

MAPPINGS = {"exponential": ExponentialMapping, "sigmoid": SigmoidMapping}
"""Form -> mapping class."""

