"""Plan language-model training from scaling laws, with an optimality certificate.

The data flow, each step pure and typed::

    load_scenario(path) -> Scenario -> solve(scenario) -> Plan (with .certificate)
    fit_scenario(runs.csv) -> FitOutcome (fitted Scenario, Plan, bootstrap) -> write_fit

>>> from optimizer import load_scenario, solve
>>> plan = solve(load_scenario("scenarios/chinchilla_gopher.yaml"))  # doctest: +SKIP
>>> plan.allocation["N"], plan.certificate.optimal                    # doctest: +SKIP
(32189859151.4..., True)

Importing this package does not import cvxpy; only a geometric-program solve does.
"""

from .certificate import Certificate, certify
from .check import CheckResult, check
from .errors import (
    InfeasibleError,
    OptimizerError,
    ScenarioError,
    SolverError,
    UnboundedError,
)
from .extrapolate import predict, required
from .fitted import FitOutcome, fit_scenario, read_samples, write_fit
from .problem import Problem
from .scenario import Scenario, dump_scenario, load_scenario, parse_scenario
from .solve import Plan, solve

__all__ = [
    "Certificate",
    "CheckResult",
    "FitOutcome",
    "InfeasibleError",
    "OptimizerError",
    "Plan",
    "Problem",
    "Scenario",
    "ScenarioError",
    "SolverError",
    "UnboundedError",
    "certify",
    "check",
    "dump_scenario",
    "fit_scenario",
    "load_scenario",
    "parse_scenario",
    "predict",
    "read_samples",
    "required",
    "solve",
    "write_fit",
]
__version__ = "0.1.0"
