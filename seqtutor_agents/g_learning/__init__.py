from seqtutor_agents.g_learning.g_learning import GLearning
from seqtutor_agents.g_learning.policies import LstmQPolicy, RecurrentQPolicy

__all__ = ["GLearning", "LstmQPolicy", "RecurrentQPolicy"]
