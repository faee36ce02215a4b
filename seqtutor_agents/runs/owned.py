"""What seqtutor owns on disk: it replaces or deletes only paths it wrote itself.

Every writer of the command line asks this module before it replaces or deletes anything:

* **Output files** (a report page, a π* CSV, ``evaluation.md`` / ``.json``, a set of samples) are
  recorded, with their size and SHA-256, in ``.seqtutor-outputs.json`` in the folder they are
  written to. A path may be written when nothing is there, or when the manifest lists it and the
  file still has the recorded checksum. Anything else -- a run's ``model.zip``, a file of another
  program, a file edited since, a device such as ``/dev/null``, a symlink, a folder -- is refused
  before any work, naming the path and why (:meth:`Outputs.check`).
* **Sample sets** are written to a hidden staging folder first, then published: the files of the
  folder's earlier sample set that are still as seqtutor wrote them are removed, the new ones
  moved in, the manifest updated (:meth:`Outputs.publish_set`). A folder never holds 10 MIDI files
  beside a 3-row ``samples.csv``.
* **Run folders** carry ``.seqtutor-run.json`` (written when ``train`` starts a run).
  ``train --overwrite`` deletes a run's entries (``config.json``, ``model.zip``, ``logs/``,
  ``checkpoints/`` ...) only in a folder that has it, or, for runs of earlier releases, a
  ``config.json`` that is a seqtutor run's (:func:`check_run_owned`); symlinks among them are
  unlinked, never followed.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import time
import warnings
from pathlib import Path
from typing import Any

from seqtutor_envs.io import atomic_write_text, pid_alive, sweep_stale_temps

from .run_folder import ConfigError, _sha256

OUTPUTS_MANIFEST = ".seqtutor-outputs.json"
MANIFEST_FORMAT = "seqtutor-outputs/1"
STAGING_PREFIX = ".seqtutor-staging-"
RUN_MARKER = ".seqtutor-run.json"
#: What ``train`` writes in a run folder (and ``--overwrite`` may delete).
# scoring.toml / scoring.json / stages.json: a --scoring run's copy of its scoring file and its stage log
# (seqtutor_agents.runs.scoring_run.RUN_FILES; a test keeps the two in step).
RUN_ENTRIES = (
    "config.json",
    "config.toml",
    "model.zip",
    "sequences.csv",
    "checkpoints",
    "logs",
    "scoring.toml",
    "scoring.json",
    "stages.json",
)

_KINDS = (
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
)


def _what(mode: int) -> str | None:
    return next((name for test, name in _KINDS if test(mode)), None)


class Outputs:
    """The files seqtutor wrote in ``folder`` (its ``.seqtutor-outputs.json``), and the rule that guards them.

    :param folder: the output folder (it must exist: see :func:`seqtutor_agents.runs.outputs.output_folder`).
    :param flag: the option that named the output, for messages.
    """

    def __init__(self, folder: str | os.PathLike, flag: str = "--out") -> None:
        self.folder, self.flag = Path(folder), flag
        self.path = self.folder / OUTPUTS_MANIFEST

    # ------------------------------------------------------------------ the manifest
    def files(self) -> dict[str, dict[str, Any]]:
        """The manifest's entries (name -> size, SHA-256, kind); empty when there is none."""
        if not os.path.lexists(self.path):
            return {}
        info = os.lstat(self.path)
        try:
            data = json.loads(self.path.read_text(encoding="utf-8")) if stat.S_ISREG(info.st_mode) else None
        except (OSError, ValueError, RecursionError):
            data = None
        if (
            not isinstance(data, dict)
            or data.get("format") != MANIFEST_FORMAT
            or not isinstance(data.get("files"), dict)
        ):
            raise ConfigError(
                f"{self.path} is not a seqtutor outputs manifest; seqtutor will not replace it "
                "(move it away, or write elsewhere)"
            )
        return {k: v for k, v in data["files"].items() if isinstance(v, dict)}

    def _save(self, files: dict[str, dict[str, Any]]) -> None:
        atomic_write_text(self.path, json.dumps({"format": MANIFEST_FORMAT, "files": files}, indent=1) + "\n")

    # ------------------------------------------------------------------ the rule
    def reason(self, name: str, files: dict[str, dict[str, Any]] | None = None) -> str | None:
        """Why ``name`` may not be replaced (None: it may; nothing is there, or seqtutor wrote it as it is)."""
        path = self.folder / name
        if not os.path.lexists(path):
            return None
        info = os.lstat(path)
        kind = _what(info.st_mode)
        if kind is not None:
            return f"is {kind}, not a file seqtutor wrote"
        entry = (self.files() if files is None else files).get(name)
        if entry is None:
            return f"was not written by seqtutor (it is not listed in {self.path})"
        if entry.get("bytes") != info.st_size or entry.get("sha256") != _sha256(path):
            return "has changed since seqtutor wrote it"
        return None

    def check(self, *names: str) -> None:
        """Refuse, before any work, to replace what seqtutor does not own.

        :raises ConfigError: naming the path and why.
        """
        files = self.files()
        for name in names:
            reason = self.reason(name, files)
            if reason is not None:
                raise ConfigError(
                    f"{self.flag} {self.folder / name} {reason}; seqtutor replaces only files it "
                    "wrote itself: give a new file name, or move that one away"
                )

    def sweep(self, *targets: str) -> None:
        """Remove what killed seqtutor writers left here: temp files and staging folders of gone processes."""
        sweep_stale_temps(self.folder, targets)
        for staging in self.folder.glob(f"{STAGING_PREFIX}*"):
            pid = staging.name[len(STAGING_PREFIX) :]
            if pid.isdigit() and not pid_alive(int(pid)) and staging.is_dir() and not staging.is_symlink():
                shutil.rmtree(staging, ignore_errors=True)

    # ------------------------------------------------------------------ writing
    def write_text(self, name: str, text: str, kind: str) -> Path:
        """Write ``name`` (checked again just before) and record it."""
        files = self.files()
        self.check(name)
        path = atomic_write_text(self.folder / name, text)
        files[name] = _entry(path, kind)
        self._save(files)
        return path

    def staging(self) -> Path:
        """A fresh hidden folder for a set of outputs, published by :meth:`publish_set`."""
        path = self.folder / f"{STAGING_PREFIX}{os.getpid()}"
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir()
        return path

    def publish_set(self, staging: Path, kind: str) -> list[str]:
        """Replace the folder's earlier set of ``kind`` by the files in ``staging``; returns their names.

        Files of the earlier set that were edited since seqtutor wrote them are left where they are
        (and no longer listed), with a warning.
        """
        staged = sorted(p.relative_to(staging).as_posix() for p in staging.rglob("*") if p.is_file())
        files = self.files()
        self.check(*staged)
        for name, entry in list(files.items()):
            if entry.get("kind") != kind or name in staged:
                continue
            if self.reason(name, files) is None and os.path.lexists(self.folder / name):
                (self.folder / name).unlink()
            elif os.path.lexists(self.folder / name):
                warnings.warn(
                    f"{self.folder / name} belongs to an earlier {kind} set but changed since seqtutor "
                    "wrote it: left as it is",
                    stacklevel=2,
                )
            del files[name]
        for name in staged:
            target = self.folder / name
            target.parent.mkdir(parents=True, exist_ok=True)
            files[name] = _entry(staging / name, kind)
            os.replace(staging / name, target)
        self._save(files)
        shutil.rmtree(staging, ignore_errors=True)
        return staged


def _entry(path: Path, kind: str) -> dict[str, Any]:
    return {"bytes": path.stat().st_size, "sha256": _sha256(path), "kind": kind, "time": time.time()}


def check_output_file(path: str | os.PathLike, flag: str = "--out") -> tuple[Outputs, str]:
    """``(Outputs of its folder, file name)`` for a one-file output, refused now if it may not be replaced."""
    path = Path(path)
    outputs = Outputs(path.parent, flag)
    outputs.check(path.name)
    outputs.sweep(path.name)
    return outputs, path.name


# ---------------------------------------------------------------------------- run folders
def mark_run(out: Path) -> None:
    """Mark ``out`` as a seqtutor run folder (done once, when ``train`` starts a run)."""
    atomic_write_text(
        out / RUN_MARKER,
        json.dumps({"format": 1, "created": time.time(), "entries": list(RUN_ENTRIES)}, indent=1) + "\n",
    )


def is_seqtutor_run(out: Path) -> bool:
    """``out`` holds a seqtutor run: its marker, or (runs of earlier releases) a seqtutor ``config.json``."""
    for name, test in (
        (RUN_MARKER, lambda d: d.get("format") == 1),
        (
            "config.json",
            lambda d: (
                isinstance(d.get("resolved"), dict)
                and "algo_class" in d["resolved"]
                and {"env_id", "algo", "out"} <= set(d)
            ),
        ),
    ):
        path = out / name
        try:
            if not stat.S_ISREG(os.lstat(path).st_mode) or os.lstat(path).st_size > 4 * 2**20:
                continue
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            continue
        if isinstance(data, dict) and test(data):
            return True
    return False


def run_entries(out: Path) -> list[str]:
    """The run entries present in ``out``."""
    return [name for name in RUN_ENTRIES if os.path.lexists(out / name)]


def check_run_owned(out: Path, flag: str = "--out") -> None:
    """Refuse to treat ``out`` as a run when it holds run entries but is not a seqtutor run."""
    present = run_entries(out)
    if present and not is_seqtutor_run(out):
        shown = ", ".join(n + ("/" if (out / n).is_dir() else "") for n in present)
        raise ConfigError(
            f"{flag} {out} holds {shown}, which seqtutor did not write ({out} has no {RUN_MARKER} and "
            "no seqtutor config.json); seqtutor deletes or replaces only its own runs' files: "
            "choose another --out"
        )


def remove_run(out: Path) -> None:
    """Delete a seqtutor run's entries (after :func:`check_run_owned`); a symlink is unlinked, never followed."""
    for name in run_entries(out):
        path = out / name
        mode = os.lstat(path).st_mode
        if stat.S_ISDIR(mode):
            shutil.rmtree(path)
        elif stat.S_ISREG(mode) or stat.S_ISLNK(mode):
            path.unlink()
        else:
            raise ConfigError(f"--overwrite: {path} is {_what(mode)}, not a file of a run; seqtutor leaves it alone")
