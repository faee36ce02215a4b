"""What every KL-controlled learner shares: c and its controller, the collector's bookkeeping, the gradient step.

Sequence Tutor's Q/Ψ/G (on SB3's ``OffPolicyAlgorithm``) and the whole-episode learners DAP, KL-PPO
and DPG (on ``BaseAlgorithm``) all put :class:`KLControlledLearner` first among their bases. It owns

* the KL settings -- ``c`` (the user's, never overwritten; None: the env's), ``target_kl`` and
  ``kl_horizon`` -- and the one :class:`~seqtutor_agents.common.kl.KLCoefficient` made from them,
  once (``kl_coef``); :attr:`~KLControlledLearner.current_c` is the live value that logs, reports,
  sweeps and evaluation read;
* ``set_env`` and the collector's life (:meth:`~KLControlledLearner._ensure_rollout`);
* one vector step of collection with SB3's bookkeeping (:meth:`~KLControlledLearner._collect_step`);
* the gradient step: loss check, clipping, optimiser step (:meth:`~KLControlledLearner._gradient_step`).

c has one channel: the learner reads its env's c once, with ``VecEnv.get_attr("c")``, when it builds
its controller (a c of its own wins). c is a setting of the env, the same for every step, and the
controller must exist before the first step (to weigh rewards, to load a model that resumes an
adapted c), which a per-step channel cannot give. So the per-step copy that used to ride along
(``RewardParts.c`` -> ``Episode.env_c`` -> the replay buffers, DAP's memory and ``TDBatch``) is gone:
nothing read it. The env still reports ``info["c"]`` (its API, for stock SB3 algorithms and checkers).

Which coefficient ``target_kl`` adapts is the learner's :attr:`~KLControlledLearner.kl_target_adapts`:
``"c"`` (Q, Ψ, G, DPG), ``"beta"`` (KL-PPO's penalty weight, with c fixed; KL-PPO keeps its own
``beta`` / :attr:`current_beta`), or None (DAP: no KL target). ``target_kl`` itself always means the
same: the exact KL(π ‖ prior) per step the controller steers toward.

A new learner takes one row of :data:`seqtutor_agents.runs.config.ALGOS` and a class on one of the
family bases: a whole-episode loss (a trajectory-balance learner, say) subclasses
:class:`~seqtutor_agents.policy_gradient.base.EpisodicPolicyGradient`, declares only its own
arguments and writes ``train(episodes)``, reading :attr:`~KLControlledLearner.current_c` and
calling :meth:`~KLControlledLearner._gradient_step` (which clips every parameter the optimiser
steps, e.g. a learned log Z in a group of its own).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch as th
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.type_aliases import GymEnv

from .kl import KLCoefficient, RolloutStats
from .rollout import Rollout, Transition
from .validation import check_learning_rate, check_number


class KLControlledLearner:
    """Mixin of every KL-controlled seqtutor learner (first among its bases, before the SB3 algorithm).

    A learner calls :meth:`_init_learner` in its ``__init__`` before SB3's, builds the controller
    with :meth:`_setup_kl_control` at the end of ``_setup_model``, collects with
    :meth:`_collect_step` and steps its optimiser with :meth:`_gradient_step`.
    """

    #: What ``target_kl`` adapts: ``"c"``, ``"beta"`` (KL-PPO), or None (the learner takes no KL target).
    kl_target_adapts: ClassVar[str | None] = "c"

    # Set by SB3's algorithm classes, which this mixin is combined with.
    env: Any
    policy: Any
    device: th.device
    logger: Any
    num_timesteps: int
    _n_updates: int
    _last_obs: Any
    _total_timesteps: int

    def _init_learner(
        self,
        learning_rate: Any,
        stats_window_size: int,
        c: float | None,
        target_kl: float | None,
        kl_horizon: float,
        max_grad_norm: float | None,
    ) -> None:
        """Check the settings every KL-controlled learner has, and keep the KL ones (call before SB3's ``__init__``,
        which keeps the first two).

        :param learning_rate: Adam step size, or a schedule.
        :param stats_window_size: episodes SB3's rollout statistics average over.
        :param c: the learner's own c weighing the domain reward (None: the env's).
        :param target_kl: the exact KL(π ‖ prior) per step to steer toward by adapting
            :attr:`kl_target_adapts` (None: no adaptation).
        :param kl_horizon: env steps over which the controller's relative step on the log coefficient reaches its clip.
        :param max_grad_norm: gradient clipping norm (None: no clipping).
        """
        check_learning_rate(learning_rate)
        check_number("stats_window_size", stats_window_size, low=1, integer=True)
        check_number("c", c, low=0.0, low_open=True, allow_none=True)
        check_number("target_kl", target_kl, low=0.0, low_open=True, allow_none=True)
        check_number("kl_horizon", kl_horizon, low=0.0, low_open=True)
        check_number("max_grad_norm", max_grad_norm, low=0.0, low_open=True, allow_none=True)
        if target_kl is not None and self.kl_target_adapts is None:
            raise ValueError(
                f"{type(self).__name__} adapts no KL coefficient: target_kl must be None, got {target_kl!r}"
            )
        self.c, self.target_kl, self.kl_horizon, self.max_grad_norm = c, target_kl, kl_horizon, max_grad_norm
        self.kl_coef: KLCoefficient | None = None
        #: The adapted c, kept in the model file so that a loaded model resumes from it (None: c is fixed).
        self.adapted_c: float | None = None
        self.prior_path: str | None = None
        self._rollout: Rollout | None = None
        self._stats = RolloutStats()

    # ------------------------------------------------------------------ the KL coefficient
    def kl_controller(self, setting: float, adapted: float | None, adapts: str) -> KLCoefficient:
        """A controller starting at ``setting`` -- or, where ``target_kl`` adapts this coefficient
        (``adapts``) and a loaded model had moved it, at ``adapted``."""
        target = self.target_kl if self.kl_target_adapts == adapts else None
        start = adapted if target is not None and adapted is not None else setting
        return KLCoefficient(start, target, horizon=self.kl_horizon)

    def _setup_kl_control(self) -> None:
        """Build the c controller once c is known: the learner's own c, else its env's (a model
        built without an env gets it from the env it is given later)."""
        if self.kl_coef is not None:
            return
        c = self.c
        if c is None and self.env is not None:
            c = float(self.env.get_attr("c")[0])
        if c is not None:
            self.kl_coef = self.kl_controller(c, getattr(self, "adapted_c", None), "c")

    @property
    def current_c(self) -> float | None:
        """The c the learner weighs the domain reward with now (fixed, or as adapted so far); None
        while c is unknown (no c of its own and no env yet)."""
        return None if self.kl_coef is None else self.kl_coef.value

    def _adapt_c(self, kl: float, n_steps: int) -> None:
        """Feed the controller ``n_steps`` steps of mean KL ``kl`` (a no-op when c is fixed)."""
        assert self.kl_coef is not None  # made by _setup_kl_control, before any rollout
        self._remember_c(self.kl_coef.update(kl, n_steps))

    def _observe_kl(self, kl_sum: float, n_steps: int, episodes_ended: int, min_episodes: int) -> None:
        """Pool KL for the controller (see :meth:`KLCoefficient.observe`; a no-op when c is fixed)."""
        assert self.kl_coef is not None  # made by _setup_kl_control, before any rollout
        self._remember_c(self.kl_coef.observe(kl_sum, n_steps, episodes_ended, min_episodes))

    def _remember_c(self, value: float) -> None:
        if self.kl_coef is not None and self.kl_coef.adaptive:
            self.adapted_c = value

    # ------------------------------------------------------------------ env and collector
    def set_env(self, env: GymEnv, force_reset: bool = True) -> None:
        """SB3's ``set_env`` (which passes ``env`` through ``_wrap_env``, as ``__init__`` and ``load``
        do), then a new collector and, if this model had no env before, its c controller."""
        super().set_env(env, force_reset)  # type: ignore[misc]  # a mixin: the SB3 algorithm after it in the MRO has it
        self._rollout = None
        self._setup_kl_control()

    def _setup_learn(
        self,
        total_timesteps: int,
        callback=None,
        reset_num_timesteps: bool = True,
        tb_log_name: str = "run",
        progress_bar: bool = False,
    ):
        fresh_obs = reset_num_timesteps or self._last_obs is None
        result = super()._setup_learn(  # type: ignore[misc]  # a mixin: SB3's algorithm has it
            total_timesteps,
            callback,
            reset_num_timesteps,
            tb_log_name,
            progress_bar,
        )
        if fresh_obs:  # SB3 reset the env: a new collector starts from its first observations
            self._rollout = None
        self._setup_kl_control()
        return result

    def _ensure_rollout(self) -> Rollout:
        """The collector, made from SB3's last observations when there is none."""
        if self._rollout is None:
            self._rollout = Rollout(self.env, self.device, obs=self._last_obs, initial_state=self.policy.initial_state)
        return self._rollout

    def act(self, obs: dict[str, th.Tensor], state: Any) -> tuple[th.Tensor, th.Tensor, Any]:
        """The collector's actor: actions, the acting distribution ``log π`` and the new recurrent state."""
        raise NotImplementedError

    def _collect_step(self, callback: BaseCallback) -> Transition | None:
        """One vector step of every env with :meth:`act`, and SB3's bookkeeping of it; None when a
        callback asks to stop."""
        rollout = self._ensure_rollout()
        step = rollout.step(self.act)
        self.num_timesteps += rollout.num_envs
        callback.update_locals(
            {
                "transition": step,
                "infos": step.infos,
                "dones": step.dones,
                "rewards": step.rewards,
                "actions": step.actions,
                "new_obs": step.obs,
            }
        )
        if not callback.on_step():
            return None
        self._update_info_buffer(step.infos, step.dones)  # type: ignore[attr-defined]  # a mixin: SB3's algorithm has it
        assert step.kl is not None and step.entropy is not None  # act() gives log π, so the rollout has both
        self._stats.add(
            kl_prior=step.kl,
            entropy=step.entropy,
            prior_log_prob=step.parts.prior_log_prob,
            domain_reward=step.parts.domain_reward,
        )
        self._last_obs = step.obs
        self._update_current_progress_remaining(self.num_timesteps, self._total_timesteps)  # type: ignore[attr-defined]  # a mixin: SB3's algorithm has it
        return step

    # ------------------------------------------------------------------ the update
    def _gradient_step(self, loss: th.Tensor, what: str = "loss") -> None:
        """Check the loss is finite, back-propagate, clip to ``max_grad_norm`` and step the optimiser.

        :param what: the loss's name in the error (e.g. ``"TD loss"``).
        :raises FloatingPointError: a non-finite loss, naming the update and the env step.
        """
        if not th.isfinite(loss):
            raise FloatingPointError(
                f"{type(self).__name__}: non-finite {what} ({loss.item()}) at update {self._n_updates + 1} "
                f"(env step {self.num_timesteps}); lower learning_rate or raise c"
            )
        optimizer = self.policy.optimizer
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.max_grad_norm is not None:
            th.nn.utils.clip_grad_norm_(
                [p for group in optimizer.param_groups for p in group["params"]], self.max_grad_norm
            )
        optimizer.step()

    # ------------------------------------------------------------------ saving
    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "_rollout", "_stats", "kl_coef"]  # type: ignore[misc]  # a mixin: the SB3 algorithm after it in the MRO has it

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        return ["policy", "policy.optimizer"], []
