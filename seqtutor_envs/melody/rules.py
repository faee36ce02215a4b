"""RL Tuner's nine music-theory rules, vectorised over a batch of compositions.

Sequence Tutor (Jaques et al., ICML 2017) fine-tunes a melody LSTM with the per-step reward
``log p_prior(a|s) + r_MT(s, a) / c``. ``r_MT`` is RL Tuner's ``reward_music_theory``: the sum of
the nine rules below, each evaluated when the token ``a`` is appended to the composition ``comp``
(the priming note is not part of ``comp``) at beat ``t = len(comp)`` of a composition of ``L``
16th-note steps (32 = two 4/4 bars).

Tokens follow ``encoding.py`` (note_seq's convention): ``NO_EVENT`` (0) holds the sounding note or
silence, ``NOTE_OFF`` (1) starts a rest, ``2..37`` start MIDI pitches 48..83. Below, "hold" means
``NO_EVENT``, "rest" means ``NOTE_OFF`` and "pitch" means any other token; "special" means hold or
rest.

The rules
---------
1. **key** -- ``KEY_PENALTY`` (-1) if ``a`` is a pitch outside C major (specials are in key).
2. **tonic** -- ``TONIC_BONUS`` (+3) for the tonic (C4) at ``t == 0``; for the tonic at
   ``t == L-4``; for a hold at ``t == L-3`` (the tonic keeps sounding); for a hold or a rest at
   ``t > L-3``. RL Tuner calls ``L-4`` "the first note of the final bar"; with 16th-note steps it
   is the last *beat* (the last quarter note), not the last bar. We keep its positions, because
   that is what the paper's models were trained and evaluated with, and name them honestly.
3. **repetition** -- ``REPETITION_PENALTY`` (-100) for excessive repetition. For a pitch ``a``:
   scan ``comp`` backwards counting tokens equal to ``a``, passing over specials, stopping at any
   other pitch; fires when the count exceeds ``MAX_REPEATS_UNBROKEN`` (4) with no special in the
   scanned stretch, or ``MAX_REPEATS_WITH_BREAKS`` (6) with one -- i.e. on the 6th (resp. 8th)
   attack of the same pitch. For a rest: fires when more than ``MAX_REPEATED_RESTS`` (1) rests
   were already played since the last pitch (holds passed over). A hold never fires.
4. **autocorrelation** -- over ``x = comp + [a]`` as raw token values (specials included, as RL
   Tuner does), for each lag in ``AUTOCORR_LAGS`` (1, 2, 3):
   ``rho = sum((x - mean)[lag:] * (x - mean)[:n - lag]) / n / var(x)`` (population variance);
   skipped when undefined (``var == 0``); if ``|rho| > AUTOCORR_THRESHOLD`` (0.15) the reward
   loses ``AUTOCORR_PENALTY_WEIGHT * |rho|`` (3 |rho|). The comparison is exact: ``|rho|`` can
   equal 0.15 exactly (x = 16, 14, 14, 14, 14 at lag 3), which RL Tuner's float arithmetic may
   round to either side; here such a tie is not "more than 0.15".
5. **motif** -- if the last ``MOTIF_WINDOW`` (8) tokens of ``comp + [a]`` hold ``k >= 3``
   distinct pitches: ``MOTIF_BONUS + MOTIF_COMPLEXITY_BONUS * (k - 3)`` (+3 + 0.3 (k - 3)).
   RL Tuner calls this window a "bar" (``bar_length=8``); at 16th-note resolution 8 steps are
   half a 4/4 bar. The paper's statistics depend on the 8, so we keep it, under an honest name.
6. **repeated_motif** -- if a motif was just played (rule 5) and that exact 8-token window
   occurs contiguously in ``comp[:len(comp) - 7]`` (strictly before, not overlapping, the current
   window): ``REPEATED_MOTIF_BONUS + REPEATED_MOTIF_COMPLEXITY_BONUS * (k - 3)`` (+4 + (k - 3)).
7. **intervals** -- the interval from the last pitch of ``comp`` (specials skipped; 0 if there
   is none) to ``a``; RL Tuner's values times its scaler 5, baked into the constants below:
   a hold scores ``HOLD_AFTER_TONIC_OR_FIFTH`` (+1.5) after a C or G (any octave) else
   ``HOLD_REWARD`` (+0.375); a rest ``REST_AFTER_TONIC_OR_FIFTH`` (+0.75) / ``REST_REWARD``
   (+0.25); a pitch: in-key fifth (7 semitones from a C or G) +0.5, in-key third (4 semitones
   from a C or E) +0.75, otherwise by size ``INTERVAL_REWARDS``: major third +0.45, major second
   +0.4, fourth +0.35, major sixth +0.25, other fifth +0.1, major seventh -1.5, more than an
   octave -5, and 0 for everything else -- unison, minor second, minor third, tritone, minor
   sixth, minor seventh and octave. Giving minor intervals nothing is RL Tuner's choice; kept.
8. **leap** -- ``LEAP_RESOLVED_BONUS`` (+5) when a leap is resolved, ``LEAP_DOUBLED_PENALTY``
   (-5) when it is doubled. State per composition: the direction of the unresolved leap (none,
   up, down), the pitch it leapt from and the steps since the last leap. A leap is an interval of
   at least ``LEAP_MIN_INTERVAL`` (7) semitones between consecutive pitches (the in-key fifth
   included). Nothing happens at ``t == 0``. A special only counts a step. A leap while another
   is unresolved: in the opposite direction it resolves the old one (+5) only if more than
   ``LEAP_RESOLUTION_MIN_STEPS`` (6) steps passed since it, and in either case clears it; in the
   same direction it is doubled (-5) and the state is kept. A leap with none unresolved becomes
   the unresolved one. A non-leap pitch that returns to or past the pitch the leap started from
   (at or below it after an upward leap, at or above after a downward one) resolves it (+5).
   The reference text summarises this as "a step back in the opposite direction (or returning
   to/past the leap's origin)"; this module implements the code's rule above, which is what the
   paper's "leaps resolved" statistic measured.
9. **unique_extremes** -- only at the last step ``t == L-1``: ``UNIQUE_EXTREME_BONUS`` (+3) if
   the highest pitch of ``comp + [a]`` occurs exactly once, +3 if the lowest one does (pitch
   tokens only; no bonus for a composition without pitches).

Deliberate divergences from RL Tuner's code
-------------------------------------------
* **Token meaning.** RL Tuner declares ``NOTE_OFF = 0, NO_EVENT = 1``, the opposite of the data
  its Note RNN was trained on, so its rules act on swapped meanings. Every rule here is written
  by musical meaning. This changes three rules: (2) the hold at ``t == L-3``; (7) which special
  earns the hold/rest rewards; and most visibly (3): the code's "action is NOTE_OFF and more than
  one earlier" branch actually fired on *hold* tokens, punishing every note held longer than
  three 16ths by -100 -- that is why the paper's Note RNN shows 63.3 % "notes excessively
  repeated". Holding a note is not repetition: here a hold never fires, and only repeated rests
  (and repeated attacks of a pitch) do.
* **Unique extremes** use pitch tokens only; the code took ``max`` over all tokens (specials
  included) for the highest note, which can call a lone special token "the unique highest note"
  of a pitch-less composition.
* **Names.** ``MOTIF_WINDOW`` is RL Tuner's 8-step "bar"; the "final bar" tonic is the last beat.

Implementation
--------------
``MusicTheoryRules`` keeps O(1)-per-composition running state so a step costs a fixed number of
whole-batch numpy operations (no Python loop over compositions, no rescans): repetition run
counters, the last pitch, the leap state, exact integer running sums for the autocorrelation
(tokens are small integers, so ``n * sum(x^2) - sum(x)^2`` and the lagged cross sums are exact in
int64 and the threshold test is an exact integer comparison), the last 8 tokens whose pitch set
is an OR of one bit per pitch (its size a popcount), and an exact integer code of every 8-token
window (6 bits per token, 48 bits per window) compared against the codes of earlier windows.
Rules 2 and 7 are table lookups built from the plain per-token functions ``tonic_reward`` and
``interval_reward`` (``rule_tables.py``, with the constants); the other rules' state updates are
the methods of ``rule_updates.RuleUpdates``, which this class inherits. Arrays are time-/lag-major
``(k, num_envs)`` so that operations run along contiguous env rows, and while all compositions have
the same length (envs stepped in lockstep, the usual case) the beat is a Python int. On the 2-core
development machine a step takes about 0.3 ms (CPU time) for 1024 compositions and 0.2 ms for 256;
the cost is mostly per-call numpy overhead, so it grows slowly with the batch.
"""

from __future__ import annotations

import numpy as np

from seqtutor_envs.melody.encoding import IN_C_MAJOR, IS_PITCH, VOCAB_SIZE
from seqtutor_envs.melody.rule_tables import (  # noqa: F401  (the rules' constants, re-exported)
    _AUTOCORR_THRESHOLD_FRACTION,
    _CODE_BITS,
    _CODE_KEEP_MASK,
    _INTERVAL_FLAT,
    _PITCH_BIT,
    AUTOCORR_LAGS,
    AUTOCORR_PENALTY_WEIGHT,
    AUTOCORR_THRESHOLD,
    AUTOCORRELATION,
    BEYOND_OCTAVE_REWARD,
    C_OR_E_PITCH_CLASSES,
    C_OR_G_PITCH_CLASSES,
    DEFAULT_COMPOSITION_LENGTH,
    DOWN,
    FIFTH,
    HOLD_AFTER_TONIC_OR_FIFTH,
    HOLD_REWARD,
    IN_KEY_FIFTH_REWARD,
    IN_KEY_THIRD_REWARD,
    INTERVAL_REWARDS,
    INTERVAL_TABLE,
    INTERVALS,
    KEY,
    KEY_PENALTY,
    LEAP,
    LEAP_DOUBLED_PENALTY,
    LEAP_MIN_INTERVAL,
    LEAP_RESOLUTION_MIN_STEPS,
    LEAP_RESOLVED_BONUS,
    MAX_COMPOSITION_LENGTH,
    MAX_REPEATED_RESTS,
    MAX_REPEATS_UNBROKEN,
    MAX_REPEATS_WITH_BREAKS,
    MOTIF,
    MOTIF_BONUS,
    MOTIF_COMPLEXITY_BONUS,
    MOTIF_MIN_PITCHES,
    MOTIF_WINDOW,
    NO_PITCH,
    NUM_RULES,
    OCTAVE,
    PAD,
    REPEATED_MOTIF,
    REPEATED_MOTIF_BONUS,
    REPEATED_MOTIF_COMPLEXITY_BONUS,
    REPETITION,
    REPETITION_PENALTY,
    REST_AFTER_TONIC_OR_FIFTH,
    REST_REWARD,
    RULE_NAMES,
    THIRD,
    TONIC_BONUS,
    TONIC_LAST_BEAT_FROM_END,
    TONIC_RULE,
    UNIQUE_EXTREME_BONUS,
    UNIQUE_EXTREMES,
    UP,
    _pitch_class_in,
    _popcount,
    interval_reward,
    tonic_reward,
)
from seqtutor_envs.melody.rule_updates import RuleUpdates

# Every per-env state array of MusicTheoryRules; the env axis is the last axis of each.
_ENV_STATE: tuple[str, ...] = (
    "_comp_t",
    "_len",
    "_window",
    "_last_pitch",
    "_last_was_special",
    "_run_count",
    "_run_broken",
    "_rests_since_pitch",
    "_leap_dir",
    "_leapt_from",
    "_steps_since_leap",
    "_sum",
    "_sumsq",
    "_lag_prod",
    "_lag_sums",
    "_window_code",
    "_code_delay",
    "_earlier_codes",
)


def _common_length(lengths: np.ndarray) -> int | None:
    """The length all compositions share, or None if they differ."""
    if lengths.size == 0 or (lengths == lengths[0]).all():
        return int(lengths[0]) if lengths.size else 0
    return None


class MusicTheoryRules(RuleUpdates):
    """Running state of RL Tuner's music-theory reward for ``num_envs`` compositions at once.

    ``step(actions)`` scores one new token per composition, returns the per-rule rewards
    (``(num_envs, 9)`` float64, columns in ``RULE_NAMES`` order; ``r_MT`` is their row sum) and
    appends the tokens. After each step, ``last_events`` holds what the statistics need for that
    step (boolean ``(num_envs,)`` arrays unless noted):

    * ``excessive_repeat``, ``out_of_key``, ``in_motif``, ``in_repeated_motif``: rules 3, 1, 5, 6
      fired;
    * ``leap`` (a leap was played), ``leap_resolved``, ``leap_doubled``: rule 8;
    * ``unique_max``, ``unique_min``: rule 9's two conditions (only ever true at the last step);
    * ``autocorrelation``: float ``(num_envs, len(AUTOCORR_LAGS))``, rho of ``comp + [a]`` at each
      lag, NaN where undefined (zero variance);
    * ``distinct_pitches``: int, distinct pitches among the last ``MOTIF_WINDOW`` tokens.

    Compositions may be at different lengths (reset a subset with ``reset(env_mask)``, or step a
    subset with ``step(actions, env_indices)``, which gathers and scatters the state and so costs
    more than a whole-batch step); a composition that reached ``composition_length`` must be reset
    before it is stepped again.

    Per-step arrays are laid out time-major / lag-major (``(k, num_envs)``) so that every
    whole-batch operation runs along contiguous env rows.
    """

    def __init__(self, num_envs: int, composition_length: int = DEFAULT_COMPOSITION_LENGTH):
        if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
        if (
            isinstance(composition_length, bool)
            or not isinstance(composition_length, (int, np.integer))
            or not 1 <= composition_length <= MAX_COMPOSITION_LENGTH
        ):
            raise ValueError(
                f"composition_length must be an integer in 1..{MAX_COMPOSITION_LENGTH}, got {composition_length!r}"
            )
        self.num_envs = int(num_envs)
        self.composition_length = int(composition_length)
        n, length = self.num_envs, self.composition_length

        self._rows = np.arange(n)
        self._lags = np.asarray(AUTOCORR_LAGS, dtype=np.int64)[:, None]
        self._tonic_flat = np.array(
            [[tonic_reward(t, a, length) for a in range(VOCAB_SIZE)] for t in range(length)], dtype=np.float64
        ).ravel()

        self._comp_t = np.full((length, n), PAD, dtype=np.int64)  # time-major; `compositions` is its .T
        self._len = np.zeros(n, dtype=np.int64)
        # The common case: every composition has the same length (envs stepped in lockstep, reset
        # together). Then the beat is one Python int and beat-dependent terms cost scalar work.
        self._lockstep_len: int | None = 0
        # Newest first: _window[0] = last token, ..., _window[7]; 0 (a hold) where absent, which adds
        # nothing to the pitch set (rule 5) nor to the autocorrelation sums (rule 4).
        self._window = np.zeros((MOTIF_WINDOW, n), dtype=np.int64)
        # rules 3, 7, 8
        self._last_pitch = np.full(n, NO_PITCH, dtype=np.int64)
        self._last_was_special = np.zeros(n, dtype=bool)
        self._run_count = np.zeros(n, dtype=np.int64)  # attacks of the last pitch since another pitch
        self._run_broken = np.zeros(n, dtype=bool)  # a special lies in the stretch the scan passes
        self._rests_since_pitch = np.zeros(n, dtype=np.int64)
        self._leap_dir = np.zeros(n, dtype=np.int64)
        self._leapt_from = np.zeros(n, dtype=np.int64)
        self._steps_since_leap = np.zeros(n, dtype=np.int64)
        # rule 4: exact integer sums over x = the composition so far
        n_lags = len(AUTOCORR_LAGS)
        self._sum = np.zeros(n, dtype=np.int64)
        self._sumsq = np.zeros(n, dtype=np.int64)
        self._lag_prod = np.zeros((n_lags, n), dtype=np.int64)  # P_k = sum_{i>=k} x[i] x[i-k]
        self._lag_sums = np.zeros((n_lags, n), dtype=np.int64)  # H_k + T_k = sum_{i>=k} x[i] + sum_{i<n-k} x[i]
        # rule 6: rolling code of the window ending now, codes of the last windows (newest first,
        # -1 for incomplete ones) and, at row j, the code of the window ending at j once it lies
        # strictly before the current window (-1 until then).
        self._window_code = np.zeros(n, dtype=np.int64)
        self._code_delay = np.full((MOTIF_WINDOW + 1, n), -1, dtype=np.int64)
        self._earlier_codes = np.full((length, n), -1, dtype=np.int64)

        self.last_events: dict[str, np.ndarray] = {}

    # ------------------------------------------------------------------ public state
    @property
    def compositions(self) -> np.ndarray:
        """Read-only ``(num_envs, composition_length)`` tokens so far, ``PAD`` (-1) past ``lengths``."""
        view = self._comp_t.T
        view.flags.writeable = False
        return view

    @property
    def lengths(self) -> np.ndarray:
        """Read-only ``(num_envs,)`` number of tokens in each composition (= beat of the next token)."""
        view = self._len.view()
        view.flags.writeable = False
        return view

    # ------------------------------------------------------------------ reset
    def reset(self, env_mask: np.ndarray | None = None) -> None:
        """Start empty compositions in the envs selected by ``env_mask`` (all when ``None``).

        ``env_mask`` is a boolean array of shape ``(num_envs,)`` or an integer array of env indices.
        """
        sel: slice | np.ndarray  # all envs, a boolean mask or env indices
        if env_mask is None:
            sel = slice(None)
        else:
            mask = np.asarray(env_mask)
            if mask.dtype == np.bool_:
                if mask.shape != (self.num_envs,):
                    raise ValueError(f"boolean env_mask has shape {mask.shape}, expected ({self.num_envs},)")
                sel = mask
            elif np.issubdtype(mask.dtype, np.integer):
                if mask.ndim != 1:
                    raise ValueError(f"integer env_mask must be 1-D env indices, got shape {mask.shape}")
                bad = mask[(mask < 0) | (mask >= self.num_envs)]
                if bad.size:
                    raise ValueError(
                        f"env index {int(bad[0])} in env_mask is out of range, expected 0..{self.num_envs - 1}"
                    )
                sel = mask
            else:
                raise ValueError(f"env_mask must be a boolean mask or integer indices, got dtype {mask.dtype}")
        self._comp_t[:, sel] = PAD
        self._len[sel] = 0
        self._window[:, sel] = 0
        self._last_pitch[sel] = NO_PITCH
        self._last_was_special[sel] = False
        self._run_count[sel] = 0
        self._run_broken[sel] = False
        self._rests_since_pitch[sel] = 0
        self._leap_dir[sel] = 0
        self._leapt_from[sel] = 0
        self._steps_since_leap[sel] = 0
        self._sum[sel] = 0
        self._sumsq[sel] = 0
        self._lag_prod[:, sel] = 0
        self._lag_sums[:, sel] = 0
        self._window_code[sel] = 0
        self._code_delay[:, sel] = -1
        self._earlier_codes[:, sel] = -1
        self._lockstep_len = _common_length(self._len)

    # ------------------------------------------------------------------ step
    def _check_env_indices(self, env_indices) -> np.ndarray:
        idx = np.asarray(env_indices)
        if idx.ndim != 1 or not (np.issubdtype(idx.dtype, np.integer) or idx.size == 0):
            raise ValueError(f"env_indices must be a 1-D integer array, got shape {idx.shape} dtype {idx.dtype}")
        idx = idx.astype(np.int64, copy=False)
        if idx.size:
            bad = idx[(idx < 0) | (idx >= self.num_envs)]
            if bad.size:
                raise ValueError(f"env index {int(bad[0])} is out of range, expected 0..{self.num_envs - 1}")
            if np.unique(idx).size != idx.size:
                raise ValueError(f"env_indices {idx.tolist()} repeat an env; each env takes one token per step")
        return idx

    def _check_actions(self, actions, env_ids: np.ndarray | None) -> np.ndarray:
        """Validate the tokens for the envs ``env_ids`` (all when None) before any state changes."""
        a = np.asarray(actions)
        expected = (self.num_envs if env_ids is None else env_ids.size,)
        if a.shape != expected:
            raise ValueError(f"actions has shape {a.shape}, expected {expected}")
        if not np.issubdtype(a.dtype, np.integer):
            raise ValueError(f"actions has dtype {a.dtype}, expected an integer dtype")
        if a.size == 0:
            return a.astype(np.int64)
        if a.min() < 0 or a.max() >= VOCAB_SIZE:
            pos = int(np.flatnonzero((a < 0) | (a >= VOCAB_SIZE))[0])
            env = pos if env_ids is None else int(env_ids[pos])
            raise ValueError(
                f"action {int(a[pos])} for env {env} is out of range, expected a token in 0..{VOCAB_SIZE - 1}"
            )
        length = self.composition_length
        if env_ids is None:
            full = self._lockstep_len >= length if self._lockstep_len is not None else self._len.max() >= length
            lengths, ids = self._len, self._rows
        else:
            lengths, ids = self._len[env_ids], env_ids
            full = lengths.max() >= length
        if full:
            env = int(ids[np.flatnonzero(lengths >= length)[0]])
            raise ValueError(
                f"env {env} already holds a full composition of {length} tokens; reset it before stepping it again"
            )
        return a.astype(np.int64, copy=False)

    def step(self, actions: np.ndarray, env_indices: np.ndarray | None = None) -> np.ndarray:
        """Score and append one token per composition; returns the ``(num_envs, 9)`` rule rewards.

        With ``env_indices`` (distinct env indices), only those envs take a token: ``actions`` and
        the returned rows (and ``last_events``) follow the order of ``env_indices``; the other envs
        are left as they are. Invalid input raises ``ValueError`` and changes nothing.
        """
        if env_indices is None:
            return self._advance(self._check_actions(actions, None))
        idx = self._check_env_indices(env_indices)
        a = self._check_actions(actions, idx)
        if idx.size == self.num_envs and (idx == self._rows).all():
            return self._advance(a)
        # Step a gathered copy of the selected envs' state, then write it back.
        sub = object.__new__(MusicTheoryRules)
        sub.num_envs, sub.composition_length = idx.size, self.composition_length
        sub._rows, sub._lags, sub._tonic_flat = np.arange(idx.size), self._lags, self._tonic_flat
        for name in _ENV_STATE:
            setattr(sub, name, np.ascontiguousarray(getattr(self, name)[..., idx]))
        sub._lockstep_len = _common_length(sub._len)
        out = sub._advance(a) if idx.size else np.zeros((0, NUM_RULES))
        for name in _ENV_STATE:
            getattr(self, name)[..., idx] = getattr(sub, name)
        self._lockstep_len = _common_length(self._len)
        self.last_events = sub.last_events if idx.size else {}
        return out

    def step_trusted(self, actions: np.ndarray) -> np.ndarray:
        """:meth:`step` for every env with int64 tokens already checked by the caller (the env's core has
        checked their range and that no composition is full): the env's hot path skips the re-check."""
        return self._advance(actions)

    def _advance(self, a: np.ndarray) -> np.ndarray:
        """Score and append validated int64 tokens ``a``, one per env (the rules in RL Tuner's order of state use)."""
        # Beat of the new token = len(comp): an int in lockstep, else an (num_envs,) array. Every
        # expression below that involves t works for both.
        t: int | np.ndarray = self._lockstep_len if self._lockstep_len is not None else self._len
        rewards = np.empty((NUM_RULES, self.num_envs), dtype=np.float64)
        a_is_pitch = IS_PITCH[a]
        prev = self._last_pitch  # NO_PITCH when comp has no pitch yet
        out_of_key = ~IN_C_MAJOR[a]
        rewards[KEY] = np.where(out_of_key, KEY_PENALTY, 0.0)  # 1. key
        rewards[TONIC_RULE] = self._tonic_flat[t * VOCAB_SIZE + a]  # 2. tonic
        rewards[REPETITION], excessive = self._repetition(a, a_is_pitch, prev)  # 3.
        rewards[INTERVALS] = _INTERVAL_FLAT[prev * VOCAB_SIZE + a]  # 7. intervals
        rewards[LEAP], leap_events = self._leap(a, a_is_pitch, prev)  # 8.
        self._last_pitch = np.where(a_is_pitch, a, prev)
        rho, rewards[AUTOCORRELATION] = self._autocorrelation(a, t)  # 4. (reads the tokens before the window shifts)
        rewards[MOTIF], rewards[REPEATED_MOTIF], motif_events = self._motifs(a, t)  # 5. and 6.
        rewards[UNIQUE_EXTREMES], unique_max, unique_min = self._extremes(a, t)  # 9.
        self.last_events = {
            "excessive_repeat": excessive,
            "out_of_key": out_of_key,
            **motif_events,
            **leap_events,
            "unique_max": unique_max,
            "unique_min": unique_min,
            "autocorrelation": rho.T,
        }
        return np.ascontiguousarray(rewards.T)


def score_compositions(
    compositions: np.ndarray, composition_length: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Score whole compositions token by token.

    ``compositions``: ``(N, T)`` integer tokens. ``composition_length`` (default ``T``) is the ``L``
    the tonic and unique-extreme rules count from; ``T`` must not exceed it. Returns the total
    ``r_MT`` ``(N, T)`` and the per-rule breakdown ``(N, T, 9)`` (float64).
    """
    comps = np.asarray(compositions)
    if comps.ndim != 2:
        raise ValueError(f"compositions has shape {comps.shape}, expected (N, T)")
    num, steps = comps.shape
    if num == 0 or steps == 0:
        raise ValueError(f"compositions has shape {comps.shape}, expected N >= 1 and T >= 1")
    length = steps if composition_length is None else int(composition_length)
    if steps > length:
        raise ValueError(f"compositions have {steps} steps, more than composition_length={length}")
    rules = MusicTheoryRules(num, length)
    breakdown = np.empty((num, steps, NUM_RULES), dtype=np.float64)
    for step in range(steps):
        breakdown[:, step] = rules.step(comps[:, step])
    return breakdown.sum(axis=2), breakdown
