"""Sequence Tutor's learners (§3): the recurrent off-policy learner, Q-, Ψ- and G-learning, in SB3's ``dqn.py`` shape.

Set-up builds on SB3's own (``OffPolicyAlgorithm._setup_model``), then starts the Q-network from
the prior's weights; :meth:`~SequenceTutorAlgorithm.collect_rollouts` steps all envs at once
through the shared collector and hands each step to the replay buffer (``buffers.py``);
:meth:`~SequenceTutorAlgorithm.train` takes TD steps on what the buffer replays, through the
shared gradient step (:class:`~seqtutor_agents.common.learner.KLControlledLearner`, which also
owns c and its controller). A Ψ update reads top to bottom in :meth:`~SequenceTutorAlgorithm.train`,
:meth:`~SequenceTutorAlgorithm.td_target` and :func:`psi_bootstrap` here, ``td_batch`` in
``buffers.py`` and ``_gradient_step`` in ``common/learner.py``.

The three learners differ only in their TD target. With ``V⁻`` the target network's value of the
next state and ``r = w log p(a|s) + r_domain/c`` (the reward's parts as the env reported them,
recomposed at replay time by :func:`seqtutor_envs.reward.compose` with the learner's current c):

=================================  ==============================================  ===========================
learner                            target                                          acting policy
=================================  ==============================================  ===========================
Q-learning with log prior          ``r + γ max_a' Q⁻(s', a')``                     ``softmax(Q / T)``
Ψ-learning (soft Q)                ``r + γ logsumexp_a' Ψ⁻(s', a')``               ``softmax(Ψ / T)``
G-learning                         ``r_domain/c + γ log Σ_a' p(a'|s') exp G⁻(s', a')``  ``∝ p(a|s) exp G(s, a)``
=================================  ==============================================  ===========================

Ψ and G optimise the domain return minus KL(π ‖ prior) (entropy-regularised); Q-learning drops
the entropy term, so its optimum is deterministic and drifts furthest from the prior. G = Ψ − log p:
the prior enters G-learning through its target and its policy, not its reward.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import (
    GymEnv,
    RolloutReturn,
    Schedule,
    TrainFreq,
)
from stable_baselines3.common.utils import (
    LinearSchedule,
    polyak_update,
    should_collect_more_steps,
)
from stable_baselines3.common.vec_env import VecEnv

from seqtutor_envs.prior import FrozenStepper
from seqtutor_envs.reward import compose

from ..common.learner import KLControlledLearner
from ..common.offpolicy import MoleculeExtrasMixin
from ..common.recurrent import last_tokens, load_env_prior, prior_architecture
from ..common.safe_load import SafeLoadMixin
from ..common.validation import check_arguments, check_choice, check_number
from .buffers import (
    REPLAY_BUFFERS,
    EpisodeReplayBuffer,
    RecurrentReplayBuffer,
    TDBatch,
    checked_replay_buffer_class,
)
from .policies import EXPLORATION_MODES, RecurrentQPolicy

HEAD_INITS = ("prior", "zero")
#: Bounds of the numeric arguments (see :func:`~seqtutor_agents.common.validation.check_arguments`).
ARGUMENT_BOUNDS: dict[str, dict[str, Any]] = {
    "buffer_size": {"low": 1, "integer": True},
    "learning_starts": {"low": 0, "integer": True},
    "batch_size": {"low": 1, "integer": True},
    "tau": {"low": 0.0, "high": 1.0},
    "gamma": {"low": 0.0, "high": 1.0},
    "td_lambda": {"low": 0.0, "high": 1.0},
    "consistency_coef": {"low": 0.0},
    "exploration_fraction": {"low": 0.0, "high": 1.0},
    "exploration_initial_eps": {"low": 0.0, "high": 1.0},
    "exploration_final_eps": {"low": 0.0, "high": 1.0},
    "temperature": {"low": 0.0, "low_open": True},
}


class SequenceTutorAlgorithm(MoleculeExtrasMixin, KLControlledLearner, SafeLoadMixin, OffPolicyAlgorithm):
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
    :param c: the learner's c in ``w log p + r_domain / c`` (None: the env's).
    :param target_kl: adapt c during training so that the exact KL(π ‖ prior) per step of the acting
        policy tracks this many nats (None: keep c fixed). c starts at ``c`` (or the env's).
    :param kl_horizon: env steps over which the KL controller's relative step on log c reaches its clip (0.2).
    :param td_lambda: λ of λ-returns along replayed episodes (0: one-step targets, the paper's); Peng's
        Q(λ) for Q-learning, the soft λ-return for Ψ and G. Needs episode replay.
    :param consistency_coef: weight of the path-consistency loss over whole replayed episodes beside the
        TD loss (0: none; see :meth:`consistency_loss`). Ψ and G, episode replay, γ = 1.
    :param exploration: ``"boltzmann"`` or ``"egreedy"``.
    :param exploration_fraction: fraction of training over which epsilon decays (egreedy).
    :param exploration_initial_eps: initial epsilon (egreedy).
    :param exploration_final_eps: final epsilon (egreedy; RL Tuner: 0.1).
    :param temperature: Boltzmann temperature of the acting policy.
    :param max_grad_norm: gradient clipping norm (RL Tuner: 5).
    :param init_from_prior: start the Q-network (and target) from the env's prior weights.
    :param head_init: ``"prior"`` copies the prior's output layer too; ``"zero"`` zeroes it.
    :param genetic: graph-GA exploration (SMILES env, episode replay; None: off): the children of the
        best molecules scored so far are scored and stored in the replay buffer; see
        :mod:`seqtutor_agents.common.offpolicy`.
    :param augment: per molecule collected, this many randomised SMILES rewrites of elite-memory
        episodes stored in the replay buffer (rewards reused; needs the elite memory; 0: off).
    :param policy_kwargs: extra policy arguments.
    """

    #: How Q-values become the acting policy ("q", "psi" or "g"); set by subclasses.
    acting: ClassVar[str] = "q"
    #: Default output-layer initialisation of the subclass.
    default_head_init: ClassVar[str] = "prior"
    #: Whether the TD reward keeps the env's ``w log p(a|s)`` term (G-learning: no, see the module docstring).
    prior_in_reward: ClassVar[bool] = True

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {"RecurrentQPolicy": RecurrentQPolicy}
    policy: RecurrentQPolicy
    replay_buffer: RecurrentReplayBuffer  # type: ignore[assignment]  # SB3 declares a ReplayBuffer; ours are BaseBuffers

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
        consistency_coef: float = 0.0,
        exploration: str = "boltzmann",
        exploration_fraction: float = 0.5,
        exploration_initial_eps: float = 1.0,
        exploration_final_eps: float = 0.1,
        temperature: float = 1.0,
        max_grad_norm: float = 5.0,
        init_from_prior: bool = True,
        head_init: str | None = None,
        genetic: Any = None,
        augment: int = 0,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: th.device | str = "auto",
        _init_setup_model: bool = True,
    ) -> None:
        self._init_learner(learning_rate, stats_window_size, c, target_kl, kl_horizon, max_grad_norm)
        check_arguments(locals(), ARGUMENT_BOUNDS)
        self._init_molecule_extras(genetic, augment)
        head_init = self._check_settings(
            train_freq, gradient_steps, exploration, init_from_prior, head_init, consistency_coef, gamma
        )
        replay_buffer_class = checked_replay_buffer_class(replay_buffer_class)
        super().__init__(
            policy,
            env,  # type: ignore[arg-type]  # SB3 types env as required; its algorithms take None (set later, e.g. by load)
            learning_rate,
            buffer_size,
            learning_starts,
            batch_size,
            tau,
            gamma,
            train_freq,
            gradient_steps,
            action_noise=None,
            replay_buffer_class=replay_buffer_class,  # type: ignore[arg-type]  # SB3: a ReplayBuffer class
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
        self.td_lambda, self.temperature = float(td_lambda), temperature
        self.consistency_coef = float(consistency_coef)
        self.exploration, self.exploration_fraction = exploration, exploration_fraction
        self.exploration_initial_eps, self.exploration_final_eps = exploration_initial_eps, exploration_final_eps
        self.exploration_rate = exploration_initial_eps if exploration == "egreedy" else 0.0
        self.init_from_prior, self.head_init = init_from_prior, head_init
        self._acting_stepper: FrozenStepper | None = None  # the Q-network's weights during a collection phase
        if _init_setup_model:
            self._setup_model()

    def _check_settings(
        self,
        train_freq: Any,
        gradient_steps: Any,
        exploration: str,
        init_from_prior: Any,
        head_init: str | None,
        consistency_coef: float,
        gamma: float,
    ) -> str:
        """The checks beyond :data:`ARGUMENT_BOUNDS` (before SB3 builds anything); returns the output layer's start."""
        _check_train_freq(train_freq)
        _check_gradient_steps(gradient_steps)
        check_choice("exploration", exploration, EXPLORATION_MODES)
        if not isinstance(init_from_prior, bool):
            raise TypeError(f"init_from_prior must be True or False, got {init_from_prior!r}")
        if consistency_coef and (self.acting == "q" or gamma != 1.0):
            raise ValueError(
                f"consistency_coef holds for the soft learners (Ψ, G) at gamma 1, not {type(self).__name__} "
                f"at gamma {gamma:g}"
            )
        return check_choice("head_init", head_init or self.default_head_init, HEAD_INITS)

    # ------------------------------------------------------------------ set-up
    def _setup_model(self) -> None:
        prior_architecture(self)
        self.policy_kwargs["acting"] = self.acting
        self.policy_kwargs.setdefault("temperature", self.temperature)
        # None: models saved before replay modes became buffer classes name their mode in `replay`.
        buffer_class = self.replay_buffer_class or REPLAY_BUFFERS[getattr(self, "replay", "episode")]
        # SB3 types the class a ReplayBuffer; ours are BaseBuffers (OffPolicyAlgorithm only instantiates it).
        self.replay_buffer_class = buffer_class  # type: ignore[assignment]
        consistency_coef: float = getattr(self, "consistency_coef", 0.0)  # models saved before it lack it
        if (self.td_lambda > 0 or consistency_coef) and not issubclass(buffer_class, EpisodeReplayBuffer):
            setting = "td_lambda > 0" if self.td_lambda > 0 else "consistency_coef > 0"
            raise ValueError(f"{setting} needs whole replayed episodes: use the EpisodeReplayBuffer")
        net = self.policy_kwargs["net_config"] or {}
        self.replay_buffer_kwargs = {
            **self.replay_buffer_kwargs,
            "state_shape": (net.get("num_layers", 1), net.get("hidden_size", 100)),
        }
        super()._setup_model()  # SB3's: lr schedule, seeding, the replay buffer, the policy, train_freq
        self.replay_buffer_kwargs.pop("state_shape")
        prior = load_env_prior(self)
        if prior is not None and self.init_from_prior:
            self.policy.load_prior_weights(prior)
            if self.head_init == "zero":
                self.policy.zero_heads()
        self.policy.exploration = self.exploration
        self.policy.epsilon = self.exploration_rate
        self.q_net, self.q_net_target = self.policy.q_net, self.policy.q_net_target
        self.exploration_schedule = LinearSchedule(
            self.exploration_initial_eps, self.exploration_final_eps, self.exploration_fraction
        )
        self._setup_kl_control()

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "q_net", "q_net_target", "_acting_stepper"]

    # ------------------------------------------------------------------ targets
    def bootstrap_value(self, next_q: th.Tensor, next_prior_log_probs: th.Tensor) -> th.Tensor:
        """``V⁻(s')`` from the target network's values at ``s'`` (per learner, see the module docstring)."""
        raise NotImplementedError

    def td_reward(self, batch: TDBatch) -> th.Tensor:
        """The reward of the TD target: ``compose(log p(a|s), r_domain, c, w)`` (G-learning: ``w = 0``)."""
        weight = batch.prior_weight if self.prior_in_reward else 0.0
        return compose(batch.prior_log_prob, batch.domain_reward, self.current_c, weight)

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
        correction = th.cat(
            [correction[:, :-1], th.zeros_like(correction[:, -1:])], dim=1
        )  # nothing follows the last column
        # y_t = a_t + b_t y_{t+1}: a_t the one-step part, b_t = γ λ (1 - done_t) what carries y_{t+1} back.
        carry = self.gamma * batch.not_done
        offset = reward + carry * ((1.0 - self.td_lambda) * next_value - self.td_lambda * correction)
        return linear_recurrence(offset, carry * self.td_lambda)

    def consistency_loss(self, batch: TDBatch) -> th.Tensor:
        """Path consistency over whole replayed episodes: ``mean_i (V(s_0) + Σ_t [log π(a_t|s_t) − r_t] )² / T``.

        ``r_t = w log p(a_t|s_t) + r_domain/c`` (G: ``w = 1``, its policy carries the prior) and ``V`` the
        online network's soft value, ``log Σ_a p(a|s) exp G(s, a)`` (Ψ: ``log Σ_a exp Ψ(s, a)``). At the
        soft optimum every episode, from any behaviour, has ``V(s_0) + Σ_t log π = Σ_t r_t`` (γ = 1): it
        is trajectory balance (reference §14) with the network's own ``V(s_0)`` as the learned log Z, and
        it ties the policy's log-probabilities of whole sequences to their returns directly, where the
        TD loss gets there one bootstrapped step at a time. Divided by the batch's longest episode, so
        that it is on the per-step scale of the TD loss.
        """
        if batch.q_all is None or batch.prior_log_probs is None:
            raise ValueError("consistency_coef > 0 needs whole replayed episodes (EpisodeReplayBuffer)")
        with_prior = self.acting == "g"  # G's policy is p exp(G): the prior is in its logits
        value = th.logsumexp(batch.q_all + batch.prior_log_probs if with_prior else batch.q_all, dim=-1)  # (B, T)
        log_pi = batch.q_taken + (batch.prior_log_prob if with_prior else 0.0) - value
        weight = batch.prior_weight if self.prior_in_reward else th.ones_like(batch.prior_weight)
        reward = compose(batch.prior_log_prob, batch.domain_reward, self.current_c, weight)
        residual = value[:, 0] + ((log_pi - reward) * batch.mask).sum(dim=1)
        return (residual**2).mean() / batch.mask.shape[1]

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
        losses, q_means, targets, consistencies = [], [], [], []
        for _ in range(gradient_steps):
            batch = self.replay_buffer.td_batch(batch_size, self.q_net, self.q_net_target)
            with th.no_grad():
                target = self.td_target(batch)
            loss = ((batch.q_taken - target) ** 2 * batch.mask).sum() / batch.mask.sum()
            if getattr(self, "consistency_coef", 0.0):  # models saved before it existed have none
                consistency = self.consistency_loss(batch)
                consistencies.append(consistency.item())
                loss = loss + self.consistency_coef * consistency
            self._gradient_step(loss, "TD loss")
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
        if consistencies:
            self.logger.record("train/consistency_loss", float(np.mean(consistencies)))
        c = self.current_c
        assert c is not None  # known once the learner has an env (it trains on one)
        self.logger.record("train/c", float(c))

    # ------------------------------------------------------------------ collection
    def act(self, obs: dict[str, th.Tensor], state: Any) -> tuple[th.Tensor, th.Tensor, Any]:
        """The collector's actor: the exploring acting policy, its distribution, the Q-network's new state.

        The Q-network's weights do not change within a collection phase, so it steps through a
        :class:`~seqtutor_envs.prior.FrozenStepper` made at the phase's start (``nn.LSTM``'s per-call
        dispatch is most of a one-token step's cost).
        """
        if self._acting_stepper is None:
            q_values, state_after = self.policy.step_q(obs, state)
        else:
            q_values, state_after = self._acting_stepper.outputs(last_tokens(obs["tokens"], obs["step"]), state)
        logits = self.policy.policy_logits(q_values, obs["prior_log_probs"].float())
        actions = self.policy.select_actions(logits, deterministic=False, explore=True)
        return actions, th.log_softmax(logits, dim=1), state_after

    def collect_rollouts(  # type: ignore[override]  # SB3's takes a ReplayBuffer; ours a RecurrentReplayBuffer
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
        self._acting_stepper = self.q_net.frozen_stepper()
        n = env.num_envs
        num_collected_steps, num_collected_episodes, kl_sum = 0, 0, 0.0
        finished: list = []  # the episodes finished, for genetic exploration and augmented replay
        callback.on_rollout_start()
        while should_collect_more_steps(train_freq, num_collected_steps, num_collected_episodes):
            step = self._collect_step(callback)
            num_collected_steps += 1
            if step is None:
                self._acting_stepper = None
                return RolloutReturn(num_collected_steps * n, num_collected_episodes, continue_training=False)
            assert step.kl is not None  # _collect_step's actor gives log π, so the rollout has the KL
            kl_sum += float(step.kl.sum())
            replay_buffer.add_transition(step)
            finished.extend(step.episodes)
            self._on_step()
            for _ in np.flatnonzero(step.dones):
                num_collected_episodes += 1
                self._episode_num += 1
                if log_interval is not None and self._episode_num % (log_interval * n) == 0:
                    self.dump_logs()
        self._acting_stepper = None  # the weights change in the training phase that follows
        if num_collected_steps:  # pooled until every env has ended an episode (see KLCoefficient.observe)
            self._observe_kl(kl_sum, num_collected_steps * n, num_collected_episodes, n)
        self._feed_replay_buffer(finished, replay_buffer)
        callback.on_rollout_end()
        return RolloutReturn(num_collected_steps * n, num_collected_episodes, True)

    def dump_logs(self) -> None:
        self._stats.dump(self.logger)
        super().dump_logs()


def linear_recurrence(offset: th.Tensor, coefficient: th.Tensor) -> th.Tensor:
    """``y`` with ``y_t = offset_t + coefficient_t · y_{t+1}`` along the last dimension, ``y`` 0 past the end.

    A reverse scan in ⌈log₂ T⌉ whole-tensor steps (recursive doubling) instead of T Python steps: after
    the step of span ``d``, ``y_t`` sums the terms from ``t`` to ``t + 2d - 1`` and ``coefficient_t`` is
    the product that carries ``y_{t+2d}`` back to ``t``.
    """
    value, carry = offset, coefficient
    span, steps = 1, offset.shape[-1]
    while span < steps:
        value = th.cat([value[..., :-span] + carry[..., :-span] * value[..., span:], value[..., -span:]], dim=-1)
        carry = th.cat([carry[..., :-span] * carry[..., span:], carry[..., -span:]], dim=-1)
        span *= 2
    return value


# ---------------------------------------------------------------------- the three targets
def q_bootstrap(next_q: th.Tensor, next_prior_log_probs: th.Tensor) -> th.Tensor:
    """``max_a' Q⁻(s', a')``."""
    return next_q.max(dim=-1).values


def psi_bootstrap(next_q: th.Tensor, next_prior_log_probs: th.Tensor) -> th.Tensor:
    """``logsumexp_a' Ψ⁻(s', a')``: the soft value of the entropy-regularised return."""
    return th.logsumexp(next_q, dim=-1)


def g_bootstrap(next_q: th.Tensor, next_prior_log_probs: th.Tensor) -> th.Tensor:
    """``log Σ_a' p(a'|s') exp G⁻(s', a')``: the soft value with the prior as the base measure."""
    return th.logsumexp(next_q + next_prior_log_probs, dim=-1)


class PriorQLearning(SequenceTutorAlgorithm):
    """Q-learning with the log prior in the reward (Sequence Tutor, §3; RL Tuner's ``algorithm='q'``).

    Recurrent DQN on ``r = log p(a|s) + r_domain/c`` with target ``r + γ max_a' Q⁻(s', a')``. The
    acting policy samples ``softmax(Q / T)`` (Boltzmann) or is epsilon-greedy.
    See :class:`SequenceTutorAlgorithm` for the parameters.
    """

    acting: ClassVar[str] = "q"

    def bootstrap_value(self, next_q: th.Tensor, next_prior_log_probs: th.Tensor) -> th.Tensor:
        return q_bootstrap(next_q, next_prior_log_probs)

    def soft_correction(self, next_q_taken: th.Tensor, next_value: th.Tensor) -> th.Tensor:
        return th.zeros_like(next_value)  # Peng's Q(λ): no entropy term to subtract


class PsiLearning(SequenceTutorAlgorithm):
    """Ψ-learning: soft Q-learning with the log prior in the reward (Sequence Tutor, §3).

    Target ``r + γ logsumexp_a' Ψ⁻(s', a')`` with ``r = log p(a|s) + r_domain/c``; policy ``softmax(Ψ)``.
    See :class:`SequenceTutorAlgorithm` for the parameters.
    """

    acting: ClassVar[str] = "psi"

    def bootstrap_value(self, next_q: th.Tensor, next_prior_log_probs: th.Tensor) -> th.Tensor:
        return psi_bootstrap(next_q, next_prior_log_probs)


class GLearning(SequenceTutorAlgorithm):
    """G-learning (Sequence Tutor, §3): ``G = Ψ − log p``, policy ``∝ p(a|s) exp G(s, a)``.

    Target ``r_domain/c + γ log Σ_a' p(a'|s') exp G⁻(s', a')``: the domain reward only, recomposed
    from the reward's parts. The output layer starts at zero by default (``head_init="zero"``):
    ``G ≡ 0`` makes the initial policy exactly the prior, the G-analogue of starting Ψ from the
    prior's logits. ``head_init="prior"`` reproduces RL Tuner, whose G-network starts from the
    prior's logits and so acts with ``∝ p²`` at first.
    See :class:`SequenceTutorAlgorithm` for the parameters.
    """

    acting: ClassVar[str] = "g"
    default_head_init: ClassVar[str] = "zero"

    def bootstrap_value(self, next_q: th.Tensor, next_prior_log_probs: th.Tensor) -> th.Tensor:
        return g_bootstrap(next_q, next_prior_log_probs)

    #: The prior enters G-learning through its target and its policy, not its reward.
    prior_in_reward: ClassVar[bool] = False


def _check_train_freq(train_freq: Any) -> None:
    if isinstance(train_freq, tuple):
        if len(train_freq) != 2 or train_freq[1] not in ("step", "episode"):
            raise ValueError(
                f"train_freq must be an int or a (frequency, 'step' | 'episode') tuple, got {train_freq!r}"
            )
        check_number("train_freq", train_freq[0], low=1, integer=True)
    else:
        check_number("train_freq", train_freq, low=1, integer=True)


def _check_gradient_steps(gradient_steps: Any) -> None:
    if gradient_steps != -1:
        check_number("gradient_steps", gradient_steps, low=1, integer=True)
