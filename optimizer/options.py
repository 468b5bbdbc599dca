"""Checks of the numbers a caller passes besides the scenario: tolerances, counts, workers.

Each check returns the value it was given, or raises :class:`ScenarioError` (exit 2)
naming the option as the command line spells it, so the CLI and the Python API refuse
the same values with the same words. NaN fails every check: ``nan < 1`` is false, so
each test is written to pass only a number in range.
"""

from __future__ import annotations

import math
import os

from optimizer.errors import ScenarioError
from optimizer.io.files import size


def cores() -> int:
    """The CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def max_jobs() -> int:
    """The most joblib workers accepted: eight per core, at least 16.

    More workers than that only add start-up time and memory (each worker imports
    numpy, scipy and cvxpy); a cluster is reached through joblib's backend, not
    through a larger count.
    """
    return max(16, 8 * cores())


def fraction(option: str, value: float, *, zero: bool = False, example: str = "1e-6"
             ) -> float:
    """A finite number strictly between 0 (or from 0, with ``zero``) and 1."""
    inside = (0 <= value < 1) if zero else (0 < value < 1)
    if not (isinstance(value, (int, float)) and math.isfinite(value) and inside):
        low = "0 <=" if zero else "0 <"
        raise ScenarioError(f"{option} {value!r}: give a number with {low} value < 1, "
                            f"e.g. {example}")
    return float(value)


def count(option: str, value: int, *, least: int = 0, what: str = "") -> int:
    """A whole number of at least ``least`` (how large is for :func:`fits_in_memory`)."""
    if not least <= value:
        raise ScenarioError(f"{option} {value}: give a whole number >= {least}{what}")
    return int(value)


def jobs(value: int, option: str = "--jobs") -> int:
    """Joblib workers: 1 up to :func:`max_jobs`, or -1 for every core."""
    if value == -1 or 1 <= value <= max_jobs():
        return value
    raise ScenarioError(f"{option} {value}: give a count of workers from 1 to {max_jobs()} "
                        f"(eight per core on this machine's {cores()}), or -1 for every core")


def memory() -> int:
    """Bytes this process can expect to use.

    The least of the memory available now, the cgroup's limit and the address-space
    limit, of those the system reports.
    """
    limits = []
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    limits.append(int(line.split()[1]) * 1024)
    except OSError:
        pass
    try:
        with open("/sys/fs/cgroup/memory.max") as handle:
            text = handle.read().strip()
            if text.isdigit():
                limits.append(int(text))
    except OSError:
        pass
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        if soft != resource.RLIM_INFINITY:
            limits.append(soft)
    except (ImportError, ValueError, OSError):  # pragma: no cover - not on Linux
        pass
    if not limits:
        try:
            limits.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
        except (ValueError, OSError):  # pragma: no cover
            limits.append(1 << 33)
    return min(limits)


SMALL_WORK = 64 << 20
"""Work that needs at most this much (64 MiB, about what Python and numpy take to start)
is never refused, and the system is not asked (reading /proc costs as much as a
1e4-sample analysis's arithmetic)."""


def fits_in_memory(option: str, count: int, noun: str, each: int, *, base: int = 0,
                   advice: str = "") -> None:
    """Refuse, before it starts, work that would need more than 80% of :func:`memory`.

    The work is ``count`` items of about ``each`` bytes (a measured figure, see
    ``docs/limits.md``) plus ``base``. The message says how many items would fit, and
    ``advice`` what else works.
    """
    needed = base + count * each
    if needed <= SMALL_WORK:
        return
    available = int(0.8 * memory())
    if needed > available:
        most = max(0, (available - base) // each)
        raise ScenarioError(f"{option}: {count:,} {noun} need about {size(needed)} of "
                            f"memory, more than the {size(available)} available here; at "
                            f"most about {most:,} fit"
                            + (f"; {advice}" if advice else ""))


LOAD = "load one with optimizer.load_scenario(path) or parse_scenario(mapping)"
"""How to get a Scenario, for the TypeError when something else is passed."""


def expect(value: object, kind: type, what: str, hint: str) -> None:
    """Raise a :class:`TypeError` that says what to pass, unless ``value`` is a ``kind``."""
    if not isinstance(value, kind):
        raise TypeError(f"{what} must be a {kind.__name__}, not {type(value).__name__}; "
                        f"{hint}")
