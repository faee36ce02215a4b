"""The paper's three learners side by side: they differ only in their TD target.

With ``V⁻`` the target network's value of the next state and ``r = w log p(a|s) + r_domain/c``:

=================================  ==============================================  ===========================
learner                            target                                          acting policy
=================================  ==============================================  ===========================
Q-learning with log prior          ``r + γ max_a' Q⁻(s', a')``                     ``softmax(Q / T)``
Ψ-learning (soft Q)                ``r + γ logsumexp_a' Ψ⁻(s', a')``               ``softmax(Ψ / T)``
G-learning                         ``r_domain/c + γ log Σ_a' p(a'|s') exp G⁻(s', a')``  ``∝ p(a|s) exp G(s, a)``
=================================  ==============================================  ===========================

Ψ and G optimise the domain return minus KL(π ‖ prior) (entropy-regularised); Q-learning drops
the entropy term, so its optimum is deterministic and drifts furthest from the prior. G = Ψ − log p:
the prior enters G-learning through its target and its policy, not its reward.
"""

from __future__ import annotations

from typing import ClassVar

import torch as th

from .algorithm import SequenceTutorAlgorithm


def q_bootstrap(next_q: th.Tensor, next_prior_log_probs: th.Tensor) -> th.Tensor:
    """``max_a' Q⁻(s', a')``."""
    return next_q.max(dim=-1).values


def psi_bootstrap(next_q: th.Tensor, next_prior_log_probs: th.Tensor) -> th.Tensor:
    """``logsumexp_a' Ψ⁻(s', a')``: the soft value of the entropy-regularised return."""
    return th.logsumexp(next_q, dim=-1)


def g_bootstrap(next_q: th.Tensor, next_prior_log_probs: th.Tensor) -> th.Tensor:
    """``log Σ_a' p(a'|s') exp G⁻(s', a')``: the soft value with the prior as the base measure."""
    return th.logsumexp(next_q + next_prior_log_probs, dim=-1)


class PriorQLearning(SequenceTutorAlgorithm):
    """Q-learning with the log prior in the reward (Sequence Tutor, §3; RL Tuner's ``algorithm='q'``).

    Recurrent DQN on ``r = log p(a|s) + r_domain/c`` with target ``r + γ max_a' Q⁻(s', a')``. The
    acting policy samples ``softmax(Q / T)`` (Boltzmann) or is epsilon-greedy.
    See :class:`~seqtutor_agents.sequence_tutor.algorithm.SequenceTutorAlgorithm` for the parameters.
    """

    acting: ClassVar[str] = "q"

    def bootstrap_value(self, next_q: th.Tensor, next_prior_log_probs: th.Tensor) -> th.Tensor:
        return q_bootstrap(next_q, next_prior_log_probs)

    def soft_correction(self, next_q_taken: th.Tensor, next_value: th.Tensor) -> th.Tensor:
        return th.zeros_like(next_value)  # Peng's Q(λ): no entropy term to subtract


class PsiLearning(SequenceTutorAlgorithm):
    """Ψ-learning: soft Q-learning with the log prior in the reward (Sequence Tutor, §3).

    Target ``r + γ logsumexp_a' Ψ⁻(s', a')`` with ``r = log p(a|s) + r_domain/c``; policy ``softmax(Ψ)``.
    See :class:`~seqtutor_agents.sequence_tutor.algorithm.SequenceTutorAlgorithm` for the parameters.
    """

    acting: ClassVar[str] = "psi"

    def bootstrap_value(self, next_q: th.Tensor, next_prior_log_probs: th.Tensor) -> th.Tensor:
        return psi_bootstrap(next_q, next_prior_log_probs)


class GLearning(SequenceTutorAlgorithm):
    """G-learning (Sequence Tutor, §3): ``G = Ψ − log p``, policy ``∝ p(a|s) exp G(s, a)``.

    Target ``r_domain/c + γ log Σ_a' p(a'|s') exp G⁻(s', a')``: the domain reward only, recomposed
    from the reward's parts. The output layer starts at zero by default (``head_init="zero"``):
    ``G ≡ 0`` makes the initial policy exactly the prior, the G-analogue of starting Ψ from the
    prior's logits. ``head_init="prior"`` reproduces RL Tuner, whose G-network starts from the
    prior's logits and so acts with ``∝ p²`` at first.
    See :class:`~seqtutor_agents.sequence_tutor.algorithm.SequenceTutorAlgorithm` for the parameters.
    """

    acting: ClassVar[str] = "g"
    default_head_init: ClassVar[str] = "zero"

    def bootstrap_value(self, next_q: th.Tensor, next_prior_log_probs: th.Tensor) -> th.Tensor:
        return g_bootstrap(next_q, next_prior_log_probs)

    #: The prior enters G-learning through its target and its policy, not its reward.
    prior_in_reward: ClassVar[bool] = False
