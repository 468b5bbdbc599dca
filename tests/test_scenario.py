"""Scenario files: every bundled one loads, round-trips, and bad input is named."""

import os
import stat

import pytest
import yaml

from optimizer import ScenarioError, dump_scenario, load_scenario, parse_scenario
from optimizer.io.documents import read_mapping
from optimizer.io.files import write_atomic

from .conftest import CHINCHILLA, POWER, ROOT, build


def test_bundled_scenarios_load_and_cite_a_source(scenario_file):
    s = load_scenario(scenario_file)
    assert s.source.strip()


@pytest.mark.parametrize("suffix", [".yaml", ".toml", ".json"])
def test_load_dump_load_round_trips(scenario_file, suffix, tmp_path):
    s = load_scenario(scenario_file)
    path = tmp_path / f"copy{suffix}"
    dump_scenario(s, path)
    assert load_scenario(path) == s


def test_yaml_reads_exponent_floats_without_a_dot_or_sign(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: x\nlaw: {form: chinchilla, E: 1.69, A: 406.4, B: 410.7, alpha: 0.34,"
                    " beta: 0.28}\nresources: {C: {unit_cost: 1}}\ncompute: {}\n"
                    "objective: {minimize: loss, budget: 5.76e23}\n")
    assert load_scenario(path).objective.budget == 5.76e23


BAD = [
    ({"law.alpah": 0.3}, r"law\.alpah: unknown key; did you mean 'alpha'\?"),
    ({"law.alpha": None}, r"law\.alpha: missing"),
    ({"law.alpha": "0.3"}, r"law\.alpha: got '0\.3'; must be a valid number"),
    ({"law.A": 0}, r"law\.A: got 0; must be greater than 0"),
    ({"law.A": -5}, r"law\.A: got -5"),
    ({"law.B": float("nan")}, r"law\.B: got nan; must be a finite number"),
    ({"law.B": float("inf")}, r"law\.B: got inf; must be a finite number"),
    ({"objective.budget": 0}, r"objective\.budget: got 0"),
    ({"objective.budget": -1.0}, r"objective\.budget: got -1\.0"),
    ({"objective.budget": float("nan")}, r"objective\.budget: got nan"),
    ({"resources.C.unit_cost": -1}, r"resources\.C\.unit_cost: got -1"),
    ({"resources.C.unit_cost": float("inf")}, r"resources\.C\.unit_cost: got inf"),
    ({"resources.C.unit_cost": 0}, r"resources: every unit_cost is 0"),
    ({"compute.flops_per_param_token": 0}, r"compute\.flops_per_param_token: got 0"),
    ({"resources.N": {"unit_cost": 0, "min": 5e10, "max": 1e10}},
     r"resources\.N: min \(5e\+10\) is greater than max \(1e\+10\)"),
    ({"resources.N": {"unit_cost": 0, "min": 1, "fixed": 2}}, r"resources\.N: give either fixed"),
    ({"resources.X": {"unit_cost": 1}}, r"resources\.X: unknown key"),
    ({"objective": {"minimize": "cost", "target_loss": 1.5}},
     r"objective\.target_loss: 1\.5 is at or below the law's irreducible loss 1\.69"),
    ({"objective": {"minimize": "cost", "target_loss": 1.69}}, r"at or below"),
    ({"objective": {"minimize": "cost", "budget": 1e20}},
     r"objective\.budget: unknown key; valid keys here: minimize, target_loss, target_error, "
     r"target_accuracy"),
    ({"objective": {"minimize": "cost"}},
     r"objective: give one of target_loss, target_error and target_accuracy"),
    ({"objective": {"minimize": "cost", "target_loss": 2.0, "target_error": 0.5}},
     r"give one of target_loss, target_error and target_accuracy, not target_loss and "
     r"target_error"),
    ({"objective": {"minimize": "cost", "target_error": 0.5}},
     r"objective\.target_error: a downstream target needs a downstream block"),
    ({"objective.minimize": "time"}, r"objective\.minimize: 'time' is not one of"),
    ({"law.form": "chinchila"}, r"law\.form: 'chinchila' is not one of"),
    ({"name": 5}, r"name: got 5; must be a valid string"),
]


@pytest.mark.parametrize(("change", "message"), BAD, ids=[m for _, m in BAD])
def test_bad_scenarios_name_field_and_value(change, message):
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(build(CHINCHILLA, **change), "s.yaml")


@pytest.mark.parametrize(("exponent", "message"), [
    (0.076, r"law\.exponents\.N: got 0\.076; must be less than or equal to 0.*write -0\.076"),
    ("x", r"law\.exponents\.N: got 'x'")])
def test_positive_exponent_is_refused_with_the_fix(exponent, message):
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(build(POWER, **{"law.exponents.N": exponent}))


def test_every_problem_is_reported_at_once():
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(build(CHINCHILLA, **{"law.A": -1, "law.B": -1, "objective.budget": 0}))
    assert len(caught.value.problems) == 3


@pytest.mark.parametrize(("name", "text", "message"), [
    ("empty.yaml", "  \n", "file is empty"),
    ("bad.yaml", "name: [unclosed", "not valid YAML"),
    ("bad.toml", "name = ", "not valid TOML"),
    ("bad.json", "{\"name\": ", "not valid JSON"),
    ("list.yaml", "- 1\n- 2\n", "top level must be a mapping"),
    ("dup.yaml", "name: a\nname: b\n", "duplicate key name"),
    ("s.txt", "name: a", "unknown file type '.txt'"),
])
def test_unreadable_files(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ScenarioError, match=message) as caught:
        read_mapping(path)
    assert str(path) in str(caught.value)


def test_missing_file(tmp_path):
    with pytest.raises(ScenarioError, match="does not exist"):
        load_scenario(tmp_path / "nope.yaml")


def test_dump_is_atomic_and_keeps_the_old_file_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "s.json"
    path.write_text("precious")
    s = parse_scenario(CHINCHILLA)

    def boom(*args, **kwargs):
        raise RuntimeError("interrupted before the rename")

    monkeypatch.setattr(os, "replace", boom)  # the temporary file is fully written by now
    with pytest.raises(RuntimeError):
        dump_scenario(s, path)
    assert path.read_text() == "precious"
    assert list(tmp_path.iterdir()) == [path]


def test_dump_into_missing_directory_is_bad_input(tmp_path):
    with pytest.raises(ScenarioError, match="does not exist"):
        dump_scenario(parse_scenario(CHINCHILLA), tmp_path / "no" / "s.yaml")


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_written_files_get_the_umask_s_permissions_not_0600(tmp_path, umask):
    """mkstemp gives 0600: a workbook in a shared folder was unreadable to colleagues."""
    previous = os.umask(umask)
    try:
        write_atomic(tmp_path / "new.csv", "a,b\n")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "new.csv").stat().st_mode) == 0o666 & ~umask


def test_a_replaced_file_keeps_its_mode(tmp_path):
    target = tmp_path / "plan.csv"
    target.write_text("old\n")
    target.chmod(0o640)
    write_atomic(target, "new\n")
    assert target.read_text() == "new\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_replace_returns_a_validated_copy():
    base = load_scenario(ROOT / "scenarios" / "chinchilla_gopher.yaml")
    richer = base.replace({"objective.budget": 1e24, "law.alpha": 0.35})
    assert richer.objective.budget == 1e24
    assert richer.law.alpha == 0.35
    assert base.objective.budget == 5.76e23  # the original is untouched
    with pytest.raises(ScenarioError, match=r"objective\.budget: got -5"):
        base.replace({"objective.budget": -5})
    with pytest.raises(ScenarioError, match=r"objective\.budgte: unknown key; did you mean"):
        base.replace({"objective.budgte": 1e24})
    with pytest.raises(ScenarioError, match=r"law\.alpha\.x: alpha is a value"):
        base.replace({"law.alpha.x": 1.0})


def test_a_scenario_without_a_name_is_named_after_its_file(tmp_path):
    path = tmp_path / "my_plan.yaml"
    data = build(CHINCHILLA, name=None)
    assert "name" not in data
    path.write_text(yaml.safe_dump(data))
    assert load_scenario(path).name == "my_plan"
    assert parse_scenario(data).name == "scenario"  # no file: a neutral default
