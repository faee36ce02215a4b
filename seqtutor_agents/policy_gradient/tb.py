"""Trajectory balance toward π* ∝ p(x)^w exp(R(x)/c): a GFlowNet learner that is KL-regularised RL (Genetic GFN's loss).

A left-to-right sequence has one generation path, so a GFlowNet's backward policy is 1 and
trajectory balance with the reward ``p(x)^w exp(R(x)/c)`` is, per whole sequence ``x``::

    δ(x) = log Z + log π_θ(x) − w log p(x) − R(x)/c,
    loss = mean_x δ(x)²  (+ prior_penalty · mean_x (log π_θ(x) − log p(x)))

with a learned scalar ``log Z`` (its own learning rate). Its minimiser, on any distribution of
training sequences with full support, is ``π* = p^w exp(R/c) / Z`` -- the optimum of
E_π[R]/c − KL(π ‖ p) -- and ``log Z`` its log-normaliser (``../shared/reference/sequence-tutor.md``
§14; REINVENT's loss is this with ``log Z`` fixed at 0, which is why its fixed point is not π*).
Because the loss holds for any ``x``, TB learns off-policy: each round it collects ``batch_size``
episodes of its own, adds them (and, with ``genetic``, graph-GA offspring of the best molecules
scored so far) to a top-k memory of its best sequences, and takes ``gradient_steps`` steps, each on
``replay_sample`` sequences drawn from the memory (rank-based by default; with ``train_on_new`` the
first also on the round's new sequences). These are Genetic GFN's settings (Kim et al. 2024, ``hparams_default.yaml``):
learning rate 5e-4, log Z learning rate 0.1, 8 steps on 64 rank-sampled items (k = 0.01), a
memory of 1,024, and its small penalty ``0.01 · mean(log π − log p)`` (``prior_penalty``; 0 gives the
exact π* target). Genetic GFN's default puts only ``β·r`` in the backward flow and leaves the prior
to that penalty; here the prior is in the target (``w`` is the env's ``prior_weight``), so c is the
paper's KL weight: c = 1/β = 0.02 matches their β = 50. The melody domain's defaults make it
on-policy instead (``replay_memory=0``, 4 steps on each round's own episodes): there the goal is π*
itself, and a memory of the best collapses it (``benchmarks/results/melody_tb_ablation.md``).

``log Z`` starts, by default, at the value that minimises the first step's loss (the mean of
``log P(x) − log π_θ(x)`` over its batch); §12's importance-sampling estimate ``log mean exp(log P − log q)``
of each round's own batch (q: the policy that drew it) is logged beside the learned value.
c is fixed or adapted toward ``target_kl`` -- the exact KL(π ‖ prior) per step of the round's own
states -- by the shared controller, so π* moves with it.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch as th
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import Schedule
from torch import nn

from seqtutor_envs.sampling import DEFAULT_RANK_COEFFICIENT

from ..common.episodes import Episode, Episodes
from ..common.kl import kl_and_entropy
from ..common.memory import ReplayMemoryMixin
from ..common.offpolicy import MoleculeExtrasMixin
from ..common.recipes import allow_class
from ..common.validation import check_number
from .base import EpisodicPolicyGradient
from .policies import PriorLSTMPolicy


class TBPolicy(PriorLSTMPolicy):
    """The prior-initialised LSTM policy with a learned ``log Z``, stepped by the same Adam at its own rate.

    :param log_z_learning_rate: Adam step size of ``log Z`` (the optimiser's second parameter group).
    :param kwargs: see :class:`~seqtutor_agents.policy_gradient.policies.PriorLSTMPolicy`.
    """

    def __init__(
        self,
        observation_space: Any,
        action_space: Any,
        lr_schedule: Schedule,
        log_z_learning_rate: float = 0.1,
        **kwargs: Any,
    ) -> None:
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)
        self.log_z_learning_rate = log_z_learning_rate
        self.log_z = nn.Parameter(th.zeros(()))
        network = [p for name, p in self.named_parameters() if name != "log_z"]
        # SB3 types optimizer_class as the base Optimizer, whose __init__ takes no lr (nor parameter groups)
        self.optimizer = self.optimizer_class(
            [
                {"params": network},  # type: ignore[call-arg,arg-type]
                {"params": [self.log_z], "lr": log_z_learning_rate},
            ],
            lr=lr_schedule(1),
            **self.optimizer_kwargs,
        )

    def _get_constructor_parameters(self) -> dict[str, Any]:
        return {**super()._get_constructor_parameters(), "log_z_learning_rate": self.log_z_learning_rate}


class TB(ReplayMemoryMixin, MoleculeExtrasMixin, EpisodicPolicyGradient):
    """Trajectory balance with a learned log Z: on-policy episodes, replay, optional GA offspring (module docstring).

    :param policy: ``"TBPolicy"``.
    :param env: a seqtutor env or SB3 VecEnv of one.
    :param learning_rate: Adam step size of the policy network.
    :param log_z_learning_rate: Adam step size of ``log Z``.
    :param log_z_init: ``log Z``'s start (None: the first step's loss-minimising value).
    :param gradient_steps: gradient steps per round of ``batch_size`` new episodes.
    :param replay_memory: capacity of the top-k memory of the best distinct sequences (0: no replay:
        every step trains on the round's new sequences). Part of every checkpoint.
    :param replay_sample: remembered sequences per gradient step, drawn with replacement.
    :param replay_sampling: ``"rank"`` (default), ``"score"`` or ``"uniform"``.
    :param rank_coefficient: ``k`` of rank-based sampling.
    :param prior_penalty: weight of Genetic GFN's penalty ``mean(log π − log p)`` on the trained sequences (0: none).
    :param train_on_new: the round's new sequences (its own and the GA's) join the first step's batch too;
        by default (Genetic GFN's) they reach the loss only through the memory, whose rank-based draws
        favour the best (with every low-scored sample in the loss at once, a small c pushes mass off them
        faster than onto good molecules: at c = 0.005 a PMO run went to 100-token invalid strings for
        ~200k env steps). Without a memory they always do.
    :param genetic: graph-GA exploration (SMILES env; None: off), see :mod:`seqtutor_agents.common.offpolicy`.
    :param augment: extra steps per round, each on randomised SMILES of a replayed draw (SMILES env; 0: off).
    :param kwargs: see :class:`~seqtutor_agents.policy_gradient.base.EpisodicPolicyGradient`: ``batch_size``
        (new episodes per round), ``c``, ``target_kl``, ``kl_horizon``, ``max_grad_norm``, ``seed``, ...
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {"TBPolicy": TBPolicy}
    policy: TBPolicy

    def __init__(
        self,
        policy: Any = "TBPolicy",
        env: Any = None,
        learning_rate: Any = 5e-4,
        log_z_learning_rate: float = 0.1,
        log_z_init: float | None = None,
        gradient_steps: int = 8,
        replay_memory: int = 1024,
        replay_sample: int = 64,
        replay_sampling: str = "rank",
        rank_coefficient: float = DEFAULT_RANK_COEFFICIENT,
        prior_penalty: float = 0.01,
        train_on_new: bool = False,
        genetic: Any = None,
        augment: int = 0,
        **kwargs: Any,
    ) -> None:
        self.log_z_learning_rate = check_number("log_z_learning_rate", log_z_learning_rate, low=0.0, low_open=True)
        self.log_z_init = check_number("log_z_init", log_z_init, allow_none=True)
        self.gradient_steps = check_number("gradient_steps", gradient_steps, low=1, integer=True)
        # drawn with replacement (Genetic GFN's replay): a draw may exceed the memory
        self._init_replay_memory(replay_memory, replay_sample, replay_sampling, rank_coefficient, distinct=False)
        self.prior_penalty = check_number("prior_penalty", prior_penalty, low=0.0)
        if not isinstance(train_on_new, bool):
            raise TypeError(f"train_on_new must be True or False, got {train_on_new!r}")
        self.train_on_new = train_on_new
        self.log_z_ready = False  # log Z has its start value (given, or fitted to the first batch)
        self._init_molecule_extras(genetic, augment)
        super().__init__(policy, env, learning_rate, **kwargs)

    def _setup_model(self) -> None:
        self.policy_kwargs["log_z_learning_rate"] = self.log_z_learning_rate
        super()._setup_model()

    def _update_learning_rate(self, optimizers: Any) -> None:
        """SB3 sets every parameter group to the schedule's rate; log Z keeps its own (group 1)."""
        lr = self.lr_schedule(self._current_progress_remaining)
        self.logger.record("train/learning_rate", lr)
        self.policy.optimizer.param_groups[0]["lr"] = lr

    # ------------------------------------------------------------------ the loss
    def tb_residuals(self, batch: Episodes) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        """``δ(x)`` per sequence, with ``log π_θ(x)`` and the per-state log-probabilities ``(B, T, V)``."""
        log_pi, seq_log_pi = self.sequence_log_probs(batch)
        return self.policy.log_z + seq_log_pi - self.log_target(batch), seq_log_pi, log_pi

    def tb_loss(self, batch: Episodes) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        """The loss of one step on ``batch``: ``mean δ² + prior_penalty · mean(log π − log p)``; also δ and log π."""
        delta, seq_log_pi, log_pi = self.tb_residuals(batch)
        loss = (delta**2).mean()
        if self.prior_penalty:
            loss = loss + self.prior_penalty * (seq_log_pi - (batch.prior_log_prob * batch.mask).sum(dim=1)).mean()
        return loss, delta, log_pi

    def _start_log_z(self, batch: Episodes) -> None:
        """log Z's start: ``log_z_init``, else the value that minimises the first step's loss, ``mean(log R − log π)``.

        The importance-sampling estimate of log Z (logged as ``train/log_z_estimate``) is dominated by the best
        sample of a batch: started there, δ > 0 on nearly every replayed sequence and the first steps push
        the likelihood of all of them down at once (at c = 0.005 the policy left the prior for invalid
        strings). Started at the batch's mean, the first steps raise the better half and lower the rest.
        """
        with th.no_grad():
            if self.log_z_init is not None:
                self.policy.log_z.fill_(self.log_z_init)
            else:
                delta, _, _ = self.tb_residuals(batch)
                self.policy.log_z.sub_(delta.mean())
        self.log_z_ready = True

    def _estimate_log_z(self, episodes: list[Episode]) -> float:
        """§12's estimate of log Z from episodes of the acting policy q: ``log mean exp(log P − log q)``."""
        batch = Episodes.stack(episodes, self.device)
        assert batch.behaviour_log_prob is not None  # the collector recorded log q of every action it took
        log_q = (batch.behaviour_log_prob * batch.mask).sum(dim=1)
        return float(th.logsumexp(self.log_target(batch) - log_q, dim=0)) - math.log(len(episodes))

    # ------------------------------------------------------------------ a round
    def train(self, episodes: list[Episode]) -> None:
        offspring = self._explore(episodes)
        self._purge(self.memory)
        estimate = self._estimate_log_z(episodes)
        fresh = episodes + offspring
        self.remember(fresh)
        losses, items = [], fresh
        with_new = self.train_on_new or not self.replay_memory
        if not with_new:  # the round's own states, for the exact KL and the controller
            with th.no_grad():
                batch = Episodes.stack(episodes, self.device)
                delta, _, log_pi = self.tb_residuals(batch)
                figures = self._on_policy_figures(batch, log_pi, delta, len(episodes))
        for step in range(self.gradient_steps):
            if self.replay_memory:
                items = (fresh if step == 0 and with_new else []) + self.replay(self.replay_sample, replace=True)
            batch = Episodes.stack(items, self.device)
            if not self.log_z_ready:
                self._start_log_z(batch)
            loss, delta, log_pi = self.tb_loss(batch)
            if step == 0 and with_new:
                figures = self._on_policy_figures(batch, log_pi, delta, len(episodes))
            self._gradient_step(loss, "trajectory-balance loss")
            losses.append(loss.item())
        kl_per_step, entropy, steps, residual = figures
        for _ in range(self.augment):  # Augmented Memory's extra steps, on the last draw re-written
            assert self.molecules is not None  # augment > 0 made it (_bind_molecules)
            rewritten = self.molecules.rewrite(items)
            if rewritten:
                self._gradient_step(self.tb_loss(Episodes.stack(rewritten, self.device))[0], "trajectory-balance loss")
        self._adapt_c(kl_per_step, steps)
        self._record(float(np.mean(losses)), kl_per_step, entropy, residual, estimate, episodes)

    def _on_policy_figures(
        self, batch: Episodes, log_pi: th.Tensor, delta: th.Tensor, n: int
    ) -> tuple[float, float, int, float]:
        """Exact KL(π ‖ prior) and entropy per step over the first ``n`` rows' states (the round's own episodes)."""
        with th.no_grad():
            mask = batch.mask[:n]
            kl, entropy = kl_and_entropy(log_pi[:n], batch.prior_log_probs[:n, :-1])
            steps = mask.sum()
            return (
                float((kl * mask).sum() / steps),
                float((entropy * mask).sum() / steps),
                int(steps),
                float(delta[:n].abs().mean()),
            )

    def _record(
        self, loss: float, kl: float, entropy: float, residual: float, estimate: float, episodes: list[Episode]
    ) -> None:
        self.logger.record("train/loss", loss)
        self.logger.record("train/log_z", self.policy.log_z.item())
        self.logger.record("train/log_z_estimate", estimate)
        self.logger.record("train/tb_residual", residual)
        self.logger.record("train/kl_prior", kl)
        self.logger.record("train/entropy", entropy)
        self.logger.record("train/c", self.current_c)
        self.logger.record("train/score", float(np.mean([e.domain_rewards.sum() for e in episodes])))
        self.record_memory()
        if self.molecules is not None:
            self.molecules.record(self.logger)


# Model files may name this class (seqtutor_agents.common.recipes' allow-list).
allow_class("policy", TBPolicy)
