"""The machinery every seqtutor environment shares: a batched sequence core on a frozen prior.

A *task* (melody, SMILES) says what tokens mean: how an episode is primed, the domain reward of a
token, when an episode ends, and what is reported at its end. The :class:`SequenceCore` does the
rest for a batch of ``num_envs`` sequences at once: one prior forward for all of them, the reward
``prior_weight * log p_prior(a|s) + r_domain(s, a) / c``, the token buffers and the observations.

:class:`SequenceEnv` (a ``gymnasium.Env``) runs a core of one sequence; :class:`SequenceVectorEnv`
(a ``gymnasium.vector.VectorEnv``) runs a core of ``num_envs`` sequences, so both compute the same
things and a vector env reproduces the trajectories of single envs seeded alike: the same primers,
tokens, domain rewards and episode ends, bit for bit. The prior's log-probabilities (the
``prior_log_probs`` observation and the ``prior_weight * log p`` reward term) agree to float32
precision only: the prior runs in float32 and MKL's matrix product rounds a row differently
depending on the batch it is in (small batches and each thread's share of rows take other kernels),
so they differ in the last bits -- by at most ~1e-5 nats over an episode (measured: 2.9e-6 on the
melody env, 1.3e-5 on the SMILES env with uniformly random tokens, whose log-probabilities reach
the -100 floor). Batch-invariant products would cost the batched forward its speed.

Observation (a ``Dict`` space, Markov for a feed-forward policy):

* ``tokens``: ``MultiDiscrete``, the primer at index 0, then the tokens emitted so far, padded
  with ``pad_token`` (the last value of each dimension);
* ``step``: ``Discrete(max_length + 1)``, how many tokens were emitted;
* ``prior_log_probs``: ``Box(-100, 0)``, the prior's next-token log-probabilities at this state
  (floored at -100 nats), which G-learning needs at ``s'`` and residual policies can use.
"""

from __future__ import annotations

import functools
import numbers
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from .prior import FrozenStepper, LSTMPrior

LOG_PROB_FLOOR = -100.0
#: Largest finite float64: a reward beyond it is ``inf``.
FLOAT_MAX = float(np.finfo(np.float64).max)
#: Seeds are integers in ``[0, SEED_LIMIT)`` (numpy's ``SeedSequence`` takes more, but a seed this
#: large is a bug, not a choice), or ``None``.
SEED_LIMIT = 2**64


class RewardOverflowError(FloatingPointError, ValueError):
    """A step's reward ``prior_weight * log p + r_domain / c`` would not be a finite number.

    Raised by ``step()`` (the env is left as it was before the step) when a domain reward is
    non-finite or so large that dividing it by ``c`` overflows. It is both a ``FloatingPointError``
    and a ``ValueError``, so either ``except`` clause catches it. Settings under which *no* reward
    could be finite (``1/c`` or ``prior_weight * LOG_PROB_FLOOR`` overflowing) are refused when the
    env is made, with a plain ``ValueError``.
    """

# ---------------------------------------------------------------------- info keys (defined here only)
#: ``info`` keys present on every step: the reward's parts, so that anyone downstream (SB3 adapter,
#: replay buffer, learner, evaluation) can recompose ``prior_weight * prior_log_prob + domain_reward / c``
#: -- with the env's ``c`` or one of its own -- without reading env attributes.
PRIOR_LOG_PROB = "prior_log_prob"  # log p_prior(a|s) of the action taken
DOMAIN_REWARD = "domain_reward"  # r_domain(s, a), before dividing by c
C = "c"  # the env's c
PRIOR_WEIGHT = "prior_weight"  # the env's weight on log p_prior
REWARD_TERMS = "reward_terms"  # dict of the named parts of domain_reward
REWARD_PART_KEYS: tuple[str, ...] = (PRIOR_LOG_PROB, DOMAIN_REWARD, C, PRIOR_WEIGHT)
STEP_INFO_KEYS: tuple[str, ...] = REWARD_PART_KEYS + (REWARD_TERMS,)


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
        return w * self.prior_log_prob + self.domain_reward / (self.c if c is None else c)

    @classmethod
    def from_vector_info(cls, info: dict[str, Any]) -> "RewardParts":
        """From a Gymnasium vector env's ``info`` dict of arrays."""
        return cls(*(np.asarray(info[key], dtype=np.float64) for key in REWARD_PART_KEYS))

    @classmethod
    def from_infos(cls, infos: Sequence[dict[str, Any]]) -> "RewardParts":
        """From a list of per-env ``info`` dicts (SB3's ``VecEnv`` convention)."""
        try:
            columns = [np.fromiter((info[key] for info in infos), dtype=np.float64, count=len(infos))
                       for key in REWARD_PART_KEYS]
        except KeyError as exc:
            raise KeyError(
                f"step info lacks the reward part {exc.args[0]!r}: is this a seqtutor env (info keys "
                f"{', '.join(REWARD_PART_KEYS)})?"
            ) from None
        return cls(*columns)


@dataclass
class TaskStep:
    """What a task reports for the sequences that just emitted a token."""

    domain_reward: np.ndarray  # (n,) float64, r_domain(s, a) before dividing by c
    terminated: np.ndarray  # (n,) bool, the episode is over after this token
    terms: dict[str, np.ndarray]  # named parts of domain_reward, each (n,)


class SequenceTask(ABC):
    """Domain logic of a sequence environment, batched over ``num_envs`` sequences.

    The core owns the token buffer; tasks keep whatever extra per-sequence state their reward
    needs, indexed like the core's sequences.
    """

    #: Name used in error messages and ``info``.
    name: str = "sequence"
    #: A domain-specific second name for ``info["domain_reward"]`` (e.g. ``"music_theory_reward"``).
    domain_reward_alias: str | None = None
    #: A bound on ``|r_domain|`` of one step when the task knows one (None: unbounded, e.g. a user
    #: objective). The core then refuses at construction a ``c`` under which it could overflow.
    domain_reward_bound: float | None = None
    #: Keys ``reset(options=...)`` accepts; any other key is refused (a misspelt option must not
    #: be ignored silently).
    option_keys: tuple[str, ...] = ()

    def __init__(self, num_envs: int, max_length: int, num_actions: int, pad_token: int) -> None:
        self.num_envs = num_envs
        self.max_length = max_length
        self.num_actions = num_actions
        self.pad_token = pad_token
        #: Set by the core: the largest ``|r_domain|`` whose reward is finite under its c and prior_weight.
        self.domain_reward_limit = FLOAT_MAX
        self._reward_settings = "any c"  # until a core sets its c and prior_weight

    def check_domain_rewards(self, values: Any, what: str) -> np.ndarray:
        """``values`` as float64, or a :class:`RewardOverflowError` if one cannot give a finite reward.

        A task whose domain reward is unbounded calls this *before* it commits any state change of
        a step, so that a refused step leaves it as it was (the core restores its own buffers).

        :param values: domain rewards (or parts of them) of the stepped sequences.
        :param what: what produced them, for the message (e.g. ``"objective 'qed' final score"``).
        """
        values = np.asarray(values, dtype=np.float64)
        bad = ~(np.abs(values) <= self.domain_reward_limit)  # NaN compares False: caught too
        if np.any(bad):
            row = int(np.argmax(bad.reshape(-1)))
            value = float(values.reshape(-1)[row])
            why = (
                "which is not a finite number" if not np.isfinite(value)
                else f"which exceeds {self.domain_reward_limit:.6g}, the largest |domain reward| whose reward "
                f"prior_weight * log p + domain reward / c is finite under {self._reward_settings}"
            )
            raise RewardOverflowError(
                f"{self.name}: {what} {value!r} (row {row} of the batch), {why}; the step was refused and the env "
                "left as it was"
            )
        return values

    @abstractmethod
    def primer(self, rng: np.random.Generator, options: dict[str, Any] | None) -> int:
        """The token an episode is primed with (drawn from the env's own seeded ``rng``)."""

    @abstractmethod
    def reset(self, env_indices: np.ndarray) -> None:
        """Clear per-sequence state of ``env_indices``."""

    def prepare_step(self, actions: np.ndarray, env_indices: np.ndarray | None, tokens: np.ndarray,
                     lengths: np.ndarray) -> None:
        """Start work :meth:`step` will need, before the prior's forward runs (which does not depend on it).

        The core calls it with the same arguments as :meth:`step`, then runs the prior's batched
        forward, then calls :meth:`step`: a task whose reward is slow to compute (RDKit scoring) can
        start it in a worker process here and collect it in :meth:`step`, so the two overlap.
        Must not change what :meth:`step` would return. The default does nothing.
        """

    @abstractmethod
    def step(self, actions: np.ndarray, env_indices: np.ndarray | None, tokens: np.ndarray, lengths: np.ndarray) -> TaskStep:
        """Score ``actions`` of the sequences ``env_indices`` (None: all, in order).

        ``tokens``/``lengths`` are the core's full buffers, already holding the new tokens.
        """

    @abstractmethod
    def final_info(self, env_indices: np.ndarray, tokens: np.ndarray, lengths: np.ndarray) -> dict[str, Any]:
        """Per-episode results of sequences that just terminated: arrays with ``len(env_indices)`` rows."""

    def describe(self, tokens: np.ndarray) -> str:
        """Human-readable rendering of one sequence of emitted tokens (for ``render_mode='ansi'``)."""
        return " ".join(str(int(t)) for t in tokens)


@functools.lru_cache(maxsize=8)
def _load_stepper(path: str, mtime_ns: int) -> tuple[FrozenStepper, dict[str, Any]]:
    prior, metadata = LSTMPrior.load(path)
    return prior.frozen_stepper(), metadata


def load_frozen_prior(path: str | os.PathLike) -> tuple[FrozenStepper, dict[str, Any]]:
    """Load a prior for an environment, sharing one copy between envs made from the same file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no prior weights file at {path}")
    return _load_stepper(str(path.resolve()), path.stat().st_mtime_ns)


class SequenceCore:
    """Batched state of ``num_envs`` sequences being generated under a frozen prior.

    :param task: the domain logic.
    :param stepper: the frozen prior's step function.
    :param c: divides the domain reward (the paper's ``c``); must be > 0.
    :param prior_weight: multiplies ``log p_prior(a|s)``; must be >= 0 (0 gives the domain reward alone).
    """

    def __init__(self, task: SequenceTask, stepper: FrozenStepper, c: float, prior_weight: float) -> None:
        c, prior_weight = _check_c(c), _check_weight(prior_weight)
        limit = domain_reward_limit(c, prior_weight)
        bound = task.domain_reward_bound
        if bound is not None and bound > limit:
            raise ValueError(
                f"c={c!r} with prior_weight={prior_weight!r} cannot give finite rewards: the {task.name} task's "
                f"domain reward reaches +-{bound:g}, and {bound:g} / c overflows (c must be >= "
                f"{bound / max(FLOAT_MAX - prior_weight * -LOG_PROB_FLOOR, 1.0) * (1 + 1e-9):.3g} here)"
            )
        task.domain_reward_limit = limit
        task._reward_settings = f"c={c!r}, prior_weight={prior_weight!r}"
        if stepper.num_outputs != task.num_actions:
            raise ValueError(
                f"the prior predicts {stepper.num_outputs} tokens but the {task.name} task has {task.num_actions} actions: "
                "the weights were trained for another vocabulary"
            )
        if stepper.input_vocab <= max(task.num_actions - 1, 0):
            raise ValueError(f"the prior reads {stepper.input_vocab} input tokens, fewer than the task's actions")
        self.task, self.stepper = task, stepper
        self.c, self.prior_weight = c, prior_weight
        n, length = task.num_envs, task.max_length
        self.num_envs = n
        self.tokens = np.full((n, length + 1), task.pad_token, dtype=np.int64)
        self.lengths = np.zeros(n, dtype=np.int64)
        self.log_probs = np.zeros((n, task.num_actions), dtype=np.float32)
        h, c_state = stepper.initial_state(n)
        self.h, self.c_state = h, c_state
        self.all_envs = np.arange(n)

    # ----------------------------------------------------------------- reset / step
    def reset(self, env_indices: np.ndarray, primers: np.ndarray) -> None:
        """Start new episodes in ``env_indices`` primed with ``primers``."""
        self.task.reset(env_indices)
        self.tokens[env_indices] = self.task.pad_token
        self.tokens[env_indices, 0] = primers
        self.lengths[env_indices] = 0
        self._commit_prior(env_indices, self._prior_forward(env_indices, primers, fresh=True))

    def step(self, actions: np.ndarray, env_indices: np.ndarray | None = None) -> tuple[np.ndarray, TaskStep, np.ndarray]:
        """Emit ``actions`` in ``env_indices`` (None: all envs); returns (reward, task step, log p(a|s))."""
        idx = self.all_envs if env_indices is None else env_indices
        if np.any(self.lengths[idx] >= self.task.max_length):
            raise RuntimeError(f"{self.task.name}: step() called on a finished episode; call reset() first")
        action_log_prob = self.log_probs[idx, actions].astype(np.float64)
        positions = self.lengths[idx] + 1
        self.tokens[idx, positions] = actions
        self.lengths[idx] = positions
        try:
            self.task.prepare_step(actions, env_indices, self.tokens, self.lengths)
            advance = self._prior_forward(env_indices, actions, fresh=False)  # overlaps the task's prepared work
            result = self.task.step(actions, env_indices, self.tokens, self.lengths)
            # No np.errstate here (it costs microseconds per step): tasks keep their domain rewards within
            # domain_reward_limit, so only a task that does not can overflow, and it also gets numpy's warning.
            reward = self.prior_weight * action_log_prob + result.domain_reward / self.c
            if not np.isfinite(reward).all():  # O(n): the last guard before a reward leaves the env
                raise RewardOverflowError(self._overflow_message(reward, result.domain_reward, action_log_prob))
        except BaseException:  # e.g. a user objective failed: leave every sequence as it was
            self.tokens[idx, positions] = self.task.pad_token
            self.lengths[idx] = positions - 1
            raise
        self._commit_prior(env_indices, advance)  # only now: a refused step leaves the prior's state as it was
        return reward, result, action_log_prob

    def _overflow_message(self, reward: np.ndarray, domain_reward: np.ndarray, log_prob: np.ndarray) -> str:
        """Which part of the first non-finite reward overflowed: the domain reward, r/c, or the sum."""
        row = int(np.argmax(~np.isfinite(reward)))
        r, lp = float(domain_reward[row]), float(log_prob[row])
        with np.errstate(over="ignore", invalid="ignore"):
            scaled = np.float64(r) / self.c
        if not np.isfinite(r):
            part = f"the domain reward {r!r} is not a finite number"
        elif not np.isfinite(scaled):
            part = f"the domain reward {r!r} divided by c={self.c!r} overflows"
        else:
            part = (f"prior_weight={self.prior_weight!r} * log p {lp!r} plus the domain reward {r!r} / c={self.c!r} "
                    "overflows")
        return (
            f"{self.task.name}: the reward of row {row} of the batch is {float(reward[row])!r}: {part}; the step was "
            "refused and the env left as it was"
        )

    def _prior_forward(self, env_indices: np.ndarray | None, tokens: np.ndarray, fresh: bool
                       ) -> tuple[np.ndarray, torch.Tensor, torch.Tensor]:
        """The prior's next log-probabilities and LSTM state after ``tokens`` (computed, not yet committed)."""
        token_t = torch.from_numpy(np.ascontiguousarray(tokens, dtype=np.int64))
        if env_indices is None:
            h, c = (torch.zeros_like(self.h), torch.zeros_like(self.c_state)) if fresh else (self.h, self.c_state)
        elif fresh:
            h = torch.zeros((self.h.shape[0], len(env_indices), self.h.shape[2]))
            c = torch.zeros_like(h)
        else:
            idx_t = torch.from_numpy(env_indices)
            h, c = self.h[:, idx_t], self.c_state[:, idx_t]
        log_probs, (h, c) = self.stepper(token_t, (h, c))  # the stepper never writes into the state it is given
        return log_probs.clamp_(min=LOG_PROB_FLOOR).numpy(), h, c

    def _commit_prior(self, env_indices: np.ndarray | None, advance: tuple[np.ndarray, torch.Tensor, torch.Tensor]) -> None:
        log_probs, h, c = advance
        if env_indices is None:
            self.h, self.c_state = h, c
            self.log_probs[:] = log_probs
            return
        idx_t = torch.from_numpy(env_indices)
        self.h[:, idx_t] = h
        self.c_state[:, idx_t] = c
        self.log_probs[env_indices] = log_probs

    # ----------------------------------------------------------------- observations
    def observation_space(self) -> spaces.Dict:
        """The observation space of one sequence."""
        vocab = self.task.pad_token + 1
        return spaces.Dict(
            {
                "tokens": spaces.MultiDiscrete(np.full(self.task.max_length + 1, vocab, dtype=np.int64)),
                "step": spaces.Discrete(self.task.max_length + 1),
                "prior_log_probs": spaces.Box(LOG_PROB_FLOOR, 0.0, shape=(self.task.num_actions,), dtype=np.float32),
            }
        )

    def observations(self, env_indices: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Batched observations (copies) of ``env_indices`` (None: all)."""
        if env_indices is None:
            return {"tokens": self.tokens.copy(), "step": self.lengths.copy(), "prior_log_probs": self.log_probs.copy()}
        return {
            "tokens": self.tokens[env_indices],
            "step": self.lengths[env_indices],
            "prior_log_probs": self.log_probs[env_indices],
        }


def _real_number(name: str, value: Any) -> float:
    """``value`` as a float if it is a real number (bools and strings are not), else a ``TypeError``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    return float(value)


def _check_c(value: Any) -> float:
    """``c`` as a float: finite, > 0 and with a finite ``1 / c`` (else no domain reward could be finite)."""
    value = _real_number("c", value)
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


def _check_weight(value: Any) -> float:
    """``prior_weight`` as a float: finite, >= 0 and with ``prior_weight * LOG_PROB_FLOOR`` finite."""
    value = _real_number("prior_weight", value)
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


def check_options(options: Any, accepted: Sequence[str], env_id: str) -> dict[str, Any] | None:
    """``reset(options=...)`` checked: ``None`` or a dict whose keys are all in ``accepted``.

    :param options: what the caller passed.
    :param accepted: the keys the task reads.
    :param env_id: named in the message.
    """
    if options is None:
        return None
    if not isinstance(options, Mapping):
        raise TypeError(
            f"{env_id}: reset(options=...) must be a dict or None, got {options!r} ({type(options).__name__})"
        )
    unknown = [key for key in options if key not in accepted]
    if unknown:
        raise ValueError(
            f"{env_id}: unknown reset option(s) {sorted(map(str, unknown))}; it accepts "
            f"{', '.join(map(repr, accepted)) if accepted else 'none'}"
        )
    return dict(options)


def check_seed(seed: Any, what: str = "seed") -> int | None:
    """A seed checked: ``None`` or an integer in ``[0, 2**64)`` (bools, floats and strings are refused).

    :param seed: what the caller passed.
    :param what: how the message names it (``"seed"``, ``"seed[3]"``).
    """
    if seed is None:
        return None
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"{what} must be an integer in [0, 2**64) or None, got {seed!r} ({type(seed).__name__})")
    seed = int(seed)
    if not 0 <= seed < SEED_LIMIT:
        raise ValueError(f"{what} must be an integer in [0, 2**64) or None, got {seed}")
    return seed


def check_vector_seeds(seed: Any, num_envs: int) -> list[int | None]:
    """Per-sub-env seeds of a vector ``reset(seed=...)``: ``None``, an int ``s`` (sub-env ``i`` gets
    ``s + i``) or a list/tuple/array of ``num_envs`` ints or ``None``.

    :param seed: what the caller passed.
    :param num_envs: sub-envs of the vector env.
    """
    if seed is None:
        return [None] * num_envs
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, (bool, np.bool_)):
        first = check_seed(seed)
        assert first is not None
        if first + num_envs - 1 >= SEED_LIMIT:
            raise ValueError(
                f"seed {first} gives sub-env {num_envs - 1} the seed {first + num_envs - 1}, beyond 2**64 - 1: "
                f"use a seed <= {SEED_LIMIT - num_envs}"
            )
        return [first + i for i in range(num_envs)]
    if isinstance(seed, (list, tuple)) or (isinstance(seed, np.ndarray) and seed.ndim == 1):
        if len(seed) != num_envs:
            raise ValueError(f"expected {num_envs} seeds (one per sub-env), got {len(seed)}: {list(seed)!r}")
        return [check_seed(s, f"seed[{i}]") for i, s in enumerate(seed)]
    raise TypeError(
        f"seed must be an integer in [0, 2**64), a list of {num_envs} such integers (or None entries), or None; "
        f"got {seed!r} ({type(seed).__name__})"
    )


def check_unknown_kwargs(env_id: str, unknown: dict[str, Any], accepted: Sequence[str]) -> None:
    """Raise a ``TypeError`` naming unknown keyword arguments and the accepted ones."""
    if unknown:
        raise TypeError(
            f"{env_id} got unknown keyword argument(s) {sorted(unknown)}; it accepts: {', '.join(accepted)}"
        )


def check_num_envs(num_envs: Any) -> int:
    """``num_envs`` as an int, or a ``ValueError`` naming the bad value."""
    if not isinstance(num_envs, (int, np.integer)) or isinstance(num_envs, bool) or num_envs < 1:
        raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
    return int(num_envs)


def check_actions(actions: Any, num_actions: int, shape: tuple[int, ...]) -> np.ndarray:
    """Actions as an int64 array of ``shape``, or a ``ValueError`` naming what is wrong."""
    array = np.asarray(actions)
    if array.shape != shape:
        raise ValueError(f"expected actions of shape {shape}, got shape {array.shape} ({actions!r})")
    if array.dtype.kind not in "iu":
        if array.dtype.kind == "f" and np.all(np.isfinite(array)) and np.all(array == np.round(array)):
            array = array.astype(np.int64)
        else:
            raise ValueError(f"actions must be integers in [0, {num_actions}), got {actions!r}")
    array = array.astype(np.int64, copy=False)
    bad = (array < 0) | (array >= num_actions)
    if np.any(bad):
        raise ValueError(
            f"invalid action {array[bad][0]}: expected an integer in [0, {num_actions}) (Discrete({num_actions}))"
        )
    return array


def step_info_keys(task: SequenceTask) -> tuple[str, ...]:
    """The ``info`` keys a task's env reports on every step (the others are reported at episode end)."""
    return STEP_INFO_KEYS + ((task.domain_reward_alias,) if task.domain_reward_alias else ())


class SequenceEnv(gym.Env):
    """A single sequence-generation episode on a frozen prior (see the module docstring)."""

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}

    def __init__(self, task: SequenceTask, stepper: FrozenStepper, c: float, prior_weight: float, render_mode: str | None) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}")
        self.render_mode = render_mode
        self.core = SequenceCore(task, stepper, c, prior_weight)
        self.task = task
        self.observation_space = self.core.observation_space()
        self.action_space = spaces.Discrete(task.num_actions)
        self.step_info_keys = step_info_keys(task)
        self._episode_over = True
        self._index = np.zeros(1, dtype=np.int64)

    @property
    def c(self) -> float:
        return self.core.c

    @property
    def prior_weight(self) -> float:
        return self.core.prior_weight

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        seed = check_seed(seed)
        options = check_options(options, self.task.option_keys, self.task.name)
        super().reset(seed=seed)
        primer = self.task.primer(self.np_random, options)
        self.core.reset(self._index, np.array([primer], dtype=np.int64))
        self._episode_over = False
        return self._observation(), {"primer": primer}

    def step(self, action):
        if self._episode_over:
            raise RuntimeError(f"{self.task.name}: step() called after the episode ended; call reset() first")
        if np.size(action) != 1:
            raise ValueError(f"expected one action in Discrete({self.task.num_actions}), got {action!r}")
        actions = check_actions(np.reshape(action, (1,)), self.task.num_actions, (1,))
        reward, result, log_prob = self.core.step(actions)
        terminated = bool(result.terminated[0])
        info: dict[str, Any] = {
            PRIOR_LOG_PROB: float(log_prob[0]),
            DOMAIN_REWARD: float(result.domain_reward[0]),
            C: self.core.c,
            PRIOR_WEIGHT: self.core.prior_weight,
            REWARD_TERMS: {name: float(v[0]) for name, v in result.terms.items()},
        }
        if self.task.domain_reward_alias:
            info[self.task.domain_reward_alias] = info[DOMAIN_REWARD]
        if terminated:
            self._episode_over = True
            final = self.task.final_info(self._index, self.core.tokens, self.core.lengths)
            info.update({k: _unbatch(v) for k, v in final.items()})
        return self._observation(), float(reward[0]), terminated, False, info

    def _observation(self) -> dict[str, Any]:
        return {
            "tokens": self.core.tokens[0].copy(),
            "step": int(self.core.lengths[0]),
            "prior_log_probs": self.core.log_probs[0].copy(),
        }

    def emitted_tokens(self) -> np.ndarray:
        """The tokens emitted so far in this episode (primer excluded)."""
        return self.core.tokens[0, 1 : 1 + self.core.lengths[0]].copy()


def _unbatch(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value[0]
    if isinstance(value, list):
        return value[0]
    if isinstance(value, dict):
        return {k: _unbatch(v) for k, v in value.items()}
    return value


class SequenceVectorEnv(VectorEnv):
    """``num_envs`` sequence episodes stepped together: one prior forward and one reward per step.

    Sub-env ``i`` of ``reset(seed=s)`` draws from the same RNG stream as a single env reset with
    seed ``s + i``, so trajectories match single envs exactly under the same actions (the prior's
    log-probabilities to float32 precision; see the module docstring).

    Autoreset follows Gymnasium 1.x: ``autoreset_mode="next_step"`` (default; the step after an
    episode ends resets that env, ignores its action and returns reward 0) or ``"same_step"``
    (the env is reset inside the step that ended it; ``info["final_obs"]`` and
    ``info["final_info"]`` hold the last observation and info, as SB3's VecEnv convention needs).
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(
        self,
        task: SequenceTask,
        stepper: FrozenStepper,
        c: float,
        prior_weight: float,
        render_mode: str | None,
        autoreset_mode: str | AutoresetMode,
    ) -> None:
        mode = AutoresetMode(autoreset_mode) if not isinstance(autoreset_mode, str) else _parse_autoreset(autoreset_mode)
        if mode == AutoresetMode.DISABLED:
            raise ValueError("autoreset_mode 'disabled' is not supported; use 'next_step' or 'same_step'")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}")
        self.metadata = {**type(self).metadata, "autoreset_mode": mode}
        self.autoreset_mode = mode
        self.render_mode = render_mode
        self.task = task
        self.core = SequenceCore(task, stepper, c, prior_weight)
        self.num_envs = task.num_envs
        self.single_observation_space = self.core.observation_space()
        self.single_action_space = spaces.Discrete(task.num_actions)
        self.step_info_keys = step_info_keys(task)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._rngs: list[np.random.Generator] = [seeding.np_random()[0] for _ in range(self.num_envs)]
        self._needs_reset = np.ones(self.num_envs, dtype=bool)

    @property
    def c(self) -> float:
        return self.core.c

    @property
    def prior_weight(self) -> float:
        return self.core.prior_weight

    def reset(self, *, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None):
        seeds = check_vector_seeds(seed, self.num_envs)
        options = check_options(options, self.task.option_keys, self.task.name)
        for i, s in enumerate(seeds):
            if s is not None:
                self._rngs[i] = seeding.np_random(s)[0]
        self._reset_envs(self.core.all_envs, options)
        self._needs_reset[:] = False
        return self.core.observations(), {}

    def _reset_envs(self, env_indices: np.ndarray, options: dict[str, Any] | None = None) -> None:
        primers = np.fromiter(
            (self.task.primer(self._rngs[i], options) for i in env_indices), dtype=np.int64, count=len(env_indices)
        )
        self.core.reset(env_indices, primers)

    def step(self, actions):
        actions = check_actions(actions, self.task.num_actions, (self.num_envs,))
        n = self.num_envs
        rewards = np.zeros(n, dtype=np.float64)
        terminated = np.zeros(n, dtype=bool)
        infos: dict[str, Any] = {}
        resetting = self._needs_reset
        if resetting.any():  # next-step autoreset: these envs only reset this step
            active = np.flatnonzero(~resetting)
            reset_idx = np.flatnonzero(resetting)
            self._reset_envs(reset_idx)
            env_indices: np.ndarray | None = active
            active_actions = actions[active]
        else:
            env_indices, active_actions = None, actions
        if env_indices is None or len(env_indices):
            reward, result, log_prob = self.core.step(active_actions, env_indices)
            sel = slice(None) if env_indices is None else env_indices
            rewards[sel] = reward
            terminated[sel] = result.terminated
            mask = np.zeros(n, dtype=bool)
            mask[sel] = True
            infos = _masked_infos(n, mask, log_prob, result, env_indices, self.core, self.task.domain_reward_alias)
            done_idx = (self.core.all_envs if env_indices is None else env_indices)[result.terminated]
            if len(done_idx):
                final = self.task.final_info(done_idx, self.core.tokens, self.core.lengths)
                done_mask = np.zeros(n, dtype=bool)
                done_mask[done_idx] = True
                for key, value in final.items():
                    infos[key] = _scatter(value, done_idx, n)
                    infos[f"_{key}"] = done_mask
        truncated = np.zeros(n, dtype=bool)
        if self.autoreset_mode == AutoresetMode.SAME_STEP:
            done_idx = np.flatnonzero(terminated)
            if len(done_idx):
                last_obs = self.core.observations(done_idx)
                final_obs = np.empty(n, dtype=object)
                for j, i in enumerate(done_idx):
                    final_obs[i] = {k: v[j] for k, v in last_obs.items()}
                infos["final_obs"], infos["_final_obs"] = final_obs, terminated.copy()
                infos["final_info"] = {k: v for k, v in infos.items() if not k.startswith(("final", "_final"))}
                infos["_final_info"] = terminated.copy()
                self._reset_envs(done_idx)
            self._needs_reset[:] = False
        else:
            self._needs_reset = terminated.copy()
        return self.core.observations(), rewards, terminated, truncated, infos

    def render(self):
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode")
            return None
        frames = []
        for i in range(self.num_envs):
            frames.append(self._render_one(self.core.tokens[i, 1 : 1 + self.core.lengths[i]]))
        return tuple(frames)

    def _render_one(self, tokens: np.ndarray):  # overridden by domain envs
        return self.task.describe(tokens)


def _parse_autoreset(value: str) -> AutoresetMode:
    normal = value.replace("_", "").replace("-", "").lower()
    for mode in AutoresetMode:
        if mode.value.lower() == normal:
            return mode
    raise ValueError(f"autoreset_mode must be 'next_step' or 'same_step', got {value!r}")


def _scatter(value: Any, rows: np.ndarray, n: int) -> Any:
    """Spread per-finished-env values into arrays over all envs (Gymnasium's vector info layout)."""
    if isinstance(value, dict):
        return {k: _scatter(v, rows, n) for k, v in value.items()}
    if isinstance(value, list):
        out = np.full(n, None, dtype=object)
        for j, i in enumerate(rows):
            out[i] = value[j]
        return out
    value = np.asarray(value)
    if value.dtype == object:
        out = np.full(n, None, dtype=object)
    else:
        out = np.zeros((n,) + value.shape[1:], dtype=value.dtype)
    out[rows] = value
    return out


def _masked_infos(
    n: int,
    mask: np.ndarray,
    log_prob: np.ndarray,
    result: TaskStep,
    env_indices: np.ndarray | None,
    core: SequenceCore,
    alias: str | None,
) -> dict[str, Any]:
    def spread(values: np.ndarray) -> np.ndarray:
        if env_indices is None:
            return values
        out = np.zeros(n, dtype=values.dtype)
        out[env_indices] = values
        return out

    infos = {
        PRIOR_LOG_PROB: spread(log_prob),
        DOMAIN_REWARD: spread(result.domain_reward),
        C: np.full(n, core.c),  # filled everywhere (the mask says which rows stepped): never a 0 to divide by
        PRIOR_WEIGHT: np.full(n, core.prior_weight),
        REWARD_TERMS: {name: spread(v) for name, v in result.terms.items()},
    }
    infos.update({f"_{key}": mask for key in STEP_INFO_KEYS})
    if alias:
        infos[alias], infos[f"_{alias}"] = infos[DOMAIN_REWARD], mask
    return infos
