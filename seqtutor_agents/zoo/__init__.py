"""rl-zoo3 hyperparameter files for seqtutor's envs, made from the algorithm table
(:data:`seqtutor_agents.runs.config.ALGOS`).

rl-zoo3 reads a ``--conf-file`` that names a Python module through its ``hyperparams`` dict (env id
-> settings), so one module per rl-zoo3 algorithm name, each built from this package's own
defaults -- the two can never disagree::

    python -m rl_zoo3.train --algo ppo --env SeqTutor-Melody-v0 --gym-packages seqtutor_envs \\
        --conf-file seqtutor_agents.zoo.ppo

Every file sets rl-zoo3's ``vec_env_wrapper`` to :func:`native_vec_env`: rl-zoo3 builds its envs with
SB3's ``make_vec_env`` (a ``DummyVecEnv`` of ``n_envs`` single envs, one prior forward per env per
step), and hands them to that hook, which returns the native batched env of the same settings (one
forward for all). rl-zoo3 offers no other way in: its ``vec_env_class`` is only ``--vec-env
dummy|subproc`` (or a subclass's ``default_vec_env_cls``) and receives single-env factories.

An algorithm is here when its row names an rl-zoo3 name (``zoo``); ``ppo_lstm`` (sb3-contrib's
RecurrentPPO) gets :class:`~seqtutor_agents.common.extractors.SeqTutorExtractor` in its
``policy_kwargs`` (its row's ``seqtutor_extractor``): SB3's default ``MultiInputLstmPolicy`` extractor
cannot read the env's int64 token observations.
"""

from __future__ import annotations

import os
from typing import Any

from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecMonitor

from seqtutor_envs.domains import env_ids

from ..common.vec_env import native_vec_env_like
from ..runs.config import ALGOS, defaults, seqtutor_policy_kwargs

#: rl-zoo3 algorithm name -> seqtutor's (``seqtutor train --algo``).
ZOO_ALGOS = {algo.zoo: name for name, algo in ALGOS.items() if algo.zoo is not None}
#: rl-zoo3's ``vec_env_wrapper`` (imported by name): :func:`native_vec_env`.
VEC_ENV_WRAPPER = "seqtutor_agents.zoo.native_vec_env"
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
        settings: dict[str, Any] = {
            "policy": ALGOS[algo].policy,
            "n_timesteps": N_TIMESTEPS,
            "n_envs": entry.pop("n_envs", 1),
            "vec_env_wrapper": VEC_ENV_WRAPPER,
        }
        env_kwargs = entry.pop("env_kwargs", None)
        if env_kwargs:
            settings["env_kwargs"] = env_kwargs
        if ALGOS[algo].seqtutor_extractor:
            settings["policy_kwargs"] = seqtutor_policy_kwargs(algo, entry.pop("policy_kwargs", None))
        settings.update(entry)
        files[env_id] = settings
    return files


def native_vec_env(venv: VecEnv) -> VecEnv:
    """rl-zoo3's ``vec_env_wrapper``: the native batched env in place of rl-zoo3's ``DummyVecEnv``.

    Same env id, settings, sub-env count, seeds and RNG streams. Where rl-zoo3's Monitors log to
    files (training envs), one ``VecMonitor`` logs the native env's episodes to ``native.monitor.csv``
    in the same folder, which rl-zoo3's plots read with the others (left with their header only).

    :param venv: what rl-zoo3 built (``--vec-env dummy``, its default).
    """
    if not isinstance(venv, DummyVecEnv):
        raise ValueError(
            f"seqtutor_agents.zoo.native_vec_env takes rl-zoo3's DummyVecEnv (--vec-env dummy), got "
            f"{type(venv).__name__}: the native env steps every sub-env in one process"
        )
    writers = [_monitor_writer(env) for env in venv.envs]
    native = native_vec_env_like(venv)
    venv.close()  # rl-zoo3 keeps only what this returns
    files = [writer.file_handler.name for writer in writers if writer is not None]
    return VecMonitor(native, filename=os.path.join(os.path.dirname(files[0]), "native")) if files else native


def _monitor_writer(env: Any) -> Any:
    try:
        return env.get_wrapper_attr("results_writer")
    except AttributeError:  # no Monitor
        return None
