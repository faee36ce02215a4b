"""rl-zoo3 hyperparameter files for seqtutor's envs, made from the algorithm table (:data:`seqtutor_agents.runs.config.ALGOS`).

rl-zoo3 reads a ``--conf-file`` that names a Python module through its ``hyperparams`` dict (env id
-> settings), so one module per rl-zoo3 algorithm name, each built from this package's own
defaults -- the two can never disagree::

    python -m rl_zoo3.train --algo ppo --env SeqTutor-Melody-v0 --gym-packages seqtutor_envs \\
        --conf-file seqtutor_agents.zoo.ppo

An algorithm is here when its row names an rl-zoo3 name (``zoo``); ``ppo_lstm`` (sb3-contrib's
RecurrentPPO) gets :class:`~seqtutor_agents.common.extractors.SeqTutorExtractor` in its
``policy_kwargs`` (its row's ``seqtutor_extractor``): SB3's default ``MultiInputLstmPolicy`` extractor
cannot read the env's int64 token observations.
"""

from __future__ import annotations

from typing import Any

from seqtutor_envs.domains import env_ids

from ..runs.config import ALGOS, defaults, seqtutor_policy_kwargs

#: rl-zoo3 algorithm name -> seqtutor's (``seqtutor train --algo``).
ZOO_ALGOS = {algo.zoo: name for name, algo in ALGOS.items() if algo.zoo is not None}
#: Training length written into the files (rl-zoo3's ``n_timesteps``; ``-n`` overrides it).
N_TIMESTEPS = 200_000


def zoo_hyperparams(zoo_algo: str) -> dict[str, dict[str, Any]]:
    """``{env_id: rl-zoo3 settings}`` for every seqtutor env, from seqtutor's defaults for ``zoo_algo``."""
    if zoo_algo not in ZOO_ALGOS:
        raise ValueError(f"no rl-zoo3 settings for {zoo_algo!r}; choose one of {', '.join(ZOO_ALGOS)}")
    algo = ZOO_ALGOS[zoo_algo]
    files = {}
    for env_id in env_ids():
        entry = defaults(env_id, algo)
        settings: dict[str, Any] = {"policy": ALGOS[algo].policy, "n_timesteps": N_TIMESTEPS,
                                    "n_envs": entry.pop("n_envs", 1)}
        env_kwargs = entry.pop("env_kwargs", None)
        if env_kwargs:
            settings["env_kwargs"] = env_kwargs
        if ALGOS[algo].seqtutor_extractor:
            settings["policy_kwargs"] = seqtutor_policy_kwargs(algo, entry.pop("policy_kwargs", None))
        settings.update(entry)
        files[env_id] = settings
    return files
