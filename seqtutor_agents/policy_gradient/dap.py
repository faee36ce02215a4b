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
from seqtutor_envs.sampling import DEFAULT_RANK_COEFFICIENT

from ..common.episodes import Episode, Episodes
from ..common.memory import REPLAY_SAMPLING, TopKMemory
from ..common.offpolicy import MoleculeExtrasMixin
from ..common.validation import check_choice, check_number
from .base import EpisodicPolicyGradient


def augmented_likelihood_loss(agent_log_likelihood: th.Tensor, augmented_log_likelihood: th.Tensor) -> th.Tensor:
    """Per-sequence ``(w log p_prior(x) + S(x)/c - log π(x))²``, the augmented likelihood given by :func:`compose`."""
    return (augmented_log_likelihood - agent_log_likelihood) ** 2


class DAP(MoleculeExtrasMixin, EpisodicPolicyGradient):
    """REINVENT's augmented-likelihood learner on a seqtutor env (see the module docstring).

    :param policy: ``"PriorLSTMPolicy"``.
    :param env: a seqtutor env or SB3 VecEnv of one.
    :param replay_memory: capacity of the top-k experience-replay memory (0: off). The memory is part
        of every checkpoint (:meth:`checkpoint_arrays`), so a resumed run replays what it remembered.
    :param replay_sample: remembered sequences added to each update.
    :param replay_sampling: how they are drawn: ``"uniform"`` (default), ``"score"`` (in proportion to
        the score, REINVENT in PMO's code) or ``"rank"`` (Genetic GFN's rank-based sampling).
    :param rank_coefficient: ``k`` of rank-based sampling (small: greedy).
    :param genetic: graph-GA exploration (SMILES env; None: off): a dict of GA settings, see
        :mod:`seqtutor_agents.common.offpolicy`. The children join the next update and the memory.
    :param augment: Augmented Memory's extra updates: after each update, this many more on
        randomised SMILES of the batch and the whole memory, rewards reused (SMILES env; 0: off).
    :param kwargs: see :class:`~seqtutor_agents.policy_gradient.base.EpisodicPolicyGradient`, whose
        defaults are REINVENT's: ``learning_rate`` 1e-4, ``batch_size`` 64 sequences per update,
        ``max_grad_norm`` None; ``c`` (σ = 1/c) is the env's unless given. DAP adapts no coefficient:
        it takes no ``target_kl``.
    """

    kl_target_adapts = None

    def __init__(self, policy: Any = "PriorLSTMPolicy", env: Any = None, replay_memory: int = 0, replay_sample: int = 0,
                 replay_sampling: str = "uniform", rank_coefficient: float = DEFAULT_RANK_COEFFICIENT,
                 genetic: Any = None, augment: int = 0, **kwargs: Any) -> None:
        check_number("replay_memory", replay_memory, low=0, integer=True)
        check_number("replay_sample", replay_sample, low=0, integer=True)
        if replay_sample > replay_memory:
            raise ValueError(f"replay_sample ({replay_sample}) cannot exceed replay_memory ({replay_memory})")
        self.replay_sampling = check_choice("replay_sampling", replay_sampling, REPLAY_SAMPLING)
        self.rank_coefficient = check_number("rank_coefficient", rank_coefficient, low=0.0, low_open=True)
        self.replay_memory = replay_memory
        self.replay_sample = replay_sample
        self.memory = TopKMemory(replay_memory)
        self._init_molecule_extras(genetic, augment)
        super().__init__(policy, env, **kwargs)

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "memory", "_replay_rng"]

    def _setup_model(self) -> None:
        super()._setup_model()
        self.memory = TopKMemory(self.replay_memory)
        self._replay_rng = np.random.default_rng(self.seed)

    def checkpoint_arrays(self) -> dict[str, np.ndarray]:
        """The top-k memory as arrays (episodes padded to the longest), and the molecule options' state."""
        return {**self.memory.to_arrays(), **self.molecule_arrays()}

    def restore_checkpoint_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Refill the top-k memory (and the molecule options' state) from :meth:`checkpoint_arrays`."""
        self.memory = TopKMemory.from_arrays(self.replay_memory, arrays) if "lengths" in arrays else \
            TopKMemory(self.replay_memory)
        self.restore_molecule_arrays(arrays)

    def train(self, episodes: list[Episode]) -> None:
        offspring = self._explore(episodes)
        self._purge(self.memory)
        replayed = (self.memory.sample(self.replay_sample, self._replay_rng, self.replay_sampling, self.rank_coefficient)
                    if self.replay_memory else [])
        if self.replay_memory:
            self.memory.add(episodes + offspring)
        loss, agent, augmented, scores = self._update(episodes + offspring + replayed)
        for _ in range(self.augment):  # Augmented Memory: the batch and the whole memory, re-written
            assert self.molecules is not None  # augment > 0 made it (_bind_molecules)
            rewritten = self.molecules.rewrite(episodes + offspring + self.memory.episodes)
            if rewritten:
                self._update(rewritten)
        new = slice(0, len(episodes))
        self.logger.record("train/loss", loss.item())
        self.logger.record("train/agent_log_likelihood", agent[new].mean().item())
        self.logger.record("train/augmented_log_likelihood", augmented[new].mean().item())
        self.logger.record("train/score", scores[new].mean().item())
        if self.replay_memory:
            self.logger.record("train/memory_best_score", self.memory.scores[0] if self.memory.scores else 0.0)
        if self.molecules is not None:
            self.molecules.record(self.logger)

    def _update(self, episodes: list[Episode]) -> tuple[th.Tensor, ...]:
        """One gradient step of the augmented-likelihood loss on ``episodes``: (loss, log π(x), augmented, S(x))."""
        batch = Episodes.stack(episodes, self.device)
        log_pi, _ = self.policy.unroll(batch.inputs)
        taken = log_pi.gather(2, batch.actions.unsqueeze(2)).squeeze(2) * batch.mask
        agent = taken.sum(dim=1)
        scores = batch.domain_return()
        # The sequence's reward w log p(x) + S(x)/c: the per-step rewards' sum, composed at sequence level.
        augmented = compose((batch.prior_log_prob * batch.mask).sum(dim=1), scores, self.current_c, batch.prior_weight)
        loss = augmented_likelihood_loss(agent, augmented).mean()
        self._gradient_step(loss)
        return loss, agent, augmented, scores
