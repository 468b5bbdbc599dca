"""Speed of the uncertainty analysis (issue 17). Prints its figures; asserts nothing.

* Closed form (Chinchilla at Gopher's budget, its declared spreads of E, alpha, beta):
  10,000 samples drawn, solved and certified, the committed plan's regret included, against
  raw numpy in the same run: the same normal draws and the same closed form (N*, D*, L*
  only, no certificate, no regret). Target: within 3x. Also against one solve per sample
  (the route before issue 17).

  Both sides are timed as a session calls them, ``result = f()`` again and again: each
  result lives until the next has been made. Dropping each result at once instead makes
  glibc hand the freed heap back to the system after every call (it trims when over
  128 kB sit free at the heap's top), so the next call faults it in again, page by page.
  That costs in proportion to the memory a call holds: the analysis keeps 12 columns of
  1e4 samples, raw numpy one. Both protocols are printed, with the page faults per call.
* General (Kaplan's law, a geometric program): samples per second on one core, each
  solved by Newton's method warm-started from the previous sample (continuation) or from a
  cold start, certified one by one.
"""

import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_sweep import best_of  # noqa: E402  (this folder is on the path of a script)

from optimizer import load_scenario, uncertainty  # noqa: E402
from optimizer.solvers.many import solve_points  # noqa: E402


def measure(action, keep, repeat=50):
    """(best, median) seconds of ``repeat`` calls, and the page faults per call."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    times = best_of(action, repeat, keep)
    return times, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / repeat


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

    def analysis():
        return uncertainty(gopher, samples, sobol=False)

    result = analysis()
    for keep in (True, False):
        (ours, ours_median), our_faults = measure(analysis, keep)
        if keep:
            kept = ours
        (theirs, _), their_faults = measure(raw, keep)
        how = "each result kept until the next call returns" if keep else \
            "each result dropped at once"
        print(f"closed-form uncertainty, {samples} samples (drawn, solved, certified, "
              f"regret), {how}: best {ours * 1e3:.2f} ms (median {ours_median * 1e3:.2f} ms"
              f", {our_faults:.0f} page faults a call); raw numpy, same draws and closed "
              f"form, no certificate: {theirs * 1e3:.2f} ms ({their_faults:.0f} page faults"
              f"); ours is {ours / theirs:.1f}x (target <= 3x)")
    print(f"methods {sorted(set(result.table['method']))}")
    start = time.perf_counter()
    solve_points(gopher, result.inputs, np.arange(samples), 1e-6, 1, None,
                 committed=result.nominal.allocation)
    one_by_one = time.perf_counter() - start
    print(f"the same samples, one solve each (before issue 17): {one_by_one:.2f} s = "
          f"{one_by_one / kept:.0f}x the vectorised analysis (results kept)")
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
