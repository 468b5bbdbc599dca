"""Plan language-model training from scaling laws, with an optimality certificate.

The data flow, each step pure and typed (``docs/architecture.md`` maps the folders)::

    load_scenario(path) -> Scenario -> solve(scenario) -> Plan (with .certificate)
    Scenario -> sweep / uncertainty;  Plan -> sensitivity;  Scenario + amounts -> check
    fit_scenario(runs.csv) -> FitOutcome (fitted Scenario, Plan, bootstrap) -> write_fit

Every analysis takes a :class:`Scenario` (or a :class:`Plan` where it needs a solved
one) first, then keyword options. Results have a short ``repr``, a table in Jupyter,
``to_dict()``, and (for tables) ``to_pandas()``.

>>> from optimizer import load_scenario, solve
>>> plan = solve(load_scenario("scenarios/chinchilla_gopher.yaml"))  # doctest: +SKIP
>>> plan.allocation["N"], plan.certificate.optimal                    # doctest: +SKIP
(32189859151.4..., True)

Importing this package is light: each public name loads its module on first use, and
cvxpy is imported only by a geometric-program solve.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from optimizer.errors import (
    InfeasibleError,
    OptimizerError,
    ScenarioError,
    SolverError,
    UnboundedError,
)
from optimizer.version import __version__

if TYPE_CHECKING:
    from optimizer.analysis.check import CheckResult, check
    from optimizer.analysis.sensitivity import Sensitivity, sensitivity
    from optimizer.analysis.sweep import Axis, Sweep, parse_axis, sweep
    from optimizer.analysis.uncertainty import UncertaintyAnalysis, uncertainty
    from optimizer.fitting.extrapolate import predict, required
    from optimizer.fitting.fitted import FitOutcome, fit_scenario, read_samples, write_fit
    from optimizer.model.problem import Problem
    from optimizer.model.scenario import Scenario, dump_scenario, load_scenario, parse_scenario
    from optimizer.solvers.certificate import Certificate, certify
    from optimizer.solvers.solve import Plan, solve

_HOMES = {
    "optimizer.analysis.check": ("CheckResult", "check"),
    "optimizer.analysis.sensitivity": ("Sensitivity", "sensitivity"),
    "optimizer.analysis.sweep": ("Axis", "Sweep", "parse_axis", "sweep"),
    "optimizer.analysis.uncertainty": ("UncertaintyAnalysis", "uncertainty"),
    "optimizer.fitting.extrapolate": ("predict", "required"),
    "optimizer.fitting.fitted": ("FitOutcome", "fit_scenario", "read_samples", "write_fit"),
    "optimizer.model.problem": ("Problem",),
    "optimizer.model.scenario": ("Scenario", "dump_scenario", "load_scenario",
                                 "parse_scenario"),
    "optimizer.solvers.certificate": ("Certificate", "certify"),
    "optimizer.solvers.solve": ("Plan", "solve"),
}
_LAZY = {name: module for module, names in _HOMES.items() for name in names}
"""Public name -> the module that defines it, imported on first use: ``import optimizer``
(and so every command) starts without pydantic, scipy or the analyses loaded."""


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'optimizer' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "Axis",
    "Certificate",
    "CheckResult",
    "FitOutcome",
    "InfeasibleError",
    "OptimizerError",
    "Plan",
    "Problem",
    "Scenario",
    "ScenarioError",
    "Sensitivity",
    "SolverError",
    "Sweep",
    "UnboundedError",
    "UncertaintyAnalysis",
    "__version__",
    "certify",
    "check",
    "dump_scenario",
    "fit_scenario",
    "load_scenario",
    "parse_axis",
    "parse_scenario",
    "predict",
    "read_samples",
    "required",
    "sensitivity",
    "solve",
    "sweep",
    "uncertainty",
    "write_fit",
]
