"""The reward and its parts: ``prior_weight * log p_prior(a|s) + r_domain(s, a) / c``, defined once.

Every seqtutor env pays that reward and reports its parts in each step's ``info`` (keys below), so
that anyone downstream -- the SB3 adapter, replay buffers, learners with a ``c`` of their own,
evaluation -- recomposes it with :func:`compose` instead of reading env attributes. :func:`compose`
takes numpy arrays or torch tensors alike.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

LOG_PROB_FLOOR = -100.0
#: Largest finite float64: a reward beyond it is ``inf``.
FLOAT_MAX = float(np.finfo(np.float64).max)


class RewardOverflowError(FloatingPointError, ValueError):
    """A step's reward ``prior_weight * log p + r_domain / c`` would not be a finite number.

    Raised by ``step()`` (the env is left as it was before the step) when a domain reward is
    non-finite or so large that dividing it by ``c`` overflows. It is both a ``FloatingPointError``
    and a ``ValueError``, so either ``except`` clause catches it. Settings under which *no* reward
    could be finite (``1/c`` or ``prior_weight * LOG_PROB_FLOOR`` overflowing) are refused when the
    env is made, with a plain ``ValueError``.
    """


#: ``info`` keys present on every step: the reward's parts, so that anyone downstream (SB3 adapter,
#: replay buffer, learner, evaluation) can recompose ``prior_weight * prior_log_prob + domain_reward / c``
#: -- with the env's ``c`` or one of its own -- without reading env attributes.
PRIOR_LOG_PROB = "prior_log_prob"  # log p_prior(a|s) of the action taken
DOMAIN_REWARD = "domain_reward"  # r_domain(s, a), before dividing by c
C = "c"  # the env's c
PRIOR_WEIGHT = "prior_weight"  # the env's weight on log p_prior
REWARD_TERMS = "reward_terms"  # dict of the named parts of domain_reward
REWARD_PART_KEYS: tuple[str, ...] = (PRIOR_LOG_PROB, DOMAIN_REWARD, C, PRIOR_WEIGHT)
STEP_INFO_KEYS: tuple[str, ...] = (*REWARD_PART_KEYS, REWARD_TERMS)


def compose(prior_log_prob: Any, domain_reward: Any, c: Any, prior_weight: Any) -> Any:
    """``prior_weight * prior_log_prob + domain_reward / c``: the one recomposition of the reward.

    Works elementwise on numpy arrays, torch tensors and floats (broadcasting as they do). Learners
    call it with their own ``c`` (a fixed or adapted KL coefficient) and, where their target drops
    the prior term (G-learning), ``prior_weight=0``.
    """
    return prior_weight * prior_log_prob + domain_reward / c


@dataclass(frozen=True)
class RewardParts:
    """The parts of a batch of steps' rewards, as the env reports them in ``info``.

    The env pays ``prior_weight * prior_log_prob + domain_reward / c``; :meth:`reward` recomposes
    it, optionally with another ``c`` or ``prior_weight`` (a learner with its own c, or one that
    adapts c to a KL target).
    """

    prior_log_prob: np.ndarray  # (n,) float64
    domain_reward: np.ndarray  # (n,) float64
    c: np.ndarray  # (n,) float64
    prior_weight: np.ndarray  # (n,) float64

    def reward(self, c: float | None = None, prior_weight: float | None = None) -> np.ndarray:
        """``w * log p + r_domain / c`` with the env's ``c``/``w`` unless others are given."""
        w = self.prior_weight if prior_weight is None else prior_weight
        return compose(self.prior_log_prob, self.domain_reward, self.c if c is None else c, w)

    @classmethod
    def from_vector_info(cls, info: dict[str, Any]) -> RewardParts:
        """From a Gymnasium vector env's ``info`` dict of arrays."""
        return cls(*(np.asarray(info[key], dtype=np.float64) for key in REWARD_PART_KEYS))

    @classmethod
    def from_infos(cls, infos: Sequence[dict[str, Any]]) -> RewardParts:
        """From a list of per-env ``info`` dicts (SB3's ``VecEnv`` convention)."""
        try:
            columns = [
                np.fromiter((info[key] for info in infos), dtype=np.float64, count=len(infos))
                for key in REWARD_PART_KEYS
            ]
        except KeyError as exc:
            raise KeyError(
                f"step info lacks the reward part {exc.args[0]!r}: is this a seqtutor env (info keys "
                f"{', '.join(REWARD_PART_KEYS)})?"
            ) from None
        return cls(*columns)


def real_number(name: str, value: Any) -> float:
    """``value`` as a float if it is a real number (bools and strings are not), else a ``TypeError``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    return float(value)


def check_c(value: Any) -> float:
    """``c`` as a float: finite, > 0 and with a finite ``1 / c`` (else no domain reward could be finite)."""
    value = real_number("c", value)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"c must be a finite number > 0, got {value!r}")
    with np.errstate(over="ignore", divide="ignore"):
        reciprocal = np.float64(1.0) / np.float64(value)
    if not np.isfinite(reciprocal):
        raise ValueError(
            f"c={value!r} is too small: 1/c overflows to inf, so every non-zero domain reward / c would be "
            f"infinite (c must be >= {1 / FLOAT_MAX:.3g})"
        )
    return value


def check_weight(value: Any) -> float:
    """``prior_weight`` as a float: finite, >= 0 and with ``prior_weight * LOG_PROB_FLOOR`` finite."""
    value = real_number("prior_weight", value)
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"prior_weight must be a finite number >= 0, got {value!r}")
    with np.errstate(over="ignore"):
        lowest = np.float64(value) * LOG_PROB_FLOOR
    if not np.isfinite(lowest):
        raise ValueError(
            f"prior_weight={value!r} is too large: times the log-probability floor {LOG_PROB_FLOOR} it overflows to "
            f"{lowest}, so the reward of an unlikely token would be infinite (prior_weight must be <= "
            f"{FLOAT_MAX / -LOG_PROB_FLOOR:.4g})"
        )
    return value


def domain_reward_limit(c: float, prior_weight: float) -> float:
    """The largest ``|r_domain|`` whose reward ``prior_weight * log p + r_domain / c`` is finite for every
    ``log p`` in ``[LOG_PROB_FLOOR, 0]``, less a relative 1e-12 that absorbs the rounding of the sum.

    :param c: the env's c (checked).
    :param prior_weight: the env's prior weight (checked).
    """
    with np.errstate(over="ignore"):
        limit = (FLOAT_MAX - prior_weight * -LOG_PROB_FLOOR) * (1 - 1e-12) * np.float64(c)
    return float(min(limit, FLOAT_MAX))
