"""Sequence Tutor's learners (Jaques et al., ICML 2017): recurrent Q-, Ψ- and G-learning.

``algorithm.py`` collects and trains, and holds the three targets side by side; ``policies.py``
the recurrent Q-network policy, ``buffers.py`` the two ways to replay.
"""

from .algorithm import (
    GLearning,
    PriorQLearning,
    PsiLearning,
    SequenceTutorAlgorithm,
    g_bootstrap,
    psi_bootstrap,
    q_bootstrap,
)
from .buffers import (
    REPLAY_BUFFERS,
    EpisodeReplayBuffer,
    RecurrentReplayBuffer,
    TDBatch,
    TransitionReplayBuffer,
)
from .policies import RecurrentQPolicy

__all__ = [
    "REPLAY_BUFFERS",
    "EpisodeReplayBuffer",
    "GLearning",
    "PriorQLearning",
    "PsiLearning",
    "RecurrentQPolicy",
    "RecurrentReplayBuffer",
    "SequenceTutorAlgorithm",
    "TDBatch",
    "TransitionReplayBuffer",
    "g_bootstrap",
    "psi_bootstrap",
    "q_bootstrap",
]
