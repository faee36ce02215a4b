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

import torch as th

from seqtutor_envs.sampling import DEFAULT_RANK_COEFFICIENT

from ..common.episodes import Episode, Episodes
from ..common.memory import ReplayMemoryMixin
from ..common.offpolicy import MoleculeExtrasMixin
from .base import EpisodicPolicyGradient


def augmented_likelihood_loss(agent_log_likelihood: th.Tensor, augmented_log_likelihood: th.Tensor) -> th.Tensor:
    """Per-sequence ``(w log p_prior(x) + S(x)/c - log π(x))²``, the augmented likelihood given by :func:`compose`."""
    return (augmented_log_likelihood - agent_log_likelihood) ** 2


class DAP(ReplayMemoryMixin, MoleculeExtrasMixin, EpisodicPolicyGradient):
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

    def __init__(
        self,
        policy: Any = "PriorLSTMPolicy",
        env: Any = None,
        replay_memory: int = 0,
        replay_sample: int = 0,
        replay_sampling: str = "uniform",
        rank_coefficient: float = DEFAULT_RANK_COEFFICIENT,
        genetic: Any = None,
        augment: int = 0,
        **kwargs: Any,
    ) -> None:
        self._init_replay_memory(replay_memory, replay_sample, replay_sampling, rank_coefficient, distinct=True)
        self._init_molecule_extras(genetic, augment)
        super().__init__(policy, env, **kwargs)

    def train(self, episodes: list[Episode]) -> None:
        offspring = self._explore(episodes)
        self._purge(self.memory)
        replayed = self.replay(self.replay_sample)
        self.remember(episodes + offspring)
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
        self.record_memory()
        if self.molecules is not None:
            self.molecules.record(self.logger)

    def _update(self, episodes: list[Episode]) -> tuple[th.Tensor, ...]:
        """One gradient step of the augmented-likelihood loss on ``episodes``: (loss, log π(x), augmented, S(x))."""
        batch = Episodes.stack(episodes, self.device)
        _, agent = self.sequence_log_probs(batch)
        scores = batch.domain_return()
        augmented = self.log_target(batch)
        loss = augmented_likelihood_loss(agent, augmented).mean()
        self._gradient_step(loss)
        return loss, agent, augmented, scores
