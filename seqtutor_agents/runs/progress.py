"""Training progress that never goes silent: env steps while collecting, gradient steps while updating.

SB3's own ``progress_bar`` advances on env steps only, so a PPO-family update -- RecurrentPPO's
epochs over a 16k-step rollout, one LSTM minibatch after another -- shows a finished bar for
minutes. :class:`TrainingProgress` also counts the optimiser's steps, through torch's own
``Optimizer.register_step_post_hook``, as an "update" bar of the update's gradient steps (their
number is known for PPO-family learners: ``n_epochs`` passes of minibatches). On a terminal both
are tqdm bars; otherwise (a log file, ``nohup``) a line every
:data:`~seqtutor_envs.progress.LINE_EVERY_S` seconds (:func:`seqtutor_envs.progress.progress_bar`).
"""

from __future__ import annotations

import math
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback

from seqtutor_envs.progress import progress_bar


def update_steps(model: Any) -> int | None:
    """Gradient steps of one PPO-family update (None: the model does not update in such phases)."""
    n_epochs = getattr(model, "n_epochs", None)
    if not n_epochs:
        return None
    if getattr(model, "minibatch_size", None):  # KLPPO: episodes per rollout, episodes per minibatch
        return n_epochs * math.ceil(model.batch_size / model.minibatch_size)
    buffer = getattr(model, "rollout_buffer", None)
    if buffer is None or not getattr(model, "batch_size", None):
        return None
    return n_epochs * math.ceil(buffer.buffer_size * buffer.n_envs / model.batch_size)


class TrainingProgress(BaseCallback):
    """Env steps of the run, and the gradient steps of each PPO-family update (see the module docstring).

    :param total_steps: env steps the run will have taken at the end (``num_timesteps`` counts from its start).
    """

    def __init__(self, total_steps: int) -> None:
        super().__init__()
        self.total_steps = total_steps
        self.bar: Any = None
        self.update_bar: Any = None
        self._hook: Any = None
        self._seen = 0

    def _on_training_start(self) -> None:
        self._seen = self.model.num_timesteps
        self.bar = progress_bar(self.total_steps, "train", "env steps")
        self.bar.update(self._seen)
        optimizer = getattr(self.model.policy, "optimizer", None)
        if update_steps(self.model) is not None and optimizer is not None:
            self._hook = optimizer.register_step_post_hook(self._on_gradient_step)

    def _on_step(self) -> bool:
        self.bar.update(self.model.num_timesteps - self._seen)
        self._seen = self.model.num_timesteps
        return True

    def _on_rollout_end(self) -> None:  # an update follows
        self.update_bar = (
            progress_bar(update_steps(self.model), "update", "gradient steps", leave=False)
            if self._hook is not None
            else None
        )

    def _on_rollout_start(self) -> None:  # the update before it is over
        self._close_update()

    def _on_gradient_step(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        if self.update_bar is not None:
            self.update_bar.update(1)

    def _close_update(self) -> None:
        if self.update_bar is not None:
            self.update_bar.close()
            self.update_bar = None

    def _on_training_end(self) -> None:
        self._close_update()
        if self._hook is not None:
            self._hook.remove()
            self._hook = None
        self.bar.close()
