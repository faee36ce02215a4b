"""Whole episodes assembled from vector steps, shared by the learner families.

Sequence Tutor's episode replay and the policy-gradient learners (REINVENT's augmented likelihood,
KL-PPO) all learn from *whole* episodes: the primer and the tokens, the prior's log-probabilities
at every state (the last one included), and the reward's parts of every step as the env reported
them (``log p_prior(a_t|s_t)`` and ``r_domain``: kept, never recomputed). :class:`EpisodeAssembler`
builds them from the steps of ``n_envs`` envs (one row per env in progress, no Python loop over
steps); :class:`Episodes` is a padded batch of them as tensors, ready for one batched LSTM unroll
from the zero state.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch as th

from seqtutor_envs.reward import RewardParts, compose


@dataclass
class Episode:
    """One finished episode (numpy, unpadded)."""

    tokens: np.ndarray  # (length + 1,) primer then actions
    prior_log_probs: np.ndarray  # (length + 1, V) log p(.|s_t), t = 0..length
    prior_log_prob: np.ndarray  # (length,) log p(a_t|s_t) of each action, as the env reported it
    domain_rewards: np.ndarray  # (length,) r_domain of each step
    prior_weight: float  # the env's prior weight
    behaviour_log_prob: np.ndarray | None = None  # (length,) log π_b(a_t|s_t) of the policy that acted, if known

    @property
    def length(self) -> int:
        return len(self.domain_rewards)


class EpisodeAssembler:
    """Collects the steps of ``n_envs`` envs into finished :class:`Episode` s.

    :param n_envs: envs of the vector env.
    :param max_length: the longest episode (the observation's token slots minus the primer).
    :param num_actions: vocabulary size.
    """

    def __init__(self, n_envs: int, max_length: int, num_actions: int) -> None:
        self.n_envs, self.max_length, self.num_actions = n_envs, max_length, num_actions
        self._domain = np.zeros((n_envs, max_length), dtype=np.float32)
        self._taken = np.zeros((n_envs, max_length), dtype=np.float32)
        self._behaviour = np.zeros((n_envs, max_length), dtype=np.float32)
        self._log_probs = np.zeros((n_envs, max_length + 1, num_actions), dtype=np.float32)

    def add_steps(
        self,
        obs: dict[str, np.ndarray],
        next_obs: dict[str, np.ndarray],
        parts: RewardParts,
        dones: np.ndarray,
        behaviour_log_prob: np.ndarray | None = None,
    ) -> list[Episode]:
        """Record one vector step; returns the episodes it finished.

        :param obs: the observations the actions were taken in.
        :param next_obs: the observations after them (the terminal one where an episode ended).
        :param parts: the reward's parts of each env's step.
        :param dones: the envs whose episode ended with this step.
        :param behaviour_log_prob: ``log π_b(a|s)`` of each action under the policy that acted (if known).
        """
        rows = np.arange(len(dones))
        steps = obs["step"].astype(np.int64)
        self._domain[rows, steps] = parts.domain_reward
        self._taken[rows, steps] = parts.prior_log_prob
        if behaviour_log_prob is not None:
            self._behaviour[rows, steps] = behaviour_log_prob
        self._log_probs[rows, steps] = obs["prior_log_probs"]
        finished = []
        for i in np.flatnonzero(dones):
            length = int(next_obs["step"][i])
            self._log_probs[i, length] = next_obs["prior_log_probs"][i]
            finished.append(
                Episode(
                    tokens=np.array(next_obs["tokens"][i, : length + 1], dtype=np.int64),
                    prior_log_probs=self._log_probs[i, : length + 1].copy(),
                    prior_log_prob=self._taken[i, :length].copy(),
                    domain_rewards=self._domain[i, :length].copy(),
                    prior_weight=float(parts.prior_weight[i]),
                    behaviour_log_prob=None if behaviour_log_prob is None else self._behaviour[i, :length].copy(),
                )
            )
        return finished


@dataclass
class Episodes:
    """A padded batch of episodes as tensors (``T`` = the longest episode of the batch)."""

    inputs: th.Tensor  # (B, T + 1) primer then actions, padding replaced by token 0 (masked out)
    lengths: th.Tensor  # (B,)
    prior_log_probs: th.Tensor  # (B, T + 1, V)
    prior_log_prob: th.Tensor  # (B, T) log p(a_t|s_t) as the env reported it, 0 on padding
    domain_rewards: th.Tensor  # (B, T), 0 on padding
    prior_weight: th.Tensor  # (B,)
    behaviour_log_prob: th.Tensor | None = None  # (B, T) log π_b(a_t|s_t) of the acting policy, 0 on padding

    @classmethod
    def stack(cls, episodes: list[Episode], device: th.device | str = "cpu") -> Episodes:
        width = max(e.length for e in episodes)
        b, vocab = len(episodes), episodes[0].prior_log_probs.shape[1]
        inputs = np.zeros((b, width + 1), dtype=np.int64)
        log_probs = np.zeros((b, width + 1, vocab), dtype=np.float32)
        taken = np.zeros((b, width), dtype=np.float32)
        domain = np.zeros((b, width), dtype=np.float32)
        for k, e in enumerate(episodes):
            inputs[k, : e.length + 1] = e.tokens
            log_probs[k, : e.length + 1] = e.prior_log_probs
            taken[k, : e.length] = e.prior_log_prob
            domain[k, : e.length] = e.domain_rewards

        def t(a: np.ndarray) -> th.Tensor:
            return th.as_tensor(a, device=device)

        behaviour = None
        if all(e.behaviour_log_prob is not None for e in episodes):
            behaviour = np.zeros((b, width), dtype=np.float32)
            for k, e in enumerate(episodes):
                behaviour[k, : e.length] = e.behaviour_log_prob
        return cls(
            t(inputs),
            t(np.array([e.length for e in episodes])),
            t(log_probs),
            t(taken),
            t(domain),
            t(np.array([e.prior_weight for e in episodes], dtype=np.float32)),
            None if behaviour is None else t(behaviour),
        )

    @property
    def actions(self) -> th.Tensor:
        """``(B, T)`` the token taken at each step."""
        return self.inputs[:, 1:]

    @property
    def mask(self) -> th.Tensor:
        """``(B, T)`` 1 for real steps, 0 for padding."""
        steps = th.arange(self.actions.shape[1], device=self.inputs.device)
        return (steps[None, :] < self.lengths[:, None]).float()

    def domain_return(self) -> th.Tensor:
        """``(B,)`` the episode's domain return S(x)."""
        return self.domain_rewards.sum(dim=1)

    def rewards(self, c: float, prior_weight: th.Tensor | float | None = None) -> th.Tensor:
        """``(B, T)`` per-step rewards ``w log p(a_t|s_t) + r_t / c`` (0 on padding), the env's ``w`` by default."""
        weight = self.prior_weight[:, None] if prior_weight is None else prior_weight
        return compose(self.prior_log_prob, self.domain_rewards, c, weight) * self.mask
