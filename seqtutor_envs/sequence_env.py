"""The Gymnasium classes on a :class:`~seqtutor_envs.core.SequenceCore`: one env, and the native batched vector env."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from .checks import RenderModes, check_actions, check_options, check_seed, check_vector_seeds
from .core import SequenceCore
from .prior import FrozenStepper
from .reward import DOMAIN_REWARD, PRIOR_LOG_PROB, PRIOR_WEIGHT, REWARD_TERMS, STEP_INFO_KEYS, C
from .task import SequenceTask, TaskStep


def step_info_keys(task: SequenceTask) -> tuple[str, ...]:
    """The ``info`` keys a task's env reports on every step (the others are reported at episode end)."""
    return STEP_INFO_KEYS + ((task.domain_reward_alias,) if task.domain_reward_alias else ())


class _OnCore:
    """What both env classes share: a checked render mode, the core, the reward's settings."""

    metadata: dict[str, Any]
    core: SequenceCore
    prior_path: str  # the frozen prior's file, set by each domain's env (the learners load the prior from it)

    def _setup_core(
        self, task: SequenceTask, stepper: FrozenStepper, c: float, prior_weight: float, render_mode: str | None
    ) -> None:
        if render_mode is not None and (
            not isinstance(render_mode, str) or render_mode not in self.metadata["render_modes"]
        ):
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}")
        self.render_mode = render_mode
        self.task = task
        self.core = SequenceCore(task, stepper, c, prior_weight)
        self.step_info_keys = step_info_keys(task)

    @property
    def c(self) -> float:
        return self.core.c

    @property
    def prior_weight(self) -> float:
        return self.core.prior_weight


class SequenceEnv(_OnCore, gym.Env):
    """A single sequence-generation episode on a frozen prior (see the module docstring)."""

    metadata = {"render_modes": RenderModes(["ansi", "rgb_array"]), "render_fps": 4}  # noqa: RUF012  (gymnasium.Env declares it a plain attribute; ClassVar would contradict that)

    def __init__(
        self, task: SequenceTask, stepper: FrozenStepper, c: float, prior_weight: float, render_mode: str | None
    ) -> None:
        self._setup_core(task, stepper, c, prior_weight, render_mode)
        self.observation_space = self.core.observation_space()
        self.action_space = spaces.Discrete(task.num_actions)
        self._episode_over = True
        self._index = np.zeros(1, dtype=np.int64)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        seed = check_seed(seed)
        options = check_options(options, self.task.option_keys, self.task.name)
        super().reset(seed=seed)
        primer = self.task.primer(self.np_random, options)
        self.core.reset(self._index, np.array([primer], dtype=np.int64))
        self._episode_over = False
        return self._observation(), {"primer": primer}

    def step(self, action):
        if self._episode_over:
            raise RuntimeError(f"{self.task.name}: step() called after the episode ended; call reset() first")
        if np.size(action) != 1:
            raise ValueError(f"expected one action in Discrete({self.task.num_actions}), got {action!r}")
        actions = check_actions(np.reshape(action, (1,)), self.task.num_actions, (1,))
        reward, result, log_prob = self.core.step(actions)
        terminated = bool(result.terminated[0])
        # numpy scalars (np.float64 is also a Python float): readers that need a dtype, such as
        # TorchRL's default_info_dict_reader, can take the reward's parts from info.
        info: dict[str, Any] = {
            PRIOR_LOG_PROB: np.float64(log_prob[0]),
            DOMAIN_REWARD: np.float64(result.domain_reward[0]),
            C: np.float64(self.core.c),
            PRIOR_WEIGHT: np.float64(self.core.prior_weight),
            REWARD_TERMS: {name: np.float64(v[0]) for name, v in result.terms.items()},
        }
        if self.task.domain_reward_alias:
            info[self.task.domain_reward_alias] = info[DOMAIN_REWARD]
        if terminated:
            self._episode_over = True
            final = self.task.final_info(self._index, self.core.tokens, self.core.lengths)
            info.update({k: _unbatch(v) for k, v in final.items()})
        return self._observation(), float(reward[0]), terminated, False, info

    def _observation(self) -> dict[str, Any]:
        return {
            "tokens": self.core.tokens[0].copy(),
            "step": int(self.core.lengths[0]),
            "prior_log_probs": self.core.log_probs[0].copy(),
        }

    def emitted_tokens(self) -> np.ndarray:
        """The tokens emitted so far in this episode (primer excluded)."""
        return self.core.tokens[0, 1 : 1 + self.core.lengths[0]].copy()


def _unbatch(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value[0]
    if isinstance(value, list):
        return value[0]
    if isinstance(value, dict):
        return {k: _unbatch(v) for k, v in value.items()}
    return value


class SequenceVectorEnv(_OnCore, VectorEnv):
    """``num_envs`` sequence episodes stepped together: one prior forward and one reward per step.

    Sub-env ``i`` of ``reset(seed=s)`` draws from the same RNG stream as a single env reset with
    seed ``s + i``, so trajectories match single envs exactly under the same actions (the prior's
    log-probabilities to float32 precision; see the module docstring).

    Autoreset follows Gymnasium 1.x, three modes:

    * ``autoreset_mode="next_step"`` (default): the step *after* an episode ends is a **reset
      step** for that sub-env: its action is ignored, it returns the new episode's first
      observation, reward 0, ``terminated=False`` and no reward parts (the ``_prior_log_prob``
      mask of ``info`` is False for it). A melody episode of 32 tokens therefore takes 33 vector
      steps, and every 33rd step of a sub-env is a reset step. A learner must not treat it as a
      transition: mask it with the previous step's ``terminated | truncated`` (CleanRL-style
      loop: ``examples/ppo_native_vector_env.py``).
    * ``"same_step"``: the env is reset inside the step that ended it; ``info["final_obs"]`` and
      ``info["final_info"]`` hold the last observation and info, as SB3's VecEnv convention needs
      (:class:`seqtutor_agents.SeqTutorVecEnv`). No reset steps.
    * ``"disabled"``: nothing resets by itself; reset finished sub-envs with
      ``reset(options={"reset_mask": mask})`` (a bool array of ``num_envs``) before stepping them
      again (stepping one raises). TorchRL's ``GymWrapper`` prefers this mode.
    """

    metadata = {"render_modes": RenderModes(["ansi", "rgb_array"]), "autoreset_mode": AutoresetMode.NEXT_STEP}  # noqa: RUF012  (gymnasium.Env declares it a plain attribute; ClassVar would contradict that)

    def __init__(
        self,
        task: SequenceTask,
        stepper: FrozenStepper,
        c: float,
        prior_weight: float,
        render_mode: str | None,
        autoreset_mode: str | AutoresetMode,
    ) -> None:
        mode = (
            AutoresetMode(autoreset_mode) if not isinstance(autoreset_mode, str) else _parse_autoreset(autoreset_mode)
        )
        self._setup_core(task, stepper, c, prior_weight, render_mode)
        self.metadata = {**type(self).metadata, "autoreset_mode": mode}
        self.autoreset_mode = mode
        self.num_envs = task.num_envs
        self.single_observation_space = self.core.observation_space()
        self.single_action_space = spaces.Discrete(task.num_actions)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._rngs: list[np.random.Generator] = [seeding.np_random()[0] for _ in range(self.num_envs)]
        self._needs_reset = np.ones(self.num_envs, dtype=bool)

    def reset(self, *, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None):
        """Reset every sub-env, or (``autoreset_mode="disabled"``) those of ``options["reset_mask"]``."""
        seeds = check_vector_seeds(seed, self.num_envs)
        options, mask = self._reset_mask(options)
        options = check_options(options, self.task.option_keys, self.task.name)
        for i, s in enumerate(seeds):
            if s is not None and mask[i]:
                self._rngs[i] = seeding.np_random(s)[0]
        self._reset_envs(np.flatnonzero(mask), options)
        self._needs_reset[mask] = False
        return self.core.observations(), {}

    def use_rngs(self, rngs: Sequence[np.random.Generator]) -> None:
        """Draw sub-env ``i``'s primers from ``rngs[i]`` from now on (e.g. to continue the streams of the
        single envs this vector env replaces)."""
        if len(rngs) != self.num_envs or not all(isinstance(r, np.random.Generator) for r in rngs):
            raise ValueError(f"use_rngs needs {self.num_envs} numpy Generators, got {rngs!r}")
        self._rngs = list(rngs)

    def _reset_mask(self, options: Any) -> tuple[Any, np.ndarray]:
        """``options`` without ``reset_mask``, and the sub-envs to reset (Gymnasium's rules for the mask)."""
        if not isinstance(options, dict) or "reset_mask" not in options:
            return options, np.ones(self.num_envs, dtype=bool)
        if self.autoreset_mode != AutoresetMode.DISABLED:
            raise ValueError(
                f"{self.task.name}: reset(options={{'reset_mask': ...}}) needs autoreset_mode='disabled', "
                f"this vector env autoresets ({self.autoreset_mode.value!r})"
            )
        options = dict(options)
        mask = options.pop("reset_mask")
        if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_ or mask.shape != (self.num_envs,):
            raise ValueError(
                f"options['reset_mask'] must be a numpy bool array of shape ({self.num_envs},), got {mask!r}"
            )
        return options or None, mask

    def _reset_envs(self, env_indices: np.ndarray, options: dict[str, Any] | None = None) -> None:
        primers = np.fromiter(
            (self.task.primer(self._rngs[i], options) for i in env_indices), dtype=np.int64, count=len(env_indices)
        )
        self.core.reset(env_indices, primers)

    def step(self, actions):
        actions = check_actions(actions, self.task.num_actions, (self.num_envs,))
        n = self.num_envs
        rewards = np.zeros(n, dtype=np.float64)
        terminated = np.zeros(n, dtype=bool)
        infos: dict[str, Any] = {}
        resetting = self._needs_reset
        if resetting.any() and self.autoreset_mode == AutoresetMode.DISABLED:
            raise RuntimeError(
                f"{self.task.name}: sub-env(s) {np.flatnonzero(resetting).tolist()} ended and autoreset_mode is "
                "'disabled': reset them with reset(options={'reset_mask': mask}) before stepping"
            )
        if resetting.any():  # next-step autoreset: these envs only reset this step
            active = np.flatnonzero(~resetting)
            reset_idx = np.flatnonzero(resetting)
            self._reset_envs(reset_idx)
            env_indices: np.ndarray | None = active
            active_actions = actions[active]
        else:
            env_indices, active_actions = None, actions
        if env_indices is None or len(env_indices):
            reward, result, log_prob = self.core.step(active_actions, env_indices)
            sel = slice(None) if env_indices is None else env_indices
            rewards[sel] = reward
            terminated[sel] = result.terminated
            mask = np.zeros(n, dtype=bool)
            mask[sel] = True
            infos = _masked_infos(n, mask, log_prob, result, env_indices, self.core, self.task.domain_reward_alias)
            done_idx = (self.core.all_envs if env_indices is None else env_indices)[result.terminated]
            if len(done_idx):
                final = self.task.final_info(done_idx, self.core.tokens, self.core.lengths)
                done_mask = np.zeros(n, dtype=bool)
                done_mask[done_idx] = True
                for key, value in final.items():
                    infos[key] = _scatter(value, done_idx, n)
                    infos[f"_{key}"] = done_mask
        truncated = np.zeros(n, dtype=bool)
        if self.autoreset_mode == AutoresetMode.SAME_STEP:
            done_idx = np.flatnonzero(terminated)
            if len(done_idx):
                last_obs = self.core.observations(done_idx)
                final_obs = np.empty(n, dtype=object)
                for j, i in enumerate(done_idx):
                    final_obs[i] = {k: v[j] for k, v in last_obs.items()}
                infos["final_obs"], infos["_final_obs"] = final_obs, terminated.copy()
                infos["final_info"] = {k: v for k, v in infos.items() if not k.startswith(("final", "_final"))}
                infos["_final_info"] = terminated.copy()
                self._reset_envs(done_idx)
            self._needs_reset[:] = False
        else:
            self._needs_reset = terminated.copy()
        return self.core.observations(), rewards, terminated, truncated, infos

    def render(self):
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode")
            return None
        frames = []
        for i in range(self.num_envs):
            frames.append(self._render_one(self.core.tokens[i, 1 : 1 + self.core.lengths[i]]))
        return tuple(frames)

    def _render_one(self, tokens: np.ndarray):  # overridden by domain envs
        return self.task.describe(tokens)


def _parse_autoreset(value: str) -> AutoresetMode:
    normal = value.replace("_", "").replace("-", "").lower()
    for mode in AutoresetMode:
        if mode.value.lower().replace("_", "") == normal:
            return mode
    raise ValueError(f"autoreset_mode must be 'next_step', 'same_step' or 'disabled', got {value!r}")


def _scatter(value: Any, rows: np.ndarray, n: int) -> Any:
    """Spread per-finished-env values into arrays over all envs (Gymnasium's vector info layout)."""
    if isinstance(value, dict):
        return {k: _scatter(v, rows, n) for k, v in value.items()}
    if isinstance(value, list):
        out = np.full(n, None, dtype=object)
        for j, i in enumerate(rows):
            out[i] = value[j]
        return out
    value = np.asarray(value)
    if value.dtype == object:
        out = np.full(n, None, dtype=object)
    else:
        out = np.zeros((n, *value.shape[1:]), dtype=value.dtype)
    out[rows] = value
    return out


def _masked_infos(
    n: int,
    mask: np.ndarray,
    log_prob: np.ndarray,
    result: TaskStep,
    env_indices: np.ndarray | None,
    core: SequenceCore,
    alias: str | None,
) -> dict[str, Any]:
    def spread(values: np.ndarray) -> np.ndarray:
        if env_indices is None:
            return values
        out = np.zeros(n, dtype=values.dtype)
        out[env_indices] = values
        return out

    infos = {
        PRIOR_LOG_PROB: spread(log_prob),
        DOMAIN_REWARD: spread(result.domain_reward),
        C: np.full(n, core.c),  # filled everywhere (the mask says which rows stepped): never a 0 to divide by
        PRIOR_WEIGHT: np.full(n, core.prior_weight),
        REWARD_TERMS: {name: spread(v) for name, v in result.terms.items()},
    }
    infos.update({f"_{key}": mask for key in STEP_INFO_KEYS})
    if alias:
        infos[alias], infos[f"_{alias}"] = infos[DOMAIN_REWARD], mask
    return infos
