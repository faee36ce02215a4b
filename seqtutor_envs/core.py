"""The machinery every seqtutor environment shares: a batched sequence core on a frozen prior.

A *task* (melody, SMILES) says what tokens mean: how an episode is primed, the domain reward of a
token, when an episode ends, and what is reported at its end. The :class:`SequenceCore` does the
rest for a batch of ``num_envs`` sequences at once: one prior forward for all of them, the reward
``prior_weight * log p_prior(a|s) + r_domain(s, a) / c``, the token buffers and the observations.

:class:`~seqtutor_envs.sequence_env.SequenceEnv` (a ``gymnasium.Env``) runs a core of one sequence;
:class:`~seqtutor_envs.sequence_env.SequenceVectorEnv` (a ``gymnasium.vector.VectorEnv``) runs a core
of ``num_envs`` sequences, so both compute the same things and a vector env reproduces the
trajectories of single envs seeded alike: the same primers, tokens, domain rewards and episode
ends, bit for bit. The prior's log-probabilities (the
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

import numpy as np
import torch
from gymnasium import spaces

from .prior import FrozenStepper
from .reward import FLOAT_MAX, LOG_PROB_FLOOR, RewardOverflowError, check_c, check_weight, compose, domain_reward_limit
from .task import SequenceTask, TaskStep


class SequenceCore:
    """Batched state of ``num_envs`` sequences being generated under a frozen prior.

    :param task: the domain logic.
    :param stepper: the frozen prior's step function.
    :param c: divides the domain reward (the paper's ``c``); must be > 0.
    :param prior_weight: multiplies ``log p_prior(a|s)``; must be >= 0 (0 gives the domain reward alone).
    """

    def __init__(self, task: SequenceTask, stepper: FrozenStepper, c: float, prior_weight: float) -> None:
        c, prior_weight = check_c(c), check_weight(prior_weight)
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
                f"the prior predicts {stepper.num_outputs} tokens but the {task.name} task has "
                f"{task.num_actions} actions: "
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
        # The prior's output after a primer from the zero state is the same for every episode that starts
        # with that primer: computed once per primer token (a one-row forward, so the figures do not depend
        # on how many envs reset together) instead of one forward per reset.
        self._primed: dict[int, tuple[np.ndarray, torch.Tensor, torch.Tensor]] = {}

    # ----------------------------------------------------------------- reset / step
    def reset(self, env_indices: np.ndarray, primers: np.ndarray) -> None:
        """Start new episodes in ``env_indices`` primed with ``primers``."""
        self.task.reset(env_indices)
        self.tokens[env_indices] = self.task.pad_token
        self.tokens[env_indices, 0] = primers
        self.lengths[env_indices] = 0
        self._commit_prior(env_indices, self._primed_prior(primers))

    def _primed_prior(self, primers: np.ndarray) -> tuple[np.ndarray, torch.Tensor, torch.Tensor]:
        """The prior's log-probabilities and state after each primer, from the zero state (cached per token)."""
        distinct, rows = np.unique(np.asarray(primers, dtype=np.int64), return_inverse=True)
        for token in distinct.tolist():
            if token not in self._primed:
                log_probs, h, c = self._prior_forward(np.zeros(1, dtype=np.int64), np.array([token]), fresh=True)
                self._primed[token] = (log_probs[0].copy(), h[:, 0].clone(), c[:, 0].clone())
        outputs = [self._primed[token] for token in distinct.tolist()]
        rows_t = torch.from_numpy(rows.reshape(-1))
        return (
            np.stack([o[0] for o in outputs])[rows.reshape(-1)],
            torch.stack([o[1] for o in outputs], dim=1)[:, rows_t],
            torch.stack([o[2] for o in outputs], dim=1)[:, rows_t],
        )

    def step(
        self, actions: np.ndarray, env_indices: np.ndarray | None = None
    ) -> tuple[np.ndarray, TaskStep, np.ndarray]:
        """Emit ``actions`` in ``env_indices`` (None: all envs); returns (reward, task step, log p(a|s))."""
        idx = self.all_envs if env_indices is None else env_indices
        if (self.lengths if env_indices is None else self.lengths[idx]).max(initial=0) >= self.task.max_length:
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
            reward = compose(action_log_prob, result.domain_reward, self.c, self.prior_weight)
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
            part = (
                f"prior_weight={self.prior_weight!r} * log p {lp!r} plus the domain reward {r!r} / c={self.c!r} "
                "overflows"
            )
        return (
            f"{self.task.name}: the reward of row {row} of the batch is {float(reward[row])!r}: {part}; the step was "
            "refused and the env left as it was"
        )

    def _prior_forward(
        self, env_indices: np.ndarray | None, tokens: np.ndarray, fresh: bool
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

    def _commit_prior(
        self, env_indices: np.ndarray | None, advance: tuple[np.ndarray, torch.Tensor, torch.Tensor]
    ) -> None:
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
