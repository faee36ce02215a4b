"""A run folder that no accident can leave half-written: one writer at a time, whole checkpoints, clean stops.

* :class:`RunLock`: ``seqtutor train`` holds an exclusive ``flock`` on ``<run>/.seqtutor.lock`` for as
  long as it writes the run; a second one on the same folder is refused at once, naming the holder's
  pid. The kernel drops the lock when the holder dies, however it dies.
* Checkpoints as units: :func:`write_checkpoint` writes the model (weights and optimiser), the replay
  buffer or the learner's own memory (``checkpoint_arrays``), ``state.json`` and last a
  ``MANIFEST.json`` (the step, each file's size and SHA-256) into a hidden ``.partial-*`` folder, then
  publishes it with one atomic rename as ``checkpoints/ckpt-<step>-<n>``. A reader sees a whole
  checkpoint or none. The two newest are kept. :func:`latest_checkpoint` verifies a checkpoint
  against its manifest and falls back, saying so, to the previous whole one when the newest is
  damaged; it refuses, by name, a folder whose files disagree on the step.
* A full disk (or any ``OSError``) while writing a checkpoint or the final model raises
  :class:`RunWriteError` naming the path, the free space and the checkpoint that is still whole; the
  partial folder is removed. :func:`clean_stale_files` removes what killed writers left behind.
* :class:`StopOnSignal`: SIGINT/SIGTERM during training ask the learner to stop after the current
  step (a second Ctrl-C aborts at once); the training module then writes a final checkpoint.

``write_hook`` is a fault-injection point for tests: it is called with the name of each write point
(``"model"``, ``"replay_buffer"``, ``"arrays"``, ``"state"``, ``"manifest"``, ``"publish"``,
``"final_model"``) just before that write.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import shutil
import signal
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

CHECKPOINTS = "checkpoints"
LOCK_FILE = ".seqtutor.lock"
MANIFEST = "MANIFEST.json"
STATE = "state.json"
MODEL_FILE = "model.zip"
REPLAY_BUFFER_FILE = "replay_buffer.npz"
ARRAYS_FILE = "learner_state.npz"
CHECKPOINT_PREFIX = "ckpt-"
PARTIAL_PREFIX = ".partial-"
KEEP_CHECKPOINTS = 2

#: Fault-injection point for tests (see the module docstring).
write_hook: Callable[[str, Path], None] | None = None


class ConfigError(ValueError):
    """A bad training setting or a run folder that cannot be used as asked (the CLI prints it and exits 2)."""


class RunWriteError(ConfigError):
    """A run's file could not be written (disk full, read-only, ...); the message names the path and what is intact."""


class RunLockedError(ConfigError):
    """Another process is writing this run folder."""


class TrainingInterrupted(Exception):
    """Training stopped on a signal after writing a final checkpoint.

    :param signum: the signal.
    :param step: env steps done.
    :param checkpoint: the checkpoint written at the stop.
    """

    def __init__(self, signum: int, step: int, checkpoint: Path, out: Path) -> None:
        self.signum, self.step, self.checkpoint, self.out = signum, step, checkpoint, out
        super().__init__(
            f"training stopped by {signal.Signals(signum).name} at env step {step:,}; "
            f"checkpoint {checkpoint} is whole. "
            f"Continue with: seqtutor train --out {out} --resume"
        )


# ---------------------------------------------------------------------------- one writer at a time
class RunLock:
    """An exclusive, non-blocking ``flock`` on ``<run>/.seqtutor.lock`` (a context manager).

    :param out: the run folder (created if missing).
    """

    def __init__(self, out: str | Path) -> None:
        self.out = Path(out)
        self.path = self.out / LOCK_FILE
        self._file: io.TextIOWrapper | None = None

    def acquire(self) -> RunLock:
        import fcntl

        try:
            self.out.mkdir(parents=True, exist_ok=True)
            # not a with-block: the handle outlives this method, holding the flock until release() closes it
            handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            raise RunWriteError(f"cannot write to the run folder {self.out}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                handle.close()
                raise RunWriteError(f"cannot lock the run folder {self.out}: {exc.strerror or exc}") from None
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise RunLockedError(
                f"{self.out} is being written by another seqtutor process (pid {holder}, lock {self.path}); "
                "wait for it to finish or use another --out"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._file = handle
        return self

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing the descriptor drops the flock
            self._file = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


# ---------------------------------------------------------------------------- writing
def before_write(point: str, path: Path) -> None:
    """Call the test hook (if any) before the write ``point`` of ``path``."""
    if write_hook is not None:
        write_hook(point, path)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_failure(path: Path, exc: OSError, intact: str) -> RunWriteError:
    """A :class:`RunWriteError` naming ``path``, the cause (free space for a full disk) and what is intact."""
    if exc.errno == errno.ENOSPC:
        try:
            free = shutil.disk_usage(path.parent if path.parent.exists() else path.parent.parent).free
            cause = f"the disk is full ({free:,} bytes free)"
        except OSError:
            cause = "the disk is full"
    else:
        cause = exc.strerror or str(exc)
    return RunWriteError(f"cannot write {path}: {cause}; {intact}")


def checkpoint_dir(out: str | Path) -> Path:
    return Path(out) / CHECKPOINTS


def write_checkpoint(
    model: Any, out: str | Path, keep: int = KEEP_CHECKPOINTS, logs: dict[str, Any] | None = None
) -> Path:
    """Write ``model``'s whole training state as one checkpoint and publish it atomically; returns its folder.

    :param logs: what the run's logs held when the checkpoint was taken (file name -> bytes,
        SHA-256, ...), kept in ``state.json``: a resume cuts each log back to it.

    :raises RunWriteError: a file could not be written (the partial folder is removed; older
        checkpoints are untouched).
    """
    from ..common.safe_load import save_model, save_replay_buffer

    folder = checkpoint_dir(out)
    step = int(model.num_timesteps)
    previous = list_checkpoints(out)
    partial = folder / f"{PARTIAL_PREFIX}{step:012d}-{os.getpid()}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        files = [MODEL_FILE]
        before_write("model", partial / MODEL_FILE)
        save_model(model, partial / MODEL_FILE)
        if getattr(model, "replay_buffer", None) is not None:
            before_write("replay_buffer", partial / REPLAY_BUFFER_FILE)
            save_replay_buffer(model, partial / REPLAY_BUFFER_FILE)
            files.append(REPLAY_BUFFER_FILE)
        arrays = model.checkpoint_arrays() if hasattr(model, "checkpoint_arrays") else None
        if arrays:
            before_write("arrays", partial / ARRAYS_FILE)
            stream = io.BytesIO()
            np.savez(stream, **arrays)
            (partial / ARRAYS_FILE).write_bytes(stream.getvalue())
            files.append(ARRAYS_FILE)
        before_write("state", partial / STATE)
        (partial / STATE).write_text(
            json.dumps(
                {"num_timesteps": step, "time": time.time(), "algorithm": type(model).__name__, "logs": logs or {}}
            )
            + "\n"
        )
        files.append(STATE)
        manifest = {
            "format": 1,
            "step": step,
            "algorithm": type(model).__name__,
            "files": {
                name: {"bytes": (partial / name).stat().st_size, "sha256": _sha256(partial / name)} for name in files
            },
        }
        before_write("manifest", partial / MANIFEST)
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
        for name in [*files, MANIFEST]:
            with open(partial / name, "rb+") as f:
                os.fsync(f.fileno())
        seq = 1 + max((c.seq for c in previous), default=0)
        final = folder / f"{CHECKPOINT_PREFIX}{step:012d}-{seq:04d}"
        before_write("publish", final)
        os.rename(partial, final)
        _fsync_dir(folder)
    except OSError as exc:
        shutil.rmtree(partial, ignore_errors=True)
        whole = previous[-1].path if previous else None
        intact = (
            f"the previous checkpoint {whole} is whole: free space, then continue with --resume"
            if whole
            else "no earlier checkpoint exists"
        )
        raise write_failure(Path(exc.filename) if exc.filename else partial, exc, intact) from None
    for old in previous[: max(0, len(previous) + 1 - keep)]:
        shutil.rmtree(old.path, ignore_errors=True)
    return final


def clean_stale_files(out: str | Path) -> list[Path]:
    """Remove what killed writers left in a run folder: partial checkpoints and atomic-write temp files."""
    out = Path(out)
    removed: list[Path] = []
    folder = checkpoint_dir(out)
    candidates = list(folder.glob(f"{PARTIAL_PREFIX}*")) if folder.is_dir() else []
    for parent in (out, folder):
        if parent.is_dir():  # atomic_write's temp files are named ".<name>.<random><suffix>"
            candidates += [
                p for p in parent.glob(".*") if p.is_file() and p.name != LOCK_FILE and p.name.count(".") >= 2
            ]
    for path in candidates:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


# ---------------------------------------------------------------------------- reading
@dataclass(frozen=True)
class Checkpoint:
    """A published checkpoint folder (not yet verified)."""

    path: Path
    step: int
    seq: int
    legacy: bool = False  # the pre-manifest layout: files directly in checkpoints/

    @property
    def model(self) -> Path:
        return self.path / MODEL_FILE

    @property
    def run(self) -> Path:
        return self.path.parent if self.legacy else self.path.parent.parent

    def logs(self) -> dict[str, Any]:
        """What the run's logs held at this checkpoint (empty for checkpoints of earlier releases)."""
        try:
            logs = _read_json(self.path / STATE, self).get("logs")
        except CheckpointError:
            return {}
        return logs if isinstance(logs, dict) else {}

    @property
    def replay_buffer(self) -> Path | None:
        path = self.path / REPLAY_BUFFER_FILE
        return path if path.is_file() else None

    @property
    def arrays(self) -> Path | None:
        path = self.path / ARRAYS_FILE
        return path if path.is_file() else None


def list_checkpoints(out: str | Path) -> list[Checkpoint]:
    """Published checkpoints, oldest first (the legacy layout, if present, counts as the oldest)."""
    folder = checkpoint_dir(out)
    found: list[Checkpoint] = []
    if not folder.is_dir():
        return found
    if (folder / MODEL_FILE).is_file():
        found.append(Checkpoint(folder, -1, -1, legacy=True))
    for path in folder.glob(f"{CHECKPOINT_PREFIX}*"):
        parts = path.name[len(CHECKPOINT_PREFIX) :].split("-")
        if path.is_dir() and len(parts) == 2 and all(p.isdigit() for p in parts):
            found.append(Checkpoint(path, int(parts[0]), int(parts[1])))
    return sorted(found, key=lambda c: (c.step, c.seq))


def verify_checkpoint(checkpoint: Checkpoint) -> None:
    """Raise :class:`CheckpointError` naming what is wrong with a checkpoint (missing, damaged, mixed steps)."""
    from ..common.safe_load import ModelFileError, read_model_data

    path = checkpoint.path
    if checkpoint.legacy:  # written before manifests: at least the model and state.json must agree
        state = _read_json(path / STATE, checkpoint)
        if (path / MODEL_FILE).is_file():
            _inside_run(checkpoint, path / MODEL_FILE)
        try:
            model_step = read_model_data(path / MODEL_FILE).get("num_timesteps")
        except (FileNotFoundError, ModelFileError) as exc:
            raise CheckpointError(f"{path}: {exc}") from None
        if state.get("num_timesteps") != model_step:
            raise CheckpointError(
                f"{path} mixes two steps: {MODEL_FILE} is at {model_step}, {STATE} at {state.get('num_timesteps')}"
            )
        return
    manifest = _read_json(path / MANIFEST, checkpoint, missing="it has no manifest (the write never finished)")
    files = manifest.get("files")
    if manifest.get("step") != checkpoint.step or not isinstance(files, dict) or MODEL_FILE not in files:
        raise CheckpointError(f"{path}: its manifest does not describe this checkpoint")
    for name, facts in files.items():
        file = path / name
        if not file.is_file():
            raise CheckpointError(f"{path}: {name} is missing")
        _inside_run(checkpoint, file)
        if (
            not isinstance(facts, dict)
            or file.stat().st_size != facts.get("bytes")
            or _sha256(file) != facts.get("sha256")
        ):
            raise CheckpointError(
                f"{path}: {name} does not match its manifest (size or SHA-256): it was damaged "
                "or replaced after the checkpoint was written"
            )
    state = _read_json(path / STATE, checkpoint)
    try:
        model_step = read_model_data(path / MODEL_FILE).get("num_timesteps")
    except (FileNotFoundError, ModelFileError) as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    if not state.get("num_timesteps") == model_step == checkpoint.step:
        raise CheckpointError(
            f"{path} mixes steps: folder {checkpoint.step}, {MODEL_FILE} {model_step}, "
            f"{STATE} {state.get('num_timesteps')}"
        )


class CheckpointError(ConfigError):
    """A checkpoint is incomplete, damaged or mixes steps."""


def _inside_run(checkpoint: Checkpoint, file: Path) -> None:
    """A checkpoint's file must be a regular file inside its run (never a symlink out of it)."""
    from .safe_paths import run_file

    try:
        run_file(checkpoint.run, file, None)
    except ConfigError as exc:
        raise CheckpointError(str(exc)) from None


def _read_json(path: Path, checkpoint: Checkpoint, missing: str | None = None) -> dict[str, Any]:
    from .safe_paths import read_run_json

    if not os.path.lexists(path):
        raise CheckpointError(f"{checkpoint.path}: {missing or path.name + ' is missing'}")
    try:
        value = read_run_json(checkpoint.run, path)
    except ConfigError as exc:
        raise CheckpointError(str(exc)) from None
    if not isinstance(value, dict):
        raise CheckpointError(f"{path} holds {type(value).__name__}, not a JSON object")
    return value


def latest_checkpoint(out: str | Path, needs_buffer: bool = False) -> Checkpoint | None:
    """The newest whole checkpoint of a run (None if it has none); newer damaged ones are skipped with a warning.

    :param needs_buffer: the learner has a replay buffer: a checkpoint without one is not whole.
    :raises CheckpointError: checkpoints exist but none is whole (each named with what is wrong).
    """
    problems = []
    for checkpoint in reversed(list_checkpoints(out)):
        try:
            verify_checkpoint(checkpoint)
            if needs_buffer and checkpoint.replay_buffer is None:
                raise CheckpointError(f"{checkpoint.path}: it holds no {REPLAY_BUFFER_FILE}, which this learner needs")
        except CheckpointError as exc:
            problems.append(str(exc))
            continue
        for problem in problems:
            warnings.warn(f"skipping a checkpoint that is not whole: {problem}; using {checkpoint.path}", stacklevel=2)
        return checkpoint
    if problems:
        raise CheckpointError("no whole checkpoint to resume from: " + "; ".join(problems))
    return None


# ---------------------------------------------------------------------------- stopping on signals
class StopOnSignal:
    """Turn SIGINT/SIGTERM into a request to stop (``requested``); a second SIGINT aborts at once.

    Installs handlers only in the main thread (Ray or thread workers keep theirs); restores the
    previous handlers on exit.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signum = signum
        print(
            f"\nseqtutor: {signal.Signals(signum).name} received: stopping after this step and writing a "
            "checkpoint (Ctrl-C again aborts at once)",
            flush=True,
        )

    def __enter__(self) -> StopOnSignal:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
