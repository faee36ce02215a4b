"""Q-learning with the log prior in the reward (Sequence Tutor, §3; RL Tuner's ``algorithm='q'``)."""

from __future__ import annotations

from typing import ClassVar

import torch as th

from seqtutor_agents.common.tutor import SequenceTutorAlgorithm


class PriorQLearning(SequenceTutorAlgorithm):
    """Recurrent DQN on ``r = log p(a|s) + r_domain/c`` with target ``r + γ max_a' Q⁻(s', a')``.

    Its optimum is deterministic (no entropy term): it drifts furthest from the prior.
    The acting policy samples ``softmax(Q / T)`` (Boltzmann) or is epsilon-greedy.
    See :class:`~seqtutor_agents.common.tutor.SequenceTutorAlgorithm` for the parameters.
    """

    acting: ClassVar[str] = "q"

    def bootstrap_value(self, next_q: th.Tensor, next_prior_log_probs: th.Tensor) -> th.Tensor:
        return next_q.max(dim=-1).values
