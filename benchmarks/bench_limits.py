"""Time and memory at the limits of docs/limits.md. Prints its figures; asserts nothing.

Each case runs the command line in a fresh process, as a user would, and reports its
wall time and peak resident memory (the child's ``ru_maxrss``):
* a scenario of 20,000 keys within the size cap, refused (validation is linear in the file);
* a sweep of 1e9 points, refused before any work (the memory estimate);
* a sweep of 1e6 budgets written to CSV, and one of 1e7 budgets to Parquet;
* a fit to 1e6 runs without bootstrap.
"""

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
GOPHER = ROOT / "scenarios" / "chinchilla_gopher.yaml"


WRAPPER = """
import resource, subprocess, sys
code = subprocess.run(sys.argv[1:], capture_output=True).returncode
print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""
"""Runs one command and prints its exit code and peak RSS (kB): one case per wrapper, so
each case's peak is its own."""


def measure(label: str, *args: str) -> None:
    """Run ``optimizer *args`` in a fresh process; print wall time, exit code, peak RSS."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", WRAPPER, sys.executable, "-m", "optimizer",
                           *args], capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - start
    code, peak = done.stdout.split()
    print(f"{label}: {seconds:.2f} s wall, exit {code}, {int(peak) / 2**20:.2f} GB peak")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        keys = Path(tmp) / "keys.yaml"
        keys.write_text("".join(f"k{i:x}: {i % 10}\n" for i in range(20_000)))
        measure(f"scenario of 20,000 keys ({keys.stat().st_size / 1e3:.0f} kB), refused",
                "solve", str(keys))
        measure("sweep of 1e9 points, refused before any work", "sweep", str(GOPHER),
                "--vary", "objective.budget=1e19:1e25:log:1e9", "-o", f"{tmp}/huge.csv")
        measure("sweep of 1e6 budgets to CSV", "sweep", str(GOPHER), "--vary",
                "objective.budget=1e19:1e25:log:1e6", "-o", f"{tmp}/frontier.csv", "--no-band")
        measure("sweep of 1e7 budgets to Parquet", "sweep", str(GOPHER), "--vary",
                "objective.budget=1e19:1e25:log:1e7", "-o", f"{tmp}/frontier.parquet",
                "--no-band")
        rng = np.random.default_rng(0)
        N = np.exp(rng.uniform(np.log(1e7), np.log(1e10), 1_000_000))
        D = N * np.exp(rng.uniform(np.log(5), np.log(200), N.size))
        loss = (1.82 + 482 / N**0.348 + 2085 / D**0.366) * np.exp(0.01 * rng.normal(size=N.size))
        runs = Path(tmp) / "runs.csv"
        np.savetxt(runs, np.column_stack([N, D, loss]), delimiter=",", header="N,D,loss",
                   comments="", fmt="%.9g")
        measure("fit to 1e6 runs, no bootstrap", "fit", str(runs), "--bootstrap", "0",
                "-o", f"{tmp}/fitted.yaml")


if __name__ == "__main__":
    main()
