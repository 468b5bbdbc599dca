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

Importing this package does not import cvxpy; only a geometric-program solve does.
"""

from optimizer.analysis.check import CheckResult, check
from optimizer.analysis.sensitivity import Sensitivity, sensitivity
from optimizer.analysis.sweep import Axis, Sweep, parse_axis, sweep
from optimizer.analysis.uncertainty import UncertaintyAnalysis, uncertainty
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
