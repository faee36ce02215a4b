"""One collector for every learner and for evaluation: act in all envs at once, hand back per-step arrays.

A :class:`Rollout` owns what acting needs between steps -- the current observations, the actor's
recurrent state per env, the episodes in progress -- and :meth:`Rollout.step` does one vector step:

1. the *actor* (a function: observations and recurrent state in, actions, the acting
   distribution ``log π`` and the new state out) chooses every env's action;
2. the native batched env steps once (:meth:`SeqTutorVecEnv.step_arrays`: one prior forward);
3. it returns a :class:`Transition`: observations, actions, next observations, the reward's parts,
   dones, the recurrent states before and after, the exact KL(π ‖ prior) and entropy of the acting
   distribution, the episodes that finished (whole, with each step's ``log p`` and domain reward
   as the env reported them) and their episode-end info.

Sequence Tutor's learners store the transition in their replay buffer, the policy-gradient
learners train on the finished episodes, evaluation keeps the episode-end info. The actor's state
is reset where an episode ended, so the collector never knows what kind of network acts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch as th
from stable_baselines3.common.vec_env import VecEnv

from seqtutor_envs.reward import RewardParts

from .episodes import Episode, EpisodeAssembler
from .kl import kl_and_entropy
from .recurrent import reset_state
from .vec_env import WATCHING_VEC_WRAPPERS, SeqTutorVecEnv

#: ``actor(obs, state) -> (actions, log_pi, new_state)``: ``obs`` as tensors on the actor's device,
#: ``state`` the actor's own recurrent state (None at the start), ``actions`` ``(n,)``, ``log_pi``
#: ``(n, V)`` the acting distribution (None if the actor cannot say; then no KL is reported).
Actor = Callable[[dict[str, th.Tensor], Any], tuple[th.Tensor, th.Tensor | None, Any]]


@dataclass
class Transition:
    """One vector step of every env (see the module docstring)."""

    obs: dict[str, np.ndarray]  # the observations the actions were taken in
    actions: np.ndarray  # (n,)
    next_obs: dict[str, np.ndarray]  # the observations after them (the terminal one where an episode ended)
    parts: RewardParts  # the reward's parts, (n,) arrays
    rewards: np.ndarray  # (n,) the env's rewards
    dones: np.ndarray  # (n,) episodes that ended with this step
    state_before: Any  # the actor's recurrent state before the step
    state_after: Any  # ... and after it (before resetting finished envs)
    log_pi: th.Tensor | None  # (n, V) the acting distribution at each state (None if the actor gave none)
    kl: th.Tensor | None  # (n,) exact KL(π ‖ prior) of the acting distribution at each state
    entropy: th.Tensor | None  # (n,) its entropy
    episodes: list[Episode]  # the episodes this step finished, whole
    finals: dict[int, dict[str, Any]]  # env index -> episode-end info (sequence, scores), for the finished envs
    infos: list[dict[str, Any]]  # SB3's per-env info dicts, for callbacks
    episode_returns: np.ndarray  # returns of the finished episodes, in env order
    episode_lengths: np.ndarray  # their lengths


class Rollout:
    """Acts in all envs of a :class:`SeqTutorVecEnv` and collects what happened (see the module docstring).

    :param env: the SB3 adapter of a native seqtutor vector env, or a ``VecMonitor`` of one
        (:func:`~seqtutor_agents.common.vec_env.seqtutor_vec_env` makes one of any env of a seqtutor env).
    :param device: where observations go for the actor.
    :param obs: the current observations (e.g. SB3's ``_last_obs``); None: reset the env.
    :param initial_state: ``initial_state(n)`` gives the actor's recurrent state at the start (None: the
        actor starts from ``state=None`` itself).
    """

    def __init__(
        self,
        env: VecEnv,
        device: th.device | str = "cpu",
        obs: dict[str, np.ndarray] | None = None,
        initial_state: Callable[[int], Any] | None = None,
    ) -> None:
        self.native = native_vec_env(env)
        self.env, self.device = env, th.device(device)
        if obs is None:
            first = env.reset()
            assert isinstance(first, dict)  # a seqtutor env's observations (native_vec_env checked it)
            obs = first
        self.obs = obs
        self.state: Any = None if initial_state is None else initial_state(env.num_envs)
        # The native env's spaces are env's (SB3's wrappers pass them on), typed Dict and Discrete.
        token_shape, actions = self.native.observation_space["tokens"].shape, self.native.action_space
        assert token_shape is not None  # the tokens are a Box
        self.assembler = EpisodeAssembler(env.num_envs, int(token_shape[0]) - 1, int(actions.n))

    @property
    def num_envs(self) -> int:
        return self.env.num_envs

    def tensors(self, obs: dict[str, np.ndarray]) -> dict[str, th.Tensor]:
        return {key: th.as_tensor(value, device=self.device) for key, value in obs.items()}

    def step(self, actor: Actor) -> Transition:
        """One step of every env with the actor's actions."""
        obs = self.obs
        obs_t = self.tensors(obs)
        state_before = self.state
        with th.no_grad():
            actions_t, log_pi, state_after = actor(obs_t, state_before)
            kl, entropy = (None, None) if log_pi is None else kl_and_entropy(log_pi, obs_t["prior_log_probs"].float())
        actions = actions_t.cpu().numpy() if isinstance(actions_t, th.Tensor) else np.asarray(actions_t)
        if self.env is self.native:
            step, infos = self.native.step_arrays(actions), None
        else:  # through the watching wrappers (VecMonitor), whose info dicts callbacks see
            _, _, _, infos = self.env.step(actions)
            assert self.native.last_step is not None  # set by the step just taken
            step = self.native.last_step
        behaviour = None
        if log_pi is not None:  # log π_b(a|s) of the taken actions: off-policy learners weigh episodes by it
            taken = log_pi.gather(1, th.as_tensor(actions, device=log_pi.device).long().reshape(-1, 1))
            behaviour = taken.squeeze(1).float().cpu().numpy()
        episodes = self.assembler.add_steps(obs, step.next_obs, step.parts, step.dones, behaviour)
        if state_after is not None:
            self.state = reset_state(state_after, th.as_tensor(step.dones, device=self.device))
        self.obs = step.obs
        return Transition(
            obs=obs,
            actions=actions,
            next_obs=step.next_obs,
            parts=step.parts,
            rewards=step.rewards,
            dones=step.dones,
            state_before=state_before,
            state_after=state_after,
            log_pi=log_pi,
            kl=kl,
            entropy=entropy,
            episodes=episodes,
            finals=step.finals,
            infos=step.infos if infos is None else infos,
            episode_returns=step.episode_returns,
            episode_lengths=step.episode_lengths,
        )


def native_vec_env(env: VecEnv) -> SeqTutorVecEnv:
    """The :class:`SeqTutorVecEnv` under ``env``'s watching wrappers, or a ``TypeError`` saying what to pass."""
    inner = env
    while isinstance(inner, WATCHING_VEC_WRAPPERS):
        inner = inner.venv
    if not isinstance(inner, SeqTutorVecEnv):
        raise TypeError(
            f"a Rollout steps a seqtutor env (SeqTutorVecEnv, make_sb3_vec_env, or a learner's env), "
            f"got {type(inner).__name__}"
        )
    return inner
