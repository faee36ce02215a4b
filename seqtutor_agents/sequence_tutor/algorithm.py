"""The off-policy recurrent learner behind Q-, Ψ- and G-learning (Sequence Tutor, §3).

This module does two jobs: collect steps from all envs of a ``VecEnv`` in one batch with the
recurrent Q-network's LSTM state carried per env, and take TD steps on what the replay buffer
hands back. The three learners differ only in their target (``targets.py``); how transitions are
replayed is the buffer class's business (``buffers.py``).

The reward arrives as *parts* in each step's ``info`` (``log p_prior(a|s)``, ``r_domain``, the
env's ``c`` and prior weight) and is recomposed at replay time as
``w log p(a|s) + r_domain / c`` with the env's ``c`` or the learner's own: a fixed ``c`` given to
the learner, or one adapted during training so that the exact KL(π ‖ prior) per step tracks
``target_kl`` (:class:`~seqtutor_agents.common.kl.AdaptiveKLController`).
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, RolloutReturn, Schedule, TrainFreq
from stable_baselines3.common.utils import LinearSchedule, polyak_update, should_collect_more_steps
from stable_baselines3.common.vec_env import VecEnv

from seqtutor_envs.core import RewardParts

from ..common.episodes import next_observations
from ..common.kl import AdaptiveKLController, RolloutStats, kl_and_entropy
from ..common.recurrent import prepare_prior_policy, reset_state
from ..common.safe_load import SafeLoadMixin
from ..common.validation import check_choice, check_learning_rate, check_number
from .buffers import REPLAY_BUFFERS, EpisodeReplayBuffer, RecurrentReplayBuffer, TDBatch
from .policies import EXPLORATION_MODES, RecurrentQPolicy

SelfTutor = TypeVar("SelfTutor", bound="SequenceTutorAlgorithm")

HEAD_INITS = ("prior", "zero")


class SequenceTutorAlgorithm(SafeLoadMixin, OffPolicyAlgorithm):
    """Recurrent off-policy learner with a KL-control target (base of Q, Ψ and G learning).

    :param policy: ``"RecurrentQPolicy"`` or a policy class.
    :param env: a seqtutor env, env id, or SB3 VecEnv of one (e.g. :func:`make_sb3_vec_env`).
    :param learning_rate: Adam step size (RL Tuner: 1e-3), or a schedule.
    :param buffer_size: replay capacity in transitions (RL Tuner: 100k).
    :param learning_starts: env steps collected before the first gradient step.
    :param batch_size: episodes per minibatch with episode replay, transitions with transition replay.
    :param tau: soft target-update rate (RL Tuner: 0.01).
    :param gamma: discount. RL Tuner's training script used 0.5; under this package's rules (which, by
        musical meaning, never punish a held note) that horizon is too short to see the motif rewards
        and all three learners settle on a sustained tonic (benchmarks/results/melody_gamma.md), so 0.9.
    :param train_freq: collect this many vector steps between training phases.
    :param gradient_steps: gradient steps per training phase.
    :param replay_buffer_class: how to replay: :class:`EpisodeReplayBuffer` (default: whole episodes,
        unrolled with the current weights) or :class:`TransitionReplayBuffer` (RL Tuner's stored LSTM
        states); also by name, ``"episode"`` or ``"transition"``.
    :param replay_buffer_kwargs: extra arguments of the buffer class.
    :param c: the learner's own c in ``w log p + r_domain / c`` (None: the env's, from each step's info).
    :param target_kl: adapt c during training so that the exact KL(π ‖ prior) per step of the acting
        policy tracks this many nats (None: keep c fixed). c starts at ``c`` (or the env's).
    :param kl_horizon: env steps over which the KL controller's relative step on log c reaches its clip (0.2).
    :param td_lambda: λ of λ-returns along replayed episodes (0: one-step targets, the paper's); Peng's
        Q(λ) for Q-learning, the soft λ-return for Ψ and G. Needs episode replay.
    :param exploration: ``"boltzmann"`` or ``"egreedy"``.
    :param exploration_fraction: fraction of training over which epsilon decays (egreedy).
    :param exploration_initial_eps: initial epsilon (egreedy).
    :param exploration_final_eps: final epsilon (egreedy; RL Tuner: 0.1).
    :param temperature: Boltzmann temperature of the acting policy.
    :param max_grad_norm: gradient clipping norm (RL Tuner: 5).
    :param init_from_prior: start the Q-network (and target) from the env's prior weights.
    :param head_init: ``"prior"`` copies the prior's output layer too; ``"zero"`` zeroes it.
    :param policy_kwargs: extra policy arguments.
    """

    #: How Q-values become the acting policy ("q", "psi" or "g"); set by subclasses.
    acting: ClassVar[str] = "q"
    #: Default output-layer initialisation of the subclass.
    default_head_init: ClassVar[str] = "prior"

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {"RecurrentQPolicy": RecurrentQPolicy}
    policy: RecurrentQPolicy
    replay_buffer: RecurrentReplayBuffer  # type: ignore[assignment]

    def __init__(
        self,
        policy: str | type[RecurrentQPolicy] = "RecurrentQPolicy",
        env: GymEnv | str | None = None,
        learning_rate: float | Schedule = 1e-3,
        buffer_size: int = 100_000,
        learning_starts: int = 1_000,
        batch_size: int = 32,
        tau: float = 0.01,
        gamma: float = 0.9,
        train_freq: int | tuple[int, str] = 4,
        gradient_steps: int = 1,
        replay_buffer_class: type[RecurrentReplayBuffer] | str | None = None,
        replay_buffer_kwargs: dict[str, Any] | None = None,
        c: float | None = None,
        target_kl: float | None = None,
        kl_horizon: float = 30_000,
        td_lambda: float = 0.0,
        exploration: str = "boltzmann",
        exploration_fraction: float = 0.5,
        exploration_initial_eps: float = 1.0,
        exploration_final_eps: float = 0.1,
        temperature: float = 1.0,
        max_grad_norm: float = 5.0,
        init_from_prior: bool = True,
        head_init: str | None = None,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: th.device | str = "auto",
        _init_setup_model: bool = True,
    ) -> None:
        check_learning_rate(learning_rate)
        check_number("buffer_size", buffer_size, low=1, integer=True)
        check_number("learning_starts", learning_starts, low=0, integer=True)
        check_number("batch_size", batch_size, low=1, integer=True)
        check_number("tau", tau, low=0.0, high=1.0)
        check_number("gamma", gamma, low=0.0, high=1.0)
        _check_train_freq(train_freq)
        if gradient_steps != -1:
            check_number("gradient_steps", gradient_steps, low=1, integer=True)
        if isinstance(replay_buffer_class, str):
            replay_buffer_class = REPLAY_BUFFERS[check_choice("replay_buffer_class", replay_buffer_class, tuple(REPLAY_BUFFERS))]
        if replay_buffer_class is not None and not (
            isinstance(replay_buffer_class, type) and issubclass(replay_buffer_class, RecurrentReplayBuffer)
        ):
            raise TypeError(
                f"replay_buffer_class must be a RecurrentReplayBuffer subclass or one of {tuple(REPLAY_BUFFERS)}, "
                f"got {replay_buffer_class!r}"
            )
        check_number("c", c, low=0.0, low_open=True, allow_none=True)
        check_number("target_kl", target_kl, low=0.0, low_open=True, allow_none=True)
        check_number("kl_horizon", kl_horizon, low=0.0, low_open=True)
        check_number("td_lambda", td_lambda, low=0.0, high=1.0)
        check_choice("exploration", exploration, EXPLORATION_MODES)
        check_number("exploration_fraction", exploration_fraction, low=0.0, high=1.0)
        check_number("exploration_initial_eps", exploration_initial_eps, low=0.0, high=1.0)
        check_number("exploration_final_eps", exploration_final_eps, low=0.0, high=1.0)
        check_number("temperature", temperature, low=0.0, low_open=True)
        check_number("max_grad_norm", max_grad_norm, low=0.0, low_open=True)
        check_number("stats_window_size", stats_window_size, low=1, integer=True)
        if not isinstance(init_from_prior, bool):
            raise TypeError(f"init_from_prior must be True or False, got {init_from_prior!r}")
        head_init = check_choice("head_init", head_init or self.default_head_init, HEAD_INITS)
        super().__init__(
            policy,
            env,  # type: ignore[arg-type]
            learning_rate,
            buffer_size,
            learning_starts,
            batch_size,
            tau,
            gamma,
            train_freq,
            gradient_steps,
            action_noise=None,
            replay_buffer_class=replay_buffer_class,  # type: ignore[arg-type]
            replay_buffer_kwargs=replay_buffer_kwargs,
            policy_kwargs=policy_kwargs,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            verbose=verbose,
            device=device,
            seed=seed,
            sde_support=False,
            support_multi_env=True,
            supported_action_spaces=(spaces.Discrete,),
        )
        self.c = c
        self.target_kl = target_kl
        self.kl_horizon = kl_horizon
        self.td_lambda = float(td_lambda)
        self.exploration = exploration
        self.exploration_fraction = exploration_fraction
        self.exploration_initial_eps = exploration_initial_eps
        self.exploration_final_eps = exploration_final_eps
        self.exploration_rate = exploration_initial_eps if exploration == "egreedy" else 0.0
        self.temperature = temperature
        self.max_grad_norm = max_grad_norm
        self.init_from_prior = init_from_prior
        self.head_init = head_init
        self.prior_path: str | None = None
        self._lstm_state: tuple[th.Tensor, th.Tensor] | None = None
        self._stats = RolloutStats()
        self.kl_controller: AdaptiveKLController | None = None
        if _init_setup_model:
            self._setup_model()

    # ------------------------------------------------------------------ set-up
    def _setup_model(self) -> None:
        self._setup_lr_schedule()
        self.set_random_seed(self.seed)
        prior = prepare_prior_policy(self)
        self.policy_kwargs["acting"] = self.acting
        self.policy_kwargs.setdefault("temperature", self.temperature)
        self.policy = self.policy_class(self.observation_space, self.action_space, self.lr_schedule, **self.policy_kwargs)
        self.policy = self.policy.to(self.device)
        if prior is not None and self.init_from_prior:
            self.policy.load_prior_weights(prior)
            if self.head_init == "zero":
                with th.no_grad():
                    for net in (self.policy.q_net, self.policy.q_net_target):
                        net.head.weight.zero_()
                        net.head.bias.zero_()
        self.policy.exploration = self.exploration
        self.policy.epsilon = self.exploration_rate
        self.q_net, self.q_net_target = self.policy.q_net, self.policy.q_net_target
        if self.replay_buffer_class is None:
            # Models saved before replay modes became buffer classes name their mode in `replay`.
            self.replay_buffer_class = REPLAY_BUFFERS[getattr(self, "replay", "episode")]
        cfg = self.q_net.config
        self.replay_buffer = self.replay_buffer_class(  # type: ignore[call-arg]
            self.buffer_size,
            self.observation_space,
            self.action_space,
            device=self.device,
            n_envs=self.n_envs,
            state_shape=(cfg.num_layers, cfg.hidden_size),
            **self.replay_buffer_kwargs,
        )
        self.exploration_schedule = LinearSchedule(
            self.exploration_initial_eps, self.exploration_final_eps, self.exploration_fraction
        )
        self._convert_train_freq()
        if self.td_lambda > 0 and not issubclass(self.replay_buffer_class, EpisodeReplayBuffer):
            raise ValueError("td_lambda > 0 needs whole replayed episodes: use the EpisodeReplayBuffer")
        if self.target_kl is not None and self.c is not None:
            self.kl_controller = AdaptiveKLController(self.c, self.target_kl, horizon=self.kl_horizon)

    def set_env(self, env: GymEnv, force_reset: bool = True) -> None:
        super().set_env(env, force_reset)
        self._lstm_state = None

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "q_net", "q_net_target", "_lstm_state", "_stats", "kl_controller"]

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        return ["policy", "policy.optimizer"], []

    def load_replay_buffer(self, path, truncate_last_traj: bool = True) -> None:
        super().load_replay_buffer(path, truncate_last_traj=False)
        if not isinstance(self.replay_buffer, (RecurrentReplayBuffer, ReplayBuffer)):
            raise TypeError(f"{path} does not hold a replay buffer (got {type(self.replay_buffer).__name__})")
        self.replay_buffer.device = self.device

    # ------------------------------------------------------------------ targets
    def bootstrap_value(self, next_q: th.Tensor, next_prior_log_probs: th.Tensor) -> th.Tensor:
        """``V⁻(s')`` from the target network's values at ``s'`` (per learner, see ``targets.py``)."""
        raise NotImplementedError

    def td_reward(self, batch: TDBatch) -> th.Tensor:
        """The reward of the TD target: ``w log p(a|s) + r_domain / c`` (G-learning drops the prior term)."""
        return batch.prior_weight * batch.prior_log_prob + batch.domain_reward / self._batch_c(batch)

    def _batch_c(self, batch: TDBatch) -> th.Tensor | float:
        """The learner's c if it has one (fixed or adapted), else the env's c of each replayed step."""
        return batch.env_c if self.c is None else self.c

    def soft_correction(self, next_q_taken: th.Tensor, next_value: th.Tensor) -> th.Tensor:
        """What a λ-return subtracts at ``s'`` for the action the episode took there.

        Zero for Q-learning (Peng's Q(λ)); ``Q⁻(s', a') - V⁻(s')`` = ``log π⁻(a'|s')`` for Ψ and
        ``log π⁻(a'|s') - log p(a'|s')`` for G, the entropy / KL term of the soft return.
        """
        return next_q_taken - next_value

    def td_target(self, batch: TDBatch) -> th.Tensor:
        """``r + γ (1 - done) V⁻(s')``, or its λ-return along whole replayed episodes (``td_lambda`` > 0).

        The λ-return ``y_t = r_t + γ (1 - done_t) [(1 - λ) V⁻(s_{t+1}) + λ (y_{t+1} - k_{t+1})]``
        (``k`` the :meth:`soft_correction` of the next taken action) carries a terminal reward back
        along the episode in one update instead of one step per target-network refresh.
        """
        next_value = self.bootstrap_value(batch.next_q, batch.next_prior_log_probs)
        reward = self.td_reward(batch)
        if self.td_lambda == 0.0:
            return reward + self.gamma * batch.not_done * next_value
        if batch.q_taken.dim() != 2 or batch.next_actions is None:
            raise ValueError("td_lambda > 0 needs whole replayed episodes (EpisodeReplayBuffer)")
        next_q_taken = batch.next_q.gather(2, batch.next_actions.unsqueeze(2)).squeeze(2)
        correction = self.soft_correction(next_q_taken, next_value)
        target = th.zeros_like(reward)
        follow = th.zeros_like(reward[:, 0])  # y_{t+1} - k_{t+1}, 0 past the end
        for t in reversed(range(reward.shape[1])):
            blend = (1.0 - self.td_lambda) * next_value[:, t] + self.td_lambda * follow
            target[:, t] = reward[:, t] + self.gamma * batch.not_done[:, t] * blend
            follow = target[:, t] - correction[:, t - 1] if t > 0 else follow
        return target

    # ------------------------------------------------------------------ training
    def _on_step(self) -> None:
        if self.exploration == "egreedy":
            self.exploration_rate = self.exploration_schedule(self._current_progress_remaining)
            self.policy.epsilon = self.exploration_rate
        self.logger.record("rollout/exploration_rate", self.exploration_rate)

    def train(self, gradient_steps: int, batch_size: int = 32) -> None:
        if self.replay_buffer.size() == 0:  # learning_starts came before the first finished episode
            return
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)
        losses, q_means, targets = [], [], []
        for _ in range(gradient_steps):
            batch = self.replay_buffer.td_batch(batch_size, self.q_net, self.q_net_target)
            with th.no_grad():
                target = self.td_target(batch)
            loss = ((batch.q_taken - target) ** 2 * batch.mask).sum() / batch.mask.sum()
            if not th.isfinite(loss):
                raise FloatingPointError(
                    f"{type(self).__name__}: non-finite TD loss ({loss.item()}) at gradient step {self._n_updates + 1} "
                    f"(env step {self.num_timesteps}); lower learning_rate or raise c"
                )
            self.policy.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            th.nn.utils.clip_grad_norm_(self.q_net.parameters(), self.max_grad_norm)
            self.policy.optimizer.step()
            polyak_update(self.q_net.parameters(), self.q_net_target.parameters(), self.tau)
            self._n_updates += 1
            losses.append(loss.item())
            valid = batch.mask > 0
            q_means.append(batch.q_taken.detach()[valid].mean().item())
            targets.append(target[valid].mean().item())
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/loss", float(np.mean(losses)))
        self.logger.record("train/q_mean", float(np.mean(q_means)))
        self.logger.record("train/target_mean", float(np.mean(targets)))
        if self.c is not None:
            self.logger.record("train/c", float(self.c))

    # ------------------------------------------------------------------ collection
    def collect_rollouts(  # type: ignore[override]
        self,
        env: VecEnv,
        callback: BaseCallback,
        train_freq: TrainFreq,
        replay_buffer: RecurrentReplayBuffer,
        action_noise=None,
        learning_starts: int = 0,
        log_interval: int | None = None,
    ) -> RolloutReturn:
        """Act with the recurrent policy in all envs at once and store what happened."""
        self.policy.set_training_mode(False)
        n = env.num_envs
        num_collected_steps, num_collected_episodes = 0, 0
        if self._lstm_state is None or self._lstm_state[0].shape[1] != n:
            self._lstm_state = self.policy.initial_state(n)
        callback.on_rollout_start()
        kl_sum = 0.0
        while should_collect_more_steps(train_freq, num_collected_steps, num_collected_episodes):
            obs = self._last_obs
            assert isinstance(obs, dict)
            obs_t = {k: th.as_tensor(v, device=self.device) for k, v in obs.items()}
            state_before = self._lstm_state
            with th.no_grad():
                q_values, state_after = self.policy.step_q(obs_t, state_before)
                log_p = obs_t["prior_log_probs"].float()
                logits = self.policy.policy_logits(q_values, log_p)
                actions_t = self.policy.select_actions(logits, deterministic=False, explore=True)
                kl, entropy = kl_and_entropy(th.log_softmax(logits, dim=1), log_p)
            actions = actions_t.cpu().numpy()
            new_obs, _, dones, infos = env.step(actions)
            self.num_timesteps += n
            num_collected_steps += 1
            callback.update_locals(locals())
            if not callback.on_step():
                return RolloutReturn(num_collected_steps * n, num_collected_episodes, continue_training=False)
            self._update_info_buffer(infos, dones)

            parts = RewardParts.from_infos(infos)
            if self.c is None and self.target_kl is not None:  # the controller starts from the env's c
                self.c = float(parts.c[0])
                self.kl_controller = AdaptiveKLController(self.c, self.target_kl, horizon=self.kl_horizon)
            self._stats.add(kl_prior=kl, entropy=entropy, prior_log_prob=parts.prior_log_prob,
                            domain_reward=parts.domain_reward)
            kl_sum += float(kl.sum())
            self.replay_buffer.add_steps(obs, next_observations(new_obs, dones, infos), actions, parts, dones,
                                         state_before, state_after)
            self._lstm_state = reset_state(state_after, th.as_tensor(dones, device=self.device))
            self._last_obs = new_obs  # type: ignore[assignment]
            self._update_current_progress_remaining(self.num_timesteps, self._total_timesteps)
            self._on_step()
            for _ in np.flatnonzero(dones):
                num_collected_episodes += 1
                self._episode_num += 1
                if log_interval is not None and self._episode_num % (log_interval * n) == 0:
                    self.dump_logs()
        if self.kl_controller is not None and num_collected_steps:
            steps = num_collected_steps * n
            self.c = self.kl_controller.update(kl_sum / steps, steps)
        callback.on_rollout_end()
        return RolloutReturn(num_collected_steps * n, num_collected_episodes, True)

    def dump_logs(self) -> None:
        self._stats.dump(self.logger)
        super().dump_logs()

    def _setup_learn(self, total_timesteps, callback=None, reset_num_timesteps=True, tb_log_name="run", progress_bar=False):
        if reset_num_timesteps:
            self._lstm_state = None
        if self.target_kl is not None and self.c is not None and self.kl_controller is None:
            # A loaded model resumes its controller from the c it had reached.
            self.kl_controller = AdaptiveKLController(self.c, self.target_kl, horizon=self.kl_horizon)
        return super()._setup_learn(total_timesteps, callback, reset_num_timesteps, tb_log_name, progress_bar)


def _check_train_freq(train_freq: Any) -> None:
    if isinstance(train_freq, tuple):
        if len(train_freq) != 2 or train_freq[1] not in ("step", "episode"):
            raise ValueError(f"train_freq must be an int or a (frequency, 'step' | 'episode') tuple, got {train_freq!r}")
        check_number("train_freq", train_freq[0], low=1, integer=True)
    else:
        check_number("train_freq", train_freq, low=1, integer=True)
