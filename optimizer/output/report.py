"""Plans and certificates as JSON-ready dicts and as rich tables.

The JSON layout is versioned by :data:`SCHEMA_VERSION`; ``docs/cli.md`` lists its
keys. Non-finite numbers (a gain per cost of a free resource is infinite) become
``null``, so the output is strict JSON.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape as _escape
from rich.table import Table

from optimizer.analysis.check import CheckResult
from optimizer.model.scenario import MinimizeCost
from optimizer.solvers.certificate import Certificate
from optimizer.solvers.solve import Plan

if TYPE_CHECKING:
    from optimizer.fitting.fitted import FitOutcome

SCHEMA_VERSION = 1
PASTE = 10
"""Significant figures of printed amounts: enough to paste a plan back into ``check``."""


def plan_dict(plan: Plan, extras: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``solve`` output; ``extras`` from :func:`optimizer.analysis.findings.findings`."""
    return {"schema_version": SCHEMA_VERSION, "command": "solve", **plan.to_dict(),
            "warnings": _warnings(plan, extras), **(extras or {})}


def check_dict(result: CheckResult) -> dict[str, Any]:
    """The ``check`` output."""
    return {"schema_version": SCHEMA_VERSION, "command": "check", **result.to_dict()}


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
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value + 0.0:.{digits}g}"  # never "-0"


def print_table(console: Console, headers: Sequence[str], rows: Iterable[Sequence[str]],
                title: str = "", left: Sequence[int] = (0,)) -> None:
    """A table that never loses a printed character.

    A rich table when its natural width fits the console; otherwise (a narrow
    terminal, or 80 columns when piped to a file or a CI log) the same rows as plain,
    aligned text that may run past the width but is never cut or ellipsised. Columns
    in ``left`` are left-justified, the others (numbers) right-justified.
    """
    rows = [list(row) for row in rows]
    natural = sum(max([max(len(w) for w in h.split() or [""]),
                       *(len(row[j]) for row in rows)]) for j, h in enumerate(headers))
    if natural + 3 * len(headers) + 1 <= console.width:
        table = Table(title=title or None, title_justify="left")
        for j, head in enumerate(headers):
            cells = max((len(row[j]) for row in rows), default=0)
            table.add_column(head, justify="left" if j in left else "right", min_width=cells)
        for row in rows:
            table.add_row(*row)
        console.print(table)
        return

    widths = [max([len(h), *(len(row[j]) for row in rows)]) for j, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if j in left else c.rjust(w)
                         for j, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    if title:
        console.print(title, soft_wrap=True, markup=False, highlight=False)
    for text in (line(headers), *(line(row) for row in rows)):
        console.print(text, soft_wrap=True, markup=False, highlight=False)


def print_certificate(certificate: Certificate, console: Console,
                      title: str = "Equal-marginal certificate") -> None:
    """Resource | amount | unit cost | marginal loss reduction | gain per cost | status."""
    print_table(console, ("resource", "amount", "unit cost", "marginal loss reduction",
                          "gain per cost", "status"),
                [(r, _g(m.amount), _g(m.unit_cost), _g(m.marginal_loss_reduction),
                  _g(m.gain_per_cost), m.status.replace("_", " "))
                 for r, m in certificate.resources.items()], title, left=(0, 5))


def _certificate_lines(certificate: Certificate, loss: bool = True) -> list[str]:
    """The verdict, the shadow price and the elasticity of the loss.

    With ``loss`` False (a law that predicts no loss) the shadow price is the equivalent
    law's and the loss elasticity is left out.
    """
    mode = certificate.mode
    verdict = ("[green]optimal[/]" if certificate.optimal else "[red]not optimal[/]"
               if certificate.feasible else "[red]infeasible[/]")
    price = ("loss saved per unit of budget" if mode == "loss" else "cost per unit of loss")
    lines = [
        f"verdict: {verdict} (spread {_g(certificate.max_relative_spread, 3)}, "
        f"tolerance {certificate.tolerance:g})",
        f"shadow price: {_g(certificate.shadow_price)} ("
        + (price if loss else "of the equivalent law") + ")",
    ]
    if loss:
        lines.append(f"elasticity d log L / d log budget: {_g(certificate.elasticity)}")
    for name, (side, multiplier) in certificate.limits.items():
        lines.append(f"limit {name} binds at its {side} bound (multiplier {_g(multiplier)})")
    lines += [f"[red]-[/] {reason}" for reason in certificate.reasons]
    if certificate.advice:
        lines.append(f"advice: {certificate.advice}")
    return lines


def print_plan(plan: Plan, console: Console, extras: dict[str, Any] | None = None) -> None:
    """Human-readable ``solve`` output; ``extras`` from :func:`optimizer.analysis.findings`."""
    s = plan.scenario
    console.print(f"[bold]{s.name}[/]")
    if s.source:
        console.print(f"[dim]source: {' '.join(s.source.split())}[/]")
    goal = (f"minimise loss within budget {_g(plan.problem.budget)}" if plan.mode == "loss"
            else f"minimise cost to reach loss {_g(plan.problem.target)}")
    if isinstance(s.objective, MinimizeCost) and s.objective.target[0] != "target_loss":
        key, value = s.objective.target
        goal = (f"minimise cost to reach {key.removeprefix('target_')} {value:.4g} "
                f"(loss {_g(plan.problem.target)})")
    console.print(f"{goal}; method {plan.method}; {plan.seconds * 1e3:.1f} ms")
    # Ten significant figures: pasted back into check, the plan certifies as optimal.
    loss = _g(plan.loss, PASTE) if s.law.predicts_loss else "none"
    console.print(f"loss [bold]{loss}[/]  cost [bold]{_g(plan.cost, PASTE)}[/]  "
                  + "  ".join(f"{r} [bold]{_g(v, PASTE)}[/]" for r, v in plan.allocation.items()))
    if not s.law.predicts_loss:
        console.print(f"the {s.law.form} law states the optimal split of compute, not a loss; "
                      "the certificate's marginals are those of the equivalent law whose "
                      "optimum the split is (docs/theory.md, \"Laws published as "
                      "allocations\")", soft_wrap=True)
    print_certificate(plan.certificate, console)
    for line in _certificate_lines(plan.certificate, s.law.predicts_loss):
        console.print(line)
    for line in _extras_lines(plan, extras or {}):
        console.print(line)
    for warning in _warnings(plan, extras):
        console.print(f"[yellow]warning:[/] {warning}", soft_wrap=True)


def _warnings(plan: Plan, extras: dict[str, Any] | None) -> list[str]:
    outside = extrapolation_warning((extras or {}).get("extrapolation"))
    return [*plan.warnings, *([outside] if outside else [])]


def extrapolation_warning(outside: dict[str, Any] | None) -> str | None:
    """Say how far a plan lies outside the fitted runs, C first (None if inside)."""
    parts = []
    for r, o in sorted((outside or {}).items(), key=lambda item: item[0] != "C"):
        orders = o["orders_beyond"]
        if orders > 0:
            parts.append(f"{r} = {_g(o['plan'], 3)} is {orders:.2f} orders of magnitude "
                         f"above the largest fitted run ({_g(o['fitted_high'], 3)})")
        elif orders < 0:
            parts.append(f"{r} = {_g(o['plan'], 3)} is {-orders:.2f} orders of magnitude "
                         f"below the smallest fitted run ({_g(o['fitted_low'], 3)})")
    return "the plan extrapolates the fitted law: " + "; ".join(parts) if parts else None


def _extras_lines(plan: Plan, extras: dict[str, Any]) -> list[str]:
    lines = []
    if "compute_formula" in extras:
        lines.append(f"FLOPs: {extras['compute_formula']}")
    for b in extras.get("binding", []):
        sign = ">=" if b["side"] == "lower" else "<="
        lines.append(f"binds: {b['resource']} {sign} {_g(b['value'])}  ({b['source']})")
    if "band" in extras:
        found = extras["band"]
        parts = [f"{r} {_g(i['low'], 4)}{' (bound)' if i['low_is_bound'] else ''} .. "
                 f"{_g(i['high'], 4)}{' (bound)' if i['high_is_bound'] else ''}"
                 for r, i in found.items() if isinstance(i, dict)]
        lines.append(f"within {found['epsilon']:.3g} of the optimum's reducible loss "
                     f"(loss <= {_g(found['loss_limit'], 6)}): " + ";  ".join(parts))
    if "inference" in extras:
        inf = extras["inference"]
        ref = inf["training_only"]
        lines.append(
            f"inference-aware vs training-only plan of equal loss: N x{inf['parameter_ratio']:.4g}"
            f" ({_g(ref['N'], 4)} -> {_g(plan.allocation['N'], 4)}), D x{inf['token_ratio']:.4g}"
            f" ({_g(ref['D'], 4)} -> {_g(plan.allocation['D'], 4)}), tokens per parameter "
            f"{inf['training_only_tokens_per_parameter']:.4g} -> "
            f"{inf['tokens_per_parameter']:.4g}; lifetime cost x{inf['lifetime_cost_ratio']:.4g}"
            f" ({_g(ref['lifetime_cost'])} -> {_g(plan.cost)})")
    if "downstream" in extras:
        found = extras["downstream"]
        line = (f"{found['benchmark']}: error {found['error']:.4g} (accuracy "
                f"{found['accuracy']:.4g}) at loss {_g(found['loss'], 6)} under the "
                f"{found['form']} mapping")
        if "target" in found:
            line += (f"; the target {found['target'].removeprefix('target_')} "
                     f"{found['target_value']:.4g} needs loss <= {_g(found['target_loss'], 6)}")
        lines.append(line)
    if "capability" in extras:
        cap = extras["capability"]
        key = "added_" + plan.mode
        lines.append(f"capability needs N >= {_g(cap['min_params'])}; "
                     + (f"it binds and adds {_g(cap[key])} to the {plan.mode}"
                        if cap["binds"] else "it does not bind"))
    if "hardware" in extras:
        hw = extras["hardware"]
        parts = [f"{_g(hw['device_hours'], 4)} device-hours"]
        if "training_dollars" in hw:
            parts.append(f"${_g(hw['training_dollars'], 4)} of training")
        if "wall_clock_hours" in hw:
            parts.append(f"{_g(hw['wall_clock_hours'], 4)} h wall-clock "
                         f"({_g(hw['wall_clock_hours'] / 24, 3)} days)")
            parts.append(f"{_g(hw['bytes_per_device'] / 2**30, 4)} GiB of training state "
                         "per device")
        lines.append(f"hardware ({hw['accelerator'] or 'custom'}, MFU {hw['mfu']:g}, budget in "
                     f"{hw['budget_currency'].replace('_', '-')}): " + ", ".join(parts))
    for key, why in extras.get("unavailable", {}).items():
        lines.append(f"[yellow]{key}: not available[/] ({_escape(why)})")
    if "data" in extras:
        data = extras["data"]
        lines.append(f"data: {_g(data['epochs'], 4)} epochs over {_g(data['unique_tokens'])} "
                     "unique tokens")
    return lines


def print_check(result: CheckResult, console: Console) -> None:
    """Human-readable ``check`` output."""
    what = "loss" if result.optimum.mode == "loss" else "cost"
    console.print(f"[bold]{result.optimum.scenario.name}[/]: your plan "
                  + "  ".join(f"{r} {_g(v, PASTE)}" for r, v in result.allocation.items())
                  + f"  loss {_g(result.loss, 8)}  cost {_g(result.cost, 8)}")
    print_certificate(result.certificate, console, "Certificate of your plan")
    for line in _certificate_lines(result.certificate,
                                   result.optimum.scenario.law.predicts_loss):
        console.print(line)
    opt = result.optimum
    console.print("optimum: " + "  ".join(f"{r} {_g(v, PASTE)}" for r, v in opt.allocation.items())
                  + f"  loss {_g(opt.loss, 8)}  cost {_g(opt.cost, 8)}")
    if result.savings is not None and result.basis is not None:
        held = {"budget": "within the budget", "plan_spend": "at your plan's spend",
                "target": "reaching the target", "plan_loss": "at your plan's loss"}
        console.print(f"the optimum saves {_g(result.savings)} in {what} "
                      + held[result.basis])
    elif not opt.scenario.law.predicts_loss:
        console.print(f"the {opt.scenario.law.form} law predicts no loss, so there are no "
                      "savings to weigh; the certificate says whether your plan is the "
                      "published split of its compute")
    else:
        console.print(f"your plan is outside the budget, target or bounds by more than the "
                      f"feasibility tolerance {result.certificate.feasibility_tolerance:g}")


# ---------------------------------------------------------------------------- fit

def fit_dict(outcome: FitOutcome, extras: dict[str, Any],
             written: list[str] | None = None) -> dict[str, Any]:
    """The ``fit`` output; ``extras`` from :func:`optimizer.analysis.findings`."""
    result, boot, plan = outcome.fit, outcome.bootstrap, outcome.plan
    record = outcome.scenario.fit
    if record is None:
        raise ValueError("the outcome's scenario has no fit record")
    spread = record.bootstrap
    errors = spread.standard_errors if spread else result.standard_errors or {}
    intervals = spread.intervals if spread else {}
    spans = spread.plan if spread else {}
    point = {**plan.allocation, "loss": plan.loss, "cost": plan.cost}
    held = set(result.model.fields) - set(result.model.names) - set(result.model.tied)
    return {
        "schema_version": SCHEMA_VERSION,
        "command": "fit",
        "file": record.data.file,
        "sha256": record.data.sha256,
        "points": record.data.points,
        "dropped_lines": record.data.dropped_lines,
        "law": outcome.scenario.law.model_dump(mode="json", exclude_defaults=True),
        "method": record.method,
        "options": record.options,
        "parameters": {n: {"estimate": v, "held": n in held,
                           "standard_error": None if n in held else errors.get(n),
                           "low": intervals[n].low if n in intervals and n not in held
                           else None,
                           "high": intervals[n].high if n in intervals and n not in held
                           else None}
                       for n, v in result.values.items()},
        "quality": record.quality,
        "bootstrap": None if boot is None or spread is None else {
            "count": boot.count, "usable": len(boot.samples), "degenerate": boot.degenerate,
            "seed": boot.seed, "level": spread.level, "plan_failures": spread.plan_failures,
            "clusters": boot.clusters},
        "plan": {"mode": plan.mode, "objective": plan.scenario.objective.model_dump(),
                 **{k: {"estimate": v, "low": spans[k].low if k in spans else None,
                        "high": spans[k].high if k in spans else None}
                    for k, v in point.items()}},
        "warnings": [*outcome.warnings, *_warnings(plan, extras)],
        "extrapolation": extras.get("extrapolation"),
        "holdout": outcome.holdout,
        "prediction": outcome.prediction,
        "written": written or [],
    }


def print_downstream_fit(data: dict[str, Any], console: Console) -> None:
    """Human-readable ``fit --downstream`` output."""
    found = data["downstream"]
    q = found["quality"]
    console.print(f"[bold]{found['form']}[/] mapping fitted to {q['points']} (loss, error) "
                  f"pairs from {data['file']}; {found['starts_agreeing']} of "
                  f"{found['starts']} starts reached the best fit")
    boot = found["bootstrap"]
    intervals = boot["intervals"] if boot else {}
    level = f"{boot['level']:.0%}" if boot else ""
    print_table(console, ("constant", "value", *((f"{level} interval",) if boot else ())),
                [(name, _g(value, 5), *((f"{_g(intervals[name][0], 4)} .. "
                                         f"{_g(intervals[name][1], 4)}"
                                         if name in intervals else "-",) if boot else ()))
                 for name, value in found["values"].items()],
                f"Fitted {found['form']} mapping of {found['benchmark']}")
    console.print(f"fit on log error: RMSE {q['rmse_log']:.4g}, worst residual "
                  f"{q['max_abs_log_residual']:.3g} (line {q['worst_line']})")
    if boot:
        console.print(f"bootstrap: {boot['usable']} of {boot['count']} refits usable "
                      f"(seed {boot['seed']})")
    if "plan" in data:
        plan = data["plan"]
        console.print("plan with the mapping: " + "  ".join(
            f"{r} {_g(v, 4)}" for r, v in plan["allocation"].items())
            + f"  loss {_g(plan['loss'], 6)}")
        for line in _extras_lines_downstream(plan):
            console.print(line)
    for path in data["written"]:
        console.print(f"wrote {path}")


def _extras_lines_downstream(plan: dict[str, Any]) -> list[str]:
    found = plan.get("downstream")
    if not found:
        return []
    return [f"{found['benchmark']}: error {found['error']:.4g} (accuracy "
            f"{found['accuracy']:.4g}) at the plan's loss"]


def print_fit(data: dict[str, Any], console: Console) -> None:
    """Human-readable ``fit`` output, from :func:`fit_dict`."""
    dropped = data["dropped_lines"]
    console.print(f"[bold]{data['law']['form']}[/] law fitted to {data['points']} runs from "
                  f"{data['file']}" + (f" (left out lines {', '.join(map(str, dropped))})"
                                       if dropped else ""))
    options = data["options"]
    if data["method"] == "huber":
        console.print(f"Huber loss (delta {options['delta']:g}) on log residuals; "
                      f"{options['starts_agreeing']} of {options['starts']} starts from the "
                      "variable-projection grid reached the best fit")
    else:
        console.print("ordinary least squares of log loss on log " + options["resources"])
    boot = data["bootstrap"]
    level = f"{boot['level']:.0%} interval" if boot else "interval"
    print_table(console, ("parameter", "estimate", "std. error", level),
                [(name, _g(p["estimate"]) + (" (held)" if p["held"] else ""),
                  _g(p["standard_error"], 3),
                  f"{_g(p['low'], 4)} .. {_g(p['high'], 4)}" if p["low"] is not None else "-")
                 for name, p in data["parameters"].items()], "Fitted law")
    if "tie" in options:
        console.print(f"fitted as one: {options['tie'].replace(',', '; ')}")
    q = data["quality"]
    console.print(f"fit on log loss: RMSE {q['rmse_log']:.4g}, R² {q['r2_log']:.5f}, worst "
                  f"residual {q['max_abs_log_residual']:.3g} (line {int(q['worst_line'])})")
    if boot:
        grouped = (f" of {boot['clusters']} configurations (repeats drawn together)"
                   if boot["clusters"] < data["points"] else "")
        console.print(f"bootstrap: {boot['count']} resamples{grouped} (seed {boot['seed']}), "
                      f"{boot['usable']} usable refits, {boot['degenerate']} degenerate left out"
                      + (f"; no optimal plan under {boot['plan_failures']} of them"
                         if boot["plan_failures"] else ""))
    plan = data["plan"]
    objective = plan["objective"]
    goal = (f"budget {_g(objective['budget'])}" if plan["mode"] == "loss"
            else f"target loss {_g(objective['target_loss'])}")
    print_table(console, ("", "optimal plan", level),
                [(key, _g(plan[key]["estimate"], 6),
                  f"{_g(plan[key]['low'], 4)} .. {_g(plan[key]['high'], 4)}"
                  if plan[key]["low"] is not None else "-")
                 for key in ("N", "D", "C", "loss", "cost")], f"Plan at the scenario's {goal}")
    spans = data["prediction"]
    if spans:
        console.print(f"a run at this plan: {spans['level']:.0%} intervals of its loss: the "
                      f"mean {_g(spans['mean'][0])} .. {_g(spans['mean'][1])}; one new run "
                      f"{_g(spans['new_run'][0])} .. {_g(spans['new_run'][1])}")
    if data["holdout"]:
        held = data["holdout"]
        worst = max(held, key=lambda run: abs(run["relative_error"]))
        print_table(console, ("line", "C (FLOPs)", "observed", "predicted", "error"),
                    [(str(run["line"]), _g(run["C"], 4), _g(run["observed"]),
                      _g(run["predicted"]), f"{run['relative_error']:+.2%}") for run in held],
                    f"Holdout: the {len(held)} runs of largest compute, predicted by a fit "
                    "without them")
        console.print(f"worst holdout error {worst['relative_error']:+.2%} (line "
                      f"{worst['line']})")
    for warning in data["warnings"]:
        console.print(f"[yellow]warning:[/] {warning}", soft_wrap=True)
    for path in data["written"]:
        console.print(f"wrote {path}")


SHOWN = 20
"""Rows of a sweep the terminal shows (spread over it); -o writes them all."""


def print_sweep(data: dict[str, Any], console: Console) -> None:
    """Human-readable ``sweep`` output, from its ``--json`` data."""
    rows = data["rows"]
    statuses: dict[str, int] = {}
    for row in rows:
        statuses[row["status"]] = statuses.get(row["status"], 0) + 1
    console.print(f"{data['points']} points by {data['method']} in {data['seconds']:.3g} s: "
                  + ", ".join(f"{n} {s}" for s, n in statuses.items()))
    inputs = [a["path"] for a in data["axes"]]
    every = data.get("every", 1)
    shown = rows if every > 1 or len(rows) <= SHOWN else rows[:: max(1, len(rows) // SHOWN)]
    columns = (*inputs, "N", "D", "C", "loss", *(("error",) if "error" in rows[0] else ()),
               "cost")
    print_table(console, (*columns, "status"),
                [(*(_g(row[k], 4) for k in columns), row["status"]) for row in shown],
                left=(len(columns),))
    stride = every if every > 1 else len(rows) // max(len(shown), 1)
    if len(shown) < data["points"]:
        console.print(f"(every {stride}th of {data['points']} rows; -o writes all)")
    for path in data["written"]:
        console.print(f"wrote {path}")


def print_sensitivity(data: dict[str, Any], console: Console) -> None:
    """Human-readable ``sensitivity`` output, from its ``--json`` data."""
    inputs = data["inputs"]
    outputs = list(next(iter(inputs.values()))["elasticity"]) if inputs else []
    print_table(console, ("input", "value", *(f"d log {o}*" for o in outputs)),
                [(p, f"{row['value']:.4g}", *(_signed(row['elasticity'][o]) for o in outputs))
                 for p, row in inputs.items()],
                f"Elasticities at the optimum (sorted by {data['output']})")
    for p, why in data["skipped"].items():
        console.print(f"[dim]skipped {p}: {why}[/]")
    for path in data["written"]:
        console.print(f"wrote {path}")


def _signed(value: float | None) -> str:
    """An elasticity with its sign; ``-`` for none (the loss of a law that predicts none)."""
    return "-" if value is None or math.isnan(value) else f"{value:+.4g}"


def print_uncertainty(data: dict[str, Any], console: Console) -> None:
    """Human-readable ``uncertainty`` output, from its ``--json`` data."""
    console.print(f"[bold]{data['scenario']}[/]: {data['solved']} of {data['samples']} "
                  f"samples solved ({data['source']})")
    quantiles = data["quantiles"]
    levels = list(next(iter(quantiles.values())))
    print_table(console, ("", "point estimate", *(f"q{float(q):.0%}" for q in levels)),
                [(o, _g(data["point_estimate"][o], 4), *(_g(qs[q], 4) for q in levels))
                 for o, qs in quantiles.items()], "Optimal plan under the sampled inputs")
    regret = data["regret"]
    what = "loss" if data["mode"] == "loss" else "cost"
    if regret:
        console.print(f"regret of committing to the point estimate: expected "
                      f"{regret['expected']:.4g} {what}, worst decile "
                      f"{regret['worst_decile_mean']:.4g}, max {regret['max']:.4g}")
        share, miss = ((regret["over_budget_share"], "overruns its budget")
                       if "over_budget_share" in regret else
                       (regret["misses_target_share"], "misses its target"))
        if share:
            console.print(f"the point estimate {miss} in {share:.1%} of the samples")
    else:
        console.print("regret: none to report (the law predicts no loss)")
    if data["sobol"]:
        names = list(next(iter(data["sobol"].values())))
        print_table(console, ("output", *names),
                    [(o, *(f"{idx[n]['S1']:.2f} / {idx[n]['ST']:.2f}" for n in names))
                     for o, idx in data["sobol"].items()], "Sobol indices: first order / total")
    if data["robust"]:
        r = data["robust"]
        console.print(f"robust plan (minimum expected loss over {r['samples']} samples): "
                      f"N {_g(r['N'], 4)}, D {_g(r['D'], 4)}; expected loss "
                      f"{r['expected_loss']:.6g} vs {r['nominal_expected_loss']:.6g} for "
                      "the point estimate")
    for note in data["notes"]:
        console.print(f"[dim]note: {note}[/]")
    for path in data["written"]:
        console.print(f"wrote {path}")


def print_prediction(data: dict[str, Any], console: Console) -> None:
    """Human-readable ``predict`` output, from its ``--json`` data."""
    console.print(f"predicted loss: [bold]{data['loss']:.8g}[/]")
    spans = data.get("intervals")
    if spans:
        console.print(f"{spans['level']:.0%} intervals: the mean {_g(spans['mean'][0])} .. "
                      f"{_g(spans['mean'][1])}; one new run {_g(spans['new_run'][0])} .. "
                      f"{_g(spans['new_run'][1])} (observation noise "
                      f"{spans['noise_log_sd']:.3g} in log loss)")
