"""Sampling helpers on numpy: a batch of categorical draws, log-softmax, and the prior as a policy.

:data:`ActFn` is the numpy policy interface that evaluation plays (see
:func:`seqtutor_agents.runs.evaluation.run_episodes`): the prior (:func:`prior_policy`), trained
models (:func:`seqtutor_agents.runs.evaluation.model_policy`) or your own function.
"""

from __future__ import annotations

from typing import Callable

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
