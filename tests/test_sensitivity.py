import copy
import math

import numpy as np
import pytest

from optimizer import load_scenario, parse_scenario, solve
from optimizer.analysis.sensitivity import OUTPUTS, sensitivity
from optimizer.errors import ScenarioError
from optimizer.model.scenario import set_path

from .conftest import CHINCHILLA, POWER, ROOT, scenario
from .test_cli import run


def resolved_elasticity(s, path, h=1e-4):
    """Independent check: central differences of full re-solves."""
    data, value = s.model_dump(exclude_unset=True), s.model_dump()
    for key in path.split("."):
        value = value[key]
    outs = []
    for sign in (1, -1):
        nudged = copy.deepcopy(data)
        set_path(nudged, path, value * math.exp(sign * h))
        plan = solve(parse_scenario(nudged))
        outs.append(np.log([plan.allocation["N"], plan.allocation["D"], plan.allocation["C"],
                            plan.loss, plan.cost]))
    return dict(zip(OUTPUTS, (outs[0] - outs[1]) / (2 * h), strict=True))


@pytest.mark.parametrize("name", ["kaplan.yaml", "memory_capped.yaml", "emergent.yaml",
                                  "inference_product.yaml", "data_limited.yaml",
                                  "chinchilla_gopher_dollars.yaml"])
def test_elasticities_match_differences_of_re_solves(name):
    s = load_scenario(ROOT / "scenarios" / name)
    result = sensitivity(solve(s))
    assert len(result.elasticity) >= 7
    for path, row in result.elasticity.items():
        check = resolved_elasticity(s, path)
        for output in OUTPUTS:
            assert row[output] == pytest.approx(check[output], rel=1e-4, abs=1e-6), (
                path, output)


def test_power_law_identity_sum_of_exponents():
    """Power law with linear costs and no floor: spend shares are fixed, so d log N* /
    d log B = 1, d log N* / d log c_N = -1, and d log L* / d log B = -sum |a_i|."""
    s = scenario(POWER)
    result = sensitivity(solve(s))
    total = 0.076 + 0.095 + 0.050
    assert result.elasticity["objective.budget"]["loss"] == pytest.approx(-total, rel=1e-7)
    assert result.elasticity["objective.budget"]["N"] == pytest.approx(1, rel=1e-7)
    assert result.elasticity["resources.N.unit_cost"]["N"] == pytest.approx(-1, rel=1e-7)
    assert result.elasticity["resources.N.unit_cost"]["D"] == pytest.approx(0, abs=1e-7)
    assert result.elasticity["law.k"]["loss"] == pytest.approx(1, rel=1e-7)


def test_chinchilla_identity_eq4_exponents():
    """Hoffmann et al. eq. 4: N* grows as C^(beta/(alpha+beta)), D* as C^(alpha/(alpha+beta))."""
    result = sensitivity(solve(scenario(CHINCHILLA)))
    budget = result.elasticity["objective.budget"]
    assert budget["N"] == pytest.approx(0.28 / 0.62, rel=1e-7)
    assert budget["D"] == pytest.approx(0.34 / 0.62, rel=1e-7)
    assert budget["C"] == pytest.approx(1, rel=1e-9)
    # d L*/d log B = -lambda * B (envelope theorem), so d log L* = that / L*.
    plan = solve(scenario(CHINCHILLA))
    assert budget["loss"] == pytest.approx(plan.certificate.elasticity, rel=1e-6)


def test_zero_inputs_are_skipped_and_unknown_paths_refused():
    plan = solve(scenario(CHINCHILLA))
    result = sensitivity(plan)
    assert "resources.N.unit_cost" in result.skipped
    assert result.ranked("loss")[0][0] in ("law.E", "law.alpha", "law.beta")
    with pytest.raises(ScenarioError, match="not numeric fields"):
        sensitivity(plan, ["law.gamma"])


def test_cli_sensitivity_table_json_and_tornado(tmp_path):
    chart = tmp_path / "t.png"
    result = run("sensitivity", ROOT / "scenarios" / "chinchilla_gopher.yaml", "--plot", chart)
    assert result.exit_code == 0, result.output
    assert "d log N*" in result.output
    assert chart.read_bytes()[:4] == b"\x89PNG"
    result = run("sensitivity", ROOT / "scenarios" / "kaplan.yaml", "--of", "N", "--json")
    import json

    data = json.loads(result.stdout)
    assert data["command"] == "sensitivity"
    first = next(iter(data["inputs"].values()))
    assert set(first["elasticity"]) == set(OUTPUTS)
    bad = run("sensitivity", ROOT / "scenarios" / "kaplan.yaml", "--of", "tokens")
    assert bad.exit_code == 2
