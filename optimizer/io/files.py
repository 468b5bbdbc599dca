"""Reading and writing the user's files safely.

Reads are bounded: only regular files, at most a stated number of bytes, so a symlink
to ``/dev/zero`` or a multi-gigabyte file is refused at once. Writes are atomic
(a temporary file beside the target, fsynced, then renamed), follow a symlink to its
target, keep the permissions a file would normally get, and never replace an input
of the same command or, without ``force``, an existing scenario.
"""

from __future__ import annotations

import os
import signal
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import BinaryIO

from optimizer.errors import ScenarioError

SCENARIO_BYTES = 256 << 10
"""Largest scenario file read (256 kiB; the bundled ones are under 3 kB)."""

RUNS_BYTES = 256 << 20
"""Largest runs or samples CSV read (256 MiB, a few million rows)."""

def read_bytes(path: str | os.PathLike[str], limit: int, what: str = "file") -> bytes:
    """The contents of the regular file ``path``, refusing more than ``limit`` bytes.

    Raises
    ------
    ScenarioError
        For a missing or unreadable file, one that is not a regular file (a
        directory, device, FIFO or socket), or one larger than ``limit``.
    """
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ScenarioError("file does not exist", str(path)) from None
    except OSError as exc:
        raise ScenarioError(f"cannot read the file ({exc.strerror})", str(path)) from None
    if not stat.S_ISREG(info.st_mode):
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise ScenarioError(f"is {kind} (a device, pipe or socket is refused too); give "
                            f"a {what}", str(path))
    if info.st_size > limit:
        raise ScenarioError(f"is {size(info.st_size)}; a {what} may be at most "
                            f"{size(limit)}", str(path))
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise ScenarioError(f"cannot read the file ({exc.strerror})", str(path)) from None
    if len(data) > limit:  # it grew since stat
        raise ScenarioError(f"is larger than {size(limit)}, the most a {what} may be",
                            str(path))
    return data


def size(count: float) -> str:
    """A byte count for people: ``256 kiB``, ``3.5 GiB``."""
    for unit, scale in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("kiB", 1 << 10)):
        if count >= scale:
            return f"{count / scale:.3g} {unit}"
    return f"{count:.0f} bytes"


def write_atomic(path: Path, text: str | bytes) -> None:
    """Write ``text`` (or bytes) to ``path`` through a temporary file and a rename.

    An interrupted write never leaves a half-written file, and an existing file of
    the same name stays intact until the new one is complete.
    """
    write_atomic_all([(path, text)])


def write_atomic_all(files: list[tuple[Path, str | bytes]]) -> None:
    """Write several files as one step: every temporary file first, then the renames.

    If any write fails, no file is replaced, so files that belong together (a scenario
    and its bootstrap samples) never mix old and new. Each temporary file is fsynced
    before its rename, so a crash cannot leave an empty file under the final name. A
    symlink is written through: its target gets the new contents, and the link stays.
    """
    staged: list[tuple[str, Path]] = []
    try:
        for path, text in files:
            target = _target(path)
            fd, tmp = _temporary(target, path)
            staged.append((tmp, target))
            with os.fdopen(fd, "wb") as handle:
                handle.write(text if isinstance(text, bytes) else text.encode("utf-8"))
                handle.flush()
                os.fsync(handle.fileno())
        for tmp, target in staged:
            os.replace(tmp, target)
        for directory in {target.parent for _, target in staged}:
            _fsync_directory(directory)
    except BaseException:
        for tmp, _ in staged:
            Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def atomic_file(path: Path) -> Iterator[BinaryIO]:
    """A binary file to stream into; it replaces ``path`` only once it is complete.

    For outputs too large to hold in memory as one string (a sweep of 1e7 points): the
    writer streams into a temporary file beside ``path``, which is fsynced and renamed
    when the block ends, and removed if it raises.
    """
    target = _target(path)
    fd, tmp = _temporary(target, path)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
        _fsync_directory(target.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _target(path: Path) -> Path:
    """The file a write to ``path`` replaces (a symlink's target), checked."""
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    if target.is_dir():
        raise ScenarioError("is a directory; give a file name", str(path))
    if not target.parent.is_dir():
        raise ScenarioError(f"directory {target.parent} does not exist", str(path))
    return target


def _temporary(target: Path, path: Path) -> tuple[int, str]:
    """A temporary file beside ``target``, with the permissions ``target`` would get."""
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.",
                                   suffix=".tmp")
    except OSError as exc:
        raise ScenarioError(f"cannot write here ({exc.strerror})", str(path)) from None
    os.fchmod(fd, _mode_for(target))
    return fd, tmp


def _fsync_directory(directory: Path) -> None:
    """Make the renames durable (best effort: some file systems refuse it)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _mode_for(path: Path) -> int:
    """Permissions for a file written to ``path``.

    Those of the file it replaces, else what an ordinary write gives under the user's
    umask: ``mkstemp`` alone gives 0600, which colleagues sharing a folder cannot read.
    """
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        mask = os.umask(0)  # reading the umask means setting it; put it straight back
        os.umask(mask)
        return 0o666 & ~mask


def exit_on_sigterm() -> None:
    """Turn SIGTERM into ``SystemExit(143)``, so writes in progress clean up after themselves.

    By default SIGTERM ends the process at once, leaving a write's temporary file
    behind; raised as an exception, it unwinds through :func:`write_atomic_all`, which
    deletes its temporary files.
    """
    def handler(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)
