"""seqtutor envs in TorchRL (the optional extra ``pip install seqtutor[torchrl]``).

TorchRL wraps them as it wraps any Gymnasium env::

    from torchrl.envs import GymEnv, GymWrapper
    env = GymEnv("SeqTutor-Melody-v0")                       # one env
    envs = GymWrapper(gym.make_vec("SeqTutor-SMILES-v0", num_envs=64, autoreset_mode="disabled"))

A native vector env goes to TorchRL with ``autoreset_mode="disabled"``: TorchRL resets finished
sub-envs itself (``reset(options={"reset_mask": ...})``) and refuses ``"next_step"``; its reading of
``"same_step"`` final observations (and ``GymEnv(..., num_envs=N)``, a ``"next_step"``
``AsyncVectorEnv`` of single envs) does not handle a ``Discrete`` observation such as ``step``
-- TorchRL 0.14 fails the same way on ``FrozenLake-v1``.

The reward's parts are in each step's ``info`` as float64 numpy scalars (arrays for a vector env);
:func:`reward_parts_reader` is TorchRL's ``default_info_dict_reader`` for them, with float64 specs of
the env's batch shape (the reader's default specs are float32 and unbatched, which
``check_env_specs`` refuses). :func:`make_torchrl_env` builds either env with it.

TorchRL is imported inside the functions: it is an optional dependency, and ``seqtutor_envs`` must
import without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym

from .reward import REWARD_PART_KEYS


def reward_parts_reader(batch_size: Sequence[int] = (), keys: Sequence[str] = REWARD_PART_KEYS) -> Any:
    """TorchRL's ``default_info_dict_reader`` for the reward's parts (``env.set_info_dict_reader(...)``).

    :param batch_size: the TorchRL env's ``batch_size`` (``()`` for one env, ``(N,)`` for N).
    :param keys: the ``info`` entries to read (float64 per step): the reward's parts by default; the
        domain's alias (``music_theory_reward``) works too.
    """
    import torch
    from torchrl.data import Unbounded
    from torchrl.envs import default_info_dict_reader

    shape = tuple(batch_size)
    return default_info_dict_reader(list(keys), spec=[Unbounded(shape, dtype=torch.float64) for _ in keys])


def make_torchrl_env(env_id: str, num_envs: int | None = None, **env_kwargs: Any) -> Any:
    """A TorchRL env of a seqtutor env that reads the reward's parts into its tensordicts.

    :param env_id: e.g. ``"SeqTutor-Melody-v0"``.
    :param num_envs: None: ``GymEnv(env_id)``; N: ``GymWrapper`` of the native batched env of N
        sub-envs (``autoreset_mode="disabled"``, one prior forward per step).
    :param env_kwargs: the env's keyword arguments.
    """
    from torchrl.envs import GymEnv, GymWrapper

    if num_envs is None:
        env = GymEnv(env_id, **env_kwargs)
    else:
        env = GymWrapper(gym.make_vec(env_id, num_envs=num_envs, autoreset_mode="disabled", **env_kwargs))
    env.set_info_dict_reader(reward_parts_reader(env.batch_size))
    return env
