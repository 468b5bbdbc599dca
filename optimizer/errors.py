"""Typed errors, one per broken rule, each with the exit code the CLI uses.

Exit codes are a contract (see ``docs/cli.md``):

====  =====================================================================
code  meaning
====  =====================================================================
0     success (for ``check``: the plan is optimal)
1     ``check`` only: the proposed plan is feasible but not optimal
2     bad input: a scenario or an argument is malformed or meaningless
3     the problem has no optimal plan: infeasible, or unbounded
4     every solver failed on a well-posed problem
====  =====================================================================
"""

from __future__ import annotations

MAX_SHOWN = 20
"""Most problems a message lists; a file with thousands of bad keys gets a count."""


class OptimizerError(Exception):
    """Base class of every error this package raises on purpose."""

    exit_code = 1


class ScenarioError(OptimizerError):
    """A scenario file, or a command-line value, is malformed or meaningless.

    Parameters
    ----------
    problems : list of str
        One line per problem found, each naming the field path, the bad value and
        what to write instead. All problems are reported at once.
    source : str, optional
        The file the problems are in, prefixed to the message.
    """

    exit_code = 2

    def __init__(self, problems: list[str] | str, source: str | None = None):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        self.source = source
        head = f"{source}: " if source else ""
        if len(self.problems) == 1:
            message = head + self.problems[0]
        else:
            count = f"{len(self.problems)} problems"
            shown = self.problems[:MAX_SHOWN]
            more = len(self.problems) - len(shown)
            message = (head + count + "\n" + "\n".join(f"  - {p}" for p in shown)
                       + (f"\n  ... and {more} more" if more else ""))
        super().__init__(message)


class InfeasibleError(OptimizerError):
    """No plan satisfies the scenario's bounds, budget and target together."""

    exit_code = 3


class UnboundedError(OptimizerError):
    """The objective improves without limit, so no optimal plan exists."""

    exit_code = 3


class SolverError(OptimizerError):
    """Every solver tried failed on a problem that should be solvable.

    ``certificate`` is the certificate of the closest point found, when there was one.
    """

    exit_code = 4

    def __init__(self, message: str, certificate: object = None):
        super().__init__(message)
        self.certificate = certificate
