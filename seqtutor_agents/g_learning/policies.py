"""Policies of this learner: the shared recurrent Q-network policy (SB3 naming)."""

from seqtutor_agents.common.policies import RecurrentQPolicy

LstmQPolicy = RecurrentQPolicy

__all__ = ["LstmQPolicy", "RecurrentQPolicy"]
