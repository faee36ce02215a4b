"""Reading a run folder: only regular files inside it, resolved and checked, each under a size cap.

A run folder is shared like any other folder, and whatever reads it -- ``seqtutor report`` (whose
page is meant to be mailed), ``evaluate``, ``sample``, ``train --resume`` -- must not be led to read
what lies outside it: a ``config.toml`` that is a symlink to ``/proc/self/environ`` or a key file,
a ``logs`` that is a symlink to ``/``, a 60 MB ``config.toml``. Every such read goes through
:func:`run_file`: the path is resolved (symlinks followed), must stay inside the resolved run
folder, must be a regular file (no device, FIFO or folder), and must be under the cap its kind
has. Folders are walked by :func:`run_files` without following symlinks, with a cap on the files
taken. A refusal is a :class:`RunFileError` naming the file and the rule.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from ..common.limits import human_bytes, parse_json
from .run_folder import ConfigError

#: config.json, config.toml, state.json, MANIFEST.json, resume.json.
MAX_SETTINGS_BYTES = 4 * 2**20
#: progress.csv, sequences.csv (each).
MAX_LOG_BYTES = 512 * 2**20
#: progress.csv files a report reads under logs/ (one per resume).
MAX_LOG_FILES = 1_000


class RunFileError(ConfigError):
    """A file of a run folder that seqtutor will not read (outside the run, not a regular file, too large)."""


def inside(run: str | Path, path: str | Path) -> Path:
    """``path`` (relative to ``run``, or under it) resolved, checked to stay inside the resolved run folder.

    :raises RunFileError: it leads outside the run (a symlink, ``..``).
    """
    root = Path(run).resolve()
    given = Path(path) if Path(path).is_absolute() else Path(run) / path
    resolved = given.resolve()
    if resolved != root and root not in resolved.parents:
        raise RunFileError(
            f"{given} leads outside the run folder {root} (to {resolved}); seqtutor reads only "
            "files inside a run folder"
        )
    return resolved


def run_file(run: str | Path, path: str | Path, max_bytes: int | None, missing_ok: bool = False) -> Path | None:
    """The resolved path of a regular file inside ``run`` of at most ``max_bytes`` (None: no cap).

    :param missing_ok: return None when there is no such file (else refuse).
    :raises RunFileError: outside the run, not a regular file, over the cap, or missing.
    """
    resolved = inside(run, path)
    shown = Path(path) if Path(path).is_absolute() else Path(run) / path
    try:
        info = os.stat(resolved)
    except FileNotFoundError:
        if missing_ok:
            return None
        raise RunFileError(f"{shown}: no such file") from None
    except OSError as exc:
        raise RunFileError(f"{shown}: cannot read it ({exc.strerror or exc})") from None
    if not stat.S_ISREG(info.st_mode):
        raise RunFileError(f"{shown} is not a regular file; seqtutor reads only regular files of a run folder")
    if max_bytes is not None and info.st_size > max_bytes:
        raise RunFileError(
            f"{shown} is {human_bytes(info.st_size)}; seqtutor reads at most {human_bytes(max_bytes)} "
            "of such a file (the limit)"
        )
    return resolved


def read_run_bytes(run: str | Path, path: str | Path, max_bytes: int, missing_ok: bool = False) -> bytes | None:
    """The bytes of :func:`run_file` (never more than ``max_bytes``, even if the file grows meanwhile)."""
    resolved = run_file(run, path, max_bytes, missing_ok)
    if resolved is None:
        return None
    with open(resolved, "rb") as f:
        content = f.read(max_bytes + 1)
    if len(content) > max_bytes:
        raise RunFileError(f"{resolved} grew past {human_bytes(max_bytes)} while it was read (the limit)")
    return content


def read_run_text(
    run: str | Path, path: str | Path, max_bytes: int = MAX_SETTINGS_BYTES, missing_ok: bool = False
) -> str | None:
    """The UTF-8 text of :func:`run_file`."""
    content = read_run_bytes(run, path, max_bytes, missing_ok)
    if content is None:
        return None
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RunFileError(f"{Path(run) / path} is not UTF-8 text ({exc})") from None


def read_run_json(run: str | Path, path: str | Path, max_bytes: int = MAX_SETTINGS_BYTES) -> Any:
    """The JSON of :func:`run_file` (nesting Python cannot read is refused by name)."""
    text = read_run_text(run, path, max_bytes)
    assert text is not None  # read without missing_ok: a missing file raised RunFileError
    try:
        return parse_json(text, str(Path(run) / path), error=RunFileError)
    except json.JSONDecodeError as exc:
        raise RunFileError(f"{Path(run) / path} is not valid JSON ({exc})") from None


def run_files(run: str | Path, folder: str | Path, name: str, max_files: int = MAX_LOG_FILES) -> list[Path]:
    """Files called ``name`` under ``run/folder`` (sorted), walked without following symlinks.

    A symlink among them (or ``folder`` itself) that leads outside the run is refused, as is a walk
    that finds more than ``max_files``.
    """
    top = Path(run) / folder
    if not os.path.lexists(top):
        return []
    root = inside(run, folder)
    if not root.is_dir():
        raise RunFileError(f"{top} is not a folder")
    found: list[Path] = []
    for parent, _, files in os.walk(root, followlinks=False):
        for file in sorted(files):
            if file == name:
                found.append(Path(parent) / file)
                if len(found) > max_files:
                    raise RunFileError(f"{top} holds more than {max_files:,} {name} files (the limit)")
    return sorted(found)
