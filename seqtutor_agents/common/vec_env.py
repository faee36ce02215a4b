"""Expose a native batched seqtutor ``VectorEnv`` as a Stable-Baselines3 ``VecEnv``.

SB3 algorithms take an SB3 ``VecEnv`` (same-step autoreset, ``info["terminal_observation"]``,
a list of per-env info dicts), not a Gymnasium ``VectorEnv``. :class:`SeqTutorVecEnv` runs the
native env in ``same_step`` autoreset mode and translates, so PPO, A2C, DQN and our learners all
train on one batched prior forward per step. Each per-env info carries the reward's parts
(:data:`seqtutor_envs.reward.REWARD_PART_KEYS`); seqtutor's learners do not read them back from
the dicts but take the step as arrays (:meth:`SeqTutorVecEnv.step_arrays`).
It also keeps episode statistics like SB3's ``VecMonitor`` (``info["episode"]`` on the step an
episode ends), computed with array operations.

:func:`seqtutor_vec_env` is what a learner does with the env a user passes (SB3's ``_wrap_env``
hook, :class:`SeqTutorEnvMixin`): a single ``gym.make`` env, a ``DummyVecEnv`` or
``SubprocVecEnv`` (SB3's ``make_vec_env``) of a seqtutor env becomes the native vector env of the
same id, settings and sub-env count (each sub-env continuing its RNG stream); a ``VecMonitor``
above it keeps watching. What cannot be rebuilt without changing the task (a reward wrapper,
``VecNormalize``, a ``TimeLimit``, an env made without ``gym.make``) is refused at construction with
the call that works.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.envs.registration import EnvSpec, load_env_creator
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecMonitor
from stable_baselines3.common.vec_env.base_vec_env import (
    VecEnv,
    VecEnvIndices,
    VecEnvObs,
    VecEnvStepReturn,
    VecEnvWrapper,
)

import seqtutor_envs  # noqa: F401  (registers the environments)
from seqtutor_envs.reward import REWARD_PART_KEYS, REWARD_TERMS, RewardParts
from seqtutor_envs.sequence_env import SequenceEnv, SequenceVectorEnv

#: VecEnv wrappers a learner steps through unchanged: they only watch episodes.
WATCHING_VEC_WRAPPERS = (VecMonitor,)
#: Wrappers (beyond ``gym.make``'s own) whose work the native vector env does itself: SB3's ``Monitor``.
REPLACED_WRAPPERS = frozenset({"stable_baselines3.common.monitor:Monitor"})


@dataclass
class VectorStep:
    """One step of all envs of a :class:`SeqTutorVecEnv`, as arrays."""

    obs: dict[str, np.ndarray]  # the observations to act on next (the next episode's first where one ended)
    rewards: np.ndarray  # (n,) float64
    dones: np.ndarray  # (n,) bool
    parts: RewardParts  # the reward's parts, (n,) arrays
    next_obs: dict[str, np.ndarray]  # the observations the actions led to (the terminal one where an episode ended)
    finals: dict[int, dict[str, Any]]  # env index -> its episode-end info, for the envs that finished
    infos: list[dict[str, Any]]  # SB3's per-env info dicts (what callbacks see)
    episode_returns: np.ndarray  # returns of the finished episodes, in env order
    episode_lengths: np.ndarray  # their lengths


class SeqTutorVecEnv(VecEnv):
    """SB3 ``VecEnv`` view of a native :class:`~seqtutor_envs.sequence_env.SequenceVectorEnv`.

    :param env: a native vector env; it must use ``autoreset_mode="same_step"``.
    :param info_keys: per-step info entries copied into each env's info dict. The defaults are the
        reward's parts (cheap scalars); add ``"reward_terms"`` for the per-term breakdown (costs a
        dict per env per step).
    """

    # The native env's single spaces (VecEnv types them as any Space): a seqtutor Dict observation, Discrete tokens.
    observation_space: gym.spaces.Dict
    action_space: gym.spaces.Discrete

    def __init__(self, env: SequenceVectorEnv, info_keys: Sequence[str] = REWARD_PART_KEYS) -> None:
        if env.autoreset_mode != gym.vector.AutoresetMode.SAME_STEP:
            raise ValueError(
                f"SeqTutorVecEnv needs a vector env with autoreset_mode='same_step' (SB3's convention), "
                f"got {env.autoreset_mode.value!r}"
            )
        self.venv = env
        self.info_keys = tuple(info_keys)
        self.render_mode = env.render_mode
        super().__init__(env.num_envs, env.single_observation_space, env.single_action_space)
        self._actions: np.ndarray | None = None
        self.last_step: VectorStep | None = None
        self._episode_returns = np.zeros(self.num_envs, dtype=np.float64)
        self._episode_lengths = np.zeros(self.num_envs, dtype=np.int64)
        self._t_start = time.time()

    # ------------------------------------------------------------------ VecEnv API
    def reset(self) -> VecEnvObs:
        seeds = self._seeds
        if any(s is not None for s in seeds):
            # SB3 seeds env i with seed + i already; pass them through one by one.
            obs, _ = self.venv.reset(seed=[None if s is None else int(s) for s in seeds])
        else:
            obs, _ = self.venv.reset()
        self._reset_seeds()
        self._reset_options()
        self.reset_infos = [{} for _ in range(self.num_envs)]
        self._episode_returns[:] = 0
        self._episode_lengths[:] = 0
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions).reshape(self.num_envs)

    def step_wait(self) -> VecEnvStepReturn:
        if self._actions is None:
            raise RuntimeError("step_wait() called without step_async()")
        step = self.step_arrays(self._actions)
        # kept for a collector that steps through a watching wrapper (VecMonitor) and needs the arrays
        self.last_step = step
        return step.obs, step.rewards.astype(np.float32), step.dones, step.infos

    def step_arrays(self, actions: np.ndarray) -> VectorStep:
        """One step of every env, as arrays (and SB3's per-env info dicts, for callbacks)."""
        self._actions = None
        obs, rewards, terminated, truncated, vinfo = self.venv.step(np.asarray(actions).reshape(self.num_envs))
        dones = terminated | truncated
        self._episode_returns += rewards
        self._episode_lengths += 1
        infos = self._infos(vinfo, truncated & ~terminated)
        next_obs, finals = obs, {}
        done_idx = np.flatnonzero(dones)
        if len(done_idx):
            next_obs = {key: value.copy() for key, value in obs.items()}
            for i in done_idx:  # the terminal observation, not the next episode's first
                for key, value in vinfo["final_obs"][i].items():
                    next_obs[key][i] = value
            finals = self._finals(vinfo, done_idx, infos)
        step = VectorStep(
            obs=obs,
            rewards=rewards,
            dones=dones,
            parts=RewardParts.from_vector_info(vinfo),
            next_obs=next_obs,
            finals=finals,
            infos=infos,
            episode_returns=self._episode_returns[done_idx].copy(),
            episode_lengths=self._episode_lengths[done_idx].copy(),
        )
        self._episode_returns[done_idx] = 0
        self._episode_lengths[done_idx] = 0
        return step

    def _infos(self, vinfo: dict[str, Any], truncated: np.ndarray) -> list[dict[str, Any]]:
        columns = {key: vinfo[key].tolist() for key in self.info_keys if key in vinfo and key != REWARD_TERMS}
        if REWARD_TERMS in self.info_keys and REWARD_TERMS in vinfo:
            terms = {name: values.tolist() for name, values in vinfo[REWARD_TERMS].items()}
            columns[REWARD_TERMS] = [dict(zip(terms, row, strict=True)) for row in zip(*terms.values(), strict=True)]
        flags = truncated.tolist()
        return [
            {**{key: col[i] for key, col in columns.items()}, "TimeLimit.truncated": flags[i]}
            for i in range(self.num_envs)
        ]

    def _finals(self, vinfo: dict[str, Any], done_idx: np.ndarray, infos: list[dict[str, Any]]) -> dict[int, dict]:
        """Each finished env's episode-end info (also put into its SB3 info dict, with ``episode``)."""
        final_info = vinfo.get("final_info", {})
        step_keys = self.venv.step_info_keys  # the rest of final_info is the episode's own
        elapsed = round(time.time() - self._t_start, 6)
        finals = {}
        for i in done_idx:
            own = {}
            for key, value in final_info.items():
                if key.startswith("_") or key in step_keys:
                    continue
                mask = final_info.get(f"_{key}")
                if mask is None or mask[i]:
                    own[key] = _row(value, i)
            finals[int(i)] = own
            infos[i].update(own)
            infos[i]["terminal_observation"] = vinfo["final_obs"][i]
            infos[i]["episode"] = {
                "r": float(self._episode_returns[i]),
                "l": int(self._episode_lengths[i]),
                "t": elapsed,
            }
        return finals

    def close(self) -> None:
        self.venv.close()

    def get_images(self) -> Sequence[np.ndarray | None]:
        if self.render_mode != "rgb_array":
            return [None] * self.num_envs
        return list(self.venv.render())

    def render(self, mode: str | None = None) -> np.ndarray | None:
        frames = self.get_images()
        return frames[0] if frames else None

    # Attributes live on the single native env, which all sub-envs share.
    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        value = getattr(self.venv, attr_name)
        return [value for _ in self._indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        if list(self._indices(indices)) != list(range(self.num_envs)):
            raise ValueError(f"{attr_name} is shared by all sub-envs of the native vector env; set it for all of them")
        setattr(self.venv, attr_name, value)

    def env_method(self, method_name: str, *method_args, indices: VecEnvIndices = None, **method_kwargs) -> list[Any]:
        method = getattr(self.venv, method_name)
        result = method(*method_args, **method_kwargs)
        return [result for _ in self._indices(indices)]

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        return [False for _ in self._indices(indices)]

    def _indices(self, indices: VecEnvIndices) -> Iterable[int]:
        if indices is None:
            return range(self.num_envs)
        if isinstance(indices, int):
            return [indices]
        return indices


def _row(value: Any, i: int) -> Any:
    if isinstance(value, dict):
        return {k: _row(v, i) for k, v in value.items() if not k.startswith("_")}
    item = value[i]
    return item.item() if isinstance(item, np.generic) else item


def make_sb3_vec_env(env_id: str, n_envs: int = 8, seed: int | None = None, **env_kwargs: Any) -> SeqTutorVecEnv:
    """Build a seqtutor env's native vector version as an SB3 ``VecEnv``.

    :param env_id: a registered seqtutor env id, e.g. ``"SeqTutor-Melody-v0"``.
    :param n_envs: number of parallel episodes.
    :param seed: seed of sub-env 0 (sub-env i gets ``seed + i``) for the first reset.
    :param env_kwargs: the env's keyword arguments (``c``, ``prior_weight``, ...).
    """
    native = gym.make_vec(env_id, num_envs=n_envs, autoreset_mode="same_step", **env_kwargs)
    if not isinstance(native.unwrapped, SequenceVectorEnv):
        raise ValueError(f"{env_id} is not a seqtutor environment with a native vector version")
    vec = SeqTutorVecEnv(native.unwrapped)
    if seed is not None:
        vec.seed(seed)
    return vec


# ---------------------------------------------------------------------------- any env a user passes
class SeqTutorEnvMixin:
    """Gives a learner SB3's ``_wrap_env`` hook with :func:`seqtutor_vec_env` (construction, ``set_env``, ``load``)."""

    @staticmethod
    def _wrap_env(env: Any, verbose: int = 0, monitor_wrapper: bool = True) -> VecEnv:
        return seqtutor_vec_env(env, verbose, monitor_wrapper)


def seqtutor_vec_env(env: Any, verbose: int = 0, monitor_wrapper: bool = True) -> VecEnv:
    """The env a seqtutor learner steps, made from the env a user passed (see the module docstring).

    :param env: a ``gym.Env``, an SB3 ``VecEnv`` (``DummyVecEnv``, ``SubprocVecEnv``, ``VecMonitor``
        of one) or a :class:`SeqTutorVecEnv`. An env that is not a seqtutor env is wrapped as SB3 does
        (the learner then names what it lacks).
    :param verbose: 1 or more: say what was built.
    :param monitor_wrapper: SB3's argument, for non-seqtutor envs (the native env keeps episode statistics itself).
    :raises ValueError: a seqtutor env that cannot be rebuilt as its native vector env, naming why and the
        call that works.
    """
    outer, watchers = env, []
    while isinstance(env, VecEnvWrapper):
        watchers.append(env)
        env = env.venv
    if isinstance(env, SeqTutorVecEnv):
        _check_watchers(watchers, "the SeqTutorVecEnv")
        return outer
    spec, n_envs, _ = _seqtutor_env_spec(env)
    if spec is None:
        return BaseAlgorithm._wrap_env(outer, verbose, monitor_wrapper)
    call = _native_call(spec, n_envs)
    _check_watchers(watchers, call)
    if any(w.entry_point in REPLACED_WRAPPERS for w in spec.additional_wrappers) and _writes_monitor_files(env):
        raise ValueError(
            f"env: its Monitor writes a file per sub-env (monitor_dir / filename), which the native "
            f"vector env does not; pass VecMonitor({call}, filename=...)"
        )
    native = native_vec_env_like(env)
    if verbose >= 1:
        print(f"Stepping the native vector env {call} in place of the {type(env).__name__} passed")
    if watchers:
        watchers[-1].venv = native  # the user's VecMonitor goes on watching, now the native env
        return outer
    return native


def native_vec_env_like(env: Any) -> SeqTutorVecEnv:
    """The native vector env of ``env``'s id, settings and sub-env count, each sub-env going on with
    ``env``'s pending seeds and RNG stream (a Monitor's files are not carried over).

    :param env: a ``gym.make`` env of a seqtutor env, or an SB3 ``VecEnv`` of such envs.
    :raises ValueError: ``env`` is not one, or holds what the native env cannot apply (a wrapper, a TimeLimit).
    """
    spec, n_envs, rngs = _seqtutor_env_spec(env)
    if spec is None:
        raise ValueError(f"env: a {type(env).__name__} that is not a seqtutor env (a gym.make env or VecEnv of one)")
    _check_rebuildable(spec, _native_call(spec, n_envs))
    native = make_sb3_vec_env(spec.id, n_envs=n_envs, **spec.kwargs)
    native.venv.use_rngs([copy.deepcopy(rng) for rng in rngs])  # each sub-env goes on with its stream
    if isinstance(env, VecEnv):  # and SB3's seeds for the next reset (make_vec_env(seed=...) leaves them pending)
        native._seeds = list(env._seeds)
    return native


def _seqtutor_env_spec(env: Any) -> tuple[EnvSpec | None, int, list[np.random.Generator]]:
    """``env``'s spec, sub-env count and sub-env RNGs if it is a (vector of) seqtutor env, else ``(None, 0, [])``."""
    if isinstance(env, VecEnv):
        try:
            specs, rngs = env.get_attr("spec"), env.get_attr("np_random")
        except Exception:  # not gymnasium envs, or a SubprocVecEnv whose spec does not pickle
            specs, rngs = [None], []
        n = env.num_envs
    elif isinstance(env, gym.Env):
        specs, rngs, n = [env.spec], [env.np_random], 1
        if specs[0] is None and isinstance(env.unwrapped, SequenceEnv):
            name = type(env.unwrapped).__name__
            raise ValueError(
                f"env: this {name} was built directly, without gym.make, so it cannot be rebuilt as "
                "the native vector env seqtutor learners step; pass "
                "make_sb3_vec_env('<env id>', n_envs=8, ...)"
            )
    else:
        return None, 0, []
    if specs[0] is None or not _has_native_vector_env(specs[0]):
        return None, 0, []
    for i, spec in enumerate(specs[1:], 1):
        if spec is None or (spec.id, spec.kwargs) != (specs[0].id, specs[0].kwargs):
            raise ValueError(
                f"env: its sub-envs differ (sub-env 0: {specs[0].id} {specs[0].kwargs}, sub-env {i}: "
                f"{None if spec is None else (spec.id, spec.kwargs)}); a learner steps one native vector "
                f"env of one setting: {_native_call(specs[0], n)}"
            )
    return specs[0], n, list(rngs)


def _has_native_vector_env(spec: EnvSpec) -> bool:
    """Whether ``spec``'s id is registered with a seqtutor native vector env."""
    entry = gym.spec(spec.id).vector_entry_point if spec.id in gym.registry else None
    if not isinstance(entry, str):
        return isinstance(entry, type) and issubclass(entry, SequenceVectorEnv)
    try:
        creator = load_env_creator(entry)
    except (ImportError, AttributeError):
        return False
    return isinstance(creator, type) and issubclass(creator, SequenceVectorEnv)


def _check_rebuildable(spec: EnvSpec, call: str) -> None:
    """Refuse what the native vector env would silently drop: other wrappers, a TimeLimit."""
    extra = [w.name for w in spec.additional_wrappers if w.entry_point not in REPLACED_WRAPPERS]
    if extra:
        raise ValueError(
            f"env: its sub-envs are wrapped in {', '.join(extra)}, which the native vector env that "
            f"seqtutor learners step cannot apply; pass {call} (rewards and episodes as the env "
            "defines them)"
        )
    if spec.max_episode_steps is not None:
        raise ValueError(
            f"env: max_episode_steps={spec.max_episode_steps} (a TimeLimit) is not applied by the native "
            f"vector env; seqtutor episodes end at their own length: pass {call} with composition_length "
            "or max_length"
        )


def _writes_monitor_files(env: Any) -> bool:
    """Whether the (SB3) Monitor of ``env``'s sub-envs writes a file."""
    try:
        if isinstance(env, VecEnv):
            writers = env.get_attr("results_writer")
        else:
            writers = [env.get_wrapper_attr("results_writer")]
    except Exception:  # an open file does not cross a SubprocVecEnv's pipe: there is one
        return True
    return any(writer is not None for writer in writers)


def _check_watchers(watchers: list[VecEnvWrapper], call: str) -> None:
    for wrapper in watchers:
        if not isinstance(wrapper, WATCHING_VEC_WRAPPERS):
            raise ValueError(
                f"env: seqtutor learners take the reward's parts from the env itself, so a "
                f"{type(wrapper).__name__} around it would be bypassed; pass {call} without it "
                "(a VecMonitor may stay)"
            )


def _native_call(spec: EnvSpec, n_envs: int) -> str:
    kwargs = "".join(f", {key}={value!r}" for key, value in spec.kwargs.items() if key != "render_mode")
    return f"make_sb3_vec_env({spec.id!r}, n_envs={n_envs}{kwargs})"
