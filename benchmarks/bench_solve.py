"""Speed of the core planner. Prints its figures; asserts nothing (machines are noisy).

Figures (issue 2, section 10; issue 16):
* wall time of ``optimizer solve`` per bundled scenario, Python start-up included, as a
  ratio to ``python -c "import numpy"`` measured in the same run (issue 16 targets:
  ``default.yaml`` within 5x, the GP scenario ``kaplan.yaml`` within 12x);
* whether the closed-form path imports cvxpy (it must not);
* an in-process GP solve with its certificate: the first (building the cvxpy problem) and
  warm re-solves of the cached parametrised problem (target < 10 ms);
* an in-process closed-form solve with its certificate;
* (issue 3) the multi-start scipy solve of the data-constrained law, and the
  epsilon-optimal band, in process. The CLI wall times above leave the band out (it is
  opt-in: ``--band``).
"""

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def wall(args, repeat=5):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(args, cwd=ROOT, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    python = wall([sys.executable, "-c", "pass"])
    numpy = wall([sys.executable, "-c", "import numpy"])
    print(f"python -c pass (start-up baseline): {python * 1e3:7.0f} ms")
    print(f"python -c 'import numpy' (issue 16 baseline): {numpy * 1e3:7.0f} ms")
    targets = {"default.yaml": 5, "kaplan.yaml": 12}  # issue 16: closed form; a GP
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        seconds = wall([sys.executable, "-m", "optimizer", "solve", str(path)])
        target = (f"; target <= {targets[path.name]}x" if path.name in targets else "")
        print(f"optimizer solve {path.name:24s} {seconds * 1e3:7.0f} ms wall "
              f"({seconds / numpy:4.1f}x import numpy{target})")
    probe = ("import sys; from optimizer import load_scenario, solve; "
             "solve(load_scenario('scenarios/default.yaml')); print('cvxpy' in sys.modules)")
    imported = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
    print(f"closed-form path imports cvxpy: {imported}")

    from optimizer import load_scenario, solve

    for name in ("kaplan.yaml", "memory_capped.yaml"):
        s = load_scenario(ROOT / "scenarios" / name)
        start = time.perf_counter()
        solve(s, method="gp")
        first = time.perf_counter() - start
        runs = []
        for _ in range(200):
            start = time.perf_counter()
            plan = solve(s, method="gp")
            runs.append(time.perf_counter() - start)
        assert plan.certificate.optimal
        print(f"in-process GP solve + certificate, {name:20s} first {first * 1e3:6.1f} ms "
              f"(incl. cvxpy import/compile), warm median {statistics.median(runs) * 1e3:5.2f} ms "
              f"(target < 10 ms)")
    s = load_scenario(ROOT / "scenarios" / "chinchilla_gopher.yaml")
    runs = []
    for _ in range(2000):
        start = time.perf_counter()
        solve(s)
        runs.append(time.perf_counter() - start)
    median = statistics.median(runs) * 1e6
    print(f"in-process closed-form solve + certificate: median {median:.0f} us")

    from optimizer.analysis.findings import band

    for name in ("data_limited.yaml", "chinchilla_gopher.yaml", "inference_product.yaml"):
        s = load_scenario(ROOT / "scenarios" / name)
        runs, bands = [], []
        for _ in range(20):
            start = time.perf_counter()
            plan = solve(s)
            runs.append(time.perf_counter() - start)
            start = time.perf_counter()
            band(plan)
            bands.append(time.perf_counter() - start)
        print(f"in-process {name:24s} solve ({plan.method}) median "
              f"{statistics.median(runs) * 1e3:6.1f} ms; epsilon band median "
              f"{statistics.median(bands) * 1e3:6.1f} ms")


if __name__ == "__main__":
    main()
