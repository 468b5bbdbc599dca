"""Mutation testing, with cosmic-ray, of the modules that decide what a user is told.

    python tests/mutation/run.py --sample 30 [--seed S]   # CI: 30 mutants drawn at random
    python tests/mutation/run.py --all [--module PATH]    # every mutant (hours)

The files git tracks (and untracked ones it does not ignore) are copied to a temporary
folder, and cosmic-ray mutates and tests that copy: this checkout is never touched. Each
module's mutants are tested by its own subset of the tests (``modules.toml``), with
``PYTHONPATH`` set so that the copy's ``optimizer`` is the one imported. A mutant whose
tests run past cosmic-ray's timeout counts as killed, and is reported as a timeout.

Every surviving mutant is printed (file, line, original line, mutated line, operator).
The run fails (exit 1) if one of them is not in ``reviewed.toml``, keyed by file,
operator and the stripped text of the original and mutated lines; it fails with exit 2
if the unmutated tests fail or cosmic-ray cannot test a mutant.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from cosmic_ray.commands import init
from cosmic_ray.config import serialize_config
from cosmic_ray.testing import run_tests
from cosmic_ray.work_db import WorkDB, use_db
from cosmic_ray.work_item import MutationSpec, TestOutcome, WorkerOutcome, WorkResult

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PYTEST = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
          "-p", "tests.mutation.plugin"]
"""Each module's tests run as this plus the module's ``tests`` from modules.toml."""
PROGRESS = 300
"""Seconds between progress lines while cosmic-ray runs a module's mutants."""


@dataclass(frozen=True)
class Outcome:
    """One tested mutant."""

    module: str
    mutation: MutationSpec
    result: WorkResult

    @property
    def survived(self) -> bool:  # noqa: D102
        return self.result.test_outcome == TestOutcome.SURVIVED

    @property
    def timed_out(self) -> bool:  # noqa: D102
        return self.result.test_outcome == TestOutcome.KILLED and self.result.output == "timeout"

    def lines(self) -> tuple[str, str]:
        """The original and the mutated source, from the diff (removed lines, added lines)."""
        diff = (self.result.diff or "").splitlines()
        removed = [d[1:].strip() for d in diff if d.startswith("-") and not d.startswith("---")]
        added = [d[1:].strip() for d in diff if d.startswith("+") and not d.startswith("+++")]
        return " ".join(filter(None, removed)), " ".join(filter(None, added))

    def key(self) -> tuple[str, str, str, str]:
        """What ``reviewed.toml`` matches: file, operator, original and mutated line."""
        return (self.module, self.mutation.operator_name, *self.lines())


def main() -> int:
    """Run the mutants the command line asks for; the exit status of the run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--sample", type=int, metavar="K", help="run K mutants drawn at random")
    which.add_argument("--all", action="store_true", help="run every mutant")
    parser.add_argument("--seed", type=int, help="seed of the draw (default: the clock)")
    parser.add_argument("--module", action="append", metavar="PATH",
                        help="mutate only this module (repeatable)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary copy and cosmic-ray's sessions")
    args = parser.parse_args()

    config = tomllib.loads((HERE / "modules.toml").read_text())
    modules: dict[str, list[str]] = {m: v["tests"] for m, v in config["modules"].items()
                                     if not args.module or m in args.module}
    if args.module and set(args.module) - set(modules):
        parser.error(f"not in modules.toml: {sorted(set(args.module) - set(modules))}")
    reviewed = {(r["file"], r["operator"], r["original"], r["mutated"]): r["why"]
                for r in tomllib.loads((HERE / "reviewed.toml").read_text()).get("survivor", [])}
    seed = args.seed if args.seed is not None else time.time_ns() % 2**32
    if args.sample is not None:
        print(f"mutation sample of {args.sample}, seed {seed} (to repeat: python "
              f"tests/mutation/run.py --sample {args.sample} --seed {seed})", flush=True)
    print(f"commit {_git('rev-parse', 'HEAD').strip()}"
          f"{' with uncommitted changes' if _git('status', '--porcelain').strip() else ''}")

    top = Path(tempfile.mkdtemp(prefix="mutation-"))
    try:
        tree = top / "tree"
        _copy_tree(tree)
        sessions = {m: _init_session(top, tree, m, tests, config["run"]["exclude-operators"])
                    for m, tests in modules.items()}
        if args.sample is not None:
            _draw(sessions, args.sample, seed)
        outcomes = _execute(tree, sessions, modules, config["run"])
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        if args.keep:
            print(f"kept {top}")
        else:
            shutil.rmtree(top, ignore_errors=True)
    return _report(outcomes, reviewed, full=args.all)


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, check=True, capture_output=True,
                          text=True).stdout


def _copy_tree(tree: Path) -> None:
    """Copy the checkout's files (tracked, and untracked but not ignored) into ``tree``.

    The third-party data beside the checkout (``../shared``) is linked beside the copy,
    so that the tests that read it run there too.
    """
    for name in _git("ls-files", "-z", "--cached", "--others", "--exclude-standard"
                     ).split("\0"):
        source = REPO / name
        if name and source.is_file():  # a deleted file is listed until the deletion is staged
            (tree / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, tree / name)
    if (REPO.parent / "shared").is_dir():
        (tree.parent / "shared").symlink_to(REPO.parent / "shared")


def _init_session(top: Path, tree: Path, module: str, tests: list[str],
                  exclude: list[str]) -> Path:
    """A cosmic-ray session of every mutant of ``module``, the filtered ones skipped.

    Skipped are the excluded operators (matched as cosmic-ray's operators filter does, in
    one transaction rather than one per mutant) and the mutants inside type annotations:
    under ``from __future__ import annotations`` they are never evaluated (a pydantic
    field's is, and fails at import).
    """
    session = top / (module.replace("/", "_").removesuffix(".py") + ".sqlite")
    _write_config(session, module, tests, timeout=0.0, exclude=exclude)
    excluded = re.compile("|".join(f"(?:{e})" for e in exclude))
    spans = _annotations(tree / module)
    with use_db(str(session)) as db:
        init([tree / module], db, {})
        items = db.pending_work_items
        _skip(db, [i.job_id for i in items if excluded.match(i.mutations[0].operator_name)],
              "excluded operator")
        _skip(db, [i.job_id for i in items
                   if any(a <= tuple(i.mutations[0].start_pos) < b for a, b in spans)],
              "in an annotation")
    return session


def _skip(db: WorkDB, job_ids: list[str], why: str) -> None:
    db.set_multiple_results(job_ids, WorkResult(output=why, worker_outcome=WorkerOutcome.SKIPPED))


def _write_config(session: Path, module: str, tests: list[str], timeout: float,
                  exclude: list[str]) -> None:
    """Write the cosmic-ray configuration of ``session`` beside it."""
    session.with_suffix(".toml").write_text(serialize_config({
        "module-path": module, "timeout": timeout, "excluded-modules": [],
        "test-command": " ".join([*PYTEST, *tests]), "distributor": {"name": "local"},
        "filters": {"operators-filter": {"exclude-operators": exclude}}}))


def _annotations(path: Path) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(start, end) positions, as cosmic-ray counts them, of the annotations in ``path``."""
    spans = []
    for node in ast.walk(ast.parse(path.read_text())):
        found: list[ast.expr | None] = []
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            a = node.args
            found = [x.annotation for x in (*a.posonlyargs, *a.args, *a.kwonlyargs,
                                            a.vararg, a.kwarg) if x] + [node.returns]
        elif isinstance(node, ast.AnnAssign):
            found = [node.annotation]
        spans += [((n.lineno, n.col_offset), (n.end_lineno or n.lineno, n.end_col_offset or 0))
                  for n in found if n is not None]
    return spans


def _draw(sessions: dict[str, Path], k: int, seed: int) -> None:
    """Keep ``k`` pending mutants drawn at random over all sessions; skip the rest."""
    pending = []
    for module, session in sessions.items():
        with use_db(str(session), WorkDB.Mode.open) as db:
            pending += [(module, tuple(m.start_pos), m.operator_name, m.occurrence, item.job_id)
                        for item in db.pending_work_items for m in item.mutations]
    pending.sort()  # job ids are random: draw from a list in a stable order
    chosen = {p[-1] for p in random.Random(seed).sample(pending, min(k, len(pending)))}
    for session in sessions.values():
        with use_db(str(session), WorkDB.Mode.open) as db:
            _skip(db, [i.job_id for i in db.pending_work_items if i.job_id not in chosen],
                  "not drawn")


def _execute(tree: Path, sessions: dict[str, Path], modules: dict[str, list[str]],
             run: dict[str, float]) -> list[Outcome]:
    """Run the baseline and then cosmic-ray on each session with mutants left to test."""
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(tree), *filter(None, [os.environ.get("PYTHONPATH")])])
    cwd = Path.cwd()
    os.chdir(tree)  # cosmic-ray runs the tests in its working directory
    baselines: dict[str, float] = {}
    outcomes: list[Outcome] = []
    try:
        for module, session in sessions.items():
            with use_db(str(session), WorkDB.Mode.open) as db:
                todo = len(db.pending_work_items)
            if not todo:
                continue
            command = " ".join([*PYTEST, *modules[module]])
            if command not in baselines:
                baselines[command] = _baseline(command)
            timeout = max(run["timeout-minimum"], run["timeout-factor"] * baselines[command])
            _write_config(session, module, modules[module], timeout, run["exclude-operators"])
            print(f"{module}: {todo} mutants, {baselines[command]:.0f} s for its tests "
                  f"unmutated, timeout {timeout:.0f} s", flush=True)
            started = time.monotonic()
            _cosmic_ray_exec(session, todo)
            with use_db(str(session), WorkDB.Mode.open) as db:
                done = [Outcome(module, item.mutations[0], result)
                        for item, result in db.completed_work_items
                        if result.worker_outcome != WorkerOutcome.SKIPPED]
            outcomes += done
            print(f"  {_score(done)}; {(time.monotonic() - started) / len(done):.1f} s a mutant",
                  flush=True)
    finally:
        os.chdir(cwd)
    return outcomes


def _cosmic_ray_exec(session: Path, todo: int) -> None:
    """``cosmic-ray exec`` on ``session``, saying every few minutes how far it is."""
    command = [sys.executable, "-m", "cosmic_ray.cli", "exec", str(session.with_suffix(".toml")),
               str(session)]
    with subprocess.Popen(command) as process:
        while True:
            try:
                process.wait(timeout=PROGRESS)
                break
            except subprocess.TimeoutExpired:
                with use_db(str(session), WorkDB.Mode.open) as db:
                    left = len(db.pending_work_items)
                print(f"  {todo - left} of {todo} done", flush=True)
    if process.returncode:
        raise RuntimeError(f"cosmic-ray exec failed ({process.returncode}) on {session.name}")


def _baseline(command: str) -> float:
    """Seconds the unmutated tests take; a ``RuntimeError`` if they fail twice.

    A failure that does not repeat is a flaky test: it is reported, and it may kill a
    mutant that it should not.
    """
    for attempt in (1, 2):
        started = time.monotonic()
        outcome, output = run_tests(command, timeout=3600)
        if outcome == TestOutcome.SURVIVED:
            return time.monotonic() - started
        print(f"the tests fail without a mutation ({attempt} of 2): {command}\n"
              f"{output[-3000:]}", flush=True)
    raise RuntimeError(f"the tests fail without a mutation: {command}")


def _score(outcomes: list[Outcome]) -> str:
    killed = sum(not o.survived for o in outcomes)
    timeouts = sum(o.timed_out for o in outcomes)
    return (f"{killed}/{len(outcomes)} killed ({timeouts} by timeout), "
            f"{len(outcomes) - killed} survived")


def _report(outcomes: list[Outcome], reviewed: dict[tuple[str, str, str, str], str],
            full: bool) -> int:
    """Print the score and every survivor; the exit status (see the module docstring)."""
    broken = [o for o in outcomes if o.result.worker_outcome not in (WorkerOutcome.NORMAL,
                                                                   WorkerOutcome.NO_TEST)
              or o.result.test_outcome == TestOutcome.INCOMPETENT]
    tested = [o for o in outcomes if o not in broken
              and o.result.worker_outcome == WorkerOutcome.NORMAL]
    print("\nscore by module:")
    for module in sorted({o.module for o in tested}):
        print(f"  {module}: {_score([o for o in tested if o.module == module])}")
    print(f"  all: {_score(tested)}")
    new = []
    for o in sorted((o for o in tested if o.survived),
                    key=lambda o: (o.module, o.mutation.start_pos)):
        original, mutated = o.lines()
        why = reviewed.get(o.key())
        print(f"\nSURVIVED {o.module}:{o.mutation.start_pos[0]} {o.mutation.operator_name}\n"
              f"  - {original}\n  + {mutated}\n  {'reviewed: ' + why if why else 'NOT REVIEWED'}")
        if why is None:
            new.append(o)
    if full:  # every mutant of these modules ran: an entry that did not survive is stale
        stale = {k for k in reviewed if k[0] in {o.module for o in tested}} - {
            o.key() for o in tested if o.survived}
        for key in sorted(stale):
            print(f"\nreviewed but no longer survives (remove it from reviewed.toml): {key}")
    for o in broken:
        print(f"\nNOT TESTED {o.module}:{o.mutation.start_pos[0]} {o.mutation.operator_name}:"
              f" {o.result.worker_outcome} {o.result.test_outcome}")
        print((o.result.output or "")[-2000:])
    if new:
        print(f"\n{len(new)} survivor(s) not in tests/mutation/reviewed.toml. Write a test that "
              "kills each, or, if it cannot be killed, add it with why:")
        for o in new:
            original, mutated = o.lines()
            print(f"\n[[survivor]]\nfile = {json.dumps(o.module)}\n"
                  f"operator = {json.dumps(o.mutation.operator_name)}\n"
                  f"original = {json.dumps(original)}\nmutated = {json.dumps(mutated)}\n"
                  'why = "equivalent | unreachable | accepted: ..."')
    counts = Counter(o.result.worker_outcome for o in outcomes)
    if counts[WorkerOutcome.NO_TEST]:
        print(f"\n{counts[WorkerOutcome.NO_TEST]} mutant(s) could not be applied (no test run)")
    return 2 if broken else 1 if new else 0


if __name__ == "__main__":
    sys.exit(main())
