"""REINVENT's augmented likelihood (Olivecrona et al. 2017; "DAP" in REINVENT 2/3): sequence-level KL control.

For a batch of whole sequences ``x`` sampled from the agent, with ``S(x)`` the episode's domain
return and ``σ = 1/c``::

    loss = mean_x ( w log p_prior(x) + σ S(x) - log π(x) )²

The agent's log-likelihood is pulled toward the prior's, raised by the score: the fixed point is
``π(x) ∝ p(x)^w exp(σ S(x))``, the same KL-regularised optimum Ψ-learning aims at, reached here by
regression on whole sequences. REINVENT's defaults are σ ≈ 120 (c ≈ 0.008 for scores in [0, 1]),
learning rate 1e-4 and batches of 64-128 sequences. Optionally a top-k experience-replay memory
of the best sequences seen so far adds ``replay_sample`` of them to each batch's loss; REINVENT's
diversity filter is an env option of ``SeqTutor-SMILES-v0`` (``diversity_filter=True``) that any
learner uses.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch as th

from seqtutor_envs.reward import compose

from ..common.episodes import Episode, Episodes
from ..common.validation import check_number
from .base import EpisodicPolicyGradient


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

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The remembered episodes as padded arrays (empty dict when the memory is empty)."""
        if not self.episodes:
            return {}
        width = max(e.length for e in self.episodes)
        vocab = self.episodes[0].prior_log_probs.shape[1]
        n = len(self.episodes)
        arrays = {"lengths": np.array([e.length for e in self.episodes], dtype=np.int64),
                  "tokens": np.zeros((n, width + 1), dtype=np.int64),
                  "prior_log_probs": np.zeros((n, width + 1, vocab), dtype=np.float32),
                  "prior_log_prob": np.zeros((n, width), dtype=np.float32),
                  "domain_rewards": np.zeros((n, width), dtype=np.float32),
                  "prior_weight": np.array([e.prior_weight for e in self.episodes], dtype=np.float64)}
        for k, e in enumerate(self.episodes):
            arrays["tokens"][k, : e.length + 1] = e.tokens
            arrays["prior_log_probs"][k, : e.length + 1] = e.prior_log_probs
            arrays["prior_log_prob"][k, : e.length] = e.prior_log_prob
            arrays["domain_rewards"][k, : e.length] = e.domain_rewards
        return arrays

    @classmethod
    def from_arrays(cls, capacity: int, arrays: dict[str, np.ndarray]) -> "TopKMemory":
        memory = cls(capacity)
        memory.add([Episode(tokens=arrays["tokens"][k, : n + 1].copy(),
                            prior_log_probs=arrays["prior_log_probs"][k, : n + 1].copy(),
                            prior_log_prob=arrays["prior_log_prob"][k, :n].copy(),
                            domain_rewards=arrays["domain_rewards"][k, :n].copy(),
                            prior_weight=float(arrays["prior_weight"][k]))
                    for k, n in enumerate(arrays["lengths"].tolist())])
        return memory

    def sample(self, n: int, rng: np.random.Generator) -> list[Episode]:
        if not self.episodes or n <= 0:
            return []
        rows = rng.choice(len(self.episodes), size=min(n, len(self.episodes)), replace=False)
        return [self.episodes[i] for i in rows]


def augmented_likelihood_loss(agent_log_likelihood: th.Tensor, augmented_log_likelihood: th.Tensor) -> th.Tensor:
    """Per-sequence ``(w log p_prior(x) + S(x)/c - log π(x))²``, the augmented likelihood given by :func:`compose`."""
    return (augmented_log_likelihood - agent_log_likelihood) ** 2


class DAP(EpisodicPolicyGradient):
    """REINVENT's augmented-likelihood learner on a seqtutor env (see the module docstring).

    :param policy: ``"PriorLSTMPolicy"``.
    :param env: a seqtutor env or SB3 VecEnv of one.
    :param replay_memory: capacity of the top-k experience-replay memory (0: off). The memory is part
        of every checkpoint (:meth:`checkpoint_arrays`), so a resumed run replays what it remembered.
    :param replay_sample: remembered sequences added to each update.
    :param kwargs: see :class:`~seqtutor_agents.policy_gradient.base.EpisodicPolicyGradient`, whose
        defaults are REINVENT's: ``learning_rate`` 1e-4, ``batch_size`` 64 sequences per update,
        ``max_grad_norm`` None; ``c`` (σ = 1/c) is the env's unless given. DAP adapts no coefficient:
        it takes no ``target_kl``.
    """

    kl_target_adapts = None

    def __init__(self, policy: Any = "PriorLSTMPolicy", env: Any = None, replay_memory: int = 0, replay_sample: int = 0,
                 **kwargs: Any) -> None:
        check_number("replay_memory", replay_memory, low=0, integer=True)
        check_number("replay_sample", replay_sample, low=0, integer=True)
        if replay_sample > replay_memory:
            raise ValueError(f"replay_sample ({replay_sample}) cannot exceed replay_memory ({replay_memory})")
        self.replay_memory = replay_memory
        self.replay_sample = replay_sample
        self.memory = TopKMemory(replay_memory)
        super().__init__(policy, env, **kwargs)

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "memory", "_replay_rng"]

    def _setup_model(self) -> None:
        super()._setup_model()
        self.memory = TopKMemory(self.replay_memory)
        self._replay_rng = np.random.default_rng(self.seed)

    def checkpoint_arrays(self) -> dict[str, np.ndarray]:
        """The top-k memory as arrays (episodes padded to the longest), for a checkpoint."""
        return self.memory.to_arrays()

    def restore_checkpoint_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Refill the top-k memory from :meth:`checkpoint_arrays`."""
        self.memory = TopKMemory.from_arrays(self.replay_memory, arrays)

    def train(self, episodes: list[Episode]) -> None:  # type: ignore[override]
        replayed = self.memory.sample(self.replay_sample, self._replay_rng) if self.replay_memory else []
        if self.replay_memory:
            self.memory.add(episodes)
        batch = Episodes.stack(episodes + replayed, self.device)
        log_pi, _ = self.policy.unroll(batch.inputs)
        taken = log_pi.gather(2, batch.actions.unsqueeze(2)).squeeze(2) * batch.mask
        agent = taken.sum(dim=1)
        scores = batch.domain_return()
        # The sequence's reward w log p(x) + S(x)/c: the per-step rewards' sum, composed at sequence level.
        augmented = compose((batch.prior_log_prob * batch.mask).sum(dim=1), scores, self.current_c, batch.prior_weight)
        loss = augmented_likelihood_loss(agent, augmented).mean()
        self._gradient_step(loss)
        new = slice(0, len(episodes))
        self.logger.record("train/loss", loss.item())
        self.logger.record("train/agent_log_likelihood", agent[new].mean().item())
        self.logger.record("train/augmented_log_likelihood", augmented[new].mean().item())
        self.logger.record("train/score", scores[new].mean().item())
        if self.replay_memory:
            self.logger.record("train/memory_best_score", self.memory.scores[0] if self.memory.scores else 0.0)
