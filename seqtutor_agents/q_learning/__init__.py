from seqtutor_agents.q_learning.policies import LstmQPolicy, RecurrentQPolicy
from seqtutor_agents.q_learning.q_learning import PriorQLearning

__all__ = ["LstmQPolicy", "PriorQLearning", "RecurrentQPolicy"]
