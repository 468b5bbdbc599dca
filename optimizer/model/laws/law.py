r"""Loss laws: each is given once, as a formula, an analytic gradient and a schema.

A law maps the resources :math:`x = (N, D, C)` to a predicted loss :math:`L(x)`.
Each law class is a scenario model (its fields are the law's coefficients) and
implements

* :meth:`Law.reducible` -- the law above its floor, written once with ordinary
  arithmetic, so that the same code evaluates numpy arrays (:meth:`Law.value`,
  :meth:`Law.reducible_value`) and builds the cvxpy DGP expression
  (:meth:`Law.expression`) with coefficients as ``cvxpy.Parameter``;
* :meth:`Law.gradient` -- the analytic partial derivatives, used by the certificate,
  the refinement and (later) the sensitivity analysis; tested against finite
  differences of :meth:`Law.value`;
* :meth:`Law.floor` -- the irreducible loss, the infimum over all resources;
* :meth:`Law.powers` -- the exponents, kept as exact constants in the GP.

To add a law: write a module in this package with a subclass of :class:`Law` with a
``form`` literal, implement the four methods, and add the class to
:data:`optimizer.model.laws.AnyLaw`.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from optimizer.model.fields import StrictModel

Amounts = Mapping[str, Any]
"""Resource name -> amount: floats, numpy arrays, or cvxpy expressions."""


class Law(StrictModel):
    """Interface shared by every loss law."""

    form: str

    geometric: ClassVar[bool] = True
    """Whether the law is a posynomial (so plans under it are geometric programs)."""
    needs_data: ClassVar[bool] = False
    """Whether the law reads the stock of unique tokens ``U`` (``data.unique_tokens``)."""
    predicts_loss: ClassVar[bool] = True
    """Whether the law's value is a loss to report (an allocation law's is not)."""
    context: ClassVar[tuple[str, ...]] = ()
    """Scenario constants the law reads besides its inputs (e.g. ``U``)."""
    structural_rules: ClassVar[bool] = False
    """Whether the law's own rules across its fields (its model validators) look only at
    which blocks are given and which numbers are 0. Evaluated at many points at once
    (:mod:`optimizer.solvers.many`), no number crosses 0, so such rules hold at every
    point when they hold at one; other rules are checked point by point."""

    @property
    @abstractmethod
    def inputs(self) -> tuple[str, ...]:
        """The resources the loss depends on, in canonical order."""

    @abstractmethod
    def coefficients(self) -> dict[str, float]:
        """Positive multiplicative constants, which the GP may hold as parameters."""

    @abstractmethod
    def powers(self) -> tuple[Any, ...]:
        """The numbers that enter as powers; they shape the GP, so they key its cache."""

    @abstractmethod
    def reducible(self, x: Amounts, c: Mapping[str, Any]) -> Any:
        """The law minus its floor, at amounts ``x`` with coefficients ``c``.

        Written with ``+``, ``*``, ``/`` and ``**`` only, so that ``x`` and ``c`` may
        be numpy values or cvxpy expressions alike. Solvers work on this part: adding
        the constant floor would only dilute their relative accuracy.
        """

    def formula(self, x: Amounts, c: Mapping[str, Any]) -> Any:
        """The law: the floor ``c["E"]`` (when the law has one) plus :meth:`reducible`."""
        part = self.reducible(x, c)
        return c["E"] + part if "E" in c else part

    @abstractmethod
    def gradient(self, x: Amounts) -> dict[str, np.ndarray]:
        r"""Analytic partial derivatives :math:`\partial L / \partial x_r` for r in inputs."""

    @abstractmethod
    def floor(self) -> float:
        """The irreducible loss: the infimum of the law over all resources."""

    def value(self, x: Amounts) -> np.ndarray:
        """Predicted loss at amounts ``x`` (numpy, broadcasting)."""
        return np.asarray(self.formula(self._arrays(x), self.coefficients()), dtype=float)

    def reducible_value(self, x: Amounts) -> np.ndarray:
        """Predicted loss minus the floor, computed without subtracting (no cancellation)."""
        return np.asarray(self.reducible(self._arrays(x), self.coefficients()), dtype=float)

    def _arrays(self, x: Amounts) -> dict[str, np.ndarray]:
        return {r: np.asarray(x[r], dtype=float) for r in (*self.inputs, *self.context)}

    def expression(self, x: Amounts, c: Mapping[str, Any]) -> Any:
        """The cvxpy DGP expression of the law, with coefficients ``c`` (parameters)."""
        if not self.geometric:
            raise TypeError(f"the {self.form} law is not a posynomial; it has no GP form")
        return self.formula(x, c)
