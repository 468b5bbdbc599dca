"""The unit of every number in a scenario, and the documentation of its field.

Reports, exports and figures label each number with what it counts: parameters,
tokens, FLOPs, and the budget's currency (dollars, device-hours or abstract cost units).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from optimizer.model.scenario import Scenario

AMOUNT_UNITS = {"N": "parameters", "D": "tokens", "C": "FLOPs"}
SINGULAR = {"N": "parameter", "D": "token", "C": "FLOP"}



def currency(scenario: Scenario) -> str:
    """What the budget and costs are counted in."""
    if scenario.hardware is not None:
        return "dollars" if scenario.hardware.currency == "dollars" else "device-hours"
    return "cost units"


LOSS = "nats per token"
"""The unit of loss: cross-entropy per token, in nats."""


def unit(scenario: Scenario, path: str) -> str:
    """The unit of the number at ``path``, for the Inputs sheet, CSV headers and figures.

    ``path`` is a scenario input, or an output: ``N``, ``D``, ``C``, ``loss``, ``cost``.
    Dimensionless numbers say what they are: ``exponent``, ``fraction``, ``ratio``.
    """
    money = currency(scenario)
    parts = path.split(".")
    if parts[0] == "resources" and len(parts) == 3:
        r, field = parts[1], parts[2]
        return f"{money} per {SINGULAR[r]}" if field == "unit_cost" else AMOUNT_UNITS[r]
    if path in AMOUNT_UNITS:
        return AMOUNT_UNITS[path]
    if re.search(r"alpha|beta|exponent", path):
        return "exponent"
    return {
        "loss": LOSS, "cost": money,
        "objective.budget": money, "objective.target_loss": LOSS,
        "objective.target_error": "fraction", "objective.target_accuracy": "fraction",
        "downstream.epsilon": "fraction", "downstream.k": "fraction",
        "downstream.gamma": f"per {LOSS}", "downstream.low": "fraction",
        "downstream.high": "fraction", "downstream.midpoint": LOSS,
        "downstream.steepness": f"per {LOSS}",
        "law.E": LOSS, "law.k": LOSS,
        "law.A": f"{LOSS} × parameters^alpha", "law.B": f"{LOSS} × tokens^beta",
        "law.N_c": "parameters", "law.D_c": "tokens",
        "law.N.coefficient": "parameters per FLOP^exponent",
        "law.D.coefficient": "tokens per FLOP^exponent",
        "law.R_D_star": "epochs", "law.R_N_star": "ratio",
        "compute.flops_per_param_token": "FLOPs per parameter per token",
        "compute.attention.context": "tokens", "compute.attention.layers": "layers",
        "compute.attention.width": "hidden units", "compute.attention.aspect_ratio": "ratio",
        "hardware.mfu": "fraction", "hardware.peak_flops": "FLOP/s per device",
        "hardware.price_per_device_hour": "dollars per device-hour",
        "hardware.devices": "devices", "hardware.deadline_hours": "hours",
        "hardware.memory_bytes": "bytes", "hardware.bytes_per_param": "bytes per parameter",
        "inference.tokens": "tokens",
        "inference.flops_per_param_token": "FLOPs per parameter per token",
        "inference.unit_cost": f"{money} per FLOP", "inference.mfu": "fraction",
        "data.unique_tokens": "tokens", "data.unit_cost": f"{money} per unique token",
        "capability.min_params": "parameters", "capability.N_c": "parameters",
        "capability.a": "capability per e-fold of N", "capability.b":
            "capability per parameter²", "capability.required": "capability",
        "band.epsilon": "fraction of L* - E",
    }.get(path, "")


def label(scenario: Scenario, path: str) -> str:
    """``path`` with its unit, for an axis: ``objective.budget (dollars)``."""
    found = unit(scenario, path)
    return f"{path} ({found})" if found else path


def describe(scenario: Scenario, path: str) -> str:
    """The field's documentation (its docstring), on one line."""
    node: Any = scenario
    *parents, leaf = path.split(".")
    for key in parents:
        node = getattr(node, key, None)
    fields = type(node).model_fields if isinstance(node, BaseModel) else {}
    text = (fields[leaf].description or "") if leaf in fields else ""
    return " ".join(text.split())
