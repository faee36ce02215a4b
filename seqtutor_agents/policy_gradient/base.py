"""What DAP, KL-PPO and DPG share: acting with a prior-initialised LSTM, learning from whole episodes.

These learners collect *whole* episodes through the shared collector
(:class:`~seqtutor_agents.common.rollout.Rollout`: all envs of the native batched env at once, one
prior forward per step, the policy's LSTM state carried per env), and update once ``batch_size``
episodes have finished; each episode is used by exactly one update (the unused ones carry over to
the next). An update unrolls the policy over the episodes from the zero state, so the
log-probabilities it trains are exact -- no stale recurrent states. The episodes keep each step's
reward parts as the env reported them; the learner's current c
(:class:`~seqtutor_agents.common.learner.KLControlledLearner`: its own or the env's, fixed or
adapted) weighs the domain reward.

``_setup_model`` cannot build on SB3's: ``BaseAlgorithm`` leaves it abstract and
``OnPolicyAlgorithm``'s allocates a fixed-length ``RolloutBuffer``, while these learners train on
whole episodes of varying length. The log line is SB3's on-policy one (``dump_logs``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, Schedule

from seqtutor_envs.reward import compose

from ..common.episodes import Episode, Episodes
from ..common.learner import KLControlledLearner
from ..common.recurrent import load_env_prior, prior_architecture
from ..common.safe_load import SafeLoadMixin
from ..common.validation import check_number
from .policies import PriorLSTMPolicy


class EpisodicPolicyGradient(KLControlledLearner, SafeLoadMixin, BaseAlgorithm):
    """Base of the policy-gradient learners that train on batches of whole episodes.

    :param policy: ``"PriorLSTMPolicy"`` or a policy class.
    :param env: a seqtutor env, env id, or SB3 VecEnv of one (e.g. :func:`make_sb3_vec_env`).
    :param learning_rate: Adam step size, or a schedule.
    :param batch_size: finished episodes per update.
    :param c: the learner's own c weighing the domain reward (None: the env's).
    :param max_grad_norm: gradient clipping norm (None: no clipping).
    :param target_kl: the exact KL(π ‖ prior) per step to steer toward by adapting the learner's
        :attr:`kl_target_adapts` (None: no adaptation; learners that adapt nothing refuse one).
    :param kl_horizon: env steps over which the controller's relative step on the log coefficient reaches its clip.
    :param policy_kwargs: extra policy arguments.
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {"PriorLSTMPolicy": PriorLSTMPolicy}
    policy: PriorLSTMPolicy
    policy_class: type[PriorLSTMPolicy]  # what the ``policy`` argument allows (SB3 types it as any BasePolicy)
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
        target_kl: float | None = None,
        kl_horizon: float = 10_000,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: th.device | str = "auto",
        _init_setup_model: bool = True,
    ) -> None:
        self._init_learner(learning_rate, stats_window_size, c, target_kl, kl_horizon, max_grad_norm)
        check_number("batch_size", batch_size, low=1, integer=True)
        super().__init__(
            policy,
            env,
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
        self._pending: list[Episode] = []
        if _init_setup_model:
            self._setup_model()

    # ------------------------------------------------------------------ set-up
    def _setup_model(self) -> None:
        self._setup_lr_schedule()
        self.set_random_seed(self.seed)
        prior_architecture(self)
        prior = load_env_prior(self)
        self.policy_kwargs["value_head"] = self.value_head
        observation_space, action_space = self.observation_space, self.action_space
        # prior_architecture checked the observations; SB3's supported_action_spaces the actions
        assert isinstance(observation_space, spaces.Dict) and isinstance(action_space, spaces.Discrete)
        self.policy = self.policy_class(observation_space, action_space, self.lr_schedule, **self.policy_kwargs)
        self.policy = self.policy.to(self.device)
        if prior is not None:
            self.policy.load_prior_weights(prior)
        self._setup_kl_control()

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "_pending"]

    # ------------------------------------------------------------------ collection
    def act(self, obs: dict[str, th.Tensor], state: Any) -> tuple[th.Tensor, th.Tensor, Any]:
        """The collector's actor: a sample of the policy, its distribution, the LSTM's new state."""
        log_pi, state_after = self.policy.recurrent_log_probs(obs, state)
        return th.multinomial(log_pi.exp(), 1).squeeze(1), log_pi, state_after

    def collect_episodes(self, callback, n_episodes: int) -> tuple[list[Episode], bool]:
        """Act in all envs until ``n_episodes`` episodes have finished; returns them (and whether to go on)."""
        self.policy.set_training_mode(False)
        callback.on_rollout_start()
        while len(self._pending) < n_episodes:
            step = self._collect_step(callback)
            if step is None:
                return [], False
            self._pending.extend(step.episodes)
            self._episode_num += int(np.sum(step.dones))
        callback.on_rollout_end()
        batch, self._pending = self._pending[:n_episodes], self._pending[n_episodes:]
        return batch, True

    # ------------------------------------------------------------------ sequence-level terms
    def sequence_log_probs(self, batch: Episodes) -> tuple[th.Tensor, th.Tensor]:
        """The policy unrolled over ``batch`` from the zero state: ``log π`` per state ``(B, T, V)`` and
        ``log π_θ(x)`` per sequence ``(B,)`` (the taken actions' log-probabilities, summed)."""
        log_pi, _ = self.policy.unroll(batch.inputs)
        return log_pi, (log_pi.gather(2, batch.actions.unsqueeze(2)).squeeze(2) * batch.mask).sum(dim=1)

    def log_target(self, batch: Episodes) -> th.Tensor:
        """``log P(x) = w log p(x) + R(x)/c`` per sequence ``(B,)``: the per-step rewards' sum, composed at
        sequence level with the learner's current c (π* ∝ P is the KL-regularised optimum)."""
        return compose(
            (batch.prior_log_prob * batch.mask).sum(dim=1), batch.domain_return(), self.current_c, batch.prior_weight
        )

    # ------------------------------------------------------------------ training
    def train(self, episodes: list[Episode]) -> None:
        """One update on a batch of whole episodes (per learner; :meth:`Episodes.stack` pads them)."""
        raise NotImplementedError

    def learn(
        self,
        total_timesteps: int,
        callback=None,
        log_interval: int = 1,
        tb_log_name: str = "run",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ):
        total_timesteps, callback = self._setup_learn(
            total_timesteps, callback, reset_num_timesteps, tb_log_name, progress_bar
        )
        if self._rollout is None:  # a new collector (SB3 reset the env): episodes in progress are gone
            self._pending = []
            self._ensure_rollout()
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

    def dump_logs(self, iteration: int = 0) -> None:
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self._stats.dump(self.logger)
        OnPolicyAlgorithm.dump_logs(self, self._n_updates)  # type: ignore[arg-type]  # SB3's on-policy log line
