import copy
from pathlib import Path

import pytest
from hypothesis import strategies as st

from optimizer import parse_scenario

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))

CHINCHILLA = {
    "name": "chinchilla",
    "law": {"form": "chinchilla", "E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34,
            "beta": 0.28},
    "resources": {"N": {"unit_cost": 0}, "D": {"unit_cost": 0}, "C": {"unit_cost": 1}},
    "compute": {"flops_per_param_token": 6},
    "objective": {"minimize": "loss", "budget": 5.76e23},
}
POWER = {
    "name": "power",
    "law": {"form": "power_law", "k": 17.0, "exponents": {"N": -0.076, "D": -0.095,
                                                           "C": -0.050}},
    "resources": {"N": {"unit_cost": 200}, "D": {"unit_cost": 100}, "C": {"unit_cost": 150}},
    "objective": {"minimize": "loss", "budget": 1e6},
}
KAPLAN = {
    "name": "kaplan",
    "law": {"form": "kaplan", "N_c": 8.8e13, "D_c": 5.4e13, "alpha_N": 0.076,
            "alpha_D": 0.095},
    "resources": {"C": {"unit_cost": 1}},
    "compute": {"flops_per_param_token": 6},
    "objective": {"minimize": "loss", "budget": 1e21},
}


def build(base: dict, **changes) -> dict:
    """A deep copy of ``base`` with dotted-path changes, e.g. build(X, **{"law.E": 2})."""
    data = copy.deepcopy(base)
    for path, value in changes.items():
        *parents, last = path.split(".")
        node = data
        for key in parents:
            node = node.setdefault(key, {})
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
    return data


def scenario(base: dict, **changes):
    return parse_scenario(build(base, **changes))


@st.composite
def chinchilla_scenarios(draw, mode=None):
    """Random valid Chinchilla-law scenarios under a compute budget or target."""
    law = {"form": "chinchilla", "E": draw(st.floats(0.5, 3)),
           "A": draw(st.floats(10, 5000)), "B": draw(st.floats(10, 5000)),
           "alpha": draw(st.floats(0.1, 0.7)), "beta": draw(st.floats(0.1, 0.7))}
    mode = mode or draw(st.sampled_from(["loss", "cost"]))
    price = draw(st.floats(1e-3, 1e3))
    if mode == "loss":
        objective = {"minimize": "loss", "budget": price * 10 ** draw(st.floats(18, 26))}
    else:
        objective = {"minimize": "cost",
                     "target_loss": law["E"] + 10 ** draw(st.floats(-1.5, 0.5))}
    return parse_scenario({
        "name": "random chinchilla", "law": law,
        "resources": {"C": {"unit_cost": price}},
        "compute": {"flops_per_param_token": draw(st.floats(2, 12))}, "objective": objective})


@st.composite
def power_scenarios(draw, mode=None):
    """Random valid power-law scenarios with independent, linearly priced resources."""
    names = draw(st.lists(st.sampled_from("NDC"), min_size=1, max_size=3, unique=True))
    exponents = {r: -draw(st.floats(0.01, 0.8)) for r in names}
    E = draw(st.sampled_from([0.0, draw(st.floats(0.1, 2))]))
    mode = mode or draw(st.sampled_from(["loss", "cost"]))
    if mode == "loss":
        objective = {"minimize": "loss", "budget": 10 ** draw(st.floats(2, 12))}
    else:
        objective = {"minimize": "cost", "target_loss": E + 10 ** draw(st.floats(-1, 0.5))}
    return parse_scenario({
        "name": "random power law",
        "law": {"form": "power_law", "k": 10 ** draw(st.floats(0, 2)), "exponents": exponents,
                "E": E},
        "resources": {r: {"unit_cost": 10 ** draw(st.floats(-2, 3))} for r in names},
        "objective": objective})


@pytest.fixture(params=SCENARIOS, ids=lambda p: p.name)
def scenario_file(request) -> Path:
    return request.param
