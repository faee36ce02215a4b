"""How far a policy is from the optimum π*, in nats: log Z, J(π), KL(π ‖ π*) and the share of the improvement.

**The objective, for any prior weight w.** Every seqtutor learner is paid ``w log p(a|s) + r/c`` per
step and maximises that return plus the policy's entropy (Ψ/G by their soft targets; the
policy-gradient learners by the KL or entropy term of their loss), undiscounted. Per sequence::

    J(π) = E_π[R(x)]/c + w·E_π[log p(x)] + H(π)                       (H: entropy of π over sequences)
         = E_π[R]/c − KL(π ‖ p) + (w − 1)·E_π[log p(x)]               (= E_π[R]/c − KL(π ‖ p) when w = 1)

With ``Z = Σ_x p(x)^w exp(R(x)/c) = E_p[p(x)^(w−1) exp(R(x)/c)]`` and ``π* = p^w exp(R/c) / Z``::

    KL(π ‖ π*) = E_π[log π − w log p − R/c] + log Z = log Z − J(π)

so ``J(π*) = log Z`` is the optimum, ``KL(π ‖ π*) = log Z − J(π)`` is a policy's **distance to the
optimum** in nats per sequence, and with the prior's own value ``J(p) = E_p[R]/c + (w − 1)·E_p[log p]``
(``E_p[R]/c`` when w = 1) the **share of the achievable improvement** is
``(J(π) − J(p)) / (log Z − J(p))``: 0 at the prior, 1 at π* (``../shared/reference`` §12, §14).

**Estimators.**

* ``log Z`` and ``J(p)``: from ``n`` prior samples (:class:`~seqtutor_envs.optimum.PriorSample`, the
  ones π*'s figures come from): ``log mean_i exp(ℓ_i)`` with ``ℓ_i = (w − 1) log p(x_i) + R_i/c``, and
  ``mean_i (R_i/c + (w − 1) log p(x_i))``. The log of an unbiased mean, log Z is biased low by about
  ``1/(2·ESS)`` nats (Jensen): at most 0.0005 nats where it is trusted (ESS ≥ 1,000).
* ``J(π)``: from ``m`` sequences the policy sampled itself, ``mean_i j_i`` with
  ``j_i = R_i/c − w·Σ_t KL_t + (1 − w)·Σ_t H_t``, where ``KL_t`` and ``H_t`` are the *exact* KL to the
  prior and entropy of π's next-token distribution at step t of sequence i (over the vocabulary, as
  the learners log them). Since ``E_{a~π}[w log p(a|s) − log π(a|s)] = −w·KL(s) + (1 − w)·H(s)`` at
  every state, ``j_i`` is the single-sample return ``R_i/c + w log p(x_i) − log π(x_i)`` with the
  token at each step averaged out (Rao-Blackwellised): the same expectation, so **unbiased** for
  J(π), with less variance than the log-ratio estimator ``log π(x) − log p(x)`` of KL(π ‖ p).

**Intervals: a two-sample percentile bootstrap.** The prior samples and the policy's sequences are
independent, so each of ``n_boot`` replicates resamples both, with replacement and independently:
the prior samples (multinomial counts, the same counts for log Z and J(p), which share them) and the
policy's sequences. Each replicate gives ``log Z*``, ``J(p)*``, ``J(π)*`` and from them
``KL* = log Z* − J(π)*`` and ``share* = (J(π)* − J(p)*) / (log Z* − J(p)*)``; an interval is the
``(1 − confidence)/2`` and ``(1 + confidence)/2`` quantiles of its figure's replicates. Seeded: the
same ``seed`` gives the same intervals.

**When there is no figure.** Importance sampling rests on the few prior samples with the largest
weights when π* is far from p: the distance is *not estimated* (no number, a reason instead) where
π*'s effective sample size is below :data:`~seqtutor_envs.optimum.MIN_ESS`, or where log Z's interval
is wider than :data:`MAX_LOG_Z_WIDTH` nats; the share is not estimated, either, where the achievable
improvement ``log Z − J(p)`` cannot be told from 0 (its interval reaches 0).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .optimum import MIN_ESS, PriorSample

#: Widest 95 % interval of log Z (nats per sequence) at which a distance is still given: a tenth of
#: the 0.5-nat-per-composition target of the best melody learner (issue 36), a fifth of its margin.
MAX_LOG_Z_WIDTH = 0.1
N_BOOTSTRAP = 400
CONFIDENCE = 0.95
_GROUP = 8  # values of c whose log Z is resampled together (memory: n x (group + 2) floats)


@dataclass
class SequenceTerms:
    """Per sequence a policy sampled itself: what J(π) needs (see the module docstring).

    :param domain_return: ``(m,)`` the sequence's domain return R.
    :param kl: ``(m,)`` the exact KL(π ‖ p) of each step's next-token distribution, summed over the sequence.
    :param entropy: ``(m,)`` the exact entropy of those distributions, summed (used only when w ≠ 1).
    """

    domain_return: np.ndarray
    kl: np.ndarray
    entropy: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.domain_return = np.asarray(self.domain_return, dtype=np.float64)
        self.kl = np.asarray(self.kl, dtype=np.float64)
        if self.entropy is not None:
            self.entropy = np.asarray(self.entropy, dtype=np.float64)
        sizes = {len(self.domain_return), len(self.kl), *([len(self.entropy)] if self.entropy is not None else [])}
        if len(sizes) != 1 or not len(self.kl):
            raise ValueError(
                f"SequenceTerms: domain_return, kl and entropy need one value per sequence "
                f"(at least one), got lengths {sorted(sizes)}"
            )

    def objective(self, c: float, prior_weight: float = 1.0) -> np.ndarray:
        """``j_i = R_i/c − w·Σ_t KL_t + (1 − w)·Σ_t H_t``: each sequence's unbiased term of J(π)."""
        values = self.domain_return / c - prior_weight * self.kl
        if prior_weight != 1.0:
            if self.entropy is None:
                raise ValueError(f"J(π) at prior_weight {prior_weight:g} needs the per-sequence entropy (entropy=None)")
            values = values + (1.0 - prior_weight) * self.entropy
        return values


@dataclass
class PriorReplicates:
    """log Z and J(p) at one c from the prior samples: point estimates, bootstrap replicates and π*'s ESS."""

    c: float
    log_z: float
    log_z_replicates: np.ndarray
    prior_objective: float
    prior_objective_replicates: np.ndarray
    ess: float


@dataclass
class Distance:
    """A policy against π* at one c (see the module docstring); intervals as ``(low, high)``."""

    c: float
    prior_weight: float
    confidence: float
    prior_samples: int
    policy_samples: int
    ess: float
    log_z: float
    log_z_interval: tuple[float, float]
    prior_objective: float  # J(p)
    prior_objective_interval: tuple[float, float]
    objective: float  # J(π)
    objective_interval: tuple[float, float]
    distance: float  # KL(π ‖ π*), nats per sequence
    distance_interval: tuple[float, float]
    share: float  # (J(π) − J(p)) / (log Z − J(p))
    share_interval: tuple[float, float]
    reason: str = ""  # why the distance is not estimated ("" when it is)
    share_reason: str = ""  # why the share is not estimated (the distance's reason, or its own)

    @property
    def reliable(self) -> bool:
        return not self.reason

    @property
    def share_reliable(self) -> bool:
        return not self.share_reason

    def row(self) -> dict[str, Any]:
        """Flat figures for a CSV / JSON; distance and share are None where not estimated."""

        def pair(name: str, value: float, interval: tuple[float, float], keep: bool) -> dict[str, Any]:
            return {
                name: value if keep else None,
                f"{name}_low": interval[0] if keep else None,
                f"{name}_high": interval[1] if keep else None,
            }

        return {
            "optimum_c": self.c,
            "optimum_ess": self.ess,
            "optimum_prior_samples": self.prior_samples,
            **pair("log_z", self.log_z, self.log_z_interval, True),
            **pair("prior_objective", self.prior_objective, self.prior_objective_interval, True),
            **pair("objective", self.objective, self.objective_interval, True),
            **pair("distance_to_optimum", self.distance, self.distance_interval, self.reliable),
            **pair("improvement_share", self.share, self.share_interval, self.share_reliable),
            "distance_reason": self.reason,
            "share_reason": self.share_reason,
        }

    def describe(self, unit: str = "sequence") -> str:
        """One sentence: the distance and share with their intervals, or why they are not given."""
        level = f"{100 * self.confidence:.0f} %"
        head = (
            f"At c = {self.c:.4g}: log Z = {self.log_z:.3f} [{self.log_z_interval[0]:.3f}, "
            f"{self.log_z_interval[1]:.3f}] from {self.prior_samples:,} prior samples (π*'s ESS {self.ess:,.0f})"
        )
        if not self.reliable:
            return f"{head}; distance to π* not estimated: {self.reason}."
        text = (
            f"{head}; KL(π ‖ π*) = {self.distance:.3f} nats per {unit} [{self.distance_interval[0]:.3f}, "
            f"{self.distance_interval[1]:.3f}] ({self.policy_samples:,} of the policy's {unit}s)"
        )
        if self.share_reliable:
            text += (
                f"; share of the achievable improvement {self.share:.3f} [{self.share_interval[0]:.3f}, "
                f"{self.share_interval[1]:.3f}]"
            )
        else:
            text += f"; share not estimated: {self.share_reason}"
        return text + f" ({level} bootstrap intervals)."


def prior_replicates(
    sample: PriorSample, cs: Sequence[float], prior_weight: float = 1.0, n_boot: int = N_BOOTSTRAP, seed: int = 0
) -> list[PriorReplicates]:
    """log Z and J(p) at each ``c`` with ``n_boot`` bootstrap replicates over the prior samples.

    Every replicate draws one multinomial resample of the ``n`` samples (counts of ``n`` uniform
    draws) and uses it for every ``c``: log Z* = log(Σ counts·exp(ℓ)/n), J(p)* = Σ counts·(R/c +
    (w − 1) log p)/n. Seeded by ``seed`` alone (the same counts whatever the ``cs``).
    """
    cs = [float(c) for c in cs]
    if not cs or not all(c > 0 and math.isfinite(c) for c in cs):
        raise ValueError(f"every c must be a finite number > 0, got {cs!r}")
    if not isinstance(n_boot, int) or n_boot < 2:
        raise ValueError(f"n_boot must be an integer >= 2, got {n_boot!r}")
    n = sample.n
    returns, log_p = sample.domain_return, sample.log_prior
    out: list[PriorReplicates] = []
    for start in range(0, len(cs), _GROUP):
        group = cs[start : start + _GROUP]
        log_w = np.stack([(prior_weight - 1.0) * log_p + returns / c for c in group], axis=1)  # (n, k)
        top = log_w.max(axis=0)
        columns = np.concatenate([np.exp(log_w - top), returns[:, None], log_p[:, None]], axis=1)
        del log_w
        rng = np.random.default_rng(seed)  # the same resamples for every group of c
        sums = np.empty((n_boot, columns.shape[1]))
        for b in range(n_boot):
            counts = np.bincount(rng.integers(0, n, size=n), minlength=n).astype(np.float64)
            sums[b] = counts @ columns
        point = columns.sum(axis=0)
        for j, c in enumerate(group):
            weights = columns[:, j] / point[j]
            with np.errstate(divide="ignore"):
                log_z_reps = top[j] + np.log(sums[:, j] / n)
            out.append(
                PriorReplicates(
                    c=c,
                    log_z=float(top[j] + math.log(point[j] / n)),
                    log_z_replicates=log_z_reps,
                    prior_objective=float(point[-2] / n / c + (prior_weight - 1.0) * point[-1] / n),
                    prior_objective_replicates=sums[:, -2] / n / c + (prior_weight - 1.0) * sums[:, -1] / n,
                    ess=float(1.0 / np.sum(weights**2)),
                )
            )
    return out


def _interval(replicates: np.ndarray, confidence: float) -> tuple[float, float]:
    """The percentile interval of bootstrap replicates (NaNs when a replicate is not finite)."""
    if not np.all(np.isfinite(replicates)):
        return (math.nan, math.nan)
    low, high = np.quantile(replicates, ((1.0 - confidence) / 2, (1.0 + confidence) / 2))
    return float(low), float(high)


def unreliable_reason(prior: PriorReplicates, confidence: float = CONFIDENCE) -> str:
    """Why log Z at this c is not trusted for a distance ("" when it is; see the module docstring)."""
    low, high = _interval(prior.log_z_replicates, confidence)
    if prior.ess < MIN_ESS:
        return f"π*'s effective sample size {prior.ess:,.0f} is below {MIN_ESS:,}"
    if not high - low <= MAX_LOG_Z_WIDTH:
        spread = "is not finite in every replicate" if math.isnan(low) else f"spans {high - low:.3g} nats"
        return f"log Z's interval {spread}, more than {MAX_LOG_Z_WIDTH:g}"
    return ""


def optimum_row(prior: PriorReplicates, confidence: float = CONFIDENCE) -> dict[str, Any]:
    """log Z and J(p) with intervals, and the prior's own distance ``KL(p ‖ π*) = log Z − J(p)`` (None where
    not trusted; its interval from the paired replicates, which share their resamples)."""
    reason = unreliable_reason(prior, confidence)
    gap = _interval(prior.log_z_replicates - prior.prior_objective_replicates, confidence)
    low, high = _interval(prior.log_z_replicates, confidence)
    return {
        "log_z": prior.log_z,
        "log_z_low": low,
        "log_z_high": high,
        "prior_objective": prior.prior_objective,
        "prior_distance_to_optimum": None if reason else prior.log_z - prior.prior_objective,
        "prior_distance_low": None if reason else gap[0],
        "prior_distance_high": None if reason else gap[1],
        "distance_reason": reason,
    }


def distance_from(
    prior: PriorReplicates,
    terms: SequenceTerms,
    prior_weight: float = 1.0,
    prior_samples: int = 0,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> Distance:
    """The policy's :class:`Distance` to π* from the prior's replicates at its c and its own sequences' terms.

    The policy's sequences are resampled as many times as the prior's replicates (seeded by ``seed``).
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
    values = terms.objective(prior.c, prior_weight)
    m, n_boot = len(values), len(prior.log_z_replicates)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1]))
    objective_reps = values[rng.integers(0, m, size=(n_boot, m))].mean(axis=1)
    objective = float(values.mean())
    gap_reps = prior.log_z_replicates - prior.prior_objective_replicates
    with np.errstate(divide="ignore", invalid="ignore"):
        share_reps = (objective_reps - prior.prior_objective_replicates) / gap_reps
    gap = prior.log_z - prior.prior_objective
    reason = unreliable_reason(prior, confidence)
    share_reason = reason or (
        ""
        if _interval(gap_reps, confidence)[0] > 0
        else "the achievable improvement log Z − J(p) cannot be told from 0"
    )
    return Distance(
        c=prior.c,
        prior_weight=float(prior_weight),
        confidence=confidence,
        prior_samples=prior_samples,
        policy_samples=m,
        ess=prior.ess,
        log_z=prior.log_z,
        log_z_interval=_interval(prior.log_z_replicates, confidence),
        prior_objective=prior.prior_objective,
        prior_objective_interval=_interval(prior.prior_objective_replicates, confidence),
        objective=objective,
        objective_interval=_interval(objective_reps, confidence),
        distance=prior.log_z - objective,
        distance_interval=_interval(prior.log_z_replicates - objective_reps, confidence),
        share=(objective - prior.prior_objective) / gap if gap > 0 else math.nan,
        share_interval=_interval(share_reps, confidence),
        reason=reason,
        share_reason=share_reason,
    )


def distance_to_optimum(
    sample: PriorSample,
    terms: SequenceTerms,
    c: float,
    prior_weight: float = 1.0,
    n_boot: int = N_BOOTSTRAP,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> Distance:
    """A policy's distance to π* at ``c`` (its final c): see the module docstring.

    :param sample: the prior samples behind log Z and J(p) (:func:`~seqtutor_envs.optimum.sample_prior`).
    :param terms: the policy's own sequences (:class:`SequenceTerms`).
    :param c: the KL weight at which π* and J are taken.
    :param prior_weight: the env's weight w on log p.
    :param n_boot: bootstrap replicates.
    :param confidence: the intervals' coverage.
    :param seed: seeds the bootstrap.
    """
    (prior,) = prior_replicates(sample, [c], prior_weight, n_boot, seed)
    return distance_from(prior, terms, prior_weight, sample.n, confidence, seed)
