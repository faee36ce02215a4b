"""Settings of MLE pre-training and the checks made before it: no torch import, so that the command
line can build its parser at once (:mod:`seqtutor_envs.pretrain` does the training).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path


class PretrainInputError(ValueError):
    """The data or the destination of a pre-training run is unusable (the message names which and why)."""


def check_output_path(path: str | os.PathLike, what: str = "--out") -> Path:
    """``path`` if a prior (and its ``.train-state.pt`` beside it) can be written there, else a
    :class:`PretrainInputError` saying why -- checked before any data is read or any batch is trained.

    The check writes and removes a uniquely named empty file in the destination folder (or in its
    nearest existing ancestor, which the save would create the folder in); it never touches ``path``
    nor a ``<path>.train-state.pt`` left by an interrupted run, so that run stays resumable.

    :param path: the destination ``.pt`` file.
    :param what: how messages name it (the command-line flag).
    """
    path = Path(path)
    if path.is_dir():
        raise PretrainInputError(
            f"{what} {path} is a folder; expected the path of a .pt file, e.g. {path / 'prior.pt'}"
        )
    state = path.with_name(path.name + ".train-state.pt")
    if state.is_dir():
        raise PretrainInputError(
            f"{what} {path}: its training-state path {state} is a folder, so checkpoints cannot be written"
        )
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise PretrainInputError(f"{what} {path}: {folder} is a file, not a folder, so nothing can be written under it")
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".write-test", dir=folder)
    except OSError as error:
        raise PretrainInputError(
            f"{what} {path}: cannot write in {folder} ({type(error).__name__}: {error.strerror or error}); "
            "choose a writable place (checked before training, so no time was spent)"
        ) from error
    os.close(fd)
    os.unlink(probe)
    return path


@dataclass
class PretrainConfig:
    """Optimisation settings for MLE pre-training."""

    max_epochs: int = 30  # upper bound on passes over the training windows
    batch_size: int = 128  # sequences per gradient step (paper: 128)
    window: int = 128  # longest training window in tokens; longer sequences are cut
    learning_rate: float = 1e-3  # Adam step size
    weight_decay: float = 2.5e-5  # L2 penalty (paper's Note RNN: 2.5e-5)
    grad_clip: float = 5.0  # max global gradient norm (paper: 5)
    patience: int = 3  # evaluations without improvement before stopping
    lr_decay: float = 0.5  # learning-rate factor applied at each evaluation without improvement ("plateau")
    lr_schedule: str = "plateau"  # "plateau", or "cosine": anneal to 0 over this run's epochs or time budget
    eval_every: int | None = None  # evaluate every this many batches; None = once per epoch
    max_minutes: float | None = None  # wall-clock budget; stops after the evaluation that exceeds it
    seed: int = 0  # seeds batching, initialisation and dropout
    num_threads: int | None = None  # torch CPU threads; None = torch's default
    progress: bool = True  # tqdm progress bar

    def __post_init__(self) -> None:
        for name in ("max_epochs", "batch_size", "window", "patience"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.learning_rate <= 0 or self.grad_clip <= 0:
            raise ValueError("learning_rate and grad_clip must be > 0")
        if not 0 < self.lr_decay <= 1:
            raise ValueError(f"lr_decay must be in (0, 1], got {self.lr_decay}")
        if self.lr_schedule not in ("plateau", "cosine"):
            raise ValueError(f"lr_schedule must be 'plateau' or 'cosine', got {self.lr_schedule!r}")
