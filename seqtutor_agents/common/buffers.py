"""Replay for recurrent Q-networks on short episodes.

Two ways to replay an LSTM learner (see ``benchmarks/replay_modes.py`` for the measurement that
picked the default):

* :class:`EpisodeReplayBuffer` stores whole episodes (the token sequence, per-step rewards and
  the prior's log-probabilities at every state) and replays them with a full unroll from the zero
  state: every Q-value is computed from the *current* weights, with backpropagation through time.
  Episodes are short (32 melody steps), so one minibatch of episodes is one batched LSTM call.
* :class:`TransitionReplayBuffer` stores single transitions with the Q-network's LSTM state before
  and after them, as RL Tuner does, and replays one LSTM step from the stored states. Those states
  were computed by older weights and go stale; no gradient flows through time.
"""

from __future__ import annotations

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import BaseBuffer


class EpisodeReplayBuffer(BaseBuffer):
    """Ring buffer of whole episodes.

    :param buffer_size: capacity in transitions (episodes are stored whole: capacity in episodes is
        ``buffer_size // max_length``).
    :param observation_space: the env's Dict observation space (gives the episode length bound).
    :param action_space: ``Discrete(num_actions)``.
    """

    def __init__(
        self,
        buffer_size: int,
        observation_space: spaces.Dict,
        action_space: spaces.Discrete,
        device: th.device | str = "auto",
        n_envs: int = 1,
        **_: object,
    ) -> None:
        super().__init__(buffer_size, observation_space, action_space, device, n_envs=n_envs)
        self.max_length = int(observation_space["tokens"].shape[0]) - 1
        self.num_actions = int(action_space.n)
        self.capacity = max(1, buffer_size // self.max_length)
        self.tokens = np.zeros((self.capacity, self.max_length + 1), dtype=np.int64)
        self.rewards = np.zeros((self.capacity, self.max_length), dtype=np.float32)
        self.prior_log_probs = np.zeros((self.capacity, self.max_length + 1, self.num_actions), dtype=np.float32)
        self.lengths = np.zeros(self.capacity, dtype=np.int64)
        self.episodes_added = 0

    def size(self) -> int:
        """Stored transitions."""
        count = self.capacity if self.full else self.pos
        return int(self.lengths[:count].sum())

    def num_episodes(self) -> int:
        return self.capacity if self.full else self.pos

    def add_episode(self, tokens: np.ndarray, rewards: np.ndarray, prior_log_probs: np.ndarray, length: int) -> None:
        """Store one finished episode.

        :param tokens: ``(max_length + 1,)`` primer then emitted tokens (padding after ``length``).
        :param rewards: ``(length,)`` or longer, the env reward of each step.
        :param prior_log_probs: ``(length + 1, num_actions)`` or longer, log p(.|s_t) for t = 0..length.
        :param length: number of actions in the episode.
        """
        if not 1 <= length <= self.max_length:
            raise ValueError(f"episode length {length} outside [1, {self.max_length}]")
        i = self.pos
        self.tokens[i] = tokens
        self.rewards[i] = 0.0
        self.rewards[i, :length] = rewards[:length]
        self.prior_log_probs[i] = 0.0
        self.prior_log_probs[i, : length + 1] = prior_log_probs[: length + 1]
        self.lengths[i] = length
        self.episodes_added += 1
        self.pos += 1
        if self.pos == self.capacity:
            self.full, self.pos = True, 0

    def add(self, *args, **kwargs) -> None:  # pragma: no cover - SB3's per-transition API does not apply
        raise NotImplementedError("EpisodeReplayBuffer stores whole episodes: use add_episode()")

    def sample(self, batch_size: int, env=None) -> dict[str, th.Tensor]:  # type: ignore[override]
        """``batch_size`` episodes, trimmed to the longest one in the batch."""
        upper = self.num_episodes()
        if upper == 0:
            raise RuntimeError("cannot sample from an empty replay buffer")
        idx = np.random.randint(0, upper, size=batch_size)
        lengths = self.lengths[idx]
        width = int(lengths.max())
        return {
            "tokens": th.as_tensor(self.tokens[idx, : width + 1], device=self.device),
            "rewards": th.as_tensor(self.rewards[idx, :width], device=self.device),
            "prior_log_probs": th.as_tensor(self.prior_log_probs[idx, : width + 1], device=self.device),
            "lengths": th.as_tensor(lengths, device=self.device),
        }

    def _get_samples(self, batch_inds, env=None):  # pragma: no cover - sample() is overridden
        raise NotImplementedError


class TransitionReplayBuffer(BaseBuffer):
    """Ring buffer of transitions with the Q-network's LSTM state before and after each one.

    :param buffer_size: capacity in transitions.
    :param state_shape: ``(num_layers, hidden_size)`` of the Q-network.
    """

    def __init__(
        self,
        buffer_size: int,
        observation_space: spaces.Dict,
        action_space: spaces.Discrete,
        device: th.device | str = "auto",
        n_envs: int = 1,
        state_shape: tuple[int, int] = (1, 100),
        **_: object,
    ) -> None:
        super().__init__(buffer_size, observation_space, action_space, device, n_envs=n_envs)
        self.num_actions = int(action_space.n)
        n = buffer_size
        layers, hidden = state_shape
        self.token_in = np.zeros(n, dtype=np.int64)  # token fed at s_t
        self.state_h = np.zeros((n, layers, hidden), dtype=np.float32)  # Q-net state before token_in
        self.state_c = np.zeros((n, layers, hidden), dtype=np.float32)
        self.actions = np.zeros(n, dtype=np.int64)
        self.rewards = np.zeros(n, dtype=np.float32)
        self.action_log_prob = np.zeros(n, dtype=np.float32)  # log p_prior(a_t | s_t)
        self.next_state_h = np.zeros((n, layers, hidden), dtype=np.float32)  # Q-net state after token_in
        self.next_state_c = np.zeros((n, layers, hidden), dtype=np.float32)
        self.next_prior_log_probs = np.zeros((n, self.num_actions), dtype=np.float32)
        self.dones = np.zeros(n, dtype=np.float32)

    def add_batch(
        self,
        token_in: np.ndarray,
        state: tuple[np.ndarray, np.ndarray],
        actions: np.ndarray,
        rewards: np.ndarray,
        action_log_prob: np.ndarray,
        next_state: tuple[np.ndarray, np.ndarray],
        next_prior_log_probs: np.ndarray,
        dones: np.ndarray,
    ) -> None:
        """Store one transition per env (states as ``(num_layers, n, hidden)`` arrays)."""
        k = len(actions)
        idx = (self.pos + np.arange(k)) % self.buffer_size
        self.token_in[idx] = token_in
        self.state_h[idx] = np.swapaxes(state[0], 0, 1)
        self.state_c[idx] = np.swapaxes(state[1], 0, 1)
        self.actions[idx] = actions
        self.rewards[idx] = rewards
        self.action_log_prob[idx] = action_log_prob
        self.next_state_h[idx] = np.swapaxes(next_state[0], 0, 1)
        self.next_state_c[idx] = np.swapaxes(next_state[1], 0, 1)
        self.next_prior_log_probs[idx] = next_prior_log_probs
        self.dones[idx] = dones
        if self.pos + k >= self.buffer_size:
            self.full = True
        self.pos = (self.pos + k) % self.buffer_size

    def add(self, *args, **kwargs) -> None:  # pragma: no cover
        raise NotImplementedError("TransitionReplayBuffer stores batches: use add_batch()")

    def sample(self, batch_size: int, env=None) -> dict[str, th.Tensor]:  # type: ignore[override]
        upper = self.buffer_size if self.full else self.pos
        if upper == 0:
            raise RuntimeError("cannot sample from an empty replay buffer")
        idx = np.random.randint(0, upper, size=batch_size)

        def t(a: np.ndarray) -> th.Tensor:
            return th.as_tensor(a, device=self.device)

        return {
            "token_in": t(self.token_in[idx]),
            "state": (t(np.swapaxes(self.state_h[idx], 0, 1).copy()), t(np.swapaxes(self.state_c[idx], 0, 1).copy())),
            "actions": t(self.actions[idx]),
            "rewards": t(self.rewards[idx]),
            "action_log_prob": t(self.action_log_prob[idx]),
            "next_state": (
                t(np.swapaxes(self.next_state_h[idx], 0, 1).copy()),
                t(np.swapaxes(self.next_state_c[idx], 0, 1).copy()),
            ),
            "next_prior_log_probs": t(self.next_prior_log_probs[idx]),
            "dones": t(self.dones[idx]),
        }

    def _get_samples(self, batch_inds, env=None):  # pragma: no cover
        raise NotImplementedError
