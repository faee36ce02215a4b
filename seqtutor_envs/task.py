"""What a domain (melody, SMILES, your own) implements: a batched :class:`SequenceTask`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np

from .reward import FLOAT_MAX, RewardOverflowError


@dataclass
class TaskStep:
    """What a task reports for the sequences that just emitted a token."""

    domain_reward: np.ndarray  # (n,) float64, r_domain(s, a) before dividing by c
    terminated: np.ndarray  # (n,) bool, the episode is over after this token
    terms: dict[str, np.ndarray]  # named parts of domain_reward, each (n,)


class SequenceTask(ABC):
    """Domain logic of a sequence environment, batched over ``num_envs`` sequences.

    The core owns the token buffer; tasks keep whatever extra per-sequence state their reward
    needs, indexed like the core's sequences.
    """

    #: Name used in error messages and ``info``.
    name: str = "sequence"
    #: A domain-specific second name for ``info["domain_reward"]`` (e.g. ``"music_theory_reward"``).
    domain_reward_alias: str | None = None
    #: A bound on ``|r_domain|`` of one step when the task knows one (None: unbounded, e.g. a user
    #: objective). The core then refuses at construction a ``c`` under which it could overflow.
    domain_reward_bound: float | None = None
    #: Keys ``reset(options=...)`` accepts; any other key is refused (a misspelt option must not
    #: be ignored silently).
    option_keys: tuple[str, ...] = ()

    def __init__(self, num_envs: int, max_length: int, num_actions: int, pad_token: int) -> None:
        self.num_envs = num_envs
        self.max_length = max_length
        self.num_actions = num_actions
        self.pad_token = pad_token
        #: Set by the core: the largest ``|r_domain|`` whose reward is finite under its c and prior_weight.
        self.domain_reward_limit = FLOAT_MAX
        self._reward_settings = "any c"  # until a core sets its c and prior_weight

    def check_domain_rewards(self, values: Any, what: str) -> np.ndarray:
        """``values`` as float64, or a :class:`RewardOverflowError` if one cannot give a finite reward.

        A task whose domain reward is unbounded calls this *before* it commits any state change of
        a step, so that a refused step leaves it as it was (the core restores its own buffers).

        :param values: domain rewards (or parts of them) of the stepped sequences.
        :param what: what produced them, for the message (e.g. ``"objective 'qed' final score"``).
        """
        values = np.asarray(values, dtype=np.float64)
        bad = ~(np.abs(values) <= self.domain_reward_limit)  # NaN compares False: caught too
        if np.any(bad):
            row = int(np.argmax(bad.reshape(-1)))
            value = float(values.reshape(-1)[row])
            why = (
                "which is not a finite number"
                if not np.isfinite(value)
                else f"which exceeds {self.domain_reward_limit:.6g}, the largest |domain reward| whose reward "
                f"prior_weight * log p + domain reward / c is finite under {self._reward_settings}"
            )
            raise RewardOverflowError(
                f"{self.name}: {what} {value!r} (row {row} of the batch), {why}; the step was refused and the env "
                "left as it was"
            )
        return values

    @abstractmethod
    def primer(self, rng: np.random.Generator, options: dict[str, Any] | None) -> int:
        """The token an episode is primed with (drawn from the env's own seeded ``rng``)."""

    @abstractmethod
    def reset(self, env_indices: np.ndarray) -> None:
        """Clear per-sequence state of ``env_indices``."""

    def prepare_step(  # noqa: B027  (an optional hook, not abstract: the default does nothing)
        self, actions: np.ndarray, env_indices: np.ndarray | None, tokens: np.ndarray, lengths: np.ndarray
    ) -> None:
        """Start work :meth:`step` will need, before the prior's forward runs (which does not depend on it).

        The core calls it with the same arguments as :meth:`step`, then runs the prior's batched
        forward, then calls :meth:`step`: a task whose reward is slow to compute (RDKit scoring) can
        start it in a worker process here and collect it in :meth:`step`, so the two overlap.
        Must not change what :meth:`step` would return. The default does nothing.
        """

    @abstractmethod
    def step(
        self, actions: np.ndarray, env_indices: np.ndarray | None, tokens: np.ndarray, lengths: np.ndarray
    ) -> TaskStep:
        """Score ``actions`` of the sequences ``env_indices`` (None: all, in order).

        ``tokens``/``lengths`` are the core's full buffers, already holding the new tokens.
        """

    @abstractmethod
    def final_info(self, env_indices: np.ndarray, tokens: np.ndarray, lengths: np.ndarray) -> dict[str, Any]:
        """Per-episode results of sequences that just terminated: arrays with ``len(env_indices)`` rows."""

    def describe(self, tokens: np.ndarray) -> str:
        """Human-readable rendering of one sequence of emitted tokens (for ``render_mode='ansi'``)."""
        return " ".join(str(int(t)) for t in tokens)
