"""rl-zoo3 ``--conf-file seqtutor_agents.zoo.dqn``: seqtutor's dqn settings for every seqtutor env."""

from seqtutor_agents.zoo import zoo_hyperparams

hyperparams = zoo_hyperparams("dqn")
