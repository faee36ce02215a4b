"""PPO with a KL penalty to the prior, from the prior (Ziegler et al. 2019; TRL's recipe for language models).

A recurrent actor-critic: the actor is the prior's LSTM (initial policy = the prior), the critic a
fresh value head on the same hidden states. Per step the reward is::

    r_t = r_domain(s_t, a_t) / c - β · KL_t

with ``KL_t`` either the exact ``KL(π_old(·|s_t) ‖ p(·|s_t))`` over the vocabulary (``"exact"``,
the default: no estimator noise) or TRL's ``k1`` sample estimate ``log π_old(a_t|s_t) - log p(a_t|s_t)``.
Advantages by GAE(γ, λ) over each whole episode, then the clipped PPO objective for ``n_epochs``
passes over minibatches of episodes, each unrolled from the zero state. β is fixed, or adapted
toward ``target_kl`` nats per step by the same proportional controller the Sequence Tutor learners
use for c (:class:`~seqtutor_agents.common.kl.KLCoefficient`; TRL's horizon is 10k): here
``target_kl`` adapts β, never c (``kl_target_adapts = "beta"``). ``beta`` stays the setting it
was given; the live value is :attr:`KLPPO.current_beta` (as c's is ``current_c``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch as th

from seqtutor_envs.reward import compose

from ..common.episodes import Episode, Episodes
from ..common.kl import kl_and_entropy
from ..common.validation import check_choice, check_number
from .base import EpisodicPolicyGradient

KL_ESTIMATORS = ("exact", "k1")


def gae(
    rewards: th.Tensor, values: th.Tensor, mask: th.Tensor, gamma: float, lam: float
) -> tuple[th.Tensor, th.Tensor]:
    """Generalised advantage estimates and returns ``(B, T)`` of whole episodes (0 after each episode's end).

    :param rewards: ``(B, T)`` per-step rewards.
    :param values: ``(B, T)`` V(s_t).
    :param mask: ``(B, T)`` 1 for real steps.
    """
    advantages = th.zeros_like(rewards)
    next_advantage = th.zeros_like(rewards[:, 0])
    next_value = th.zeros_like(rewards[:, 0])
    for t in reversed(range(rewards.shape[1])):  # over steps (≤ the episode length), batched over episodes
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        next_advantage = (delta + gamma * lam * next_advantage) * mask[:, t]
        advantages[:, t] = next_advantage
        next_value = values[:, t] * mask[:, t]
    return advantages, (advantages + values) * mask


def kl_penalty(old_log_pi: th.Tensor, prior_log_probs: th.Tensor, actions: th.Tensor, estimator: str) -> th.Tensor:
    """``(B, T)`` per-step KL of the acting policy to the prior: exact over the vocabulary, or TRL's k1."""
    if estimator == "exact":
        return kl_and_entropy(old_log_pi, prior_log_probs)[0]
    taken = old_log_pi.gather(2, actions.unsqueeze(2)).squeeze(2)
    return taken - prior_log_probs.gather(2, actions.unsqueeze(2)).squeeze(2)


class KLPPO(EpisodicPolicyGradient):
    """KL-penalised PPO from the prior, on whole episodes (see the module docstring).

    :param n_epochs: passes over the rollout.
    :param minibatch_size: episodes per gradient step.
    :param gamma: discount (1: episodes are short and finite).
    :param gae_lambda: GAE's λ.
    :param clip_range: PPO's ratio clip.
    :param vf_coef: weight of the value loss.
    :param ent_coef: weight of an entropy bonus (0: the KL penalty already keeps the policy wide).
    :param max_grad_norm: gradient clipping norm.
    :param beta: KL coefficient (fixed, or the controller's starting value; 0: no penalty).
    :param kl_estimator: ``"exact"`` or ``"k1"``.
    :param normalize_advantage: standardise advantages over the rollout's steps.
    :param kwargs: see :class:`~seqtutor_agents.policy_gradient.base.EpisodicPolicyGradient`:
        ``learning_rate``, ``batch_size`` (episodes per rollout, one PPO update each), ``c`` (None: the
        env's), ``target_kl`` (adapt β toward this exact KL(π ‖ prior) per step; None: fixed β),
        ``kl_horizon`` (env steps over which the controller's relative step on log β reaches its
        clip; TRL: 10k), ``policy_kwargs``, ``seed``, ``device``, ...
    """

    value_head = True
    kl_target_adapts = "beta"

    def __init__(
        self,
        policy: Any = "PriorLSTMPolicy",
        env: Any = None,
        n_epochs: int = 4,
        minibatch_size: int = 16,
        gamma: float = 1.0,
        gae_lambda: float = 0.95,
        clip_range: float = 0.2,
        vf_coef: float = 0.5,
        ent_coef: float = 0.0,
        max_grad_norm: float | None = 0.5,
        beta: float = 1.0,
        kl_estimator: str = "exact",
        normalize_advantage: bool = True,
        **kwargs: Any,
    ) -> None:
        check_number("n_epochs", n_epochs, low=1, integer=True)
        check_number("minibatch_size", minibatch_size, low=1, integer=True)
        check_number("gamma", gamma, low=0.0, high=1.0)
        check_number("gae_lambda", gae_lambda, low=0.0, high=1.0)
        check_number("clip_range", clip_range, low=0.0, low_open=True)
        check_number("vf_coef", vf_coef, low=0.0)
        check_number("ent_coef", ent_coef, low=0.0)
        check_number("beta", beta, low=0.0)
        check_choice("kl_estimator", kl_estimator, KL_ESTIMATORS)
        if kwargs.get("target_kl") is not None and beta <= 0:
            raise ValueError("an adaptive β (target_kl) needs a starting beta > 0")
        self.n_epochs, self.minibatch_size = n_epochs, minibatch_size
        self.gamma, self.gae_lambda, self.clip_range = gamma, gae_lambda, clip_range
        self.vf_coef, self.ent_coef = vf_coef, ent_coef
        self.beta, self.kl_estimator = beta, kl_estimator
        #: The adapted β, kept in the model file so that a loaded model resumes from it (None: β is fixed).
        self.adapted_beta: float | None = None
        self.normalize_advantage = normalize_advantage
        super().__init__(policy, env, max_grad_norm=max_grad_norm, **kwargs)

    def _setup_model(self) -> None:
        super()._setup_model()
        # β: fixed, or adapted toward target_kl (a loaded model resumes from the β it had reached).
        self.beta_coef = self.kl_controller(self.beta, self.adapted_beta, "beta") if self.beta > 0 else None

    @property
    def current_beta(self) -> float:
        """The KL penalty's weight now (``beta``, or as adapted toward ``target_kl`` so far)."""
        return self.beta if self.beta_coef is None else self.beta_coef.value

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "beta_coef"]

    def train(self, episodes: list[Episode]) -> None:
        batch = Episodes.stack(episodes, self.device)
        mask, actions = batch.mask, batch.actions
        prior_log_probs = batch.prior_log_probs[:, :-1]
        with th.no_grad():
            old_log_pi, old_values = self.policy.unroll(batch.inputs)
            assert old_values is not None  # KL-PPO's policy has a critic (value_head)
            old_taken = old_log_pi.gather(2, actions.unsqueeze(2)).squeeze(2)
            exact_kl = kl_penalty(old_log_pi, prior_log_probs, actions, "exact") * mask
            penalty = (
                exact_kl if self.kl_estimator == "exact" else kl_penalty(old_log_pi, prior_log_probs, actions, "k1")
            )
            # r_t = r_domain / c - β KL_t: compose with the KL penalty in place of log p and β as its weight.
            rewards = compose(-penalty, batch.domain_rewards, self.current_c, self.current_beta) * mask
            advantages, returns = gae(rewards, old_values, mask, self.gamma, self.gae_lambda)
            if self.normalize_advantage:
                valid = mask > 0
                advantages = (advantages - advantages[valid].mean()) / (advantages[valid].std() + 1e-8) * mask
        n = len(episodes)
        losses: dict[str, list[float]] = {
            "policy_loss": [],
            "value_loss": [],
            "entropy": [],
            "approx_kl": [],
            "clip_fraction": [],
        }
        for _ in range(self.n_epochs):
            order = th.randperm(n, device=self.device)
            for start in range(0, n, self.minibatch_size):
                rows = order[start : start + self.minibatch_size]
                log_pi, values = self.policy.unroll(batch.inputs[rows])
                assert values is not None  # KL-PPO's policy has a critic (value_head)
                m = mask[rows]
                steps = m.sum()
                taken = log_pi.gather(2, actions[rows].unsqueeze(2)).squeeze(2)
                log_ratio = (taken - old_taken[rows]) * m
                ratio = log_ratio.exp()
                adv = advantages[rows]
                clipped = th.clamp(ratio, 1 - self.clip_range, 1 + self.clip_range)
                policy_loss = -(th.min(ratio * adv, clipped * adv) * m).sum() / steps
                value_loss = (((values - returns[rows]) ** 2) * m).sum() / steps
                entropy = (-(log_pi.exp() * log_pi).sum(-1) * m).sum() / steps
                loss = policy_loss + self.vf_coef * value_loss - self.ent_coef * entropy
                self._gradient_step(loss)
                with th.no_grad():
                    losses["policy_loss"].append(policy_loss.item())
                    losses["value_loss"].append(value_loss.item())
                    losses["entropy"].append(entropy.item())
                    losses["approx_kl"].append((((ratio - 1) - log_ratio) * m).sum().item() / steps.item())
                    losses["clip_fraction"].append(
                        (((ratio - 1).abs() > self.clip_range).float() * m).sum().item() / steps.item()
                    )
        mean_kl = float(exact_kl.sum() / mask.sum())
        if self.beta_coef is not None and self.beta_coef.adaptive:
            self.adapted_beta = self.beta_coef.update(mean_kl, int(mask.sum()))
        for key, series in losses.items():
            self.logger.record(f"train/{key}", float(np.mean(series)))
        self.logger.record("train/beta", self.current_beta)
        self.logger.record("train/kl_prior", mean_kl)
        self.logger.record("train/score", batch.domain_return().mean().item())
