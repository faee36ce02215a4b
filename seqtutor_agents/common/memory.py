"""The top-k episode memory of the whole-episode learners (REINVENT's experience replay), and how it is sampled.

:class:`TopKMemory` keeps the ``capacity`` best distinct episodes seen so far by domain return
(DAP's replay, DPG's and TB's replay of their best molecules and of graph-GA offspring). It is
sampled one of three ways (:data:`REPLAY_SAMPLING`):

* ``"uniform"``: every remembered episode alike (DAP's published setting);
* ``"score"``: in proportion to the domain return (REINVENT in PMO's ``mol_opt``), negative
  returns counted as 0 and a memory of zeros sampled uniformly;
* ``"rank"``: ``p ∝ 1 / (k·N + rank)`` (:func:`seqtutor_envs.sampling.rank_probabilities`, Genetic
  GFN's replay): the scale of the scores does not matter, a small ``k`` is greedy.

:class:`ReplayMemoryMixin` gives a learner (DAP, DPG, TB) the memory's four arguments, their checks,
the memory's life (a fresh one and its seeded generator at set-up) and its part of a checkpoint.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from seqtutor_envs.sampling import DEFAULT_RANK_COEFFICIENT, rank_probabilities

from .episodes import Episode
from .validation import check_choice, check_number

#: How a memory is sampled (see the module docstring).
REPLAY_SAMPLING = ("uniform", "score", "rank")


class TopKMemory:
    """The ``capacity`` best distinct episodes seen so far, by domain return (REINVENT's experience replay).

    :param capacity: episodes kept.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.episodes: list[Episode] = []
        self.scores: list[float] = []

    def __len__(self) -> int:
        return len(self.episodes)

    def add(self, episodes: list[Episode]) -> None:
        seen = {tuple(e.tokens.tolist()) for e in self.episodes}
        for episode in episodes:
            key = tuple(episode.tokens.tolist())
            if key not in seen:
                seen.add(key)
                self.episodes.append(episode)
                self.scores.append(float(episode.domain_rewards.sum()))
        # REINVENT's Experience: a stable sort, best first, ties kept in memory order (earlier ones first).
        # numpy's default argsort breaks ties in an order that depends on the CPU's SIMD sort, which
        # made the replayed sequences, and so the run, differ between machines when scores tie.
        order = np.argsort(-np.asarray(self.scores), kind="stable")[: self.capacity]
        self.episodes = [self.episodes[i] for i in order]
        self.scores = [self.scores[i] for i in order]

    def keep(self, mask: np.ndarray) -> int:
        """Keep only the entries where ``mask`` is True (e.g. the scaffold purge); returns how many were dropped."""
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (len(self.episodes),):
            raise ValueError(f"keep: a mask of {mask.shape} for {len(self.episodes)} remembered episodes")
        self.episodes = [e for e, k in zip(self.episodes, mask, strict=True) if k]
        self.scores = [s for s, k in zip(self.scores, mask, strict=True) if k]
        return int((~mask).sum())

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The remembered episodes as padded arrays (empty dict when the memory is empty)."""
        if not self.episodes:
            return {}
        width = max(e.length for e in self.episodes)
        vocab = self.episodes[0].prior_log_probs.shape[1]
        n = len(self.episodes)
        arrays: dict[str, np.ndarray] = {
            "lengths": np.array([e.length for e in self.episodes], dtype=np.int64),
            "tokens": np.zeros((n, width + 1), dtype=np.int64),
            "prior_log_probs": np.zeros((n, width + 1, vocab), dtype=np.float32),
            "prior_log_prob": np.zeros((n, width), dtype=np.float32),
            "domain_rewards": np.zeros((n, width), dtype=np.float32),
            "prior_weight": np.array([e.prior_weight for e in self.episodes], dtype=np.float64),
        }
        for k, e in enumerate(self.episodes):
            arrays["tokens"][k, : e.length + 1] = e.tokens
            arrays["prior_log_probs"][k, : e.length + 1] = e.prior_log_probs
            arrays["prior_log_prob"][k, : e.length] = e.prior_log_prob
            arrays["domain_rewards"][k, : e.length] = e.domain_rewards
        return arrays

    @classmethod
    def from_arrays(cls, capacity: int, arrays: dict[str, np.ndarray]) -> TopKMemory:
        memory = cls(capacity)
        memory.add(
            [
                Episode(
                    tokens=arrays["tokens"][k, : n + 1].copy(),
                    prior_log_probs=arrays["prior_log_probs"][k, : n + 1].copy(),
                    prior_log_prob=arrays["prior_log_prob"][k, :n].copy(),
                    domain_rewards=arrays["domain_rewards"][k, :n].copy(),
                    prior_weight=float(arrays["prior_weight"][k]),
                )
                for k, n in enumerate(arrays["lengths"].tolist())
            ]
        )
        return memory

    def probabilities(self, sampling: str, coefficient: float = DEFAULT_RANK_COEFFICIENT) -> np.ndarray | None:
        """Each entry's probability of being drawn (None: uniform)."""
        if sampling == "uniform" or not self.episodes:
            return None
        scores = np.asarray(self.scores, dtype=np.float64)
        if sampling == "rank":
            return rank_probabilities(scores, coefficient)
        if sampling == "score":
            weights = np.clip(scores, 0.0, None)
            return weights / weights.sum() if weights.sum() > 0 else None
        raise ValueError(f"replay sampling must be one of {REPLAY_SAMPLING}, got {sampling!r}")

    def sample(
        self,
        n: int,
        rng: np.random.Generator,
        sampling: str = "uniform",
        coefficient: float = DEFAULT_RANK_COEFFICIENT,
        replace: bool = False,
    ) -> list[Episode]:
        """``n`` remembered episodes (at most the memory's size when drawn without replacement).

        :param sampling: one of :data:`REPLAY_SAMPLING`.
        :param coefficient: the rank coefficient ``k`` of ``"rank"``.
        :param replace: draw with replacement (Genetic GFN's replay does; REINVENT's does not).
        """
        if not self.episodes or n <= 0:
            return []
        size = n if replace else min(n, len(self.episodes))
        probs = self.probabilities(sampling, coefficient)
        if probs is None:
            rows = rng.choice(len(self.episodes), size=size, replace=replace)
        else:
            if not replace:  # a draw without replacement cannot take more entries than have mass
                size = min(size, int(np.count_nonzero(probs)))
            rows = rng.choice(len(self.episodes), size=size, replace=replace, p=probs)
        return [self.episodes[i] for i in rows]


class ReplayMemoryMixin:
    """A learner's top-k replay memory: its arguments, its life and its part of a checkpoint.

    Put first among the learner's bases (before :class:`~seqtutor_agents.common.offpolicy.MoleculeExtrasMixin`,
    whose checkpoint arrays it extends); the learner calls :meth:`_init_replay_memory` in its ``__init__``.
    ``replay_memory``, ``replay_sample``, ``replay_sampling`` and ``rank_coefficient`` are saved with the
    model; the memory itself and its generator are not (the memory rides in :meth:`checkpoint_arrays`).
    """

    seed: int | None
    logger: Any

    def _init_replay_memory(
        self, replay_memory: int, replay_sample: int, replay_sampling: str, rank_coefficient: float, *, distinct: bool
    ) -> None:
        """Check and keep the memory's settings (call before SB3's ``__init__``).

        :param replay_memory: capacity of the memory (0: off).
        :param replay_sample: remembered episodes per draw.
        :param replay_sampling: one of :data:`REPLAY_SAMPLING`.
        :param rank_coefficient: ``k`` of rank-based sampling.
        :param distinct: the learner draws without replacement, so a draw cannot exceed the memory.
        """
        self.replay_memory = check_number("replay_memory", replay_memory, low=0, integer=True)
        self.replay_sample = check_number("replay_sample", replay_sample, low=0, integer=True)
        if distinct and replay_sample > replay_memory:
            raise ValueError(f"replay_sample ({replay_sample}) cannot exceed replay_memory ({replay_memory})")
        self.replay_sampling = check_choice("replay_sampling", replay_sampling, REPLAY_SAMPLING)
        self.rank_coefficient = check_number("rank_coefficient", rank_coefficient, low=0.0, low_open=True)
        self.memory = TopKMemory(self.replay_memory)

    def _setup_model(self) -> None:
        super()._setup_model()  # type: ignore[misc]  # a mixin: the algorithm after it in the MRO has it
        self.memory = TopKMemory(self.replay_memory)
        self._replay_rng = np.random.default_rng(self.seed)

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "memory", "_replay_rng"]  # type: ignore[misc]  # a mixin: the algorithm after it in the MRO has it

    def checkpoint_arrays(self) -> dict[str, np.ndarray]:
        """The memory as arrays (episodes padded to the longest), then the bases' (the molecule options' state)."""
        return {**self.memory.to_arrays(), **super().checkpoint_arrays()}  # type: ignore[misc]  # a mixin: MoleculeExtrasMixin after it has it

    def restore_checkpoint_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Refill the memory (empty when the checkpoint holds none) and the bases' state from
        :meth:`checkpoint_arrays`.
        """
        self.memory = (
            TopKMemory.from_arrays(self.replay_memory, arrays)
            if "lengths" in arrays
            else TopKMemory(self.replay_memory)
        )
        super().restore_checkpoint_arrays(arrays)  # type: ignore[misc]  # a mixin: MoleculeExtrasMixin after it has it

    def replay(self, n: int, replace: bool = False) -> list[Episode]:
        """``n`` remembered episodes drawn the learner's way (none when the memory is off)."""
        if not self.replay_memory:
            return []
        return self.memory.sample(n, self._replay_rng, self.replay_sampling, self.rank_coefficient, replace=replace)

    def remember(self, episodes: list[Episode]) -> None:
        """Offer ``episodes`` to the memory (when it is on)."""
        if self.replay_memory:
            self.memory.add(episodes)

    def record_memory(self) -> None:
        """Log the best remembered score (when the memory is on)."""
        if self.replay_memory:
            self.logger.record("train/memory_best_score", self.memory.scores[0] if self.memory.scores else 0.0)
