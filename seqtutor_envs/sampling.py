"""Sampling helpers on numpy: a batch of categorical draws, log-softmax, the prior as a policy, rank-based sampling.

:data:`ActFn` is the numpy policy interface that evaluation plays (see
:func:`seqtutor_agents.runs.evaluation.run_episodes`): the prior (:func:`prior_policy`), trained
models (:func:`seqtutor_agents.runs.evaluation.model_policy`) or your own function.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: ``act(obs, episode_start) -> (actions, log_pi)``: a batch of actions for the batch of
#: observations, and the policy's log-probabilities ``(n, num_actions)`` if known (else None).
ActFn = Callable[[dict[str, np.ndarray], np.ndarray], tuple[np.ndarray, np.ndarray | None]]


def sample_categorical(log_probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One sample per row of a batch of log-probability vectors (inverse-CDF, vectorised)."""
    probs = np.exp(log_probs - log_probs.max(axis=1, keepdims=True))
    cdf = np.cumsum(probs, axis=1)
    u = rng.random(len(cdf)) * cdf[:, -1]
    return np.minimum((cdf < u[:, None]).sum(axis=1), log_probs.shape[1] - 1)


def log_softmax(x: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax."""
    shifted = x - x.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def prior_policy(seed: int = 0, temperature: float = 1.0) -> ActFn:
    """Sample from the prior itself, read from the observation's ``prior_log_probs``."""
    rng = np.random.default_rng(seed)

    def act(obs: dict[str, np.ndarray], episode_start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        log_pi = log_softmax(obs["prior_log_probs"].astype(np.float64) / temperature)
        return sample_categorical(log_pi, rng), log_pi

    return act


#: Genetic GFN's rank coefficient ``k`` (``rank_coefficient: 0.01``, as REINVENT-style rank-based replay).
DEFAULT_RANK_COEFFICIENT = 0.01


def stable_rank_order(scores: np.ndarray) -> np.ndarray:
    """Indices of ``scores`` best first; among equal scores the earlier one first.

    The order the project ranks by everywhere (DAP's top-k memory, a PMO run's top-100): numpy's
    default argsort breaks ties by its CPU's SIMD sort, so only a stable sort is the same on
    every machine.

    :param scores: ``(n,)`` finite scores.
    """
    return np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")


def rank_probabilities(scores: np.ndarray, coefficient: float = DEFAULT_RANK_COEFFICIENT) -> np.ndarray:
    """Rank-based sampling probabilities ``∝ 1 / (k·N + rank)`` (rank 0 = best), as Genetic GFN samples.

    A small ``k`` makes sampling greedy (the best item weighs ``1 / (kN)``), a large one nearly
    uniform; unlike score-proportional sampling it does not depend on the scores' scale.
    Ties are ranked by :func:`stable_rank_order` (earlier first).

    :param scores: ``(n,)`` finite scores, higher is better.
    :param coefficient: ``k`` > 0.
    :return: ``(n,)`` float64 probabilities, summing to 1, in the order of ``scores``.
    :raises ValueError: for an empty, non-1-D or non-finite ``scores`` or ``k <= 0`` (named).
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1 or not len(scores):
        raise ValueError(f"scores must be a non-empty 1-D array, got shape {scores.shape}")
    if not np.isfinite(scores).all():
        raise ValueError(
            f"scores must be finite, got {scores[~np.isfinite(scores)][0]!r} at index "
            f"{int(np.flatnonzero(~np.isfinite(scores))[0])}"
        )
    if not np.isfinite(coefficient) or coefficient <= 0:
        raise ValueError(f"rank coefficient k must be a finite number > 0, got {coefficient!r}")
    ranks = np.empty(len(scores), dtype=np.float64)
    ranks[stable_rank_order(scores)] = np.arange(len(scores))
    weights = 1.0 / (coefficient * len(scores) + ranks)
    return weights / weights.sum()


def rank_sample(
    scores: np.ndarray,
    size: int,
    rng: np.random.Generator,
    coefficient: float = DEFAULT_RANK_COEFFICIENT,
    replace: bool = True,
) -> np.ndarray:
    """``size`` indices drawn with :func:`rank_probabilities` (with replacement by default).

    :param scores: ``(n,)`` finite scores, higher is better.
    :param size: how many indices; without replacement at most ``n``.
    :param rng: the numpy generator (the only source of randomness).
    :param coefficient: the rank coefficient ``k``.
    :param replace: draw with replacement (Genetic GFN's replay and mating pool do).
    :return: ``(size,)`` int64 indices into ``scores``.
    """
    probs = rank_probabilities(scores, coefficient)
    if size < 0:
        raise ValueError(f"size must be >= 0, got {size}")
    if not replace and size > len(probs):
        raise ValueError(f"size {size} exceeds the {len(probs)} scores (drawing without replacement)")
    return rng.choice(len(probs), size=size, replace=replace, p=probs).astype(np.int64)
