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
    """Per-row exact ``KL(π ‖ p)`` and entropy ``H(π)`` from log-probabilities over the vocabulary.

    :param log_pi: ``(n, V)`` normalised log-probabilities of the policy.
    :param prior_log_probs: ``(n, V)`` the prior's log-probabilities (floored, finite).
    """
    pi = log_pi.exp()
    kl = (pi * (log_pi - prior_log_probs)).sum(-1)
    entropy = -(pi * log_pi).sum(-1)
    return kl, entropy


class RolloutStats:
    """Running means of per-step figures between two log dumps."""

    KEYS = ("kl_prior", "entropy", "prior_log_prob", "domain_reward")

    def __init__(self) -> None:
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
        self.__init__()


class AdaptiveKLController:
    """Proportional controller of a KL coefficient toward a target KL per step.

    Ziegler et al. (2019) and TRL's ``AdaptiveKLController`` update
    ``coef <- coef * (1 + e * n_steps / horizon)`` with ``e = clip(kl / target - 1, -clip, clip)``
    after ``n_steps`` steps of mean KL ``kl`` per step. Here the same proportional step is taken on
    ``log coef`` -- ``coef <- coef * exp(e * n_steps / horizon)`` -- which agrees to first order and
    stays positive however large ``n_steps / horizon`` is.

    The coefficient is anything that weighs KL against the domain reward, larger meaning "stay
    closer": KL-PPO's β, and Sequence Tutor's ``c`` (the reward ``log p + r_domain / c`` makes the
    return ``(1/c) * (R_domain - c * KL)`` for Ψ/G, so ``c`` is the KL weight in domain-reward units).

    :param coef: initial coefficient (> 0).
    :param target: target KL per step in nats (> 0).
    :param horizon: steps over which a persistent 100 % error moves ``log coef`` by about ``clip``.
    :param clip: bound on the relative error used per update.
    :param min_coef: floor of the coefficient.
    :param max_coef: ceiling of the coefficient.
    """

    def __init__(
        self,
        coef: float,
        target: float,
        horizon: float = 10_000,
        clip: float = 0.2,
        min_coef: float = 1e-4,
        max_coef: float = 1e4,
    ) -> None:
        from .validation import check_number

        self.target = check_number("target_kl", target, low=0.0, low_open=True)
        self.horizon = check_number("kl_horizon", horizon, low=0.0, low_open=True)
        self.clip = check_number("kl_clip", clip, low=0.0, low_open=True, high=1.0)
        self.min_coef = check_number("min_coef", min_coef, low=0.0, low_open=True)
        self.max_coef = check_number("max_coef", max_coef, low=min_coef)
        self.coef = float(min(max(check_number("initial coefficient", coef, low=0.0, low_open=True), min_coef), max_coef))

    def update(self, kl: float, n_steps: int) -> float:
        """Move the coefficient after ``n_steps`` steps of mean KL ``kl``; returns the new coefficient."""
        error = min(max(kl / self.target - 1.0, -self.clip), self.clip)
        self.coef = min(max(self.coef * math.exp(error * n_steps / self.horizon), self.min_coef), self.max_coef)
        return self.coef
