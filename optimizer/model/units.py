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


def unit(scenario: Scenario, path: str) -> str:
    """The unit of the number at ``path``, for the Inputs sheet and CSV headers."""
    money = currency(scenario)
    parts = path.split(".")
    if parts[0] == "resources" and len(parts) == 3:
        r, field = parts[1], parts[2]
        return f"{money} per {SINGULAR[r]}" if field == "unit_cost" else AMOUNT_UNITS[r]
    return {
        "objective.budget": money, "objective.target_loss": "loss (nats per token)",
        "law.E": "loss (nats per token)", "compute.flops_per_param_token":
            "FLOPs per parameter per token", "hardware.mfu": "fraction",
        "hardware.peak_flops": "FLOP/s per device", "hardware.price_per_device_hour":
            "dollars per device-hour", "hardware.deadline_hours": "hours",
        "hardware.memory_bytes": "bytes", "hardware.bytes_per_param": "bytes per parameter",
        "inference.tokens": "tokens", "data.unique_tokens": "tokens",
    }.get(path, "exponent" if re.search(r"alpha|beta|exponents", path) else "")


def describe(scenario: Scenario, path: str) -> str:
    """The field's documentation (its docstring), on one line."""
    node: Any = scenario
    *parents, leaf = path.split(".")
    for key in parents:
        node = getattr(node, key, None)
    fields = type(node).model_fields if isinstance(node, BaseModel) else {}
    text = (fields[leaf].description or "") if leaf in fields else ""
    return " ".join(text.split())
