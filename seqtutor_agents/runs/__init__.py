"""Training runs and what is made of them: the config and its one algorithm table, the run folder
(lock, whole checkpoints, clean stops), training and resuming, evaluation and sampling, the report
page, the demo and sweeps.

The package is the second floor of ``seqtutor_agents``: the command line and the rl-zoo3 modules
stand on it, and it stands on the learner families (``sequence_tutor``, ``policy_gradient``), which
stand on ``common``.
"""
