"""The per-rule state updates of :class:`~seqtutor_envs.melody.rules.MusicTheoryRules`, one method per rule.

Each method reads and advances the running state that ``MusicTheoryRules.__init__`` creates (the
attributes listed in ``rules._ENV_STATE``) for one new token per composition, in whole-batch numpy
operations, and returns that rule's reward (and the events the statistics need). The rules and their
divergences from RL Tuner are documented in :mod:`seqtutor_envs.melody.rules`; ``_advance`` there
calls these methods in RL Tuner's order of state use.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from seqtutor_envs.melody.encoding import NOTE_OFF, NUM_SPECIAL_TOKENS, VOCAB_SIZE
from seqtutor_envs.melody.rule_tables import (
    _AUTOCORR_THRESHOLD_FRACTION,
    _CODE_BITS,
    _CODE_KEEP_MASK,
    _PITCH_BIT,
    AUTOCORR_LAGS,
    AUTOCORR_PENALTY_WEIGHT,
    DOWN,
    LEAP_DOUBLED_PENALTY,
    LEAP_MIN_INTERVAL,
    LEAP_RESOLUTION_MIN_STEPS,
    LEAP_RESOLVED_BONUS,
    MAX_REPEATED_RESTS,
    MAX_REPEATS_UNBROKEN,
    MAX_REPEATS_WITH_BREAKS,
    MOTIF_BONUS,
    MOTIF_COMPLEXITY_BONUS,
    MOTIF_MIN_PITCHES,
    MOTIF_WINDOW,
    NO_PITCH,
    REPEATED_MOTIF_BONUS,
    REPEATED_MOTIF_COMPLEXITY_BONUS,
    REPETITION_PENALTY,
    UNIQUE_EXTREME_BONUS,
    UP,
    _popcount,
)


def _unique_extremes(comp_t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rule 9's two conditions for complete time-major compositions ``(L, k)``."""
    highest = comp_t.max(axis=0)  # a pitch whenever there is one: pitch tokens exceed specials
    lowest = np.where(comp_t >= NUM_SPECIAL_TOKENS, comp_t, VOCAB_SIZE).min(axis=0)
    unique_max = (highest >= NUM_SPECIAL_TOKENS) & ((comp_t == highest).sum(axis=0) == 1)
    unique_min = (comp_t == lowest).sum(axis=0) == 1  # never true for VOCAB_SIZE (no pitch at all)
    return unique_max, unique_min


class RuleUpdates:
    """Rules 3, 4, 5-6, 8 and 9 as updates of ``MusicTheoryRules``'s running state (a mixin, holding none).

    Rules 1, 2 and 7 need no state of their own: ``_advance`` answers them by table lookups.
    """

    # The running state these methods share with ``MusicTheoryRules.__init__``, which creates it
    # (declared here, unassigned, so that a type checker knows what the mixin reads).
    num_envs: int
    composition_length: int
    _rows: np.ndarray
    _lags: np.ndarray
    _comp_t: np.ndarray
    _len: np.ndarray
    _lockstep_len: int | None
    _window: np.ndarray
    _last_was_special: np.ndarray
    _run_count: np.ndarray
    _run_broken: np.ndarray
    _rests_since_pitch: np.ndarray
    _leap_dir: np.ndarray
    _leapt_from: np.ndarray
    _steps_since_leap: np.ndarray
    _sum: np.ndarray
    _sumsq: np.ndarray
    _lag_prod: np.ndarray
    _lag_sums: np.ndarray
    _window_code: np.ndarray
    _code_delay: np.ndarray
    _earlier_codes: np.ndarray

    def _repetition(self, a: np.ndarray, a_is_pitch: np.ndarray, prev: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rule 3: RL Tuner's backward scan for excessive repeats, answered from run counters."""
        a_is_special = ~a_is_pitch
        a_is_rest = a == NOTE_OFF
        same_pitch = a_is_pitch & (a == prev)
        limit = np.where(self._run_broken, MAX_REPEATS_WITH_BREAKS, MAX_REPEATS_UNBROKEN)
        excessive = (same_pitch & (self._run_count > limit)) | (
            a_is_rest & (self._rests_since_pitch > MAX_REPEATED_RESTS)
        )
        new_pitch = a_is_pitch & ~same_pitch
        # A new run's scan also passes the specials between the previous pitch and its first attack.
        self._run_broken = a_is_special | (same_pitch & self._run_broken) | (new_pitch & self._last_was_special)
        self._run_count = np.where(new_pitch, 1, self._run_count + same_pitch)
        self._rests_since_pitch = np.where(a_is_pitch, 0, self._rests_since_pitch + a_is_rest)
        self._last_was_special = a_is_special
        return np.where(excessive, REPETITION_PENALTY, 0.0), excessive

    def _leap(
        self, a: np.ndarray, a_is_pitch: np.ndarray, prev: np.ndarray
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Rule 8: a leap of a fifth or more must be resolved by a step back or a counter-leap, not doubled."""
        diff = a - prev
        is_leap = a_is_pitch & (prev != NO_PITCH) & (np.abs(diff) >= LEAP_MIN_INTERVAL)
        direction = np.sign(diff)
        leap_dir = self._leap_dir
        unresolved_leap = is_leap & (leap_dir != 0)
        counter_leap = unresolved_leap & (direction != leap_dir)
        doubled = unresolved_leap & (direction == leap_dir)
        first_leap = is_leap & (leap_dir == 0)
        returned = (a_is_pitch & ~is_leap) & (
            ((leap_dir == UP) & (a <= self._leapt_from)) | ((leap_dir == DOWN) & (a >= self._leapt_from))
        )
        resolved = (counter_leap & (self._steps_since_leap > LEAP_RESOLUTION_MIN_STEPS)) | returned
        self._leap_dir = np.where(counter_leap | returned, 0, np.where(first_leap, direction, leap_dir))
        self._leapt_from = np.where(first_leap, prev, self._leapt_from)
        # RL Tuner leaves the counter alone at t == 0; counting that step too is unobservable, because
        # no leap can be pending then and the next leap resets the counter.
        self._steps_since_leap = np.where(is_leap, 0, self._steps_since_leap + 1)
        reward = resolved * LEAP_RESOLVED_BONUS + doubled * LEAP_DOUBLED_PENALTY
        return reward, {"leap": is_leap, "leap_resolved": resolved, "leap_doubled": doubled}

    def _motifs(self, a: np.ndarray, t: Any) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """Rules 5 and 6: the last MOTIF_WINDOW tokens as a pitch-set bitmask, and as an exact code seen before."""
        window = self._window
        window[1:] = window[:-1]
        window[0] = a
        distinct = _popcount(np.bitwise_or.reduce(_PITCH_BIT[window], axis=0))
        complete = t >= MOTIF_WINDOW - 1
        in_motif = complete & (distinct >= MOTIF_MIN_PITCHES)
        extra_pitches = np.maximum(distinct - MOTIF_MIN_PITCHES, 0)
        motif = np.where(in_motif, MOTIF_BONUS + MOTIF_COMPLEXITY_BONUS * extra_pitches, 0.0)
        # Exact window codes against those of windows ending at j <= t - 8.
        code = ((self._window_code & _CODE_KEEP_MASK) << _CODE_BITS) | a
        self._window_code = code
        delay = self._code_delay
        delay[1:] = delay[:-1]
        delay[0] = np.where(complete, code, -1)  # an incomplete window (leading holds) never matches
        # delay[-1] is the window that ended MOTIF_WINDOW steps ago (-1 if none): it is "earlier" now.
        if self._lockstep_len is not None:
            self._earlier_codes[max(t - MOTIF_WINDOW, 0)] = delay[-1]
        else:
            self._earlier_codes[np.maximum(t - MOTIF_WINDOW, 0), self._rows] = delay[-1]
        last_earlier = int(np.max(t)) - MOTIF_WINDOW
        if last_earlier >= MOTIF_WINDOW - 1 and in_motif.any():
            earlier = self._earlier_codes[MOTIF_WINDOW - 1 : last_earlier + 1]
            in_repeated_motif = in_motif & (earlier == code).any(axis=0)
        else:
            in_repeated_motif = np.zeros(self.num_envs, dtype=bool)
        repeated = np.where(
            in_repeated_motif, REPEATED_MOTIF_BONUS + REPEATED_MOTIF_COMPLEXITY_BONUS * extra_pitches, 0.0
        )
        return (
            motif,
            repeated,
            {"in_motif": in_motif, "in_repeated_motif": in_repeated_motif, "distinct_pitches": distinct},
        )

    def _extremes(self, a: np.ndarray, t: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rule 9: unique highest and lowest notes, scored at the last step (the composition is complete then)."""
        unique_max = np.zeros(self.num_envs, dtype=bool)
        unique_min = np.zeros(self.num_envs, dtype=bool)
        if self._lockstep_len is not None:
            self._comp_t[t] = a
            self._lockstep_len = t + 1
            if t == self.composition_length - 1:
                unique_max[:], unique_min[:] = _unique_extremes(self._comp_t)
        else:
            self._comp_t[t, self._rows] = a
            finished = np.flatnonzero(t == self.composition_length - 1)
            if finished.size:
                unique_max[finished], unique_min[finished] = _unique_extremes(self._comp_t[:, finished])
        self._len += 1
        return unique_max * UNIQUE_EXTREME_BONUS + unique_min * UNIQUE_EXTREME_BONUS, unique_max, unique_min

    def _autocorrelation(self, a: np.ndarray, t: int | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Add ``a`` to the running sums; return rho ``(lags, num_envs)`` and rule 4's reward.

        For x of length n with S = sum x, Q = sum x^2, P_k = sum_{i>=k} x_i x_{i-k},
        H_k = sum_{i>=k} x_i and T_k = sum_{i<n-k} x_i, expanding the centred sum with m = S/n gives
        ``n^2 sum_{i>=k} (x_i - m)(x_{i-k} - m) = n^2 P_k - n S (H_k + T_k) + max(n-k, 0) S^2 =: C_k``
        and ``n^2 var(x) = n Q - S^2 =: V``, so ``rho_k = C_k / (n V)``. All of these are exact
        integers, so the ``|rho| > threshold`` test is an exact integer comparison. A constant x
        gives C_k = V = 0: rho is NaN (skipped, as in RL Tuner) and the test is false by itself.
        """
        lags = self._lags
        previous = self._window[: len(AUTOCORR_LAGS)]  # x[t-1], x[t-2], x[t-3] (a is x[t]); 0 where absent
        self._lag_prod += previous * a
        self._lag_sums += previous + a * (t >= lags)
        self._sum += a
        self._sumsq += a * a

        n = t + 1
        total = self._sum
        total_sq = total * total
        c = (n * n) * self._lag_prod - (n * total) * self._lag_sums + np.maximum(n - lags, 0) * total_sq
        nv = n * (n * self._sumsq - total_sq)
        abs_c = np.abs(c)
        threshold = _AUTOCORR_THRESHOLD_FRACTION
        penalised = threshold.denominator * abs_c > threshold.numerator * nv
        with np.errstate(divide="ignore", invalid="ignore"):
            rho = c / nv
            penalty = (-AUTOCORR_PENALTY_WEIGHT) * (np.where(penalised, abs_c, 0).sum(axis=0) / np.maximum(nv, 1))
        return rho, penalty
