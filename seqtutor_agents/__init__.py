"""seqtutor's learners as Stable-Baselines3 algorithms, and the ``seqtutor`` command line.

* :mod:`seqtutor_agents.sequence_tutor`: the paper's learners -- ``PriorQLearning`` (Q-learning
  with the log prior in the reward), ``PsiLearning``, ``GLearning`` -- with their recurrent
  Q-network policy and replay buffers;
* :mod:`seqtutor_agents.policy_gradient`: KL-regularised policy-gradient baselines from the prior --
  ``DAP`` (REINVENT's augmented likelihood) and ``KLPPO`` (PPO with a KL penalty, adaptive β);
* :mod:`seqtutor_agents.common`: what several learner families share -- prior-initialised
  recurrent networks, exact-KL bookkeeping and the KL controller, the SB3 ``VecEnv`` adapter
  (:func:`make_sb3_vec_env`), the features extractor that lets ``RecurrentPPO`` run on seqtutor
  envs, safe (unpickling-free) model files;
* :mod:`seqtutor_agents.training`: training runs (config, train, resume, checkpoints), used by the
  CLI, the demo and the benchmarks.
"""

from seqtutor_agents.common.extractors import SeqTutorExtractor
from seqtutor_agents.common.vec_env import SeqTutorVecEnv, make_sb3_vec_env
from seqtutor_agents.policy_gradient import DAP, DPG, KLPPO, PriorLSTMPolicy
from seqtutor_agents.sequence_tutor import (
    EpisodeReplayBuffer,
    GLearning,
    PriorQLearning,
    PsiLearning,
    RecurrentQPolicy,
    TransitionReplayBuffer,
)

#: Sequence Tutor's learners by short name (``seqtutor train --algo``).
ALGORITHMS = {"q": PriorQLearning, "psi": PsiLearning, "g": GLearning}

__all__ = [
    "ALGORITHMS",
    "DAP",
    "DPG",
    "KLPPO",
    "PriorLSTMPolicy",
    "EpisodeReplayBuffer",
    "GLearning",
    "PriorQLearning",
    "PsiLearning",
    "RecurrentQPolicy",
    "SeqTutorExtractor",
    "SeqTutorVecEnv",
    "TransitionReplayBuffer",
    "make_sb3_vec_env",
]
