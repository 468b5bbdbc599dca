"""The ``optimizer`` command line: it parses, calls the library, and prints. No math here.

Exit codes: 0 success; 1 ``check`` found the plan not optimal; 2 bad input; 3 no
optimal plan exists (infeasible or unbounded); 4 every solver failed; 5 an internal
error (a bug: please report it with the output of ``--debug``).
"""

import inspect
import json
import math
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from optimizer.errors import OptimizerError, ScenarioError

app = typer.Typer(
    name="optimizer",
    help="Plan language-model training from a scaling law: the model size N, tokens D and "
         "compute C that minimise loss for a budget (or cost for a target loss), with an "
         "equal-marginal certificate that the plan is optimal.\n\n"
         "Start with:  optimizer solve scenarios/default.yaml",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="rich",
)
out = Console()
# Messages are single lines the terminal wraps itself: a path or value is never broken.
err = Console(stderr=True, soft_wrap=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show the full traceback on errors.")]
TolOpt = Annotated[float, typer.Option(
    "--tol", help="Certificate tolerance: the largest relative spread of gain per cost "
                  "between free resources that still counts as optimal.")]
ForceOpt = Annotated[bool, typer.Option(
    "--force", help="Replace an existing scenario file named as the output (never an input "
                    "of the same command).")]
SchedulerOpt = Annotated[str | None, typer.Option(
    help="Run the work on a cluster: a Dask scheduler's address (tcp://HOST:8786) or ray; "
         "default $OPTIMIZER_SCHEDULER, else this machine. Uses every worker; chunks that "
         "fail are retried. Needs pip install 'optimizer[cluster]'.", show_default=False)]
FileArg = Annotated[Path, typer.Argument(
    help="Scenario file: .yaml, .yml, .toml or .json (see docs/scenarios.md).",
    show_default=False)]

T = TypeVar("T")


def _run(debug: bool, action: Callable[[], T], file: Path | None = None) -> T:
    """Run ``action``; turn our errors into a red message and an exit code.

    A message about the scenario (not about a command-line option) names ``file``.
    """
    try:
        return _quietly(action)
    except OptimizerError as exc:
        if debug:
            raise
        message = str(exc)
        about_options = isinstance(exc, ScenarioError) and all(
            p.startswith("-") for p in exc.problems)
        if file is not None and getattr(exc, "source", None) is None and not about_options:
            message = f"{file}: {message}"
        err.print(f"[bold red]error:[/] {_escape(message)}", highlight=False)
        raise typer.Exit(exc.exit_code) from None
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
        raise
    except Exception as exc:  # a bug: say so, never print a wrong number
        if debug:
            raise
        err.print(f"[bold red]internal error:[/] {_escape(repr(exc))}\n"
                  "rerun with --debug for the traceback and report it", highlight=False)
        raise typer.Exit(5) from None


def _quietly(action: Callable[[], T]) -> T:
    """Run ``action`` with numpy's floating-point warnings silenced, other warnings as notes.

    Overflow and invalid values are expected on the way to a plan (a trial point far
    out), and every figure printed is checked independently (the certificate, a
    finite-value check), so they are not news. Any other warning (an empty slice, a
    library's deprecation) is printed once, as a one-line note after the output.
    """
    import warnings

    import numpy as np

    with np.errstate(all="ignore"), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            return action()
        finally:
            for message in dict.fromkeys(str(w.message) for w in caught):
                err.print(f"[dim]note: {_escape(message)}[/]", highlight=False)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _pairs(values: list[str] | None, option: str) -> dict[str, float]:
    """Parse ``["N=2,D=3", "C=1e20"]`` into ``{"N": 2.0, "D": 3.0, "C": 1e20}``."""
    parsed: dict[str, float] = {}
    for item in (part for value in values or [] for part in value.split(",") if part.strip()):
        name, sep, number = item.partition("=")
        name = name.strip()
        try:
            if not sep or not name:
                raise ValueError
            if name in parsed:
                raise ScenarioError(f"{option} gives {name} twice ({parsed[name]:g} and "
                                    f"{number.strip()}); give each name once")
            parsed[name] = float(number)
        except ValueError:
            raise ScenarioError(f"{option} {item!r}: write NAME=NUMBER, e.g. {option} N=2e9"
                                ) from None
    return parsed


def _emit(data: dict[str, Any], as_json: bool, human: Callable[[], None]) -> None:
    if as_json:
        from optimizer.output.report import to_json

        typer.echo(to_json(data))
    else:
        human()


@app.command()
def solve(
    file: FileArg,
    method: Annotated[str, typer.Option(
        help="auto: closed form when one applies, else the geometric program (or, for "
             "laws that are not posynomials, multi-start SLSQP); closed_form, gp or nlp "
             "to force one.")] = "auto",
    tol: TolOpt = 1e-6,
    epsilon: Annotated[float | None, typer.Option(
        help="Width of the near-optimal band, as a fraction of the optimum's reducible "
             "loss L* - E (default: the scenario's band.epsilon, 0.005); implies --band.")
    ] = None,
    band: Annotated[bool, typer.Option(
        help="Also report the epsilon-optimal band of N and D: a few dozen extra solves, "
             "so off by default to keep solve instant.")] = False,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Find the optimal plan for a scenario and certify it.

    Prints N, D, C, the loss and cost, and the equal-marginal certificate: for each
    resource its marginal loss reduction and gain per unit cost, which are equal for
    every resource not held at a bound when the plan is optimal.

    Example
    -------
      optimizer solve scenarios/chinchilla_gopher.yaml --json
    """
    def action() -> None:
        from optimizer.solvers.solve import METHODS

        if method not in METHODS:
            raise ScenarioError(f"--method {method!r}: use one of {', '.join(METHODS)}")
        if epsilon is not None and not 0 < epsilon < 1:
            raise ScenarioError(f"--epsilon {epsilon!r}: must be between 0 and 1, e.g. 0.005")
        from optimizer.analysis.findings import findings
        from optimizer.model.scenario import load_scenario
        from optimizer.output.report import plan_dict, print_plan
        from optimizer.solvers.solve import solve as solve_

        plan = solve_(load_scenario(file), method=method, tol=tol)  # type: ignore[arg-type]
        extras = findings(plan, epsilon, with_band=band or epsilon is not None)
        _emit(plan_dict(plan, extras), as_json, lambda: print_plan(plan, out, extras))

    _run(debug, action, file)


@app.command()
def check(
    file: FileArg,
    plan: Annotated[list[str], typer.Option(
        help="Your plan as NAME=AMOUNT pairs, e.g. --plan N=7e10,D=1.4e12. Give every "
             "resource the plan chooses; C follows from N and D under a compute coupling.",
        show_default=False)],
    tol: TolOpt = 1e-6,
    feasibility_tol: Annotated[float, typer.Option(
        help="How far (relative) the plan may exceed the budget, the target or a bound and "
             "still count as within it: rounded numbers overshoot a little. The default "
             "admits amounts rounded to four significant figures.")] = 1e-3,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Certify a plan you propose: optimal or not, savings, and where to shift spend.

    The savings compare your plan with the optimum within the budget (or reaching the
    target), or at your plan's own spend (or loss) if it rounds past them, so they are
    never negative; the output says which. Paste the amounts optimizer solve prints
    and the verdict is optimal. Exits 0 if the plan is optimal, 1 if it is not or is
    infeasible (past the budget, the target or a limit, which the reason names).

    Example
    -------
      optimizer check scenarios/chinchilla_gopher.yaml --plan N=7e10,D=1.4e12
    """
    def action() -> int:
        from optimizer.analysis.check import check as check_
        from optimizer.model.scenario import load_scenario
        from optimizer.output.report import check_dict, print_check

        result = check_(load_scenario(file), _pairs(plan, "--plan"), tol=tol,
                        feasibility_tol=feasibility_tol)
        _emit(check_dict(result), as_json, lambda: print_check(result, out))
        return 0 if result.status == "optimal" else 1

    raise typer.Exit(_run(debug, action, file))


@app.command()
def predict(
    file: Annotated[Path | None, typer.Argument(
        help="Scenario whose law to evaluate (with --at).", show_default=False)] = None,
    at: Annotated[list[str] | None, typer.Option(
        help="With FILE: the point, e.g. --at N=7e10,D=1.4e12.")] = None,
    loss: Annotated[float | None, typer.Option(help="Without FILE: the measured loss L1.")
                    ] = None,
    scale: Annotated[list[str] | None, typer.Option(
        help="Without FILE: scale factor per resource, e.g. --scale N=2.")] = None,
    exponent: Annotated[list[str] | None, typer.Option(
        help="Without FILE: signed exponent per resource, e.g. --exponent N=-0.076.")] = None,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Predict a loss: L2 = L1 * prod(scale^exponent), or a scenario's law at a point.

    For a scenario written by optimizer fit with its bootstrap samples beside it, also
    the intervals of the loss: of the mean (the law's uncertainty) and of one new run
    (adding the observation noise the fit's residuals show).

    Examples
    --------
      optimizer predict --loss 3.0 --scale N=2 --exponent N=-0.076

      optimizer predict scenarios/chinchilla_gopher.yaml --at N=7e10,D=1.4e12
    """
    def action() -> None:
        from optimizer.output.report import print_prediction

        if file is not None:
            from optimizer.fitting.fitted import predict_intervals
            from optimizer.model.problem import Problem
            from optimizer.model.scenario import load_scenario

            scenario = load_scenario(file)
            if not scenario.law.predicts_loss:
                raise ScenarioError(f"the {scenario.law.form} law predicts no loss: it "
                                    "states only the optimal allocation (optimizer solve "
                                    "gives it)", str(file))
            problem = Problem.from_scenario(scenario)
            x = problem.levers_at(_pairs(at, "--at"), "--at")
            value = float(problem.loss(x))
            if not math.isfinite(value):
                raise ScenarioError(f"--at: the loss there is {value}, beyond the range of "
                                    "floating point; check the amounts")
            spans = predict_intervals(file, scenario, problem.law_inputs(x))
        else:
            if loss is None:
                raise ScenarioError("give a scenario FILE with --at, or --loss with --scale "
                                    "and --exponent; see optimizer predict --help")
            from optimizer.fitting.extrapolate import predict as predict_

            value = predict_(loss, _pairs(scale, "--scale"), _pairs(exponent, "--exponent"))
            spans = None
        data = {"schema_version": 1, "command": "predict", "loss": value,
                **({"intervals": spans} if spans else {})}
        _emit(data, as_json, lambda: print_prediction(data, out))

    _run(debug, action, file)


@app.command()
def required(
    loss: Annotated[float, typer.Option(help="The measured loss L1.", show_default=False)],
    target: Annotated[float, typer.Option(help="The loss L2 to reach.", show_default=False)],
    reference: Annotated[list[str], typer.Option(
        help="The amount x1 at which L1 was measured, e.g. --reference D=500.",
        show_default=False)],
    exponent: Annotated[list[str], typer.Option(
        help="Signed exponent per resource, e.g. --exponent D=-0.095.", show_default=False)],
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """How much of each resource alone reaches a target loss: x2 = x1 * (L2/L1)^(1/exponent).

    Example
    -------
      optimizer required --loss 3.0 --target 2.5 --reference D=500 --exponent D=-0.095
    """
    def action() -> None:
        from optimizer.fitting.extrapolate import required as required_

        amounts = required_(loss, target, _pairs(reference, "--reference"),
                            _pairs(exponent, "--exponent"))
        def human() -> None:
            for r, v in amounts.items():
                out.print(f"{r} required: [bold]{v:.8g}[/]")

        _emit({"schema_version": 1, "command": "required", "required": amounts}, as_json, human)

    _run(debug, action)


@app.command()
def fit(
    runs: Annotated[Path, typer.Argument(
        help="CSV of training runs with a header row: one row per run, with N (parameters), "
             "D (tokens) or C (FLOPs), and the final loss.", show_default=False)],
    law: Annotated[str, typer.Option(
        help="Law to fit: chinchilla (E + A/N^alpha + B/D^beta), power_law (E + k "
             "N^a_N ...; see --resources, --no-floor), kaplan, or data_constrained "
             "(Muennighoff et al. 2023; needs a U column of unique tokens; hold the base "
             "law with --fix E=...,A=...,B=...,alpha=...,beta=... to fit R_D_star and "
             "R_N_star alone).")] = "chinchilla",
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write the scenario here (.yaml, .toml or .json), with the "
        "bootstrap samples beside it as NAME.bootstrap.csv. Without it nothing is written.",
        show_default=False)] = None,
    base: Annotated[Path | None, typer.Option(
        help="A partial scenario supplying prices, limits and the objective; its law is "
             "replaced by the fit. Default: C at 1 per FLOP, C = 6 N D.",
        show_default=False)] = None,
    budget: Annotated[float | None, typer.Option(
        help="Plan for the lowest loss at this budget (default: the base scenario's "
             "objective, else what the largest run cost).", show_default=False)] = None,
    resources: Annotated[str, typer.Option(
        help="power_law only: the resources the loss depends on, e.g. N or N,D.")] = "N",
    floor: Annotated[bool, typer.Option(
        help="power_law only: fit an irreducible loss E (--no-floor: L = k N^a_N ...).")
    ] = True,
    method: Annotated[str, typer.Option(
        help="huber: Huber loss on log residuals from a variable-projection grid of starts; "
             "ols: least squares on log-log axes (power_law, one resource, --no-floor).")
    ] = "huber",
    delta: Annotated[float | None, typer.Option(
        help="Huber threshold on log residuals (default 1e-3 for a law's loss; 1e-2 for "
             "--downstream, a benchmark's error being noisier).", show_default=False)
    ] = None,
    fix: Annotated[list[str] | None, typer.Option(
        help="Hold a parameter of the law at a value, e.g. --fix E=1.69 (repeat, or "
             "E=1.69,alpha=0.34).", show_default=False)] = None,
    tie: Annotated[list[str] | None, typer.Option(
        help="Fit two or more parameters as one, e.g. --tie alpha=beta (Gadre et al. "
             "2024); exponents with exponents, coefficients with coefficients.",
        show_default=False)] = None,
    holdout: Annotated[int, typer.Option(
        help="Extrapolation audit: refit without this many runs of largest compute and "
             "report how well that fit predicts them (0 skips it).")] = 0,
    drop_highest_loss: Annotated[int, typer.Option(
        help="Leave out this many runs of highest loss (Besiroglu et al. 2024 drop 5).")] = 0,
    bootstrap: Annotated[int, typer.Option(
        help="Bootstrap resamples for the uncertainty (0 skips it).")] = 1000,
    level: Annotated[float, typer.Option(help="Confidence level of the intervals.")] = 0.95,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap resampling.")] = 0,
    jobs: Annotated[int, typer.Option(
        help="Parallel workers for the bootstrap (joblib; -1 for every core).")] = -1,
    scheduler: SchedulerOpt = None,
    n_column: Annotated[str | None, typer.Option(
        help="Header of the N column (default: N, params, parameters, model size, ...).",
        show_default=False)] = None,
    d_column: Annotated[str | None, typer.Option(
        help="Header of the D column (default: D, tokens, ...).", show_default=False)] = None,
    c_column: Annotated[str | None, typer.Option(
        help="Header of the C column (default: C, flops, compute, training flop, ...).",
        show_default=False)] = None,
    loss_column: Annotated[str | None, typer.Option(
        help="Header of the loss column (default: loss, final loss, smoothed loss, ...).",
        show_default=False)] = None,
    u_column: Annotated[str | None, typer.Option(
        help="Header of the unique-tokens column, for --law data_constrained (default: U, "
             "unique_tokens, unique tokens).", show_default=False)] = None,
    flops_per_param_token: Annotated[float, typer.Option(
        help="k in C = k N D, to derive D from C (or C from D).")] = 6.0,
    downstream: Annotated[str | None, typer.Option(
        help="Fit a mapping from loss to a benchmark's error instead of a law: the file "
             "holds (loss, error or accuracy) pairs; exponential (Gadre et al. 2024: "
             "epsilon - k exp(-gamma L)) or sigmoid (Llama 3's shape). With --base and -o, "
             "the mapping goes into that scenario's downstream block.",
        show_default=False)] = None,
    error_column: Annotated[str | None, typer.Option(
        help="--downstream: header of the error column (default: error, err, top-1 "
             "error, ...).", show_default=False)] = None,
    accuracy_column: Annotated[str | None, typer.Option(
        help="--downstream: header of an accuracy column, used as 1 - error (default: "
             "accuracy, acc, score, ...).", show_default=False)] = None,
    benchmark: Annotated[str | None, typer.Option(
        help="--downstream: what the score is measured on, for reports.",
        show_default=False)] = None,
    plot: Annotated[Path | None, typer.Option(
        help="Draw predicted vs observed loss and the residuals (with --downstream: the "
             "error against the loss, and the fitted mapping) to .png, .svg or .pdf.",
        show_default=False)] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Replace the -o scenario and its bootstrap CSV if they exist.")
    ] = False,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    r"""Fit a scaling law to your training runs and write a scenario that plans with it.

    Minimises the Huber loss of log residuals (Hoffmann et al. 2022) from a grid of
    starts chosen by variable projection, so the answer does not hang on a lucky start;
    a fit that ends on a bound or with a vanished term is refused (exit 2). The
    bootstrap gives intervals for every parameter and for the optimal plan (N*, D*,
    loss) at the scenario's budget, and a warning says how far that plan extrapolates
    beyond the largest run.

    Examples
    --------
      optimizer fit runs.csv -o fitted.yaml --budget 1e23

      optimizer fit runs.csv --law power_law --resources N --no-floor --method ols

      optimizer fit svg_extracted_data.csv --drop-highest-loss 5 --plot fit.png

      optimizer fit small_runs.csv --tie alpha=beta --fix E=1.8 --bootstrap 0

      optimizer fit runs.csv --holdout 4 --json

      optimizer fit repeated.csv --law data_constrained \
        --fix E=1.87,A=520.8,B=1487.7,alpha=0.3527,beta=0.3527

      optimizer fit evals.csv --downstream exponential --base plan.yaml -o plan.yaml \
        --force --benchmark "17-task average"
    """
    if downstream is not None:
        from optimizer.fitting.downstream import DELTA as MAPPING_DELTA

        _fit_downstream(runs, downstream, base=base, output=output,
                        delta=MAPPING_DELTA if delta is None else delta,
                        bootstrap=bootstrap, level=level, seed=seed, benchmark=benchmark,
                        columns={q: name for q, name in (("loss", loss_column),
                                                         ("error", error_column),
                                                         ("accuracy", accuracy_column))
                                 if name is not None},
                        plot=plot, force=force, as_json=as_json, debug=debug,
                        law_options={"--law": law != "chinchilla", "--budget": budget,
                                     "--fix": fix, "--tie": tie, "--holdout": holdout,
                                     "--drop-highest-loss": drop_highest_loss,
                                     "--method": method != "huber",
                                     "--resources": resources != "N", "--no-floor": not floor,
                                     "--n-column": n_column, "--d-column": d_column,
                                     "--c-column": c_column, "--u-column": u_column})
        return

    def action() -> None:
        from optimizer.analysis.findings import findings
        from optimizer.fitting.fit import DELTA as LAW_DELTA
        from optimizer.fitting.fitted import fit_scenario, samples_path, write_fit
        from optimizer.io.outputs import check_outputs
        from optimizer.output.plots import check_path, fit_diagnostics, save
        from optimizer.output.report import fit_dict, print_fit

        if method not in ("huber", "ols"):
            raise ScenarioError(f"--method {method!r}: use huber or ols")
        inputs = [runs, *([base] if base is not None else [])]
        if plot is not None:
            check_outputs([("--plot", check_path(plot))], inputs)
        if output is not None:
            scenario_files = [("-o", output)] + ([("-o", samples_path(output))]
                                                 if bootstrap > 0 else [])
            check_outputs(scenario_files, inputs, force=force, replaces_scenarios=True)
        columns = {q: name for q, name in (("N", n_column), ("D", d_column), ("C", c_column),
                                           ("loss", loss_column), ("U", u_column))
                   if name is not None}
        with _progress_bars() as progress, _cluster(scheduler, jobs) as workers:
            outcome = fit_scenario(
                runs, law, columns=columns, flops_per_param_token=flops_per_param_token,
                drop_highest_loss=drop_highest_loss,
                resources=tuple(r.strip() for r in resources.split(",") if r.strip()),
                floor=floor, method=method, delta=LAW_DELTA if delta is None else delta,
                base=base,
                budget=budget, samples=bootstrap, level=level, seed=seed, jobs=workers,
                fix=_pairs(fix, "--fix"),
                tie=[[n.strip() for n in group.split("=")]
                     for value in tie or [] for group in value.split(",") if group.strip()],
                holdout=holdout,
                progress=progress)
        written = [str(p) for p in write_fit(outcome, output)] if output is not None else []
        if plot is not None:
            written.append(str(save(fit_diagnostics(outcome.fit), plot)))
        data = fit_dict(outcome, findings(outcome.plan, with_band=False), written)
        _emit(data, as_json, lambda: print_fit(data, out))

    _run(debug, action)


def _fit_downstream(runs: Path, form: str, *, base: Path | None, output: Path | None,
                    delta: float, bootstrap: int, level: float, seed: int,
                    benchmark: str | None, columns: dict[str, str], plot: Path | None,
                    force: bool, as_json: bool, debug: bool,
                    law_options: dict[str, Any]) -> None:
    """``optimizer fit --downstream``: fit a loss-to-error mapping to (loss, score) pairs."""
    def action() -> None:
        from optimizer.analysis.findings import findings
        from optimizer.fitting.downstream import fit_downstream
        from optimizer.io.files import write_atomic
        from optimizer.io.outputs import check_outputs
        from optimizer.model.scenario import scenario_text
        from optimizer.output.plots import check_path, mapping_figure, save
        from optimizer.output.report import SCHEMA_VERSION, plan_dict, print_downstream_fit

        given = [name for name, value in law_options.items() if value]
        if given:
            raise ScenarioError(f"{', '.join(given)}: for fitting a law, not with "
                                "--downstream (which fits a mapping from loss to error)")
        if output is not None and base is None:
            raise ScenarioError("-o: --downstream writes the mapping into a scenario; give "
                                "--base SCENARIO (its law and objective stay)")
        inputs = [runs, *([base] if base is not None else [])]
        if plot is not None:
            check_outputs([("--plot", check_path(plot))], inputs)
        if output is not None:
            check_outputs([("-o", output)], [runs], force=force, replaces_scenarios=True)
        with _progress_bars() as progress:
            outcome = fit_downstream(str(runs), form, base=str(base) if base else None,
                                     columns=columns, delta=delta, samples=bootstrap,
                                     seed=seed, level=level, benchmark=benchmark,
                                     progress=progress)
        written = []
        if output is not None and outcome.scenario is not None:
            write_atomic(output, scenario_text(outcome.scenario, output))
            written.append(str(output))
        if plot is not None:
            written.append(str(save(mapping_figure(outcome), plot)))
        data: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "command": "fit",
                                "file": str(runs), "downstream": outcome.to_dict(),
                                "written": written}
        if outcome.plan is not None:
            data["plan"] = plan_dict(outcome.plan, findings(outcome.plan, with_band=False))
        _emit(data, as_json, lambda: print_downstream_fit(data, out))

    _run(debug, action)


@app.command()
def sweep(
    file: FileArg,
    vary: Annotated[list[str], typer.Option(
        help="A scenario field and its values: PATH=START:STOP:log:COUNT (log-spaced), "
             "PATH=START:STOP:COUNT (linear) or PATH=V1,V2,... Repeat for a grid, e.g. "
             "--vary objective.budget=1e19:1e25:log:200 --vary law.alpha=0.30:0.40:11.",
        show_default=False)],
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write the table: .csv (one row per point), .json or .xlsx.",
        show_default=False)] = None,
    plot: Annotated[Path | None, typer.Option(
        help="Draw the frontier and allocations (one input) or a heatmap of L* (two) to "
             ".png, .svg or .pdf.", show_default=False)] = None,
    band: Annotated[bool, typer.Option(
        help="Shade the epsilon-optimal band of N and D on a one-input plot (found at up "
             "to 24 points; a few dozen solves each).")] = True,
    jobs: Annotated[int, typer.Option(
        help="Parallel workers for points without a vectorised closed form (joblib; -1 "
             "for every core).")] = 1,
    scheduler: SchedulerOpt = None,
    tol: TolOpt = 1e-6,
    force: ForceOpt = False,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Solve a scenario over a grid of inputs: one certified plan per point.

    Any numeric field can vary, addressed by its path (objective.budget, law.alpha,
    resources.C.unit_cost, hardware.mfu, ...). Scenarios with a closed form sweep their
    budget, target and prices in one vectorised pass; others solve point by point, in
    parallel with --jobs. A point with no optimal plan is a row with its status and
    reason. Each row: the inputs, N, D, C, loss, cost, shadow price, certificate spread,
    status, method.

    Examples
    --------
      optimizer sweep scenarios/chinchilla_gopher.yaml
        --vary objective.budget=1e19:1e25:log:200 -o frontier.csv --plot frontier.png

      optimizer sweep scenarios/kaplan.yaml --vary law.alpha_N=0.06:0.09:7
        --vary objective.budget=1e19:1e23:log:5 --jobs -1
    """
    def action() -> None:
        from optimizer import options
        from optimizer.analysis.sweep import BAND_POINTS, ROW_BYTES, bands, parse_axis
        from optimizer.analysis.sweep import sweep as sweep_
        from optimizer.io.outputs import check_outputs
        from optimizer.model.scenario import load_scenario
        from optimizer.output.plots import check_path, save, sweep_figure
        from optimizer.output.report import SHOWN, print_sweep
        from optimizer.output.tables import check_table_path, sweep_dict, write_sweep

        axes = [parse_axis(spec) for spec in vary]
        if plot is not None:
            check_path(plot)
        count = math.prod(a.values.size for a in axes)
        if output is not None and check_table_path(output) in (".json", ".xlsx"):
            options.fits_in_memory("-o", count, "rows formatted at once", ROW_BYTES,
                                   advice="write .csv or .parquet, which stream")
        if as_json:
            options.fits_in_memory("--json", count, "rows formatted at once", ROW_BYTES,
                                   advice="write -o .csv or .parquet, which stream")
        check_outputs([(o, p) for o, p in (("-o", output), ("--plot", plot)) if p is not None],
                      [file], force=force)
        scenario = load_scenario(file)
        shaded = None
        with _progress_bars() as progress, _cluster(scheduler, jobs) as workers:
            result = sweep_(scenario, axes, jobs=workers, tol=tol,
                            progress=progress("sweep points", count))
            if plot is not None and band and len(axes) == 1 and scenario.law.predicts_loss:
                optimal = int(result.solved.sum())
                shaded = bands(scenario, result, jobs=workers, progress=progress(
                    "epsilon-optimal band", min(BAND_POINTS, optimal)))
        written = []
        if output is not None:
            write_sweep(result, output)
            written.append(str(output))
        if plot is not None:
            written.append(str(save(sweep_figure(result, shaded), plot)))
        # The terminal shows at most SHOWN rows: a million-row sweep is not formatted.
        data = sweep_dict(result, None if as_json else SHOWN) | {"written": written}
        if shaded is not None:
            data["band"] = {k: v.tolist() for k, v in shaded.items()}
        _emit(data, as_json, lambda: print_sweep(data, out))

    _run(debug, action, file)


@app.command()
def export(
    file: FileArg,
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="The file to write: .xlsx (a live workbook), .csv (tidy, "
                               "units in the headers) or .json (as solve --json).",
        show_default=False)],
    vary: Annotated[list[str] | None, typer.Option(
        help="Also sweep an input (as in optimizer sweep): adds a Sweep sheet with charts "
             "of the frontier, or one CSV row per point.", show_default=False)] = None,
    jobs: Annotated[int, typer.Option(help="Parallel workers for the sweep (joblib).")] = 1,
    tol: TolOpt = 1e-6,
    force: ForceOpt = False,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Write the plan where budgets are decided: a live spreadsheet, CSV or JSON.

    The .xlsx workbook has an Inputs sheet, one named cell per scenario
    number (budget or target_loss, law_alpha, resources_C_unit_cost, ...),
    and a Plan sheet whose N*, D*, C*, loss, cost, spend shares and
    certificate are formulas of those inputs, named plan_N, plan_D, plan_C,
    plan_loss and plan_cost, with the solver's values beside them. Change
    the budget and the plan follows. Scenarios without a closed form (see
    docs/export.md) are written as values, with a note. Writes are atomic.

    Examples
    --------
      optimizer export scenarios/chinchilla_gopher.yaml -o plan.xlsx

      optimizer export scenarios/chinchilla_gopher.yaml -o plan.xlsx
        --vary objective.budget=1e20:1e25:log:50
    """
    def action() -> None:
        from optimizer import options
        from optimizer.analysis.sweep import parse_axis
        from optimizer.analysis.sweep import sweep as sweep_
        from optimizer.io.files import write_atomic
        from optimizer.io.outputs import check_outputs
        from optimizer.model.scenario import load_scenario
        from optimizer.output.export import check_path, export_text, inputs_of
        from optimizer.output.live import live
        from optimizer.output.report import SCHEMA_VERSION
        from optimizer.solvers.solve import solve as solve_

        suffix = check_path(output)
        options.jobs(jobs)
        check_outputs([("-o", output)], [file], force=force)
        axes = [parse_axis(spec) for spec in vary or []]
        scenario = load_scenario(file)
        plan = solve_(scenario, tol=tol)
        result = None
        if axes:
            count = math.prod(a.values.size for a in axes)
            with _progress_bars() as progress:
                result = sweep_(scenario, axes, jobs=jobs, tol=tol,
                                progress=progress("sweep points", count))
        workbook = suffix == ".xlsx"
        model = live(plan, inputs_of(scenario)) if workbook else None
        write_atomic(output, export_text(plan, output, result, model))
        data = {"schema_version": SCHEMA_VERSION, "command": "export", "written": [str(output)],
                "live": workbook and not isinstance(model, str),
                "why_not_live": model if isinstance(model, str) else None,
                "sweep_points": len(result) if result is not None else 0}
        if not workbook:
            what = "one row per sweep point" if result is not None else "the plan"
            summary = f"{what}, as {suffix.lstrip('.').upper()}"
        elif data["live"]:
            summary = "live formulas of the Inputs sheet"
        else:
            summary = f"values, not live ({model})"
        _emit(data, as_json, lambda: out.print(f"wrote {output}: {summary}", soft_wrap=True))

    _run(debug, action, file)


@app.command()
def sensitivity(
    file: FileArg,
    output: Annotated[str, typer.Option(
        "--of", help="The output the table is sorted by and the tornado chart shows: N, D, "
                     "C, loss or cost (default: loss; N under an allocation law, which "
                     "predicts no loss).", show_default=False)] = "",
    plot: Annotated[Path | None, typer.Option(
        help="Draw a tornado chart of the elasticities to .png, .svg or .pdf.",
        show_default=False)] = None,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Elasticities of the optimal plan to every numeric input of the scenario.

    For each input (law coefficients and exponents, prices, bounds, budget or target,
    FLOPs per token, hardware, ...): d log y / d log input for y = N*, D*, C*, loss and
    cost, by implicit differentiation of the optimality conditions at the certified
    optimum (no re-solves). An elasticity of -0.05 for loss means 1% more of the input
    gives 0.05% less loss. Local: it holds while the same bounds bind.

    Example
    -------
      optimizer sensitivity scenarios/chinchilla_gopher.yaml --plot tornado.png
    """
    def action() -> None:
        from optimizer.analysis.sensitivity import OUTPUTS
        from optimizer.analysis.sensitivity import sensitivity as sensitivity_
        from optimizer.io.outputs import check_outputs
        from optimizer.model.scenario import load_scenario
        from optimizer.output.plots import check_path, save, tornado
        from optimizer.output.report import print_sensitivity
        from optimizer.solvers.solve import solve as solve_

        if output and output not in OUTPUTS:
            raise ScenarioError(f"--of {output!r}: use one of {', '.join(OUTPUTS)}")
        if plot is not None:
            check_outputs([("--plot", check_path(plot))], [file])
        scenario = load_scenario(file)
        if output == "loss" and not scenario.law.predicts_loss:
            raise ScenarioError(f"--of loss: the {scenario.law.form} law predicts no loss; "
                                "use --of N, D, C or cost", str(file))
        result = sensitivity_(solve_(scenario))
        chosen = output or result.main
        written = [str(save(tornado(result, chosen), plot))] if plot is not None else []
        data = {"schema_version": 1, "command": "sensitivity", **result.to_dict(chosen),
                "written": written}

        _emit(data, as_json, lambda: print_sensitivity(data, out))

    _run(debug, action, file)


@app.command()
def uncertainty(
    file: FileArg,
    samples: Annotated[int, typer.Option(
        help="Samples of the uncertain inputs (the Sobol analysis adds about as many).")
    ] = 10000,
    source: Annotated[str, typer.Option(
        help="auto: the scenario's uncertainty block if any, else the bootstrap optimizer "
             "fit wrote beside it; bootstrap or scenario to choose.")] = "auto",
    robust: Annotated[bool, typer.Option(
        help="Also find the plan minimising expected loss within the budget.")] = False,
    sobol: Annotated[bool, typer.Option(help="Compute Sobol indices with SALib.")] = True,
    seed: Annotated[int, typer.Option(help="Seed of the sampling.")] = 0,
    jobs: Annotated[int, typer.Option(
        help="Parallel workers for the solves (joblib; -1 for every core).")] = 1,
    plot: Annotated[Path | None, typer.Option(
        help="Draw histograms of N*, D*, L* and the regret to .png, .svg or .pdf.",
        show_default=False)] = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write every sample (its inputs, its plan, the committed "
        "plan's loss and cost there, its status) as .parquet or .csv.",
        show_default=False)] = None,
    scheduler: SchedulerOpt = None,
    force: ForceOpt = False,
    as_json: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """How uncertain the plan is when its inputs are, and what committing to it costs.

    Samples the law's parameters from the bootstrap written by optimizer fit, or the
    distributions declared under the scenario's uncertainty block (normal, lognormal,
    uniform; correlations allowed), solves each sample, and reports quantiles of N*,
    D*, L* and cost, the regret of committing to the point-estimate plan (expected and
    worst decile), Sobol indices (SALib) and, with --robust, the plan minimising
    expected loss.

    Example
    -------
      optimizer uncertainty fitted.yaml --samples 2000 --robust --plot u.png
    """
    def action() -> None:
        from optimizer.analysis.uncertainty import uncertainty as uncertainty_
        from optimizer.io.outputs import check_outputs
        from optimizer.model.scenario import load_scenario
        from optimizer.output.plots import check_path, save, uncertainty_figure
        from optimizer.output.report import print_uncertainty
        from optimizer.output.tables import COLUMN_FORMATS, check_table_path, write_columns

        if plot is not None:
            check_path(plot)
        if output is not None:
            check_table_path(output, COLUMN_FORMATS)
        check_outputs([(o, p) for o, p in (("-o", output), ("--plot", plot)) if p is not None],
                      [file], force=force)
        scenario = load_scenario(file)
        with _progress_bars() as progress, _cluster(scheduler, jobs) as workers:
            result = uncertainty_(scenario, samples, scenario_path=file, source=source, seed=seed,
                             sobol=sobol, robust=robust, jobs=workers, progress=progress)
        written = []
        if output is not None:
            write_columns({**result.inputs, **result.table}, output)
            written.append(str(output))
        if plot is not None:
            written.append(str(save(uncertainty_figure(result), plot)))
        data = {"schema_version": 1, "command": "uncertainty", **result.to_dict(),
                "written": written}
        _emit(data, as_json, lambda: print_uncertainty(data, out))

    _run(debug, action, file)


@contextmanager
def _progress_bars() -> Iterator[Callable[[str, int], Callable[[int], None]]]:
    """Rich progress bars on stderr; yields ``start(description, total) -> advance``."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    bars = Progress("{task.description}", BarColumn(), MofNCompleteColumn(),
                    TimeRemainingColumn(), console=err, transient=True)

    def start(description: str, total: int) -> Callable[[int], None]:
        task = bars.add_task(description, total=total)
        return lambda done: bars.advance(task, done)

    with bars:
        yield start


@contextmanager
def _cluster(scheduler: str | None, jobs: int) -> Iterator[int]:
    """Run the block's joblib work on ``scheduler``, if any.

    Yields the jobs to ask for: every worker of a cluster, else ``jobs``.
    """
    from optimizer.parallel import on_cluster

    with on_cluster(scheduler) as address:
        yield -1 if address is not None else jobs


@app.command()
def schema() -> None:
    """Print the JSON Schema of scenario files, for editor autocompletion.

    Example
    -------
      optimizer schema > scenario.schema.json
    """
    from optimizer.model.scenario import Scenario

    typer.echo(json.dumps(Scenario.model_json_schema(), indent=2))


def unwrapped(doc: str) -> str:
    """A docstring with each prose paragraph on one line, for the terminal to wrap.

    Docstrings are wrapped at the source's width; shown as written, a narrower terminal
    breaks each line again into ragged ones. A paragraph with an indented line (a
    command) or a heading underline stays as written.
    """
    paragraphs = inspect.cleandoc(doc).split("\n\n")
    return "\n\n".join(p if re.search(r"^\s|^-+$", p, re.MULTILINE) else " ".join(p.split("\n"))
                       for p in paragraphs)


for _command in app.registered_commands:
    _command.help = unwrapped(_command.help or inspect.getdoc(_command.callback) or "")


def main() -> None:
    """Console-script entry point."""
    from optimizer.io.files import exit_on_sigterm

    exit_on_sigterm()
    app(prog_name="optimizer")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
