"""Default settings per algorithm, and the domain's own settings over them (like rl-zoo3's hyperparameter files).

``seqtutor train`` starts from :data:`LEARNER_DEFAULTS` ``[algo]``, lays the domain's settings over it
(:attr:`seqtutor_envs.domains.Domain.learner_defaults`: e.g. the SMILES domain's ``gamma = 1``), then
the user's ``--algo-kwarg`` options. Two keys are not algorithm arguments: ``n_envs`` (parallel envs
of the native batched env) and ``env_kwargs`` (env keyword arguments, e.g. the ``c`` a setting was
chosen for). Each entry says which measurement chose it.
"""

from __future__ import annotations

import copy
from typing import Any

from seqtutor_envs.domains import get_domain

# One gradient step (32 whole episodes = 1,024 transitions) per 4 vector steps of 32 envs: 8 replayed
# transitions per env step, close to RL Tuner's 32 per 5 env steps (benchmarks/results/melody_table.md).
_TUTOR = {"n_envs": 32, "learning_starts": 1_000, "train_freq": 4, "gradient_steps": 1, "batch_size": 32, "gamma": 0.9}

# Policy-gradient baselines: REINVENT's defaults (lr 1e-4, batch 64) and TRL-like PPO settings on whole episodes.
_PG: dict[str, dict[str, Any]] = {
    "dap": {"n_envs": 64, "learning_rate": 1e-4, "batch_size": 64},
    "klppo": {"n_envs": 64, "learning_rate": 1e-4, "batch_size": 64, "n_epochs": 4, "minibatch_size": 16,
              "gamma": 1.0, "gae_lambda": 0.95, "beta": 1.0},
    "dpg": {"n_envs": 64, "learning_rate": 5e-4, "batch_size": 64},
}

_STOCK: dict[str, dict[str, Any]] = {
    "ppo": {"n_envs": 32, "n_steps": 64, "batch_size": 512, "n_epochs": 4, "learning_rate": 3e-4, "ent_coef": 0.0},
    "a2c": {"n_envs": 32, "n_steps": 8, "learning_rate": 7e-4},
    "dqn": {"n_envs": 32, "learning_starts": 2_000, "buffer_size": 100_000, "train_freq": 4, "batch_size": 32,
            "exploration_fraction": 0.5, "exploration_final_eps": 0.05, "target_update_interval": 1_000},
    "qrdqn": {"n_envs": 32, "learning_starts": 2_000, "buffer_size": 100_000, "train_freq": 4, "batch_size": 32,
              "exploration_fraction": 0.5, "exploration_final_eps": 0.05, "target_update_interval": 1_000},
    "recurrent_ppo": {"n_envs": 32, "n_steps": 64, "batch_size": 512, "n_epochs": 4, "learning_rate": 3e-4,
                      "ent_coef": 0.0},
}

#: Each algorithm's defaults on any seqtutor env.
LEARNER_DEFAULTS: dict[str, dict[str, Any]] = {"q": dict(_TUTOR), "psi": dict(_TUTOR), "g": dict(_TUTOR), **_PG, **_STOCK}

#: Keys of a table entry that are not arguments of the algorithm.
NON_ALGO_KEYS = ("n_envs", "env_kwargs")


def defaults(env_id: str, algo: str) -> dict[str, Any]:
    """The algorithm's defaults with the env's domain's settings over them (a copy; empty if neither lists it)."""
    entry = copy.deepcopy(LEARNER_DEFAULTS.get(algo, {}))
    try:
        overrides = copy.deepcopy(dict(get_domain(env_id).learner_defaults.get(algo, {})))
    except KeyError:
        return entry
    env_kwargs = {**entry.pop("env_kwargs", {}), **overrides.pop("env_kwargs", {})}
    entry.update(overrides)
    if env_kwargs:
        entry["env_kwargs"] = env_kwargs
    return entry
