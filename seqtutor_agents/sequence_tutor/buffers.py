"""Replay for the recurrent Q-networks of Sequence Tutor, one class per way of replaying.

Both buffers store the reward's *parts* as the env reported them (``log p_prior(a|s)``,
``r_domain`` and the env's ``prior_weight``) rather than the composed reward, so the learner
recomposes the reward at replay time with whatever ``c`` it uses now (its own or its env's, fixed or
adapted to a KL target: :attr:`~seqtutor_agents.common.learner.KLControlledLearner.current_c`). Both take a
:class:`~seqtutor_agents.common.rollout.Transition` -- one vector step of the shared collector -- per call.

* :class:`EpisodeReplayBuffer` (the default) stores whole episodes (the token sequence, the
  prior's log-probabilities at every state, the domain reward of every step) and replays them with
  a full unroll from the zero state: every Q-value comes from the *current* weights, with
  backpropagation through time. Episodes are short (32 melody steps, ~35 SMILES tokens), so a
  minibatch of episodes is a few batched LSTM calls per network, longest episodes last
  (:func:`~seqtutor_agents.common.recurrent.unroll_episodes`: no steps past an episode's end).
* :class:`TransitionReplayBuffer` stores single transitions with the Q-network's LSTM state before
  and after them, as RL Tuner does, and replays one LSTM step from the stored states. Those states
  were computed by older weights and go stale; no gradient flows through time.

``benchmarks/replay_modes.py`` measured the two (whole-episode replay wins at equal wall-clock).
A learner picks one through SB3's ``replay_buffer_class``; the algorithm itself has no mode
branches: it hands the buffer its networks and gets a :class:`TDBatch` back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import BaseBuffer

from seqtutor_envs.prior import LSTMPrior
from seqtutor_envs.sampling import DEFAULT_RANK_COEFFICIENT, rank_probabilities

from ..common.episodes import Episode
from ..common.recipes import allow_class
from ..common.recurrent import LSTMState, last_tokens, unroll_episodes
from ..common.rollout import Transition
from ..common.validation import check_choice, check_number

#: How the elite memory is sampled: uniformly (the default) or rank-based.
ELITE_SAMPLING = ("uniform", "rank")


@dataclass
class TDBatch:
    """What a TD target needs, from a replayed minibatch (``(B, T)`` for episodes, ``(B,)`` for transitions)."""

    q_taken: th.Tensor  # Q(s, a) of the online network (carries the gradient)
    next_q: th.Tensor  # (..., V) target network's values at s' (episodes: zero where s' is terminal or padding)
    next_prior_log_probs: th.Tensor  # (..., V) log p_prior(.|s')
    prior_log_prob: th.Tensor  # log p_prior(a|s)
    domain_reward: th.Tensor  # r_domain(s, a), before dividing by c
    prior_weight: th.Tensor  # the env's prior weight
    not_done: th.Tensor  # 1 where s' is not terminal
    mask: th.Tensor  # 1 for real steps (0 for padding past an episode's end)
    next_actions: th.Tensor | None = None  # (B, T) the action taken at s' (episodes only; for λ-returns)
    q_all: th.Tensor | None = None  # (B, T, V) the online network's values at s (episodes only; with the gradient)
    prior_log_probs: th.Tensor | None = None  # (B, T, V) log p_prior(.|s) (episodes only)


class RecurrentReplayBuffer(BaseBuffer):
    """Interface of the Sequence Tutor replay buffers (SB3 ``BaseBuffer`` with recurrent steps).

    :param buffer_size: capacity in transitions.
    :param observation_space: the env's Dict observation space.
    :param action_space: ``Discrete(num_actions)``.
    :param device: where sampled tensors go.
    :param n_envs: envs of the vector env whose steps are added.
    :param options: buffer-specific settings (SB3 also passes ``optimize_memory_usage``, unused here).
    """

    observation_space: spaces.Dict  # what __init__ takes (BaseBuffer types it as any Space)

    def __init__(
        self,
        buffer_size: int,
        observation_space: spaces.Dict,
        action_space: spaces.Discrete,
        device: th.device | str = "auto",
        n_envs: int = 1,
        **options: Any,
    ) -> None:
        super().__init__(buffer_size, observation_space, action_space, device, n_envs=n_envs)
        self.num_actions = int(action_space.n)
        self.options = options

    def add_transition(self, step: Transition) -> None:
        """Store one vector step of all ``n_envs`` envs (the collector's :class:`Transition`)."""
        raise NotImplementedError

    @staticmethod
    def upgrade_stored(stored: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Arrays of a buffer file of an earlier release, as this release stores them.

        Files written before c got one channel (:mod:`seqtutor_agents.common.learner`) hold the env's c
        of every stored step or episode (``env_c``, ``elite_env_c``), which nothing read: dropped.
        """
        return {key: value for key, value in stored.items() if key not in ("env_c", "elite_env_c")}

    def td_batch(self, batch_size: int, q_net: LSTMPrior, q_net_target: LSTMPrior) -> TDBatch:
        """Sample ``batch_size`` episodes or transitions and run the networks on them."""
        raise NotImplementedError

    def add(self, *args, **kwargs) -> None:  # pragma: no cover - SB3's per-transition API does not apply
        raise NotImplementedError(f"{type(self).__name__} stores vector steps: use add_transition()")

    def _get_samples(self, batch_inds, env=None):  # pragma: no cover - td_batch() replaces it
        raise NotImplementedError

    def _to(self, array: np.ndarray) -> th.Tensor:
        return th.as_tensor(array, device=self.device)


class EpisodeReplayBuffer(RecurrentReplayBuffer):
    """Ring buffer of whole episodes, assembled from vector steps as they come.

    ``buffer_size`` is a capacity in transitions: episodes are stored whole, so the capacity in
    episodes is ``buffer_size // max_length`` (the longest episode, from the observation space).

    Optionally an *elite memory* beside the ring, REINVENT's experience replay made off-policy: the
    ``elite_size`` distinct episodes with the highest domain return seen so far (not only the recent
    ones the ring still holds), of which ``elite_sample``, drawn uniformly, join every minibatch. Soft
    Q-learning may learn from any behaviour's episodes, so this changes which data is replayed, not
    the fixed point; on a goal-directed objective the rare best molecules stay in the replay after the
    ring forgot them (``benchmarks/pmo_tuning.py`` measures it).

    Options (``replay_buffer_kwargs``): ``elite_size`` (0: no elite memory), ``elite_sample``
    (elite episodes added to each minibatch, at most ``elite_size``), ``elite_sampling``
    (``"uniform"``, the default, or ``"rank"``: ``p ∝ 1/(k·N + rank)`` by domain return, Genetic
    GFN's replay) and ``elite_rank_coefficient`` (its ``k``). Other parameters: see
    :class:`RecurrentReplayBuffer`.

    Episodes that no collector produced -- graph-GA offspring, randomised SMILES of remembered
    molecules (:mod:`seqtutor_agents.common.offpolicy`) -- enter through :meth:`add_episodes`.
    """

    #: Arrays that hold one episode per row (the ring's and, with an ``elite_`` prefix, the elite memory's).
    EPISODE_ARRAYS = ("tokens", "domain_rewards", "taken_log_prob", "prior_log_probs", "lengths", "prior_weight")
    # Those arrays, set by name in __init__ (shapes and dtypes: _episode_arrays).
    tokens: np.ndarray
    domain_rewards: np.ndarray
    taken_log_prob: np.ndarray
    prior_log_probs: np.ndarray
    lengths: np.ndarray
    prior_weight: np.ndarray
    elite_tokens: np.ndarray
    elite_domain_rewards: np.ndarray
    elite_taken_log_prob: np.ndarray
    elite_prior_log_probs: np.ndarray
    elite_lengths: np.ndarray
    elite_prior_weight: np.ndarray

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        elite_size, elite_sample = kwargs.pop("elite_size", 0), kwargs.pop("elite_sample", 0)
        self.elite_sampling = kwargs.pop("elite_sampling", "uniform")
        self.elite_rank_coefficient = kwargs.pop("elite_rank_coefficient", DEFAULT_RANK_COEFFICIENT)
        if self.elite_sampling not in ELITE_SAMPLING:
            raise ValueError(f"elite_sampling must be one of {ELITE_SAMPLING}, got {self.elite_sampling!r}")
        check_number("elite_rank_coefficient", self.elite_rank_coefficient, low=0.0, low_open=True)
        for name, value in (("elite_size", elite_size), ("elite_sample", elite_sample)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
        if elite_sample > elite_size:
            raise ValueError(f"elite_sample ({elite_sample}) cannot exceed elite_size ({elite_size})")
        super().__init__(*args, **kwargs)
        tokens_space, buffer_size = self.observation_space["tokens"], self.buffer_size
        assert isinstance(tokens_space, spaces.MultiDiscrete)  # a seqtutor env's tokens (SequenceCore)
        self.max_length = int(tokens_space.shape[0]) - 1
        self.capacity = max(1, buffer_size // self.max_length)
        self.pad_token = int(tokens_space.nvec[0]) - 1
        self.elite_size, self.elite_sample = int(elite_size), int(elite_sample)
        for prefix, rows in (("", self.capacity), ("elite_", self.elite_size)):
            for name, array in self._episode_arrays(rows).items():
                setattr(self, prefix + name, array)
        self.elite_returns = np.full(self.elite_size, -np.inf)  # domain return of each elite (-inf: empty slot)

    def _episode_arrays(self, rows: int) -> dict[str, np.ndarray]:
        length, vocab = self.max_length, self.num_actions
        return {
            "tokens": np.zeros((rows, length + 1), dtype=np.int64),
            "domain_rewards": np.zeros((rows, length), dtype=np.float32),
            "taken_log_prob": np.zeros((rows, length), dtype=np.float32),  # log p(a_t|s_t) as the env said
            "prior_log_probs": np.zeros((rows, length + 1, vocab), dtype=np.float32),
            "lengths": np.zeros(rows, dtype=np.int64),
            "prior_weight": np.ones(rows, dtype=np.float32),
        }

    def size(self) -> int:
        """Stored transitions."""
        return int(self.lengths[: self.num_episodes()].sum())

    def num_episodes(self) -> int:
        return self.capacity if self.full else self.pos

    @staticmethod
    def upgrade_stored(stored: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Arrays of a buffer file written before ``taken_log_prob`` was kept: derive it from the tokens."""
        stored = RecurrentReplayBuffer.upgrade_stored(stored)
        if "taken_log_prob" not in stored and {"tokens", "prior_log_probs"} <= set(stored):
            actions = stored["tokens"][:, 1:, None].clip(0, stored["prior_log_probs"].shape[2] - 1)
            taken = np.take_along_axis(stored["prior_log_probs"][:, :-1], actions, axis=2)[:, :, 0]
            steps = np.arange(taken.shape[1])[None, :]
            stored = {
                **stored,
                "taken_log_prob": np.where(steps < stored["lengths"][:, None], taken, 0.0).astype(np.float32),
            }
        if "elite_returns" not in stored and set(EpisodeReplayBuffer.EPISODE_ARRAYS) <= set(stored):
            # Written before the elite memory existed: an empty one (elite_size 0).
            stored = {
                **stored,
                "elite_returns": np.zeros(0, dtype=np.float64),
                **{
                    f"elite_{name}": np.zeros((0, *stored[name].shape[1:]), dtype=stored[name].dtype)
                    for name in EpisodeReplayBuffer.EPISODE_ARRAYS
                },
            }
        return stored

    def add_transition(self, step: Transition) -> None:
        for episode in step.episodes:  # the collector assembled them
            self.add_episode(episode)

    def add_episode(self, episode: Episode) -> None:
        """Store one finished episode (in the ring, and among the elites if it is one of the best)."""
        length = episode.length
        if not 1 <= length <= self.max_length:
            raise ValueError(f"episode length {length} outside [1, {self.max_length}]")
        self._write(episode, "", self.pos)
        self.pos += 1
        if self.pos == self.capacity:
            self.full, self.pos = True, 0
        if self.elite_size:
            self._add_elite(episode)

    def _write(self, episode: Episode, prefix: str, i: int) -> None:
        length = episode.length
        tokens = getattr(self, prefix + "tokens")
        tokens[i] = self.pad_token
        tokens[i, : length + 1] = episode.tokens[: length + 1]
        for name, source, width in (
            ("domain_rewards", episode.domain_rewards, length),
            ("taken_log_prob", episode.prior_log_prob, length),
            ("prior_log_probs", episode.prior_log_probs, length + 1),
        ):
            target = getattr(self, prefix + name)
            target[i] = 0.0
            target[i, :width] = source[:width]
        getattr(self, prefix + "lengths")[i] = length
        getattr(self, prefix + "prior_weight")[i] = episode.prior_weight

    def _add_elite(self, episode: Episode) -> None:
        """Keep the episode if it beats the worst elite and is not one of them already (same tokens)."""
        value = float(np.sum(episode.domain_rewards[: episode.length]))
        worst = int(np.argmin(self.elite_returns))
        if value <= self.elite_returns[worst]:
            return
        row = np.full(self.max_length + 1, self.pad_token, dtype=np.int64)
        row[: episode.length + 1] = episode.tokens[: episode.length + 1]
        filled = np.isfinite(self.elite_returns)
        if (filled & (self.elite_tokens == row).all(axis=1)).any():
            return  # a repeat of an elite: REINVENT's memory keeps distinct sequences
        self._write(episode, "elite_", worst)
        self.elite_returns[worst] = value

    def num_elites(self) -> int:
        return int(np.isfinite(self.elite_returns).sum())

    # ------------------------------------------------------------------ episodes from elsewhere
    def elite_rows(self, n: int) -> np.ndarray:
        """``n`` elite-memory rows drawn with replacement, ``elite_sampling``'s way (numpy's global generator)."""
        elites = np.flatnonzero(np.isfinite(self.elite_returns))
        if self.elite_sampling == "rank":
            probs = rank_probabilities(self.elite_returns[elites], self.elite_rank_coefficient)
            return elites[np.random.choice(len(elites), size=n, p=probs)]  # noqa: NPY002  (as SB3's buffers: set_random_seed seeds it)
        return elites[np.random.randint(0, len(elites), size=n)]  # noqa: NPY002  (as SB3's buffers: set_random_seed seeds it)

    def add_episodes(self, episodes: list[Episode]) -> None:
        """Store episodes no collector produced (e.g. graph-GA offspring): in the ring, and among the elites if good."""
        for episode in episodes:
            self.add_episode(episode)

    def elite_episodes(self, rows: np.ndarray | None = None) -> list[Episode]:
        """The elite memory's episodes at ``rows`` (default: every filled row), as :class:`Episode` s."""
        rows = np.flatnonzero(np.isfinite(self.elite_returns)) if rows is None else np.asarray(rows)
        return [
            Episode(
                tokens=self.elite_tokens[i, : n + 1].copy(),
                prior_log_probs=self.elite_prior_log_probs[i, : n + 1].copy(),
                prior_log_prob=self.elite_taken_log_prob[i, :n].copy(),
                domain_rewards=self.elite_domain_rewards[i, :n].copy(),
                prior_weight=float(self.elite_prior_weight[i]),
            )
            for i, n in zip(rows.tolist(), self.elite_lengths[rows].tolist(), strict=True)
        ]

    def purge_elites(self, rows: np.ndarray) -> None:
        """Empty the elite memory's ``rows`` (the selective scaffold purge)."""
        self.elite_returns[np.asarray(rows, dtype=np.int64)] = -np.inf

    def td_batch(self, batch_size: int, q_net: LSTMPrior, q_net_target: LSTMPrior) -> TDBatch:
        """``batch_size`` episodes, trimmed to the longest of them and unrolled from the zero state."""
        upper = self.num_episodes()
        if upper == 0:
            raise RuntimeError("cannot sample from an empty replay buffer")
        sources = [("", np.random.randint(0, upper, size=batch_size))]  # noqa: NPY002  (as SB3's buffers: set_random_seed seeds it)
        if self.elite_sample and self.num_elites():
            sources.append(("elite_", self.elite_rows(self.elite_sample)))
        lengths_np = np.concatenate([getattr(self, prefix + "lengths")[idx] for prefix, idx in sources])
        width = int(lengths_np.max())

        def take(name: str, columns: int) -> np.ndarray:  # the sampled rows, trimmed to the batch's width
            parts = [getattr(self, prefix + name)[idx, :columns] for prefix, idx in sources]
            return parts[0] if len(parts) == 1 else np.concatenate(parts)

        def per_episode(name: str) -> np.ndarray:
            return np.concatenate([getattr(self, prefix + name)[idx] for prefix, idx in sources])

        tokens = self._to(take("tokens", width + 1))
        log_p = self._to(take("prior_log_probs", width + 1))
        lengths = self._to(lengths_np)
        steps = th.arange(width, device=tokens.device)
        valid = steps[None, :] < lengths[:, None]
        # Padding past an episode's end is masked out of the loss; give the LSTM a legal token there.
        inputs = th.where(th.cat([th.ones_like(valid[:, :1]), valid], dim=1), tokens, th.zeros_like(tokens))
        actions = inputs[:, 1:]
        # Both networks read the positions before each episode's end only (unroll_episodes skips the
        # padding). The target's value at the terminal state is never used (not_done is 0 there), so
        # next_q's last column is zero rather than one more LSTM step.
        q_all = unroll_episodes(q_net, inputs, lengths_np)
        q_taken = q_all.gather(2, actions.unsqueeze(2)).squeeze(2)
        with th.no_grad():
            target_q = unroll_episodes(q_net_target, inputs, lengths_np)
            next_q = th.cat([target_q[:, 1:], th.zeros_like(target_q[:, :1])], dim=1)
        shape = (len(lengths_np), width)
        return TDBatch(
            q_taken=q_taken,
            next_q=next_q,
            next_prior_log_probs=log_p[:, 1:],
            prior_log_prob=self._to(take("taken_log_prob", width)),
            domain_reward=self._to(take("domain_rewards", width)),
            prior_weight=self._to(per_episode("prior_weight"))[:, None].expand(shape),
            not_done=(steps[None, :] < (lengths[:, None] - 1)).float(),
            mask=valid.float(),
            next_actions=th.cat([actions[:, 1:], th.zeros_like(actions[:, :1])], dim=1),
            q_all=q_all,
            prior_log_probs=log_p[:, :-1],
        )


class TransitionReplayBuffer(RecurrentReplayBuffer):
    """Ring buffer of transitions with the Q-network's LSTM state before and after each one.

    ``options["state_shape"]``: ``(num_layers, hidden_size)`` of the Q-network (default ``(1, 100)``).
    Other parameters: see :class:`RecurrentReplayBuffer`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        n = self.buffer_size
        layers, hidden = self.options.get("state_shape", (1, 100))
        self.token_in = np.zeros(n, dtype=np.int64)  # token fed at s_t
        self.state_h = np.zeros((n, layers, hidden), dtype=np.float32)  # Q-net state before token_in
        self.state_c = np.zeros((n, layers, hidden), dtype=np.float32)
        self.actions = np.zeros(n, dtype=np.int64)
        self.prior_log_prob = np.zeros(n, dtype=np.float32)  # log p_prior(a_t | s_t)
        self.domain_rewards = np.zeros(n, dtype=np.float32)
        self.prior_weight = np.ones(n, dtype=np.float32)
        self.next_state_h = np.zeros((n, layers, hidden), dtype=np.float32)  # Q-net state after token_in
        self.next_state_c = np.zeros((n, layers, hidden), dtype=np.float32)
        self.next_prior_log_probs = np.zeros((n, self.num_actions), dtype=np.float32)
        self.dones = np.zeros(n, dtype=np.float32)

    def add_transition(self, step: Transition) -> None:
        obs, next_obs, actions, parts = step.obs, step.next_obs, step.actions, step.parts
        state_before, state_after, dones = step.state_before, step.state_after, step.dones
        k = len(actions)
        idx = (self.pos + np.arange(k)) % self.buffer_size
        tokens_in = last_tokens(th.as_tensor(obs["tokens"]), th.as_tensor(obs["step"])).numpy()
        self.token_in[idx] = tokens_in
        self.state_h[idx] = np.swapaxes(state_before[0].cpu().numpy(), 0, 1)
        self.state_c[idx] = np.swapaxes(state_before[1].cpu().numpy(), 0, 1)
        self.actions[idx] = actions
        self.prior_log_prob[idx] = parts.prior_log_prob
        self.domain_rewards[idx] = parts.domain_reward
        self.prior_weight[idx] = parts.prior_weight
        self.next_state_h[idx] = np.swapaxes(state_after[0].cpu().numpy(), 0, 1)
        self.next_state_c[idx] = np.swapaxes(state_after[1].cpu().numpy(), 0, 1)
        self.next_prior_log_probs[idx] = next_obs["prior_log_probs"]
        self.dones[idx] = dones
        if self.pos + k >= self.buffer_size:
            self.full = True
        self.pos = (self.pos + k) % self.buffer_size

    def td_batch(self, batch_size: int, q_net: LSTMPrior, q_net_target: LSTMPrior) -> TDBatch:
        """``batch_size`` transitions, each replayed for one LSTM step from its stored state."""
        upper = self.buffer_size if self.full else self.pos
        if upper == 0:
            raise RuntimeError("cannot sample from an empty replay buffer")
        idx = np.random.randint(0, upper, size=batch_size)  # noqa: NPY002  (as SB3's buffers: set_random_seed seeds it)

        def state(h: np.ndarray, c: np.ndarray) -> LSTMState:
            return self._to(np.swapaxes(h[idx], 0, 1).copy()), self._to(np.swapaxes(c[idx], 0, 1).copy())

        actions = self._to(self.actions[idx])
        q_values, _ = q_net(self._to(self.token_in[idx]).reshape(-1, 1), state(self.state_h, self.state_c))
        q_taken = q_values[:, 0].gather(1, actions.reshape(-1, 1)).squeeze(1)
        with th.no_grad():
            next_q, _ = q_net_target(actions.reshape(-1, 1), state(self.next_state_h, self.next_state_c))
        return TDBatch(
            q_taken=q_taken,
            next_q=next_q[:, 0],
            next_prior_log_probs=self._to(self.next_prior_log_probs[idx]),
            prior_log_prob=self._to(self.prior_log_prob[idx]),
            domain_reward=self._to(self.domain_rewards[idx]),
            prior_weight=self._to(self.prior_weight[idx]),
            not_done=1.0 - self._to(self.dones[idx]),
            mask=th.ones_like(q_taken),
        )


#: Replay modes by name, for configs and the command line (``replay_buffer_class="transition"``).
REPLAY_BUFFERS: dict[str, type[RecurrentReplayBuffer]] = {
    "episode": EpisodeReplayBuffer,
    "transition": TransitionReplayBuffer,
}


# Model files may name these classes (seqtutor_agents.common.recipes' allow-list).
allow_class("replay_buffer", EpisodeReplayBuffer)
allow_class("replay_buffer", TransitionReplayBuffer)


def checked_replay_buffer_class(value: Any) -> type[RecurrentReplayBuffer] | None:
    """A replay buffer class by name (``"episode"``, ``"transition"``) or as a class, checked."""
    if isinstance(value, str):
        return REPLAY_BUFFERS[check_choice("replay_buffer_class", value, tuple(REPLAY_BUFFERS))]
    if value is not None and not (isinstance(value, type) and issubclass(value, RecurrentReplayBuffer)):
        raise TypeError(
            f"replay_buffer_class must be a RecurrentReplayBuffer subclass or one of {tuple(REPLAY_BUFFERS)}, "
            f"got {value!r}"
        )
    return value
