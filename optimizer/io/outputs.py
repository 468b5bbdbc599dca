"""Where a command will write, checked before it does any work.

An output must not be one of the command's inputs (not even with ``--force``), nor a
directory, nor an existing scenario unless ``--force`` says to replace it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from optimizer.errors import ScenarioError
from optimizer.io.documents import read_mapping


def check_outputs(outputs: Sequence[tuple[str, Path]], inputs: Sequence[Path] = (),
                  *, force: bool = False, replaces_scenarios: bool = False) -> None:
    """Refuse, before any work, outputs that would lose something the user had.

    Parameters
    ----------
    outputs : sequence of (option, path)
        Each file the command will write, with the option that named it.
    inputs : sequence of Path
        The files the command reads: an output may never be one of them.
    force : bool
        Allow replacing an existing scenario file.
    replaces_scenarios : bool
        The outputs are scenarios (``fit -o``): then any existing file needs ``force``.

    Raises
    ------
    ScenarioError
        For an output that is a directory, lies in a missing or read-only directory, is
        one of the inputs (or another output), or is an existing scenario without
        ``force``.
    """
    problems: list[str] = []
    seen: dict[str, str] = {}
    for option, path in outputs:
        where = f"{option} {str(path)!r}"
        if path.is_dir():
            problems.append(f"{where} is a directory; give a file name")
            continue
        if not path.resolve().parent.is_dir():
            problems.append(f"{where}: directory {path.parent} does not exist")
            continue
        if not os.access(path.resolve().parent, os.W_OK | os.X_OK):
            problems.append(f"{where}: directory {path.parent} is not writable")
            continue
        same = [str(i) for i in inputs if _same_file(path, i)]
        if same:
            problems.append(f"{where} is this command's input {same[0]}; writing there "
                            "would replace it: choose another name")
            continue
        key = os.path.realpath(path)
        if key in seen:
            problems.append(f"{where} is also {seen[key]}; give each output its own name")
            continue
        seen[key] = where
        if force or not path.exists():
            continue
        if replaces_scenarios or _is_scenario(path):
            what = "exists" if replaces_scenarios else "exists and is a scenario"
            problems.append(f"{where} {what}; give --force to replace it, or choose another "
                            "name")
    if problems:
        raise ScenarioError(problems)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist yet
        return os.path.realpath(a) == os.path.realpath(b)


def _is_scenario(path: Path) -> bool:
    """Whether the existing file at ``path`` reads as a scenario (has law and objective).

    A file of another type, too large or unparsable is not one: ``read_mapping`` refuses
    it before reading much.
    """
    try:
        data = read_mapping(path)
    except ScenarioError:
        return False
    return "law" in data and "objective" in data
