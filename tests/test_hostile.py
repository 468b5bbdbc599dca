"""Hostile and absurd input: refused clearly (exit 2 or 3), in bounded time and memory,
never a traceback or a wrong number, and the user's files never lost.

The corpus lives in ``tests/hostile/`` (small files, each named for what it tries);
files too large or too strange to keep (a symlink to /dev/zero, a FIFO, deep nesting)
are made here. A hypothesis mutation fuzzer over the bundled scenarios runs in the
default suite (``OPTIMIZER_FUZZ_DRAWS`` examples, more in CI).
"""

import hashlib
import json
import math
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from optimizer.cli import app
from optimizer.errors import ScenarioError
from optimizer.io import files as files_module
from optimizer.io.documents import read_mapping

from .conftest import EXPLORE, ROOT

HOSTILE = Path(__file__).parent / "hostile"
SCENARIOS = ROOT / "scenarios"
runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def digest(paths):
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths if p.is_file()}


# ------------------------------------------------------------------- the corpus

CORPUS = [
    # (file, message): each is refused by `solve` with exit 2
    ("sexagesimal_deadline.yaml", r"hardware\.deadline_hours: got '24:00'.*base-60"),
    ("sexagesimal_budget.yaml", r"objective\.budget: got '1:30'"),
    ("octal_devices.yaml", r"hardware\.devices: got '0100'.*octal"),
    ("underscore_budget.yaml", r"objective\.budget: got '1_000_000'"),
    ("yes_memory_cap.yaml", r"hardware\.memory_cap: got 'yes'.*write true or false"),
    ("duplicate_key.yaml", r"duplicate key objective"),
    ("duplicate_key.json", r"duplicate key budget"),
    ("python_tag.yaml", r"not valid YAML: could not determine a constructor"),
    ("billion_laughs.yaml", r"more than 100,000 values"),
    ("long_integer.json", r"more than 4300 digits"),
    ("long_integer.yaml", r"more than 4300 digits"),
    ("long_value.yaml", r"law\.E: got 'x+\.\.\.x+'; must be a valid number"),
    ("huge_coefficient.yaml", r"floating point.*law\.A = 1e\+300"),
    ("huge_flops_per_token.yaml",
     r"floating point.*compute\.flops_per_param_token = 6e\+300"),
    ("tiny_exponent.yaml", r"law\.beta: an exponent's magnitude"),
    ("kaplan_huge_alpha.yaml", r"law\.alpha_N: an exponent's magnitude"),
    ("fractional_devices.yaml", r"hardware\.devices: got 4\.096e-47"),
]

UNCERTAIN = [
    ("mfu_as_percent.yaml", 2, r"uncertainty\.fields\.hardware\.mfu: the uniform distribution's"
                               r" 50% quantile, 45, is not a valid hardware\.mfu"),
    ("nan_mean.yaml", 2, r"uncertainty\.fields\.law\.E\.mean: got nan"),
    ("every_sample_infeasible.yaml", 3, r"every sample failed \(64 infeasible\)"),
]

FITS = [
    ("runs_two_loss_columns.csv", r"the header names 'loss' more than once"),
    ("runs_all_at_20_tokens_per_param.csv", r"N and D move together .* D/N is about 20"),
    ("runs_C_contradicts_6ND.csv", r"C \('C'\) contradicts C = 6 N D"),
]


def check_refusal(result, path, code, message):
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert "internal error" not in result.output
    assert str(path) in result.output  # the message names the file
    assert re.search(message, " ".join(result.output.split())), result.output


@pytest.mark.parametrize(("name", "message"), CORPUS, ids=[c[0] for c in CORPUS])
def test_corpus_scenarios_are_refused_by_field(name, message):
    path = HOSTILE / name
    before = digest([path])
    check_refusal(run("solve", path), path, 2, message)
    assert digest([path]) == before


@pytest.mark.parametrize(("name", "code", "message"), UNCERTAIN, ids=[c[0] for c in UNCERTAIN])
@pytest.mark.parametrize("as_json", [False, True])
def test_uncertainty_refuses_distributions_outside_the_field_and_all_failed_runs(
        name, code, message, as_json):
    path = HOSTILE / name
    result = run("uncertainty", path, "--samples", 64, "--no-sobol",
                 *(["--json"] if as_json else []))
    check_refusal(result, path, code, message)


@pytest.mark.parametrize(("name", "message"), FITS, ids=[c[0] for c in FITS])
def test_fit_refuses_runs_that_cannot_identify_the_law(name, message):
    path = HOSTILE / name
    check_refusal(run("fit", path, "--bootstrap", 0), path, 2, message)


def test_fit_messages_stay_short_for_huge_headers_and_cells(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{i}" for i in range(100_000)) + "\n"
                    + ",".join("1" for _ in range(100_000)) + "\n")
    result = run("fit", path, "--bootstrap", 0)
    assert result.exit_code == 2
    assert "... (100000 in all)" in result.output
    assert len(result.output) < 2000
    cells = tmp_path / "cells.csv"
    cells.write_text("N,D,loss\n" + "".join(f"{'x' * 100_000},1e10,2.5\n" for _ in range(5)))
    result = run("fit", cells, "--bootstrap", 0)
    assert result.exit_code == 2
    assert "N ('N') is not a number" in result.output
    assert len(result.output) < 2000


def test_a_power_law_in_C_with_attention_is_solved():
    """C is a sum of terms (6ND + attention), so the law in C is not a GP: the NLP route
    solves it (and the GP route, when forced, says why it cannot)."""
    data = read_mapping(SCENARIOS / "default.yaml")
    data["resources"]["C"]["unit_cost"] = 1e-15
    data["compute"] = {"flops_per_param_token": 6, "attention": {"context": 2048,
                                                                "aspect_ratio": 128}}
    del data["uncertainty"]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "attention.yaml"
        path.write_text(yaml.safe_dump(data))
        solved = run("solve", path, "--json", "--no-band")
        assert solved.exit_code == 0, solved.output
        assert json.loads(solved.stdout)["certificate"]["optimal"]
        forced = run("solve", path, "--method", "gp")
        assert forced.exit_code == 2
        assert "not a geometric program; use --method auto or nlp" in forced.output


# ------------------------------------------- files that exhaust memory or time

def limited():
    """In the child: at most 3 GB of address space, so a runaway is an error, not a swap."""
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))


def run_bounded(*args, timeout=60):
    """The CLI in a child process with a memory limit and a time limit (a hang guard)."""
    return subprocess.run([sys.executable, "-m", "optimizer", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout,
                          preexec_fn=limited, check=False)


def exhausting(tmp):
    """name -> path of files made to exhaust a reader."""
    made = {}
    deep = tmp / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    made["deep.json"] = deep
    deep_yaml = tmp / "deep.yaml"
    deep_yaml.write_text("[" * 100_000 + "]" * 100_000)
    made["deep.yaml"] = deep_yaml
    big = tmp / "many_keys.yaml"
    big.write_text("".join(f"k{i}: {i}\n" for i in range(60_000)))  # 800 kB
    made["many_keys.yaml"] = big
    zero = tmp / "zero.yaml"
    zero.symlink_to("/dev/zero")
    made["zero.yaml"] = zero
    fifo = tmp / "fifo.yaml"
    os.mkfifo(fifo)
    made["fifo.yaml"] = fifo
    directory = tmp / "folder.yaml"
    directory.mkdir()
    made["folder.yaml"] = directory
    made["billion_laughs.yaml"] = HOSTILE / "billion_laughs.yaml"
    return made


MESSAGES = {"deep.json": "nested too deeply", "deep.yaml": "nested too deeply",
            "many_keys.yaml": "a scenario file may be at most 256 kiB",
            "zero.yaml": "is not a regular file", "fifo.yaml": "is not a regular file",
            "folder.yaml": "is a directory", "billion_laughs.yaml": "more than 100,000 values"}


def test_files_that_would_exhaust_memory_are_refused_in_a_bounded_child(tmp_path):
    for name, path in exhausting(tmp_path).items():
        done = run_bounded("solve", path)
        assert done.returncode == 2, (name, done.stderr)
        assert MESSAGES[name] in done.stderr, (name, done.stderr)
        assert "Traceback" not in done.stderr
        assert len(done.stderr) < 2000, name  # values quoted in messages are truncated


def test_validation_is_linear_in_the_file(tmp_path):
    """A file of many keys just under the size cap: every unknown key is reported, the
    listing is cut to a count, and (the duplicate check being linear) it finishes."""
    path = tmp_path / "keys.yaml"
    path.write_text("".join(f"k{i}: {i}\n" for i in range(20_000)))  # 250 kB
    result = run("solve", path)
    assert result.exit_code == 2
    assert "20002 problems" in result.output
    assert "... and 19982 more" in result.output


# ------------------------------------------------------------- option values

OPTIONS = [
    (("check", "{g}", "--plan", "N=1e9,D=1e9", "--tol", "nan"), "--tol nan"),
    (("check", "{g}", "--plan", "N=1e9,D=1e9", "--tol", "inf"), "--tol inf"),
    (("check", "{g}", "--plan", "N=1e9,D=1e9", "--tol", "-1"), "--tol -1"),
    (("check", "{g}", "--plan", "N=1e9,D=1e9", "--feasibility-tol", "nan"),
     "--feasibility-tol nan"),
    (("solve", "{g}", "--tol", "0"), "--tol 0"),
    (("solve", "{g}", "--epsilon", "nan"), "--epsilon nan"),
    (("sweep", "{g}", "--vary", "objective.budget=1e20,1e21", "--jobs", "0"), "--jobs 0"),
    (("sweep", "{g}", "--vary", "objective.budget=1e20,1e21", "--jobs", "100000"),
     "--jobs 100000"),
    (("sweep", "{g}", "--vary", "objective.budget=1e20:inf:log:3"), "cannot read"),
    (("sweep", "{g}", "--vary", "objective.budget=1e20:1e21:log:2.5"), "cannot read"),
    (("sweep", "{g}", "--vary", "objective.budget=1e19:1e25:log:1000000000"),
     "1,000,000,000 points need about"),
    (("sweep", "{g}", "--vary", "objective.budget=1e19:1e25:log:1e18"),
     "1,000,000,000,000,000,000 points need about"),
    (("sweep", "{g}", "--vary", "objective.budget=1e19:1e25:log:100000", "--vary",
      "law.alpha=0.3:0.4:100000"), "--vary: 10,000,000,000 grid points need about"),
    (("export", "{g}", "-o", "{tmp}/x.xlsx", "--vary", "objective.budget=1e19:1e25:log:1e9"),
     "1,000,000,000 points need about"),
    (("uncertainty", "{g}", "--samples", "0"), "--samples 0"),
    (("uncertainty", "{g}", "--samples", "1000000000"), "--samples: 2,000,000,000 solves"),
    (("uncertainty", "{g}", "--jobs", "-5"), "--jobs -5"),
    (("fit", "{runs}", "--bootstrap", "-3"), "--bootstrap -3"),
    (("fit", "{runs}", "--bootstrap", "1000000000"), "--bootstrap: 1,000,000,000 refits"),
    (("fit", "{runs}", "--drop-highest-loss", "-3"), "--drop-highest-loss -3"),
    (("fit", "{runs}", "--jobs", "0"), "--jobs 0"),
    (("fit", "{runs}", "--delta", "nan"), "--delta nan"),
    (("required", "--loss", "3", "--target", "1e-300", "--reference", "D=500", "--exponent",
      "D=-0.095"), "beyond the range of floating point"),
    (("predict", "--loss", "3", "--scale", "N=1e300", "--exponent", "N=-3"),
     "beyond the range of floating point"),
]


def test_only_work_above_a_small_size_asks_the_system_for_memory(monkeypatch):
    from optimizer import options

    monkeypatch.setattr(options, "memory", lambda: 100 << 20)  # a machine with 100 MiB
    with pytest.raises(ScenarioError, match="--samples: 200 solves need about 200 MiB"):
        options.fits_in_memory("--samples", 200, "solves", 1 << 20)
    monkeypatch.setattr(options, "memory", lambda: pytest.fail("the system was asked"))
    options.fits_in_memory("--samples", 64, "solves", 1 << 20)  # 64 MiB: never refused


@pytest.mark.parametrize(("argv", "message"), OPTIONS, ids=[" ".join(a[:1] + a[2:])[:60]
                                                            for a, _ in OPTIONS])
def test_every_numeric_option_is_checked_at_its_edges(tmp_path, argv, message):
    values = {"g": SCENARIOS / "chinchilla_gopher.yaml", "runs": SCENARIOS / "example_runs.csv",
              "tmp": tmp_path}
    result = run(*(a.format(**values) for a in argv))
    assert result.exit_code == 2, result.output
    assert message in result.output, result.output
    assert not list(tmp_path.iterdir())  # refused before anything was written


# ------------------------------------------------------------------ the files

@pytest.fixture
def workspace(tmp_path):
    scenario = tmp_path / "plan.json"
    scenario.write_text(json.dumps(read_mapping(SCENARIOS / "chinchilla_gopher.yaml")))
    other = tmp_path / "other.yaml"
    other.write_text((SCENARIOS / "default.yaml").read_text())
    runs = tmp_path / "runs.csv"
    runs.write_text((SCENARIOS / "example_runs.csv").read_text())
    return tmp_path, scenario, other, runs


def test_an_input_is_never_an_output(workspace):
    tmp, scenario, other, runs = workspace
    before = digest([scenario, other, runs])
    for argv in (("export", scenario, "-o", scenario),
                 ("sweep", scenario, "--vary", "objective.budget=1e20,1e21", "-o", scenario),
                 ("export", scenario, "-o", scenario, "--force"),
                 ("fit", runs, "--base", other, "-o", other, "--force"),
                 ("fit", tmp / "plan.bootstrap.csv", "-o", scenario, "--force")):
        if not Path(argv[1]).exists():
            Path(argv[1]).write_text(runs.read_text())
            before = digest([scenario, other, runs, Path(argv[1])])
        result = run(*argv)
        assert result.exit_code == 2, (argv, result.output)
        assert "is this command's input" in result.output
    assert digest([scenario, other, runs, tmp / "plan.bootstrap.csv"]) == before


def test_an_existing_scenario_is_replaced_only_with_force(workspace):
    tmp, scenario, other, runs = workspace
    before = digest([other])
    result = run("export", scenario, "-o", tmp / "other.json")
    assert result.exit_code == 0  # not a scenario there yet: a new file
    (tmp / "other.json").write_text(json.dumps(read_mapping(other)))
    refused = run("export", scenario, "-o", tmp / "other.json")
    assert refused.exit_code == 2
    assert "exists and is a scenario; give --force" in refused.output
    assert run("export", scenario, "-o", tmp / "other.json", "--force").exit_code == 0
    assert "law" not in json.loads((tmp / "other.json").read_text())  # the export replaced it
    # fit -o: any existing file (the scenario or its bootstrap CSV) needs --force.
    first = run("fit", runs, "-o", tmp / "fitted.yaml", "--bootstrap", 10)
    assert first.exit_code == 0, first.output
    again = digest([tmp / "fitted.yaml", tmp / "fitted.bootstrap.csv"])
    second = run("fit", runs, "-o", tmp / "fitted.yaml", "--bootstrap", 10)
    assert second.exit_code == 2
    assert "'fitted.yaml' exists; give --force" in second.output.replace(str(tmp) + "/", "")
    assert digest([tmp / "fitted.yaml", tmp / "fitted.bootstrap.csv"]) == again
    assert run("fit", runs, "-o", tmp / "fitted.yaml", "--bootstrap", 10, "--force"
               ).exit_code == 0
    assert digest([other]) == before


def test_a_directory_as_output_is_refused(workspace):
    tmp, scenario, _, _ = workspace
    (tmp / "out.xlsx").mkdir()
    result = run("export", scenario, "-o", tmp / "out.xlsx")
    assert result.exit_code == 2
    assert "is a directory" in result.output


def test_a_symlink_is_written_through(workspace):
    tmp, scenario, _, _ = workspace
    (tmp / "real.csv").write_text("old\n")
    (tmp / "link.csv").symlink_to("real.csv")
    result = run("export", scenario, "-o", tmp / "link.csv")
    assert result.exit_code == 0, result.output
    assert (tmp / "link.csv").is_symlink()
    assert "N" in (tmp / "real.csv").read_text()


def test_data_is_fsynced_before_the_rename(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(files_module.os, "fsync",
                        lambda fd: calls.append(("fsync", fd)))
    real_replace = os.replace
    monkeypatch.setattr(files_module.os, "replace",
                        lambda a, b: (calls.append(("replace", b)), real_replace(a, b)))
    files_module.write_atomic(tmp_path / "out.txt", "data\n")
    kinds = [c[0] for c in calls]
    assert kinds.index("fsync") < kinds.index("replace")
    assert (tmp_path / "out.txt").read_text() == "data\n"


SIGTERM_CHILD = """
import os, signal, sys, time
from pathlib import Path
from optimizer.io import files
files.exit_on_sigterm()
real_replace = os.replace
def slow_replace(a, b):  # the signal arrives after the temporary file is written
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(5)
    real_replace(a, b)
files.os.replace = slow_replace
files.write_atomic(Path(sys.argv[1]), "x" * 5_000_000)
"""


def test_sigterm_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("before\n")
    done = subprocess.run([sys.executable, "-c", SIGTERM_CHILD, str(target)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 128 + signal.SIGTERM, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]
    assert target.read_text() == "before\n"


# ------------------------------------------------------------ mutation fuzzer

FUZZ_DRAWS = int(os.environ.get("OPTIMIZER_FUZZ_DRAWS", "40"))
BUNDLED = sorted(SCENARIOS.glob("*.yaml"))
SPECIAL = [0, -1, 0.5, 2, 1e308, 5e-324, 10**30, math.nan, math.inf, -math.inf]
ODD = ["x", True, None, [], {}, "24:00", "0100", "1e400"]


def leaves(node, prefix=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from leaves(value, (*prefix, key))
    elif prefix and prefix[0] not in ("name", "source", "description"):
        yield prefix


def numeric(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@st.composite
def mutants(draw):
    """A bundled scenario with one to three fields changed: mostly a number scaled by a
    power of ten (so most mutants still solve, and the solvers are probed, not just the
    schema), sometimes a special value, an odd type or a deleted key."""
    base = draw(st.sampled_from(BUNDLED))
    data = read_mapping(base)
    for _ in range(draw(st.integers(1, 3))):
        how = draw(st.sampled_from(["scale"] * 6 + ["special", "special", "odd", "delete"]))
        paths = [p for p in leaves(data) if how != "scale" or numeric(_at(data, p))]
        *parents, leaf = draw(st.sampled_from(paths))
        node = data
        for key in parents:
            node = node[key]
        if how == "scale":
            node[leaf] *= 10.0 ** draw(st.sampled_from(
                [-1, 1, -3, 3, -10, 10, -30, 30, -100, 100, -300, 300]))
        elif how == "special":
            node[leaf] = draw(st.sampled_from(SPECIAL))
        elif how == "odd":
            node[leaf] = draw(st.sampled_from(ODD))
        else:
            del node[leaf]
    command = draw(st.sampled_from(["solve", "solve", "check", "sensitivity", "export",
                                    "sweep", "uncertainty"]))
    return base.name, data, draw(st.sampled_from(["yaml", "json"])), command


def _at(data, path):
    for key in path:
        data = data[key]
    return data


# Reproducible by default; OPTIMIZER_EXPLORE=1 (with --hypothesis-seed) explores afresh.
@settings(max_examples=FUZZ_DRAWS, deadline=None,
          derandomize=not EXPLORE,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutants())
def test_mutated_bundled_scenarios_exit_0_2_or_3_and_keep_the_files(case):
    name, data, kind, command = case
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{Path(name).stem}.{kind}"
        text = json.dumps(data) if kind == "json" else yaml.safe_dump(data)
        path.write_text(text)
        extra = {"solve": ["--json"], "check": ["--plan", "N=1e9,D=2e10", "--json"],
                 "sensitivity": [], "export": ["-o", Path(tmp) / "out.xlsx"],
                 "sweep": ["--vary", "objective.budget=1e19:1e23:log:3"
                           if "budget" in str(data.get("objective")) else
                           "objective.target_loss=2.4,2.6"],
                 "uncertainty": ["--samples", 16, "--no-sobol"]}[command]
        start = time.monotonic()
        result = run(command, path, *extra)
        # A hang guard, not a speed test: every case takes seconds at most.
        assert time.monotonic() - start < 300
        event(f"{command} exit {result.exit_code}")  # --hypothesis-show-statistics
        allowed = {0, 1, 2, 3} if command == "check" else {0, 2, 3}
        assert result.exit_code in allowed, (result.exit_code, result.output, data)
        assert "internal error" not in result.output
        assert "Traceback" not in result.output
        assert path.read_text() == text  # the input is never touched
        if result.exit_code == 0 and command == "solve":
            plan = json.loads(result.stdout)
            assert plan["certificate"]["optimal"]
            assert all(math.isfinite(v) for v in plan["allocation"].values())
        if result.exit_code == 2:
            assert str(path) in result.output or "--" in result.output


# ------------------------------------------------------------- library misuse

def test_wrong_types_get_a_type_error_that_says_what_to_pass():
    from optimizer import check, load_scenario, solve
    from optimizer.analysis.sensitivity import sensitivity
    from optimizer.analysis.sweep import sweep
    from optimizer.analysis.uncertainty import uncertainty

    scenario = load_scenario(SCENARIOS / "chinchilla_gopher.yaml")
    calls = [(lambda: solve(str(SCENARIOS / "default.yaml")), "load_scenario"),
             (lambda: check(scenario.model_dump(), {"N": 1e9}), "load_scenario"),
             (lambda: uncertainty(scenario.model_dump(), 10), "load_scenario"),
             (lambda: sensitivity(scenario), r"sensitivity\(solve\(scenario\)\)"),
             (lambda: sweep(scenario, {"objective.budget": [1e20]}), "parse_axis")]
    for call, hint in calls:
        with pytest.raises(TypeError, match=hint):
            call()


@pytest.mark.parametrize("command", [
    ("sweep", "--vary", "objective.budget=1e19:1e25:log:10000000"),
    ("uncertainty", "--samples", "1000000"),
])
@pytest.mark.parametrize(("where", "message"), [
    ("missing/out.csv", "does not exist"),
    ("readonly/out.csv", "is not writable"),
    ("folder.csv", "is a directory"),
    ("gopher.yaml", "write the table as .csv or .parquet"),  # the input itself: refused
])
def test_a_bad_output_fails_before_any_work(tmp_path, monkeypatch, command, where, message):
    """Every output is checked before the work: a 1e7-point sweep (or 1e6 samples) never
    starts when -o cannot be written (the solvers are replaced by a tripwire)."""
    import optimizer.solvers.many as many

    scenario = tmp_path / "gopher.yaml"
    scenario.write_text((ROOT / "scenarios" / "chinchilla_gopher.yaml").read_text())
    (tmp_path / "folder.csv").mkdir()
    (tmp_path / "readonly").mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p).endswith("readonly")
                        else real_access(p, mode))

    def tripwire(*args, **kwargs):
        raise AssertionError("work started before the output was checked")

    monkeypatch.setattr(many, "solve_many", tripwire)
    monkeypatch.setattr(many, "solve_points", tripwire)
    name, *options = command
    result = run(name, scenario, *options, "-o", tmp_path / where)
    assert result.exit_code == 2, result.output
    assert "-o" in result.output
    assert message in " ".join(result.output.split())
