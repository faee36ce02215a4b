"""Sequence Tutor's learners as Stable-Baselines3 algorithms.

``PriorQLearning`` (Q-learning with the log prior in the reward), ``PsiLearning`` and
``GLearning`` share one recurrent off-policy implementation; ``make_sb3_vec_env`` exposes a
seqtutor env's native batched version as an SB3 ``VecEnv`` for these and for stock SB3 algorithms.
"""

from seqtutor_agents.common.policies import RecurrentQPolicy
from seqtutor_agents.common.vec_env import SeqTutorVecEnv, make_sb3_vec_env
from seqtutor_agents.g_learning import GLearning
from seqtutor_agents.psi_learning import PsiLearning
from seqtutor_agents.q_learning import PriorQLearning

ALGORITHMS = {"q": PriorQLearning, "psi": PsiLearning, "g": GLearning}

__all__ = ["ALGORITHMS", "GLearning", "PriorQLearning", "PsiLearning", "RecurrentQPolicy", "SeqTutorVecEnv", "make_sb3_vec_env"]
