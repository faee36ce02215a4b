"""Atomic file writes: the one helper every seqtutor writer goes through.

A reader (or a run killed half-way through a write) must never see half a file: priors, models,
checkpoints, configs, MIDI/WAV files, corpora and benchmark results are all written to a
temporary file in the destination folder, flushed to disk, then renamed over the destination
(``os.replace`` is atomic on POSIX and Windows).

A temporary file is named ``.<name>.seqtutor-<pid>-<random><suffix>``: a writer killed before its
rename (``kill -9``) leaves one behind, and :func:`sweep_stale_temps` -- called by the jobs at
start -- removes those whose process is gone, never another live writer's, never a file of another
program.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

_TEMP = re.compile(r"^\.(?P<name>.+)\.seqtutor-(?P<pid>\d+)-[a-z0-9_]{8}")
#: Temp files of releases before the pid was in their name: ``.<name>.<random>.tmp``, swept by target name and age.
_LEGACY_TEMP = re.compile(r"^\.(?P<name>.+)\.[a-z0-9_]{8}\.tmp$")
LEGACY_TEMP_AGE = 600


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()  # read once at import: os.umask can only be read by setting it


def atomic_write(path: str | os.PathLike, write: Callable[[str], object], suffix: str = ".tmp") -> Path:
    """Write ``path`` through a temporary file in the same folder, then rename it into place.

    :param path: destination file (parent folders are created).
    :param write: writes the content to the temporary file *name* it is given (so library writers
        that take a path, such as ``torch.save``, ``PrettyMIDI.write`` or ``savefig``, fit directly).
    :param suffix: suffix of the temporary file (some writers pick the format from it).
    :return: the destination path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.seqtutor-{os.getpid()}-", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        write(tmp_name)
        with open(tmp_name, "rb+") as f:  # the data must be on disk before the rename makes it visible
            os.fsync(f.fileno())
        os.chmod(tmp_name, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp_name, path)
    except BaseException as exc:
        Path(tmp_name).unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.filename is None:
            exc.filename = str(path)  # a failed write() names no file; name the one being written
        raise
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return atomic_write(path, lambda name: Path(name).write_bytes(data))


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically."""
    return atomic_write(path, lambda name: Path(name).write_text(text, encoding=encoding))


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    except OverflowError:
        return False
    return True


def sweep_stale_temps(folder: str | os.PathLike, targets: tuple[str, ...] = ()) -> list[Path]:
    """Remove the temporary files of :func:`atomic_write` in ``folder`` whose writer is gone; returns them.

    :param targets: file names this job writes there: the unnamed temp files of older releases for
        them (``.<target>.<random>.tmp``) are removed too once older than :data:`LEGACY_TEMP_AGE` seconds.
    """
    folder = Path(folder)
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        if not entry.name.startswith(".") or not entry.is_file(follow_symlinks=False):
            continue
        match = _TEMP.match(entry.name)
        legacy = _LEGACY_TEMP.match(entry.name)
        stale = (match is not None and not pid_alive(int(match["pid"]))) or (
            legacy is not None
            and legacy["name"] in targets
            and now - entry.stat(follow_symlinks=False).st_mtime > LEGACY_TEMP_AGE
        )
        if stale:
            try:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
            except OSError:
                pass
    return removed
