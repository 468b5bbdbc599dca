"""A pytest plugin for mutant runs: Hypothesis with no example database and no shrinking.

Loaded by ``run.py``'s test command (``-p tests.mutation.plugin``). Each mutant's tests
draw fresh examples, as CI's sample does: a failing example saved while one mutant was
tested is not replayed against the next, so a score does not depend on the order the
mutants ran in. A failure is reported as found, without shrinking it to a simpler
example or explaining it (which takes seconds and changes no verdict). The number of
examples and every other setting stay the project's.
"""

from hypothesis import Phase, settings

settings.register_profile("mutation", database=None,
                          phases=(Phase.explicit, Phase.reuse, Phase.generate))
settings.load_profile("mutation")
