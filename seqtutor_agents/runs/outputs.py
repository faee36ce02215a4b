"""Output folders of the CLI's jobs: checked before any work, sized before they are filled.

Every failure here is a :class:`~seqtutor_agents.runs.config_args.ConfigError` -- one line naming the path
and what is wrong, exit code 2 from the CLI -- never a traceback:

* :func:`output_folder`: the folder exists or can be made, is a folder, and takes a file;
* :func:`check_budget`: the work's estimated size fits the free disk (always) and a stated bound
  (unless the user said ``--yes``), and its estimated time fits a stated bound (likewise);
* :func:`writing`: an ``OSError`` while writing (a full disk, above all) names the file;
* :func:`check_memory` and :func:`time_guard`: ``evaluate``, ``report`` and ``optimum`` refuse a job whose
  samples would not fit in memory before they start, and one that would run past :data:`TIME_BOUND`
  (unless ``--yes``) once its first batch has measured the pace.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..common.limits import available_memory
from .run_folder import ConfigError

#: Outputs above this many bytes need ``--yes``.
SIZE_BOUND = 2_000_000_000
#: Jobs estimated to take longer than this many seconds need ``--yes``.
TIME_BOUND = 30 * 60


def output_folder(path: str | os.PathLike, flag: str = "--out") -> Path:
    """``path`` as a folder that exists and takes a new file.

    :raises ConfigError: ``path`` (or a folder above it) is a file, or the folder cannot be made or
        written (read-only file system, permissions, full disk).
    """
    out = Path(path)
    for ancestor in (out, *out.parents):
        if ancestor.exists():
            if not ancestor.is_dir():
                what = "is a file" if ancestor == out else f"cannot be made: {ancestor} is a file"
                raise ConfigError(f"{flag} {out}: {what}, not a folder")
            break
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".seqtutor-probe-"):
            pass
    except OSError as exc:
        raise ConfigError(f"{flag} {out}: cannot write there ({_cause(exc, out)})") from None
    return out


def _cause(exc: OSError, path: Path) -> str:
    if exc.errno == errno.ENOSPC:
        return f"the disk is full, {free_bytes(path):,} bytes free"
    return exc.strerror or str(exc)


def free_bytes(path: Path) -> int:
    """Free bytes on the file system that holds ``path`` (or its nearest existing folder)."""
    for folder in (path, *path.parents):
        if folder.exists():
            return shutil.disk_usage(folder).free
    return shutil.disk_usage(".").free


def folder_bytes(path: Path) -> int:
    """Total size of the files under ``path``."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def check_budget(what: str, out: Path, size: float, seconds: float, yes: bool) -> None:
    """Refuse work that cannot fit.

    :param what: the job, as the message should name it (e.g. ``"100,000 melody samples"``).
    :param out: where it writes.
    :param size: estimated bytes written.
    :param seconds: estimated run time.
    :param yes: the user accepted outputs above :data:`SIZE_BOUND` and times above :data:`TIME_BOUND`.
    :raises ConfigError: the estimate exceeds the free disk, or a bound without ``yes``.
    """
    free = free_bytes(out)
    estimate = f"{what} would write about {_human(size)} to {out} and take about {_duration(seconds)}"
    if size > free:
        raise ConfigError(f"{estimate}, but only {_human(free)} is free there; write fewer or elsewhere")
    if not yes and size > SIZE_BOUND:
        raise ConfigError(f"{estimate} (over {_human(SIZE_BOUND)}); write fewer, or pass --yes")
    if not yes and seconds > TIME_BOUND:
        raise ConfigError(f"{estimate} (over {_duration(TIME_BOUND)}); ask for fewer, or pass --yes")


def episode_bytes(env_id: str, env_kwargs: dict[str, Any]) -> int:
    """Memory one finished episode takes while a job holds it (its tokens twice, its scores and info), an upper
    bound.
    """
    import gymnasium as gym

    try:
        env = gym.make(env_id, **env_kwargs)
    except (TypeError, ValueError) as exc:  # e.g. a run's damaged scoring file: named, in one line
        raise ConfigError(str(exc).split(" was raised from the environment creator")[0]) from None
    space = env.observation_space
    tokens = 64
    if isinstance(space, gym.spaces.Dict) and "tokens" in space.spaces:
        shape = space["tokens"].shape
        assert shape is not None  # the tokens are a MultiDiscrete, one entry per position: it has a shape
        tokens = shape[0]
    env.close()
    return 16 * int(tokens) + 2048


def check_memory(what: str, need: float) -> None:
    """Refuse a job that would hold more than this machine's available memory (``--yes`` does not lift it)."""
    free = available_memory()
    if need > free:
        raise ConfigError(
            f"{what} would hold about {_human(need)} in memory; {_human(free)} is available (the limit): ask for fewer"
        )


def time_guard(what: str, total: int, yes: bool) -> Callable[[int], None]:
    """A progress hook ``(done)`` that, on its first call, refuses a job projected past :data:`TIME_BOUND`.

    :param what: the job, as the message names it (e.g. ``"-n 1,000,000,000: 1,000,000,000 episodes"``).
    :param total: units of work in all; the pace is measured from the hook's creation to its first call.
    :param yes: the user accepted long jobs.
    """
    started = time.perf_counter()
    checked = [yes]

    def check(done: int) -> None:
        if checked[0] or done <= 0 or done >= total:
            return
        checked[0] = True
        seconds = (time.perf_counter() - started) / done * total
        if seconds > TIME_BOUND:
            raise ConfigError(
                f"{what} would take about {_duration(seconds)} (measured on the first {done:,}), over "
                f"{_duration(TIME_BOUND)}: ask for fewer, or pass --yes"
            )

    return check


@contextlib.contextmanager
def writing(out: Path) -> Iterator[None]:
    """Turn an ``OSError`` while writing under ``out`` into a :class:`ConfigError` naming the file."""
    try:
        yield
    except OSError as exc:
        target = Path(exc.filename) if exc.filename else out
        raise ConfigError(f"cannot write {target}: {_cause(exc, target)}") from None


def _human(size: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:,.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
