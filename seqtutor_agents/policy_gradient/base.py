"""What REINVENT's DAP and KL-PPO share: acting with a prior-initialised LSTM, learning from whole episodes.

Both learners collect *whole* episodes from all envs of a native batched ``VecEnv`` at once (one
prior forward per step for every env, the policy's LSTM state carried per env), and update once
``batch_size`` episodes have finished; each episode is used by exactly one update (the unused
ones carry over to the next). An update unrolls the policy over the episodes from the zero state,
so the log-probabilities it trains are exact -- no stale recurrent states. The reward's parts come
from each step's ``info``; the learner's ``c`` (or the env's) weighs the domain reward.
"""

from __future__ import annotations

import sys
import time
from typing import Any, ClassVar

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, Schedule
from stable_baselines3.common.utils import safe_mean

from seqtutor_envs.core import RewardParts

from ..common.episodes import Episode, EpisodeAssembler, Episodes, next_observations
from ..common.kl import RolloutStats, kl_and_entropy
from ..common.recurrent import prepare_prior_policy, reset_state
from ..common.safe_load import SafeLoadMixin
from ..common.validation import check_learning_rate, check_number
from .policies import PriorLSTMPolicy


class EpisodicPolicyGradient(SafeLoadMixin, BaseAlgorithm):
    """Base of the policy-gradient learners that train on batches of whole episodes.

    :param policy: ``"PriorLSTMPolicy"`` or a policy class.
    :param env: a seqtutor env, env id, or SB3 VecEnv of one (e.g. :func:`make_sb3_vec_env`).
    :param learning_rate: Adam step size, or a schedule.
    :param batch_size: finished episodes per update.
    :param c: the learner's own c weighing the domain reward (None: the env's, from each step's info).
    :param max_grad_norm: gradient clipping norm (None: no clipping).
    :param policy_kwargs: extra policy arguments.
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {"PriorLSTMPolicy": PriorLSTMPolicy}
    policy: PriorLSTMPolicy
    #: Whether the policy gets a critic (a value head).
    value_head: ClassVar[bool] = False

    def __init__(
        self,
        policy: str | type[PriorLSTMPolicy] = "PriorLSTMPolicy",
        env: GymEnv | str | None = None,
        learning_rate: float | Schedule = 1e-4,
        batch_size: int = 64,
        c: float | None = None,
        max_grad_norm: float | None = None,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: th.device | str = "auto",
        _init_setup_model: bool = True,
    ) -> None:
        check_learning_rate(learning_rate)
        check_number("batch_size", batch_size, low=1, integer=True)
        check_number("c", c, low=0.0, low_open=True, allow_none=True)
        check_number("max_grad_norm", max_grad_norm, low=0.0, low_open=True, allow_none=True)
        check_number("stats_window_size", stats_window_size, low=1, integer=True)
        super().__init__(
            policy,
            env,  # type: ignore[arg-type]
            learning_rate,
            policy_kwargs=policy_kwargs,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            verbose=verbose,
            device=device,
            support_multi_env=True,
            seed=seed,
            supported_action_spaces=(spaces.Discrete,),
        )
        self.batch_size = batch_size
        self.c = c
        self.max_grad_norm = max_grad_norm
        self.prior_path: str | None = None
        self._lstm_state: tuple[th.Tensor, th.Tensor] | None = None
        self._assembler: EpisodeAssembler | None = None
        self._pending: list[Episode] = []
        self._stats = RolloutStats()
        if _init_setup_model:
            self._setup_model()

    # ------------------------------------------------------------------ set-up
    def _setup_model(self) -> None:
        self._setup_lr_schedule()
        self.set_random_seed(self.seed)
        prior = prepare_prior_policy(self)
        self.policy_kwargs["value_head"] = self.value_head
        self.policy = self.policy_class(self.observation_space, self.action_space, self.lr_schedule, **self.policy_kwargs)
        self.policy = self.policy.to(self.device)
        if prior is not None:
            self.policy.load_prior_weights(prior)

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "_lstm_state", "_assembler", "_pending", "_stats", "kl_controller"]

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        return ["policy", "policy.optimizer"], []

    def set_env(self, env: GymEnv, force_reset: bool = True) -> None:
        super().set_env(env, force_reset)
        self._lstm_state = None

    def episode_c(self, episodes: Episodes) -> th.Tensor | float:
        """The c weighing each episode's domain reward: the learner's own, else the env's."""
        return episodes.env_c if self.c is None else self.c

    # ------------------------------------------------------------------ collection
    def collect_episodes(self, callback, n_episodes: int) -> tuple[list[Episode], bool]:
        """Act in all envs until ``n_episodes`` episodes have finished; returns them (and whether to go on)."""
        env = self.env
        assert env is not None and self._assembler is not None and self._lstm_state is not None
        self.policy.set_training_mode(False)
        callback.on_rollout_start()
        while len(self._pending) < n_episodes:
            obs = self._last_obs
            assert isinstance(obs, dict)
            obs_t = {k: th.as_tensor(v, device=self.device) for k, v in obs.items()}
            with th.no_grad():
                log_pi, state_after = self.policy.recurrent_log_probs(obs_t, self._lstm_state)
                actions_t = th.multinomial(log_pi.exp(), 1).squeeze(1)
                kl, entropy = kl_and_entropy(log_pi, obs_t["prior_log_probs"].float())
            actions = actions_t.cpu().numpy()
            new_obs, _, dones, infos = env.step(actions)
            self.num_timesteps += env.num_envs
            callback.update_locals(locals())
            if not callback.on_step():
                return [], False
            self._update_info_buffer(infos, dones)
            parts = RewardParts.from_infos(infos)
            self._stats.add(kl_prior=kl, entropy=entropy, prior_log_prob=parts.prior_log_prob,
                            domain_reward=parts.domain_reward)
            self._pending.extend(self._assembler.add_steps(obs, next_observations(new_obs, dones, infos), parts, dones))
            self._lstm_state = reset_state(state_after, th.as_tensor(dones, device=self.device))
            self._last_obs = new_obs  # type: ignore[assignment]
            self._episode_num += int(np.sum(dones))
            self._update_current_progress_remaining(self.num_timesteps, self._total_timesteps)
        callback.on_rollout_end()
        batch, self._pending = self._pending[:n_episodes], self._pending[n_episodes:]
        return batch, True

    # ------------------------------------------------------------------ training
    def train(self, episodes: list[Episode]) -> None:
        """One update on a batch of whole episodes (per learner; :meth:`Episodes.stack` pads them)."""
        raise NotImplementedError

    def _gradient_step(self, loss: th.Tensor) -> None:
        if not th.isfinite(loss):
            raise FloatingPointError(
                f"{type(self).__name__}: non-finite loss ({loss.item()}) at update {self._n_updates + 1} "
                f"(env step {self.num_timesteps}); lower learning_rate or raise c"
            )
        self.policy.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.max_grad_norm is not None:
            th.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
        self.policy.optimizer.step()

    def learn(  # type: ignore[override]
        self,
        total_timesteps: int,
        callback=None,
        log_interval: int = 1,
        tb_log_name: str = "run",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ):
        total_timesteps, callback = self._setup_learn(total_timesteps, callback, reset_num_timesteps, tb_log_name,
                                                      progress_bar)
        n = self.env.num_envs  # type: ignore[union-attr]
        if reset_num_timesteps or self._lstm_state is None or self._lstm_state[0].shape[1] != n:
            self._lstm_state = self.policy.initial_state(n)
            max_length = int(self.observation_space["tokens"].shape[0]) - 1  # type: ignore[index]
            self._assembler = EpisodeAssembler(n, max_length, int(self.action_space.n))  # type: ignore[attr-defined]
            self._pending = []
        callback.on_training_start(locals(), globals())
        while self.num_timesteps < total_timesteps:
            episodes, go_on = self.collect_episodes(callback, self.batch_size)
            if not go_on:
                break
            self.policy.set_training_mode(True)
            self._update_learning_rate(self.policy.optimizer)
            self.train(episodes)
            self._n_updates += 1
            if log_interval is not None and self._n_updates % log_interval == 0:
                self.dump_logs()
        callback.on_training_end()
        return self

    def dump_logs(self) -> None:
        time_elapsed = max((time.time_ns() - self.start_time) / 1e9, sys.float_info.epsilon)
        self.logger.record("time/iterations", self._n_updates, exclude="tensorboard")
        if len(self.ep_info_buffer) > 0:
            self.logger.record("rollout/ep_rew_mean", safe_mean([ep["r"] for ep in self.ep_info_buffer]))
            self.logger.record("rollout/ep_len_mean", safe_mean([ep["l"] for ep in self.ep_info_buffer]))
        self.logger.record("time/fps", int((self.num_timesteps - self._num_timesteps_at_start) / time_elapsed))
        self.logger.record("time/time_elapsed", int(time_elapsed), exclude="tensorboard")
        self.logger.record("time/total_timesteps", self.num_timesteps, exclude="tensorboard")
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self._stats.dump(self.logger)
        self.logger.dump(step=self.num_timesteps)
