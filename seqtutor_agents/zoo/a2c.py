"""rl-zoo3 ``--conf-file seqtutor_agents.zoo.a2c``: seqtutor's a2c settings for every seqtutor env."""

from seqtutor_agents.zoo import zoo_hyperparams

hyperparams = zoo_hyperparams("a2c")
