from seqtutor_agents.psi_learning.policies import LstmQPolicy, RecurrentQPolicy
from seqtutor_agents.psi_learning.psi_learning import PsiLearning

__all__ = ["LstmQPolicy", "PsiLearning", "RecurrentQPolicy"]
