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
        # Differences of re-solves with a step of 1e-4: achieved 3.7e-7 relative. An
        # elasticity below 1e-8 reads as 0 (sensitivity.NOISE), hence the absolute floor.
        for output in OUTPUTS:
            assert row[output] == pytest.approx(check[output], rel=1e-5, abs=1e-8), (
                path, output)


def test_power_law_identity_sum_of_exponents():
    """Power law with linear costs and no floor: spend shares are fixed, so d log N* /
    d log B = 1, d log N* / d log c_N = -1, and d log L* / d log B = -sum |a_i|."""
    s = scenario(POWER)
    result = sensitivity(solve(s))
    total = 0.076 + 0.095 + 0.050
    # The elasticities are central differences with a relative step of 1e-5, accurate
    # to about 1e-10 (achieved: 5e-12 to 6e-11); below 1e-8 they read as exactly 0.
    assert result.elasticity["objective.budget"]["loss"] == pytest.approx(-total, rel=1e-9)
    assert result.elasticity["objective.budget"]["N"] == pytest.approx(1, rel=1e-10)
    assert result.elasticity["resources.N.unit_cost"]["N"] == pytest.approx(-1, rel=1e-10)
    assert result.elasticity["resources.N.unit_cost"]["D"] == 0
    assert result.elasticity["law.k"]["loss"] == pytest.approx(1, rel=1e-10)


def test_chinchilla_identity_eq4_exponents():
    """Hoffmann et al. eq. 4: N* grows as C^(beta/(alpha+beta)), D* as C^(alpha/(alpha+beta))."""
    result = sensitivity(solve(scenario(CHINCHILLA)))
    budget = result.elasticity["objective.budget"]  # differences, as above: 5e-12 to 1e-10
    assert budget["N"] == pytest.approx(0.28 / 0.62, rel=1e-9)
    assert budget["D"] == pytest.approx(0.34 / 0.62, rel=1e-9)
    assert budget["C"] == pytest.approx(1, rel=1e-10)
    # d L*/d log B = -lambda * B (envelope theorem), so d log L* = that / L*.
    plan = solve(scenario(CHINCHILLA))
    assert budget["loss"] == pytest.approx(plan.certificate.elasticity, rel=1e-8)


def test_zero_inputs_are_skipped_and_unknown_paths_refused():
    plan = solve(scenario(CHINCHILLA))
    result = sensitivity(plan)
    assert "resources.N.unit_cost" in result.skipped
    assert result.ranked("loss")[0][0] in ("law.E", "law.alpha", "law.beta")
    with pytest.raises(ScenarioError, match="not numeric fields"):
        sensitivity(plan, ["law.gamma"])


def test_cli_sensitivity_table_json_and_tornado(tmp_path):
    import json

    from .test_plots import assert_png_drawn

    chart = tmp_path / "t.png"
    gopher = ROOT / "scenarios" / "chinchilla_gopher.yaml"
    result = run("sensitivity", gopher, "--plot", chart)
    assert result.exit_code == 0, result.output
    # Each row: the input, its value, and its elasticities to four figures, ranked by
    # the loss's, as the library computes them.
    expected = sensitivity(solve(load_scenario(gopher)))
    rows = [line.split() for line in result.stdout.splitlines()[2:]
            if line.split() and line.split()[0] in expected.elasticity]
    assert [row[0] for row in rows] == [path for path, _ in expected.ranked("loss")]
    for path, value, *shown in rows:
        assert value == f"{expected.inputs[path]:g}", path
        assert shown == [f"{expected.elasticity[path][o]:+.4g}" for o in OUTPUTS], path
    assert "skipped resources.N.unit_cost: 0: its elasticity is 0" in result.stdout
    assert_png_drawn(chart)
    result = run("sensitivity", ROOT / "scenarios" / "kaplan.yaml", "--of", "N", "--json")
    data = json.loads(result.stdout)
    assert data["command"] == "sensitivity"
    assert data["output"] == "N"
    kaplan = sensitivity(solve(load_scenario(ROOT / "scenarios" / "kaplan.yaml")))
    assert {p: row["elasticity"] for p, row in data["inputs"].items()} == kaplan.elasticity
    bad = run("sensitivity", ROOT / "scenarios" / "kaplan.yaml", "--of", "tokens")
    assert bad.exit_code == 2
    assert "--of 'tokens': use one of N, D, C, loss, cost" in bad.output
