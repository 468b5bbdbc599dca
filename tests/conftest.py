import copy
import os
from pathlib import Path

import numpy as np
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


SHARED = Path(os.environ.get("OPTIMIZER_SHARED_DATA") or ROOT.parent / "shared" / "data")
"""Third-party data the project may not redistribute, in a folder beside the project's
(or where ``OPTIMIZER_SHARED_DATA`` says: CI's run of the tests from outside the checkout)."""

EXPLORE = bool(os.environ.get("OPTIMIZER_EXPLORE"))
"""Set (CI's exploring step does), the property tests that replay fixed examples
(``derandomize=not EXPLORE``) draw fresh ones from pytest's ``--hypothesis-seed``, which
CI prints, so a failure found that way is reproduced with the same seed."""

BESIROGLU_RUNS = (
    "Besiroglu et al.'s (2024) runs, which this project may not redistribute (their "
    "repository has no licence). To run this test, save data/svg_extracted_data.csv of "
    "epoch-research/analyzing-chinchilla at commit 92258837425e1b5f2851d624287f0120583a3d0e "
    "as that file (or point OPTIMIZER_SHARED_DATA at its folder); CI runs it")
"""Where to get ``chinchilla_svg_extracted.csv`` (tests/data/README.md)."""

BESIROGLU = {"E": (1.817, 0.026), "A": (482.0, 124.5), "B": (2085.4, 1293.0),
             "alpha": (0.3478, 0.0154), "beta": (0.3658, 0.0206)}
"""Besiroglu et al. 2024, "Chinchilla Scaling: A replication attempt" (arXiv:2404.10102):
their estimate (standard error) of Hoffmann et al.'s eq. 2 fitted to the runs extracted
from Hoffmann et al.'s Figure 4, dropping the five of highest loss."""


def shared(name: str) -> Path:
    """``../shared/data/<name>``, or a skip saying where to get it; only the Besiroglu
    runs live there (the data the project may redistribute is in tests/data)."""
    if name != "chinchilla_svg_extracted.csv":
        raise ValueError(f"{name}: vendor it in tests/data, with its provenance")
    path = SHARED / name
    if not path.is_file():
        pytest.skip(f"{path} is absent: {BESIROGLU_RUNS}")
    return path


def synthetic_runs(law, *, sizes=8, ratios=8, noise=0.0, seed=0, params=(5e7, 5e9),
                   tokens_per_param=(2.0, 200.0)) -> str:
    """CSV text of runs on a grid of N and tokens per parameter, their loss given by
    ``law`` (a Law) times a lognormal noise of standard deviation ``noise``."""
    rng = np.random.default_rng(seed)
    N, ratio = np.meshgrid(np.geomspace(*params, sizes),
                           np.geomspace(*tokens_per_param, ratios))
    N, D = N.ravel(), (N * ratio).ravel()
    loss = law.value({"N": N, "D": D, "C": 6 * N * D})
    loss = loss * np.exp(noise * rng.standard_normal(N.size))
    rows = zip(N, D, loss, strict=True)
    return "N,D,loss\n" + "".join(f"{float(n)!r},{float(d)!r},{float(y)!r}\n"
                                   for n, d, y in rows)


# ----------------------------------------------------------------- no skips in CI

FORBID_SKIPS = "OPTIMIZER_FORBID_SKIPS"
"""Set to 1 (CI does), a session with a skipped test fails, listing each and why."""
ALLOWED_SKIPS = ("LibreOffice (soffice) is not installed",)
"""Skips that stay allowed: tests/test_export.py's ``needs_libreoffice``."""
_SKIPS = pytest.StashKey[list[str]]()


def _forbidden_skips(session) -> list[str]:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    found = []
    for report in reporter.stats.get("skipped", []) if reporter else []:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(
            report.longrepr)
        reason = reason.removeprefix("Skipped: ")
        if not reason.startswith(ALLOWED_SKIPS):
            found.append(f"{report.nodeid}: {reason}")
    return found


def pytest_sessionfinish(session, exitstatus):
    if os.environ.get(FORBID_SKIPS) != "1":
        return
    skips = session.config.stash[_SKIPS] = _forbidden_skips(session)
    if skips and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    skips = config.stash.get(_SKIPS, [])
    if skips:
        terminalreporter.section(f"{FORBID_SKIPS}=1: {len(skips)} test(s) skipped", red=True)
        for line in skips:
            terminalreporter.line(line, red=True)
        terminalreporter.line("Install what they need (pip install -e '.[test]') or fix "
                              "the test; only LibreOffice's absence may skip.")
