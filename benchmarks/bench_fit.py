"""Speed of fitting (issue 4). Prints its figures; asserts nothing (machines are noisy).

Figures, all on the same 240 runs (the Chinchilla runs of Besiroglu et al. 2024, less
the five of highest loss, when ../shared/data holds them; else 240 synthetic runs):
* one fit, the variable-projection grid and L-BFGS-B polish (target < 2 s);
* 1,000 bootstrap refits on every core, and on one (target < 60 s), batched
  (fit.polish), against the same refits as one L-BFGS-B polish each from the same start
  (the method before the batch) on one core;
* the baseline measured in the same run: Hoffmann et al.'s grid of 4,500 L-BFGS-B starts
  (the method of the public notebooks and toolkits) on the same objective, with the best
  objective it finds against ours;
* the whole fit (fit_scenario) with the default 1,000 refits against the same without
  bootstrap, and their ratio (target: at most 4x);
* the worked example of docs/fitting.md, the command line as a user runs it (1,000
  bootstrap refits and a plan for each, and the figure): the figure the docs quote;
* (issue 17) one fit with BLAS held to one thread against the default thread pool, wall
  and CPU time; and a fit without bootstrap in process against the command line.
"""

import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from optimizer.fitting.fit import bootstrap, fit, huber, law_from, model_for  # noqa: E402
from optimizer.fitting.runs import Runs, read_runs  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "chinchilla_svg_extracted.csv"


def runs_240() -> tuple[Runs, str]:
    if DATA.is_file():
        return read_runs(DATA).drop_highest_loss(5), "Besiroglu et al. 2024 (240 runs)"
    law = law_from("chinchilla", {"E": 1.82, "A": 482.0, "B": 2085.0, "alpha": 0.348,
                                  "beta": 0.366})
    rng = np.random.default_rng(0)
    N, ratio = np.meshgrid(np.geomspace(5e7, 1.6e10, 16), np.geomspace(2, 200, 15))
    N, D = N.ravel(), (N * ratio).ravel()
    loss = law.value({"N": N, "D": D}) * np.exp(0.01 * rng.standard_normal(N.size))
    return Runs(N, D, 6 * N * D, loss, np.arange(2, 242)), "240 synthetic runs"


def hoffmann_grid(runs: Runs) -> tuple[float, float, int]:
    """Seconds, best objective and starts of Hoffmann et al.'s 4,500-start grid."""
    model = model_for("chinchilla")
    logs = {r: np.log(v) for r, v in runs.amounts().items()}
    target = np.log(runs.loss)

    def objective(theta):
        prediction, jac, _ = model.log_predict(theta, logs)
        r = prediction - target
        return huber(r, 1e-3).sum() / 1e-3, jac @ np.clip(r, -1e-3, 1e-3) / 1e-3

    grid = list(itertools.product(np.arange(0, 2.5, 0.5), np.arange(0, 2.5, 0.5),
                                  np.arange(-1, 1.5, 0.5), np.arange(0, 30, 5),
                                  np.arange(0, 30, 5)))
    start = time.perf_counter()
    best = min(minimize(objective, np.array([e, a, b, alpha, beta]), jac=True,
                        method="L-BFGS-B").fun for alpha, beta, e, a, b in grid)
    return time.perf_counter() - start, best, len(grid)


def main():
    runs, what = runs_240()
    model = model_for("chinchilla")
    print(f"data: {what}; {os.cpu_count()} cores")
    times = []
    for _ in range(5):
        start = time.perf_counter()
        result = fit(runs, model)
        times.append(time.perf_counter() - start)
    single = statistics.median(times)
    print(f"one fit (grid + {result.starts} L-BFGS-B starts, {result.agreeing} agreeing): "
          f"median {single * 1e3:.0f} ms (target < 2000 ms); objective {result.objective:.12g}")
    for jobs in (-1, 1):
        start = time.perf_counter()
        boot = bootstrap(result, 1000, seed=0, jobs=jobs)
        seconds = time.perf_counter() - start
        print(f"1000 bootstrap refits, jobs={jobs:2d}: {seconds:6.2f} s "
              f"({seconds:.2f} ms per refit; target < 60 s), {boot.degenerate} degenerate")
    batched = seconds
    rng = np.random.default_rng(0)
    draws = rng.integers(0, len(runs), size=(1000, len(runs)))
    start = time.perf_counter()
    for index in draws:
        fit(runs.take(index), model, starts=0, extra=[result.theta])
    one_by_one = time.perf_counter() - start
    print(f"the same 1000 refits one L-BFGS-B polish each, jobs= 1: {one_by_one:6.1f} s "
          f"= {one_by_one / batched:.0f}x the batched refits on one core")
    seconds, best, starts = hoffmann_grid(runs)
    verdict = ("ours is as good or better" if result.objective <= best * (1 + 1e-9)
               else "the grid found a BETTER fit than ours")
    print(f"baseline: Hoffmann et al.'s grid, {starts} L-BFGS-B starts: {seconds:6.1f} s, "
          f"{seconds / single:.0f}x one fit; best objective {best:.12g} ({verdict})")
    without, default = whole_fit(runs)
    print(f"whole fit (fit_scenario: fit, plan, and with the bootstrap a plan per refit) "
          f"on the same runs: --bootstrap 0 {without:.2f} s; default 1000 refits "
          f"{default:.2f} s = {default / without:.1f}x (target <= 4x)")
    print(f"docs/fitting.md example (optimizer fit example_runs.csv, 1000 refits, plot): "
          f"{docs_example():.1f} s wall")
    threads(runs, model)
    in_process, command = process_and_command(runs)
    print(f"fit without bootstrap, jobs 1 (issue 17): in process {in_process * 1e3:.0f} ms; "
          f"the command line {command * 1e3:.0f} ms wall (start-up and writing included)")


def threads(runs: Runs, model) -> None:
    """One fit with BLAS held to one thread (what fit does) against the library's default
    thread pool (the fit's body called without the limit), in the same run."""
    from optimizer.fitting import fit as fitting

    timings = {}
    for label, action in (("one BLAS thread", lambda: fit(runs, model)),
                          ("default BLAS threads",
                           lambda: fitting._huber_fit(runs, model, fitting.DELTA,
                                                      fitting.STARTS, ()))):
        times, cpu = [], []
        for _ in range(5):
            start, start_cpu = time.perf_counter(), time.process_time()
            action()
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        timings[label] = (statistics.median(times), statistics.median(cpu))
    (one, one_cpu), (many, many_cpu) = timings.values()
    print(f"one fit, one BLAS thread: {one * 1e3:.0f} ms wall, {one_cpu * 1e3:.0f} ms CPU; "
          f"default BLAS threads: {many * 1e3:.0f} ms wall, {many_cpu * 1e3:.0f} ms CPU "
          f"({many / one:.1f}x the wall time)")


def process_and_command(runs: Runs) -> tuple[float, float]:
    """fit_scenario in process (warm) and `optimizer fit` as a command, both without
    bootstrap on one job."""
    from optimizer.fitting.fitted import fit_scenario

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "runs.csv"
        path.write_text("N,D,loss\n" + "".join(
            f"{n!r},{d!r},{y!r}\n" for n, d, y in zip(runs.N.tolist(), runs.D.tolist(),
                                                     runs.loss.tolist(), strict=True)))
        fit_scenario(path, samples=0, jobs=1)
        inside = []
        for _ in range(5):
            start = time.perf_counter()
            fit_scenario(path, samples=0, jobs=1)
            inside.append(time.perf_counter() - start)
        outside = []
        for _ in range(3):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "optimizer", "fit", str(path), "--bootstrap",
                            "0", "--jobs", "1", "-o", str(Path(tmp) / "fitted.yaml"),
                            "--force"], check=True, capture_output=True)
            outside.append(time.perf_counter() - start)
    return statistics.median(inside), statistics.median(outside)


def whole_fit(runs: Runs) -> tuple[float, float]:
    """Seconds of fit_scenario without bootstrap and with the default 1,000 refits."""
    from optimizer.fitting.fitted import fit_scenario

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "runs.csv"
        path.write_text("N,D,loss\n" + "".join(
            f"{n!r},{d!r},{y!r}\n" for n, d, y in zip(runs.N.tolist(), runs.D.tolist(),
                                                     runs.loss.tolist(), strict=True)))
        fit_scenario(path, samples=0)  # warm: imports and caches, as a session would
        times = []
        for samples in (0, 1000):
            start = time.perf_counter()
            fit_scenario(path, samples=samples, jobs=-1)
            times.append(time.perf_counter() - start)
    return times[0], times[1]


def docs_example() -> float:
    """Wall time of the command docs/fitting.md runs, in a fresh process."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "optimizer", "fit",
                        str(ROOT / "scenarios" / "example_runs.csv"), "--budget", "1e23",
                        "-o", str(Path(tmp) / "my_plan.yaml"), "--plot",
                        str(Path(tmp) / "fit.png")], check=True, capture_output=True)
        return time.perf_counter() - start


if __name__ == "__main__":
    main()
