"""One off-policy implementation of Sequence Tutor's learners; subclasses only choose the target.

Per step the env pays ``r = w log p(a|s) + r_domain/c`` (``w`` = the env's ``prior_weight``).
With ``V⁻`` the target network's value of the next state:

* Q-learning with log prior: ``y = r + γ max_a' Q⁻(s', a')``;
* Ψ-learning:                ``y = r + γ logsumexp_a' Ψ⁻(s', a')``;
* G-learning:                ``y = (r − w log p(a|s)) + γ log Σ_a' p(a'|s') exp G⁻(s', a')``
  (the domain reward only: the prior enters through the target and the policy).

The loss is the squared TD error against a soft-updated (τ) target network, with gradient
clipping, as in RL Tuner. Collection runs all envs of a VecEnv in one batch with the recurrent
Q-network's LSTM state carried per env.
"""

from __future__ import annotations

import io
import os
import pathlib
import tempfile
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.save_util import load_from_pkl
from stable_baselines3.common.type_aliases import GymEnv, RolloutReturn, Schedule, TrainFreq
from stable_baselines3.common.utils import LinearSchedule, polyak_update, should_collect_more_steps
from stable_baselines3.common.vec_env import VecEnv

from seqtutor_envs.prior import LSTMPrior

from .buffers import EpisodeReplayBuffer, TransitionReplayBuffer
from .policies import EXPLORATION_MODES, RecurrentQPolicy, last_tokens

SelfTutor = TypeVar("SelfTutor", bound="SequenceTutorAlgorithm")

REPLAY_MODES = ("episode", "transition")


class SequenceTutorAlgorithm(OffPolicyAlgorithm):
    """Recurrent off-policy learner with a KL-control target (base of Q, Ψ and G learning).

    :param policy: ``"RecurrentQPolicy"`` (alias ``"LstmQPolicy"``) or a policy class.
    :param env: a seqtutor env, env id, or SB3 VecEnv of one (e.g. :func:`make_sb3_vec_env`).
    :param learning_rate: Adam step size (RL Tuner: 1e-3).
    :param buffer_size: replay capacity in transitions (RL Tuner: 100k).
    :param learning_starts: env steps collected before the first gradient step.
    :param batch_size: episodes per minibatch in ``"episode"`` replay, transitions in ``"transition"`` replay.
    :param tau: soft target-update rate (RL Tuner: 0.01).
    :param gamma: discount. RL Tuner's training script used 0.5; under this package's rules (which, by
        musical meaning, never punish a held note) that horizon is too short to see the motif rewards
        and all three learners settle on a sustained tonic (benchmarks/results/melody_gamma.md), so 0.9.
    :param train_freq: collect this many vector steps between training phases.
    :param gradient_steps: gradient steps per training phase.
    :param replay: ``"episode"`` (full unrolls of stored episodes) or ``"transition"`` (stored LSTM states).
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

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "RecurrentQPolicy": RecurrentQPolicy,
        "LstmQPolicy": RecurrentQPolicy,
    }
    policy: RecurrentQPolicy
    replay_buffer: EpisodeReplayBuffer | TransitionReplayBuffer  # type: ignore[assignment]

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
        replay: str = "episode",
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
        if replay not in REPLAY_MODES:
            raise ValueError(f"replay must be one of {REPLAY_MODES}, got {replay!r}")
        if exploration not in EXPLORATION_MODES:
            raise ValueError(f"exploration must be one of {EXPLORATION_MODES}, got {exploration!r}")
        head_init = head_init or self.default_head_init
        if head_init not in ("prior", "zero"):
            raise ValueError(f"head_init must be 'prior' or 'zero', got {head_init!r}")
        for name, value in (("gamma", gamma), ("tau", tau)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        if temperature <= 0 or max_grad_norm <= 0:
            raise ValueError("temperature and max_grad_norm must be > 0")
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
        self.replay = replay
        self.exploration = exploration
        self.exploration_fraction = exploration_fraction
        self.exploration_initial_eps = exploration_initial_eps
        self.exploration_final_eps = exploration_final_eps
        self.exploration_rate = exploration_initial_eps if exploration == "egreedy" else 0.0
        self.temperature = temperature
        self.max_grad_norm = max_grad_norm
        self.init_from_prior = init_from_prior
        self.head_init = head_init
        self.prior_weight = 1.0
        self.env_c = 1.0
        self.prior_path: str | None = None
        self._lstm_state: tuple[th.Tensor, th.Tensor] | None = None
        self._rollout_stats: dict[str, list[float]] = {}
        if _init_setup_model:
            self._setup_model()

    # ------------------------------------------------------------------ set-up
    def _setup_model(self) -> None:
        self._setup_lr_schedule()
        self.set_random_seed(self.seed)
        if not isinstance(self.observation_space, spaces.Dict) or "prior_log_probs" not in self.observation_space.spaces:
            raise ValueError(
                f"{type(self).__name__} needs a seqtutor environment (Dict observation with 'tokens', 'step', "
                f"'prior_log_probs'), got observation space {self.observation_space}"
            )
        prior = self._env_prior()
        self.policy_kwargs.setdefault("net_config", dict(prior.config.__dict__) if prior is not None else None)
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
        self._create_aliases()
        self._make_replay_buffer()
        self.exploration_schedule = LinearSchedule(
            self.exploration_initial_eps, self.exploration_final_eps, self.exploration_fraction
        )
        self._convert_train_freq()

    def _make_replay_buffer(self) -> None:
        if self.replay == "episode":
            self.replay_buffer = EpisodeReplayBuffer(
                self.buffer_size, self.observation_space, self.action_space, self.device, n_envs=self.n_envs
            )
        else:
            cfg = self.policy.q_net.config
            self.replay_buffer = TransitionReplayBuffer(
                self.buffer_size,
                self.observation_space,
                self.action_space,
                self.device,
                n_envs=self.n_envs,
                state_shape=(cfg.num_layers, cfg.hidden_size),
            )

    def _env_prior(self) -> LSTMPrior | None:
        """The env's prior (weights to start from) and its prior weight ``w``."""
        if self.env is None:
            return None
        path = self.env.get_attr("prior_path")[0]
        self._read_env_reward_settings()
        self.prior_path = str(path)
        prior, _ = LSTMPrior.load(path)
        return prior

    def _read_env_reward_settings(self) -> None:
        """``w`` and ``c`` of the env's reward, needed to split it into prior and domain parts."""
        assert self.env is not None
        self.prior_weight = float(self.env.get_attr("prior_weight")[0])
        self.env_c = float(self.env.get_attr("c")[0])

    def _create_aliases(self) -> None:
        self.q_net = self.policy.q_net
        self.q_net_target = self.policy.q_net_target

    def set_env(self, env: GymEnv, force_reset: bool = True) -> None:
        super().set_env(env, force_reset)
        self._read_env_reward_settings()
        self._lstm_state = None

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "q_net", "q_net_target", "_lstm_state"]

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        return ["policy", "policy.optimizer"], []

    def save(self, path: str | pathlib.Path | io.BufferedIOBase, exclude=None, include=None) -> None:
        """SB3 ``save``, written atomically (temp file in the same folder, then rename)."""
        if isinstance(path, io.BufferedIOBase):
            return super().save(path, exclude=exclude, include=include)
        path = pathlib.Path(path)
        if path.suffix == "":
            path = path.with_suffix(".zip")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                super().save(f, exclude=exclude, include=include)  # type: ignore[arg-type]
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def load_replay_buffer(self, path, truncate_last_traj: bool = True) -> None:
        buffer = load_from_pkl(path, self.verbose)
        if not isinstance(buffer, (EpisodeReplayBuffer, TransitionReplayBuffer, ReplayBuffer)):
            raise TypeError(f"{path} does not hold a replay buffer (got {type(buffer).__name__})")
        buffer.device = self.device
        self.replay_buffer = buffer  # type: ignore[assignment]

    # ------------------------------------------------------------------ targets
    def bootstrap_value(self, next_q: th.Tensor, next_prior_log_probs: th.Tensor) -> th.Tensor:
        """``V⁻(s')`` from the target network's values at ``s'`` (per subclass)."""
        raise NotImplementedError

    def td_reward(self, rewards: th.Tensor, action_log_prob: th.Tensor) -> th.Tensor:
        """The reward the TD target uses (G-learning removes the prior term)."""
        return rewards

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
            if self.replay == "episode":
                q_taken, target, mask = self._episode_td(self.replay_buffer.sample(batch_size))  # type: ignore[arg-type]
            else:
                q_taken, target, mask = self._transition_td(self.replay_buffer.sample(batch_size))  # type: ignore[arg-type]
            loss = ((q_taken - target) ** 2 * mask).sum() / mask.sum()
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
            valid = mask > 0
            q_means.append(q_taken.detach()[valid].mean().item())
            targets.append(target[valid].mean().item())
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/loss", float(np.mean(losses)))
        self.logger.record("train/q_mean", float(np.mean(q_means)))
        self.logger.record("train/target_mean", float(np.mean(targets)))

    def _episode_td(self, batch: dict[str, th.Tensor]) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        tokens, lengths = batch["tokens"], batch["lengths"]
        width = tokens.shape[1] - 1
        steps = th.arange(width, device=tokens.device)
        valid = steps[None, :] < lengths[:, None]
        # Padding past an episode's end is masked out of the loss; give the LSTM a legal token there.
        inputs = th.where(
            th.cat([th.ones_like(valid[:, :1]), valid], dim=1), tokens, th.zeros_like(tokens)
        )
        actions = inputs[:, 1:]
        q_all, _ = self.q_net(inputs[:, :width])
        q_taken = q_all.gather(2, actions.unsqueeze(2)).squeeze(2)
        with th.no_grad():
            next_q, _ = self.q_net_target(inputs)
            next_q = next_q[:, 1:]
            log_p = batch["prior_log_probs"]
            next_value = self.bootstrap_value(next_q, log_p[:, 1:])
            action_log_prob = log_p[:, :width].gather(2, actions.unsqueeze(2)).squeeze(2)
            not_last = steps[None, :] < (lengths[:, None] - 1)
            target = self.td_reward(batch["rewards"], action_log_prob) + self.gamma * not_last * next_value
        return q_taken, target, valid.float()

    def _transition_td(self, batch: dict[str, Any]) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        q_values, _ = self.q_net(batch["token_in"].reshape(-1, 1), batch["state"])
        q_taken = q_values[:, 0].gather(1, batch["actions"].reshape(-1, 1)).squeeze(1)
        with th.no_grad():
            next_q, _ = self.q_net_target(batch["actions"].reshape(-1, 1), batch["next_state"])
            next_value = self.bootstrap_value(next_q[:, 0], batch["next_prior_log_probs"])
            target = self.td_reward(batch["rewards"], batch["action_log_prob"]) + self.gamma * (
                1.0 - batch["dones"]
            ) * next_value
        return q_taken, target, th.ones_like(q_taken)

    # ------------------------------------------------------------------ collection
    def collect_rollouts(  # type: ignore[override]
        self,
        env: VecEnv,
        callback: BaseCallback,
        train_freq: TrainFreq,
        replay_buffer,
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
            self._init_episode_storage(n)
        callback.on_rollout_start()
        continue_training = True
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
                log_pi = th.log_softmax(logits / self.temperature, dim=1)
                pi = log_pi.exp()
                kl = (pi * (log_pi - log_p)).sum(1)
                entropy = -(pi * log_pi).sum(1)
            actions = actions_t.cpu().numpy()
            new_obs, rewards, dones, infos = env.step(actions)
            self.num_timesteps += n
            num_collected_steps += 1
            callback.update_locals(locals())
            if not callback.on_step():
                return RolloutReturn(num_collected_steps * n, num_collected_episodes, continue_training=False)
            self._update_info_buffer(infos, dones)

            steps = obs["step"].astype(np.int64)
            action_log_prob = obs["prior_log_probs"][np.arange(n), actions].astype(np.float64)
            domain = (rewards - self.prior_weight * action_log_prob) * self.env_c
            self._record_rollout_stats(kl, entropy, action_log_prob, domain)
            self._store(obs, steps, actions, rewards, action_log_prob, state_before, state_after, new_obs, dones, infos)

            done_rows = np.flatnonzero(dones)
            h, c = state_after
            if len(done_rows):
                keep = th.ones((1, n, 1))
                keep[0, th.as_tensor(done_rows)] = 0.0
                h, c = h * keep, c * keep
            self._lstm_state = (h, c)
            self._last_obs = new_obs  # type: ignore[assignment]
            self._update_current_progress_remaining(self.num_timesteps, self._total_timesteps)
            self._on_step()
            for _ in done_rows:
                num_collected_episodes += 1
                self._episode_num += 1
                if log_interval is not None and self._episode_num % (log_interval * n) == 0:
                    self._dump_rollout_stats()
                    self.dump_logs()
        callback.on_rollout_end()
        return RolloutReturn(num_collected_steps * n, num_collected_episodes, continue_training)

    def _init_episode_storage(self, n: int) -> None:
        length = int(self.observation_space["tokens"].shape[0]) - 1
        self._ep_rewards = np.zeros((n, length), dtype=np.float32)
        self._ep_log_probs = np.zeros((n, length + 1, int(self.action_space.n)), dtype=np.float32)

    def _store(self, obs, steps, actions, rewards, action_log_prob, state_before, state_after, new_obs, dones, infos) -> None:
        n = len(actions)
        if self.replay == "transition":
            next_log_probs = new_obs["prior_log_probs"].copy()
            for i in np.flatnonzero(dones):
                next_log_probs[i] = infos[i]["terminal_observation"]["prior_log_probs"]
            self.replay_buffer.add_batch(  # type: ignore[union-attr]
                last_tokens(th.as_tensor(obs["tokens"]), th.as_tensor(steps)).numpy(),
                (state_before[0].numpy(), state_before[1].numpy()),
                actions,
                rewards,
                action_log_prob,
                (state_after[0].numpy(), state_after[1].numpy()),
                next_log_probs,
                dones.astype(np.float32),
            )
            return
        rows = np.arange(n)
        self._ep_rewards[rows, steps] = rewards
        self._ep_log_probs[rows, steps] = obs["prior_log_probs"]
        for i in np.flatnonzero(dones):
            terminal = infos[i]["terminal_observation"]
            length = int(terminal["step"])
            self._ep_log_probs[i, length] = terminal["prior_log_probs"]
            self.replay_buffer.add_episode(  # type: ignore[union-attr]
                terminal["tokens"], self._ep_rewards[i], self._ep_log_probs[i], length
            )

    def _record_rollout_stats(self, kl, entropy, action_log_prob, domain) -> None:
        stats = self._rollout_stats
        for key, value in (
            ("kl_prior", kl.mean().item()),
            ("entropy", entropy.mean().item()),
            ("prior_log_prob", float(np.mean(action_log_prob))),
            ("domain_reward", float(np.mean(domain))),
        ):
            stats.setdefault(key, []).append(value)

    def _dump_rollout_stats(self) -> None:
        for key, values in self._rollout_stats.items():
            if values:
                self.logger.record(f"rollout/{key}", float(np.mean(values)))
        self._rollout_stats = {}

    def dump_logs(self) -> None:
        self._dump_rollout_stats()
        super().dump_logs()

    def learn(  # type: ignore[override]
        self: SelfTutor,
        total_timesteps: int,
        callback=None,
        log_interval: int = 4,
        tb_log_name: str = "run",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfTutor:
        if reset_num_timesteps:
            self._lstm_state = None
        return super().learn(
            total_timesteps=total_timesteps,
            callback=callback,
            log_interval=log_interval,
            tb_log_name=tb_log_name,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
        )

    def predict(  # type: ignore[override]
        self,
        observation: dict[str, np.ndarray],
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """Action (and next LSTM state) as sb3-contrib's RecurrentPPO: pass the state back each step."""
        return self.policy.predict(observation, state, episode_start, deterministic)
