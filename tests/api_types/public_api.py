"""The public API as a user's strictly type-checked code sees it.

``pyright`` checks this file in strict mode (see ``pyproject.toml``): every name the
README documents must carry complete types, so a user's own strict checks see no
``Unknown`` leaking from ``optimizer``. It is never run, only type-checked.
"""

from __future__ import annotations

from pathlib import Path

from optimizer import (
    Axis,
    Certificate,
    CheckResult,
    FitOutcome,
    OptimizerError,
    Plan,
    Scenario,
    Sensitivity,
    Sweep,
    UncertaintyAnalysis,
    __version__,
    check,
    dump_scenario,
    fit_scenario,
    load_scenario,
    parse_axis,
    parse_scenario,
    predict,
    required,
    sensitivity,
    solve,
    sweep,
    uncertainty,
    write_fit,
)


def plan_and_inspect(path: Path) -> dict[str, float]:
    scenario: Scenario = load_scenario(path)
    bigger: Scenario = scenario.replace({"objective.budget": 1e24})
    plan: Plan = solve(bigger, method="auto", tol=1e-6)
    certificate: Certificate = plan.certificate
    optimal: bool = certificate.optimal
    shadow: float = certificate.shadow_price
    amounts: dict[str, float] = plan.allocation
    verdict: CheckResult = check(scenario, {"N": 7e10, "D": 1.4e12})
    savings: float | None = verdict.savings
    data: dict[str, object] = plan.to_dict()
    print(repr(plan), optimal, shadow, savings, data, __version__)
    dump_scenario(bigger, path.with_suffix(".copy.yaml"))
    return {**amounts, "loss": plan.loss, "cost": plan.cost}


def analyses(scenario: Scenario) -> None:
    plan = solve(scenario)
    axis: Axis = parse_axis("objective.budget=1e21:1e24:log:10")
    grid: Sweep = sweep(scenario, [axis, "law.E=1.6:1.8:3"], jobs=1)
    rows: list[dict[str, object]] = grid.records()
    elasticities: Sensitivity = sensitivity(plan)
    ranked: list[tuple[str, float]] = elasticities.ranked("loss")
    spread: UncertaintyAnalysis = uncertainty(scenario, 100, seed=0, sobol=False)
    quantiles: dict[str, dict[float, float]] = spread.quantiles()
    regret: dict[str, float] = spread.regret()
    print(rows, ranked, quantiles, regret, len(grid))


def fits(runs: Path, out: Path) -> None:
    try:
        outcome: FitOutcome = fit_scenario(runs, "chinchilla")
    except OptimizerError as exc:
        print(exc.exit_code, exc)
        return
    written: list[Path] = write_fit(outcome, out)
    loss: float = predict(2.1, {"N": 2.0}, {"N": 0.34})
    amounts: dict[str, float] = required(2.1, 2.0, {"N": 1e9}, {"N": 0.34})
    print(written, loss, amounts, parse_scenario({"law": {}}, "x.yaml"))
