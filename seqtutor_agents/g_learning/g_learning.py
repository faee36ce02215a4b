"""G-learning (Sequence Tutor, §3): ``G = Ψ − log p``, policy ``∝ p(a|s) exp G(s, a)``."""

from __future__ import annotations

from typing import ClassVar

import torch as th

from seqtutor_agents.common.tutor import SequenceTutorAlgorithm


class GLearning(SequenceTutorAlgorithm):
    """Target ``r_domain/c + γ log Σ_a' p(a'|s') exp G⁻(s', a')`` with the domain reward only.

    The env's reward ``w log p(a|s) + r_domain/c`` has its prior term removed using the prior's
    log-probabilities carried in the observation. The output layer starts at zero by default
    (``head_init="zero"``): ``G ≡ 0`` makes the initial policy exactly the prior, the G-analogue of
    starting Ψ from the prior's logits. ``head_init="prior"`` reproduces RL Tuner, whose G-network
    starts from the prior's logits and so acts with ``∝ p²`` at first.
    See :class:`~seqtutor_agents.common.tutor.SequenceTutorAlgorithm` for the parameters.
    """

    acting: ClassVar[str] = "g"
    default_head_init: ClassVar[str] = "zero"

    def bootstrap_value(self, next_q: th.Tensor, next_prior_log_probs: th.Tensor) -> th.Tensor:
        return th.logsumexp(next_q + next_prior_log_probs, dim=-1)

    def td_reward(self, rewards: th.Tensor, action_log_prob: th.Tensor) -> th.Tensor:
        return rewards - self.prior_weight * action_log_prob
