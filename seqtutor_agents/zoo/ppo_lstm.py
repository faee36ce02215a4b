"""rl-zoo3 ``--conf-file seqtutor_agents.zoo.ppo_lstm``: seqtutor's ppo_lstm settings for every seqtutor env."""

from seqtutor_agents.zoo import zoo_hyperparams

hyperparams = zoo_hyperparams("ppo_lstm")
