"""Speed of sweeps (issue 5, first part; issue 16). Prints its figures; asserts nothing.

* Closed-form sweep of 1,000,000 budget points, certified, in process, against raw numpy
  evaluating the same formula (Hoffmann et al. eq. 4 and the law) and the public
  `chinchilla` toolkit's vectorised ``Chinchilla.allocate_compute``, in the same run.
* The general path (one validated scenario and certified GP solve per point) on the
  Kaplan scenario, serial and on every core.
* (issue 16) The same 1e6-point sweep end to end through the command line, written to
  Parquet and to CSV, with the peak memory of each run.
"""

import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from optimizer import load_scenario  # noqa: E402
from optimizer.analysis.sweep import parse_axis, sweep  # noqa: E402


def best_of(action, repeat=5, keep=True):
    """Best and median seconds of ``repeat`` calls.

    ``keep``: each result is kept until the next call has returned, as a session's
    ``result = f()`` does; otherwise it is dropped at once.
    """
    times = []
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        if keep:
            result = action()
        else:
            action()
        times.append(time.perf_counter() - start)
    del result
    return min(times), statistics.median(times)


def main():
    gopher = load_scenario(ROOT / "scenarios" / "chinchilla_gopher.yaml")
    axis = parse_axis("objective.budget=1e19:1e25:log:1000000")
    result = sweep(gopher, [axis])
    assert result.method == "closed_form"
    assert set(result.table["status"]) == {"optimal"}
    ours, ours_median = best_of(lambda: sweep(gopher, [axis]))
    law = gopher.law
    C = axis.values

    def raw():
        G = (law.alpha * law.A / (law.beta * law.B)) ** (1 / (law.alpha + law.beta))
        N = G * (C / 6) ** (law.beta / (law.alpha + law.beta))
        D = (C / 6) ** (law.alpha / (law.alpha + law.beta)) / G
        return law.E + law.A * N ** -law.alpha + law.B * D ** -law.beta

    raw_time, _ = best_of(raw)
    n = C.size
    try:  # the public `chinchilla` toolkit (kyo-takano/chinchilla), if installed
        from chinchilla import Chinchilla

        params = {"E": law.E, "A": law.A, "B": law.B, "alpha": law.alpha, "beta": law.beta}
        theirs, _ = best_of(lambda: Chinchilla.allocate_compute(C, params))
    except ImportError:
        theirs = None
    print(f"closed-form sweep, {n} budgets, certified: best {ours * 1e3:.0f} ms "
          f"(median {ours_median * 1e3:.0f} ms) = {n / ours / 1e6:.1f} M points/s "
          "(target >= 2 M/s)")
    print(f"raw numpy, same formula (N*, D*, L* only, no certificate): {raw_time * 1e3:.1f} ms "
          f"= {n / raw_time / 1e6:.1f} M points/s; ours is {ours / raw_time:.1f}x slower")
    if theirs is None:
        print("public chinchilla toolkit: not installed (pip install chinchilla); skipped")
    else:
        print(f"public chinchilla toolkit, Chinchilla.allocate_compute (N*, D* only): "
              f"{theirs * 1e3:.1f} ms = {n / theirs / 1e6:.1f} M points/s; ours is "
              f"{ours / theirs:.1f}x its time")
    kaplan = load_scenario(ROOT / "scenarios" / "kaplan.yaml")
    axes = [parse_axis("objective.budget=1e19:1e23:log:100"),
            parse_axis("law.alpha_N=0.07:0.08:4")]
    sweep(kaplan, axes[:1])  # import cvxpy and compile the GP once, as a session would
    for continuation in (False, True):
        start = time.perf_counter()
        result = sweep(kaplan, axes, continuation=continuation)
        rate = len(result) / (time.perf_counter() - start)
        how = {m: int(np.sum(result.table["method"] == m))
               for m in sorted(set(result.table["method"]))}
        print(f"general sweep, kaplan.yaml, {len(result)} points, one core, "
              f"{'with' if continuation else 'without'} continuation: {rate:.0f} certified "
              f"solves/s (target >= 500/s); methods {how}")
    big = [parse_axis("objective.budget=1e19:1e23:log:500"), axes[1]]
    sweep(kaplan, axes, jobs=-1)  # start the workers (each imports cvxpy, compiles the GP)
    for jobs in (1, -1):
        start = time.perf_counter()
        result = sweep(kaplan, big, jobs=jobs)
        rate = len(result) / (time.perf_counter() - start)
        if jobs == 1:
            serial = rate
        print(f"general sweep, {len(result)} points, jobs={jobs:2d} on {os.cpu_count()} cores "
              f"(workers started): {rate:.0f} certified solves/s"
              + ("" if jobs == 1 else f", {rate / serial:.2f}x one core"))

    end_to_end()


PEAK = ("import resource, runpy, sys\n"
        "sys.argv = ['optimizer', *sys.argv[1:]]\n"
        "try:\n    runpy.run_module('optimizer', run_name='__main__')\n"
        "except SystemExit as stop:\n    assert not stop.code, stop.code\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)")
"""Runs the command line and reports its peak resident memory (kB) on stderr."""


def end_to_end(points: int = 1_000_000):
    """Issue 16: a 1e6-point closed-form sweep written by the command line (start-up,
    sweep, certificate and writing included), to Parquet (target <= 3 s) and CSV
    (target <= 8 s), with peak memory; before issue 16 the CSV took 12.6 s and 1.09 GB."""
    import subprocess
    import tempfile

    gopher = ROOT / "scenarios" / "chinchilla_gopher.yaml"
    with tempfile.TemporaryDirectory() as folder:
        for suffix, target in ((".parquet", 3), (".csv", 8)):
            out = Path(folder) / f"sweep{suffix}"
            start = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-c", PEAK, "sweep", str(gopher), "--vary",
                 f"objective.budget=1e19:1e25:log:{points}", "-o", str(out), "--force"],
                cwd=ROOT, capture_output=True, text=True, check=True)
            seconds = time.perf_counter() - start
            peak = int(done.stderr.strip().splitlines()[-1]) / 1024
            print(f"optimizer sweep, {points} points to {suffix}: {seconds:.2f} s end to end "
                  f"(target <= {target} s), peak memory {peak:.0f} MB, file "
                  f"{out.stat().st_size / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
