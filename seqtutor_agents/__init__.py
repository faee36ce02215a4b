"""seqtutor's learners as Stable-Baselines3 algorithms, and the ``seqtutor`` command line.

* :mod:`seqtutor_agents.sequence_tutor`: the paper's learners -- ``PriorQLearning`` (Q-learning
  with the log prior in the reward), ``PsiLearning``, ``GLearning`` -- with their recurrent
  Q-network policy and replay buffers;
* :mod:`seqtutor_agents.policy_gradient`: KL-regularised policy-gradient baselines from the prior --
  ``DAP`` (REINVENT's augmented likelihood), ``KLPPO`` (PPO with a KL penalty, adaptive β),
  ``DPG`` (distribution matching toward π*) and ``TB`` (trajectory balance toward π*, off-policy);
* :mod:`seqtutor_agents.common`: what several learner families share -- the KL-controlled learner
  base (c, its controller, collection, the gradient step), prior-initialised
  recurrent networks, exact-KL bookkeeping and the KL controller, the SB3 ``VecEnv`` adapter
  (:func:`make_sb3_vec_env`), the features extractor that lets ``RecurrentPPO`` run on seqtutor
  envs, safe (unpickling-free) model files;
* :mod:`seqtutor_agents.runs`: training runs -- the algorithm table (:mod:`~seqtutor_agents.runs.config`),
  train, resume, checkpoints, evaluation, reports -- used by the CLI, the demo and the benchmarks.
"""

import importlib
from typing import Any

#: Public names and the modules that define them, imported on first use (PEP 562): the command
#: line imports this package, and torch / Stable-Baselines3 take seconds to import.
_EXPORTS = {
    "SeqTutorExtractor": "seqtutor_agents.common.extractors",
    "SeqTutorVecEnv": "seqtutor_agents.common.vec_env",
    "make_sb3_vec_env": "seqtutor_agents.common.vec_env",
    "DAP": "seqtutor_agents.policy_gradient",
    "DPG": "seqtutor_agents.policy_gradient",
    "KLPPO": "seqtutor_agents.policy_gradient",
    "TB": "seqtutor_agents.policy_gradient",
    "PriorLSTMPolicy": "seqtutor_agents.policy_gradient",
    "EpisodeReplayBuffer": "seqtutor_agents.sequence_tutor",
    "GLearning": "seqtutor_agents.sequence_tutor",
    "PriorQLearning": "seqtutor_agents.sequence_tutor",
    "PsiLearning": "seqtutor_agents.sequence_tutor",
    "RecurrentQPolicy": "seqtutor_agents.sequence_tutor",
    "TransitionReplayBuffer": "seqtutor_agents.sequence_tutor",
}


def __getattr__(name: str) -> Any:
    if name == "ALGORITHMS":  # Sequence Tutor's learners by short name (``seqtutor train --algo``), from the table
        from seqtutor_agents.runs.config import SEQUENCE_TUTOR_ALGOS, algorithm_class

        return {algo: algorithm_class(algo) for algo in SEQUENCE_TUTOR_ALGOS}
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'seqtutor_agents' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS, "ALGORITHMS"])


__all__ = [
    "ALGORITHMS",
    "DAP",
    "DPG",
    "KLPPO",
    "TB",
    "EpisodeReplayBuffer",
    "GLearning",
    "PriorLSTMPolicy",
    "PriorQLearning",
    "PsiLearning",
    "RecurrentQPolicy",
    "SeqTutorExtractor",
    "SeqTutorVecEnv",
    "TransitionReplayBuffer",
    "make_sb3_vec_env",
]
