"""A pytest plugin for mutant runs: Hypothesis derandomized, with no example database.

Loaded by ``run.py``'s test command (``-p tests.mutation.plugin``). Every run of a
module's tests, unmutated or mutated, draws the same examples (each test's own fixed
seed), so a mutant is killed by what it changed and never by a lucky draw, and a test
that fails on a rare draw cannot fail the unmutated run (a random draw did, in
test_solve.py). No example database: nothing saved while one mutant was tested is
replayed against the next. A failure is reported as found, without shrinking it to a
simpler example or explaining it (seconds, and no verdict changes). The number of
examples and every other setting stay the project's.
"""

from hypothesis import Phase, settings

settings.register_profile("mutation", database=None, derandomize=True,
                          phases=(Phase.explicit, Phase.reuse, Phase.generate))
settings.load_profile("mutation")
