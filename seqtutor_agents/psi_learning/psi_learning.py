"""Ψ-learning (soft Q-learning with the log prior in the reward; Sequence Tutor, §3)."""

from __future__ import annotations

from typing import ClassVar

import torch as th

from seqtutor_agents.common.tutor import SequenceTutorAlgorithm


class PsiLearning(SequenceTutorAlgorithm):
    """Target ``r + γ logsumexp_a' Ψ⁻(s', a')`` with ``r = log p(a|s) + r_domain/c``; policy ``softmax(Ψ)``.

    Optimises reward minus KL(π‖prior) (entropy-regularised), so it keeps more of the prior than Q.
    See :class:`~seqtutor_agents.common.tutor.SequenceTutorAlgorithm` for the parameters.
    """

    acting: ClassVar[str] = "psi"

    def bootstrap_value(self, next_q: th.Tensor, next_prior_log_probs: th.Tensor) -> th.Tensor:
        return th.logsumexp(next_q, dim=-1)
