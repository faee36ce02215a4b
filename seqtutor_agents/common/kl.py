"""Exact KL(π ‖ prior) bookkeeping shared by every learner family.

The vocabularies are small (38 melody tokens, ~40 SMILES tokens), so the KL between the acting
policy and the prior at a state is computed exactly over the vocabulary, never estimated from the
sampled token. :class:`RolloutStats` averages it (and the entropy, the prior's log-probability of
the chosen tokens and the domain reward) over the steps collected between two log dumps, under
the logger keys every seqtutor learner uses: ``rollout/kl_prior``, ``rollout/entropy``,
``rollout/prior_log_prob``, ``rollout/domain_reward``.
"""

from __future__ import annotations

import math

import numpy as np
import torch as th
from stable_baselines3.common.logger import Logger


def kl_and_entropy(log_pi: th.Tensor, prior_log_probs: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
    """Exact ``KL(π ‖ p)`` and entropy ``H(π)`` over the last (vocabulary) dimension.

    The one definition used in training (every learner's ``rollout/kl_prior``, KL-PPO's penalty)
    and in evaluation. Tokens the policy never takes (``π = 0``, ``log π`` possibly ``-inf``)
    contribute 0.

    :param log_pi: ``(..., V)`` normalised log-probabilities of the policy.
    :param prior_log_probs: ``(..., V)`` the prior's log-probabilities (floored, finite).
    """
    pi = log_pi.exp()
    taken = pi > 0
    kl = th.where(taken, pi * (log_pi - prior_log_probs), 0.0).sum(-1)
    entropy = -th.where(taken, pi * log_pi, 0.0).sum(-1)
    return kl, entropy


class RolloutStats:
    """Running means of per-step figures between two log dumps."""

    KEYS = ("kl_prior", "entropy", "prior_log_prob", "domain_reward")

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._sums = dict.fromkeys(self.KEYS, 0.0)
        self._counts = dict.fromkeys(self.KEYS, 0)

    def add(self, **batches: th.Tensor | np.ndarray) -> None:
        """Add a batch of per-step values for any of :attr:`KEYS`."""
        for key, values in batches.items():
            if key not in self._sums:
                raise KeyError(f"unknown rollout statistic {key!r}; expected one of {self.KEYS}")
            if isinstance(values, th.Tensor):
                values = values.detach().float().cpu().numpy()
            values = np.asarray(values, dtype=np.float64)
            self._sums[key] += float(values.sum())
            self._counts[key] += values.size

    def mean(self, key: str) -> float | None:
        """Mean of ``key`` since the last :meth:`dump` (None if nothing was added)."""
        return self._sums[key] / self._counts[key] if self._counts[key] else None

    def dump(self, logger: Logger, mean: bool = False) -> None:
        """Record the means under ``rollout/<key>`` and start over.

        :param mean: use ``logger.record_mean`` (average with other records before the logger's next
            dump) rather than ``logger.record`` (the last record wins).
        """
        record = logger.record_mean if mean else logger.record
        for key in self.KEYS:
            value = self.mean(key)
            if value is not None:
                record(f"rollout/{key}", value)
        self._reset()


class KLCoefficient:
    """The weight of the KL term -- Sequence Tutor's ``c``, KL-PPO's ``β`` -- fixed, or adapted toward a target KL.

    Larger means "stay closer to the prior": the reward ``log p + r_domain / c`` makes the return
    ``(1/c) (R_domain - c KL)`` for Ψ/G, so ``c`` is the KL weight in domain-reward units; KL-PPO
    pays ``r_domain / c - β KL``. A learner builds one of these in one place
    (:class:`~seqtutor_agents.common.learner.KLControlledLearner`) and reads :attr:`value`; it never
    reinterprets it.

    With a ``target``, :meth:`update` is Ziegler et al.'s (2019) and TRL's proportional controller
    ``coef <- coef * (1 + e * n_steps / horizon)``, ``e = clip(kl / target - 1, -clip, clip)``,
    taken on ``log coef`` -- ``coef <- coef * exp(e * n_steps / horizon)`` -- which agrees to first
    order and stays positive however large ``n_steps / horizon`` is. Without one, :meth:`update`
    leaves the value as it is.

    :param value: initial coefficient (> 0).
    :param target: target KL per step in nats (> 0), or None for a fixed coefficient.
    :param horizon: steps over which a persistent 100 % error moves ``log coef`` by about ``clip``.
    :param clip: bound on the relative error used per update.
    :param min_value: floor of the coefficient.
    :param max_value: ceiling of the coefficient.

    :meth:`observe` feeds the controller from a learner that collects a few vector steps at a time:
    it pools the KL until ``min_episodes`` episodes have ended and updates on the pooled mean. The
    pooling matters because of the clip: the envs of a batched env start together, so a short
    collection sees the same few positions of every episode, and the KL per step differs strongly
    by position (melody, Ψ after 60k steps: 0.05 to 0.52 per position, mean 0.11). Clipped
    errors of per-position means do not average to the error of the mean -- the controller then
    tracks something closer to the median position's KL and drifts far past the target (c fell
    from 10.8 to 9.6 while the KL was 0.12 against a target of 0.1; pooled, it rose to 14.5 and the KL
    settled at the target).
    """

    def __init__(
        self,
        value: float,
        target: float | None = None,
        horizon: float = 10_000,
        clip: float = 0.2,
        min_value: float = 1e-4,
        max_value: float = 1e4,
    ) -> None:
        from .validation import check_number

        self.target = check_number("target_kl", target, low=0.0, low_open=True, allow_none=True)
        self.horizon = check_number("kl_horizon", horizon, low=0.0, low_open=True)
        self.clip = check_number("kl_clip", clip, low=0.0, low_open=True, high=1.0)
        self.min_value = check_number("min_value", min_value, low=0.0, low_open=True)
        self.max_value = check_number("max_value", max_value, low=min_value)
        value = float(check_number("KL coefficient", value, low=0.0, low_open=True))
        self.value = min(max(value, self.min_value), self.max_value) if self.adaptive else value
        self._pooled_kl, self._pooled_steps, self._pooled_episodes = 0.0, 0, 0

    @property
    def adaptive(self) -> bool:
        return self.target is not None

    def update(self, kl: float, n_steps: int) -> float:
        """Move the coefficient after ``n_steps`` steps of mean KL ``kl`` (if adaptive); returns it."""
        if self.target is not None:
            error = min(max(kl / self.target - 1.0, -self.clip), self.clip)
            self.value = min(max(self.value * math.exp(error * n_steps / self.horizon), self.min_value), self.max_value)
        return self.value

    def observe(self, kl_sum: float, n_steps: int, episodes_ended: int, min_episodes: int) -> float:
        """Pool ``n_steps`` steps of total KL ``kl_sum``; once ``min_episodes`` episodes have ended
        since the last update, :meth:`update` on the pooled mean. Returns the (possibly unchanged) value.
        """
        self._pooled_kl += kl_sum
        self._pooled_steps += n_steps
        self._pooled_episodes += episodes_ended
        if self._pooled_episodes >= min_episodes and self._pooled_steps > 0:
            self.update(self._pooled_kl / self._pooled_steps, self._pooled_steps)
            self._pooled_kl, self._pooled_steps, self._pooled_episodes = 0.0, 0, 0
        return self.value

    def __repr__(self) -> str:
        return f"KLCoefficient({self.value:.4g}" + (f", target={self.target:g})" if self.adaptive else ")")
