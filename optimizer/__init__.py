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

from optimizer.analysis.check import CheckResult, check
from optimizer.errors import (
    InfeasibleError,
    OptimizerError,
    ScenarioError,
    SolverError,
    UnboundedError,
)
from optimizer.fitting.extrapolate import predict, required
from optimizer.fitting.fitted import FitOutcome, fit_scenario, read_samples, write_fit
from optimizer.model.problem import Problem
from optimizer.model.scenario import Scenario, dump_scenario, load_scenario, parse_scenario
from optimizer.solvers.certificate import Certificate, certify
from optimizer.solvers.solve import Plan, solve
from optimizer.version import __version__

__all__ = [
    "__version__",
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
