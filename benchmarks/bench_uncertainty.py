"""Speed of the uncertainty analysis (issue 17). Prints its figures; asserts nothing.

* Closed form (Chinchilla at Gopher's budget, its declared spreads of E, alpha, beta):
  10,000 samples drawn, solved and certified, the committed plan's regret included, against
  raw numpy in the same run: the same normal draws and the same closed form (N*, D*, L*
  only, no certificate, no regret). Target: within 3x. Also against one solve per sample
  (the route before issue 17).
* General (Kaplan's law, a geometric program): samples per second on one core, each
  solved by Newton's method warm-started from the previous sample (continuation) or from a
  cold start, certified one by one.
"""

import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_sweep import best_of  # noqa: E402  (this folder is on the path of a script)

from optimizer import load_scenario, uncertainty  # noqa: E402
from optimizer.solvers.many import solve_points  # noqa: E402


def main(samples: int = 10_000):
    gopher = load_scenario(ROOT / "scenarios" / "chinchilla_gopher.yaml")
    spread = gopher.uncertainty.fields  # type: ignore[union-attr]
    law = gopher.law
    uncertainty(gopher, 100, sobol=False)  # imports and caches, as a session would

    def raw():
        rng = np.random.default_rng(0)
        E = spread["law.E"].mean + spread["law.E"].sd * rng.standard_normal(samples)
        a = spread["law.alpha"].mean + spread["law.alpha"].sd * rng.standard_normal(samples)
        b = spread["law.beta"].mean + spread["law.beta"].sd * rng.standard_normal(samples)
        C = gopher.objective.budget  # type: ignore[union-attr]
        G = (a * law.A / (b * law.B)) ** (1 / (a + b))
        N = G * (C / 6) ** (b / (a + b))
        D = (C / 6) ** (a / (a + b)) / G
        return E + law.A * N ** -a + law.B * D ** -b

    ours, ours_median = best_of(lambda: uncertainty(gopher, samples, sobol=False), 20)
    theirs, _ = best_of(raw, 20)
    result = uncertainty(gopher, samples, sobol=False)
    print(f"closed-form uncertainty, {samples} samples (drawn, solved, certified, regret): "
          f"best {ours * 1e3:.2f} ms (median {ours_median * 1e3:.2f} ms); raw numpy, same "
          f"draws and closed form, no certificate: {theirs * 1e3:.2f} ms; ours is "
          f"{ours / theirs:.1f}x (target <= 3x); methods {sorted(set(result.table['method']))}")
    start = time.perf_counter()
    solve_points(gopher, result.inputs, np.arange(samples), 1e-6, 1, None,
                 committed=result.nominal.allocation)
    one_by_one = time.perf_counter() - start
    print(f"the same samples, one solve each (before issue 17): {one_by_one:.2f} s = "
          f"{one_by_one / ours:.0f}x the vectorised analysis")
    kaplan = load_scenario(ROOT / "scenarios" / "kaplan.yaml")
    uncertainty(kaplan, 20, sobol=False)
    start = time.perf_counter()
    found = uncertainty(kaplan, 2000, sobol=False)
    seconds = time.perf_counter() - start
    methods = {m: int(np.sum(found.table["method"] == m)) for m in set(found.table["method"])}
    print(f"general uncertainty, kaplan.yaml, 2000 samples, one core: "
          f"{2000 / seconds:.0f} certified samples/s; methods {methods}")


if __name__ == "__main__":
    main()
