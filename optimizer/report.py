"""Plans and certificates as JSON-ready dicts and as rich tables.

The JSON layout is versioned by :data:`SCHEMA_VERSION`; ``docs/cli.md`` lists its
keys. Non-finite numbers (a gain per cost of a free resource is infinite) become
``null``, so the output is strict JSON.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from typing import Any

from rich.console import Console
from rich.table import Table

from .certificate import Certificate
from .check import CheckResult
from .solve import Plan

SCHEMA_VERSION = 1


def certificate_dict(certificate: Certificate) -> dict[str, Any]:
    """The certificate as plain data."""
    return {
        "optimal": certificate.optimal,
        "feasible": certificate.feasible,
        "max_relative_spread": certificate.max_relative_spread,
        "shadow_price": certificate.shadow_price,
        "elasticity": certificate.elasticity,
        "constraint_active": certificate.constraint_active,
        "tolerance": certificate.tolerance,
        "resources": {r: asdict(m) for r, m in certificate.resources.items()},
        "limits": {n: {"side": s, "multiplier": m} for n, (s, m) in certificate.limits.items()},
        "reasons": list(certificate.reasons),
        "advice": certificate.advice,
    }


def plan_dict(plan: Plan) -> dict[str, Any]:
    """The ``solve`` output."""
    objective = plan.scenario.objective.model_dump()
    return {
        "schema_version": SCHEMA_VERSION,
        "command": "solve",
        "scenario": plan.scenario.name,
        "status": plan.status,
        "mode": plan.mode,
        "method": plan.method,
        "objective": objective,
        "allocation": plan.allocation,
        "loss": plan.loss,
        "cost": plan.cost,
        "certificate": certificate_dict(plan.certificate),
        "warnings": list(plan.warnings),
        "seconds": plan.seconds,
    }


def check_dict(result: CheckResult) -> dict[str, Any]:
    """The ``check`` output."""
    return {
        "schema_version": SCHEMA_VERSION,
        "command": "check",
        "scenario": result.optimum.scenario.name,
        "status": result.status,
        "mode": result.optimum.mode,
        "allocation": result.allocation,
        "loss": result.loss,
        "cost": result.cost,
        "certificate": certificate_dict(result.certificate),
        "savings": result.savings,
        "optimum": {"allocation": result.optimum.allocation, "loss": result.optimum.loss,
                    "cost": result.optimum.cost},
    }


def to_json(data: dict[str, Any]) -> str:
    """Strict JSON: NaN and infinities become ``null``."""
    return json.dumps(_finite(data), indent=2, allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _g(value: float | None, digits: int = 6) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return "inf" if math.isinf(value) else f"{value:.{digits}g}"


def certificate_table(certificate: Certificate, title: str = "Equal-marginal certificate"
                      ) -> Table:
    """Resource | amount | unit cost | marginal loss reduction | gain per cost | status."""
    table = Table(title=title, title_justify="left")
    for header in ("resource", "amount", "unit cost", "marginal loss reduction",
                   "gain per cost", "status"):
        table.add_column(header, justify="left" if header in ("resource", "status") else "right")
    for r, m in certificate.resources.items():
        table.add_row(r, _g(m.amount), _g(m.unit_cost), _g(m.marginal_loss_reduction),
                      _g(m.gain_per_cost), m.status.replace("_", " "))
    return table


def _certificate_lines(certificate: Certificate) -> list[str]:
    mode = certificate.mode
    verdict = "[green]optimal[/]" if certificate.optimal else "[red]not optimal[/]"
    price = ("loss saved per unit of budget" if mode == "loss" else "cost per unit of loss")
    lines = [
        f"verdict: {verdict} (spread {_g(certificate.max_relative_spread, 3)}, "
        f"tolerance {certificate.tolerance:g})",
        f"shadow price: {_g(certificate.shadow_price)} ({price})",
        f"elasticity d log L / d log budget: {_g(certificate.elasticity)}",
    ]
    for name, (side, multiplier) in certificate.limits.items():
        lines.append(f"limit {name} binds at its {side} bound (multiplier {_g(multiplier)})")
    lines += [f"[red]-[/] {reason}" for reason in certificate.reasons]
    if certificate.advice:
        lines.append(f"advice: {certificate.advice}")
    return lines


def print_plan(plan: Plan, console: Console) -> None:
    """Human-readable ``solve`` output."""
    s = plan.scenario
    console.print(f"[bold]{s.name}[/]")
    if s.source:
        console.print(f"[dim]source: {' '.join(s.source.split())}[/]")
    goal = (f"minimise loss within budget {_g(plan.problem.budget)}" if plan.mode == "loss"
            else f"minimise cost to reach loss {_g(plan.problem.target)}")
    console.print(f"{goal}; method {plan.method}; {plan.seconds * 1e3:.1f} ms")
    console.print(f"loss [bold]{_g(plan.loss, 8)}[/]  cost [bold]{_g(plan.cost, 8)}[/]  "
                  + "  ".join(f"{r} [bold]{_g(v)}[/]" for r, v in plan.allocation.items()))
    console.print(certificate_table(plan.certificate))
    for line in _certificate_lines(plan.certificate):
        console.print(line)
    for warning in plan.warnings:
        console.print(f"[yellow]warning:[/] {warning}")


def print_check(result: CheckResult, console: Console) -> None:
    """Human-readable ``check`` output."""
    what = "loss" if result.optimum.mode == "loss" else "cost"
    console.print(f"[bold]{result.optimum.scenario.name}[/]: your plan "
                  + "  ".join(f"{r} {_g(v)}" for r, v in result.allocation.items())
                  + f"  loss {_g(result.loss, 8)}  cost {_g(result.cost, 8)}")
    console.print(certificate_table(result.certificate, "Certificate of your plan"))
    for line in _certificate_lines(result.certificate):
        console.print(line)
    opt = result.optimum
    console.print("optimum: " + "  ".join(f"{r} {_g(v)}" for r, v in opt.allocation.items())
                  + f"  loss {_g(opt.loss, 8)}  cost {_g(opt.cost, 8)}")
    if result.savings is not None:
        console.print(f"the optimum saves {_g(result.savings)} in {what}")
