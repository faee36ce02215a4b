"""RL Tuner's nine music-theory rules as constants, scalar reference functions and lookup tables.

The batched scorer is :class:`seqtutor_envs.melody.rules.MusicTheoryRules`; the rules themselves,
and every deliberate divergence from RL Tuner, are documented in :mod:`seqtutor_envs.melody.rules`.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from seqtutor_envs.melody.encoding import (
    IS_PITCH,
    NO_EVENT,
    NOTE_OFF,
    TOKEN_PITCH,
    TONIC,
    VOCAB_SIZE,
)

RULE_NAMES: tuple[str, ...] = (
    "key",
    "tonic",
    "repetition",
    "autocorrelation",
    "motif",
    "repeated_motif",
    "intervals",
    "leap",
    "unique_extremes",
)
NUM_RULES = len(RULE_NAMES)
(
    KEY,
    TONIC_RULE,
    REPETITION,
    AUTOCORRELATION,
    MOTIF,
    REPEATED_MOTIF,
    INTERVALS,
    LEAP,
    UNIQUE_EXTREMES,
) = range(NUM_RULES)

DEFAULT_COMPOSITION_LENGTH = 32  # two 4/4 bars of 16th notes
# Keeps the autocorrelation's integer terms (~ 20 * L^3 * 37^2) far inside int64.
MAX_COMPOSITION_LENGTH = 4096
PAD = -1  # value of `compositions` past each composition's length

# 1. key
KEY_PENALTY = -1.0

# 2. tonic
TONIC_BONUS = 3.0
TONIC_LAST_BEAT_FROM_END = 4  # t == L - 4: RL Tuner's "first note of the final bar"

# 3. repetition
REPETITION_PENALTY = -100.0
MAX_REPEATS_UNBROKEN = 4  # earlier attacks of the same pitch tolerated with nothing in between
MAX_REPEATS_WITH_BREAKS = 6  # ... when holds or rests lie between them
MAX_REPEATED_RESTS = 1  # earlier rests tolerated since the last pitch

# 4. autocorrelation
AUTOCORR_LAGS: tuple[int, ...] = (1, 2, 3)
AUTOCORR_THRESHOLD = 0.15
AUTOCORR_PENALTY_WEIGHT = 3.0

# 5./6. motif and repeated motif
MOTIF_WINDOW = 8  # RL Tuner's "bar_length": 8 sixteenths = half a 4/4 bar
MOTIF_MIN_PITCHES = 3
MOTIF_BONUS = 3.0
MOTIF_COMPLEXITY_BONUS = 0.3  # per distinct pitch above MOTIF_MIN_PITCHES
REPEATED_MOTIF_BONUS = 4.0
REPEATED_MOTIF_COMPLEXITY_BONUS = 1.0

# 7. intervals (RL Tuner's values times its scaler of 5)
HOLD_AFTER_TONIC_OR_FIFTH = 1.5
HOLD_REWARD = 0.375
REST_AFTER_TONIC_OR_FIFTH = 0.75
REST_REWARD = 0.25
IN_KEY_FIFTH_REWARD = 0.5  # a fifth up or down from a C or a G
IN_KEY_THIRD_REWARD = 0.75  # a major third up or down from a C or an E
FIFTH, THIRD, OCTAVE = 7, 4, 12
INTERVAL_REWARDS: dict[int, float] = {
    4: 0.45,  # major third
    2: 0.4,  # major second
    5: 0.35,  # perfect fourth
    9: 0.25,  # major sixth
    7: 0.1,  # perfect fifth (not from C or G)
    11: -1.5,  # major seventh
}
BEYOND_OCTAVE_REWARD = -5.0  # any interval larger than an octave
C_OR_G_PITCH_CLASSES = frozenset({0, 7})  # tonic and fifth of C major
C_OR_E_PITCH_CLASSES = frozenset({0, 4})  # tonic and third of C major

# 8. leap resolution
LEAP_MIN_INTERVAL = 7
LEAP_RESOLVED_BONUS = 5.0
LEAP_DOUBLED_PENALTY = -5.0
LEAP_RESOLUTION_MIN_STEPS = 6  # a counter-leap resolves only after more steps than this
UP, DOWN = 1, -1

# 9. unique extremes
UNIQUE_EXTREME_BONUS = 3.0

NO_PITCH = NO_EVENT  # "no previous pitch": a hold is never a pitch, so row 0 of the tables is free

# Window codes: 6 bits per token (VOCAB_SIZE <= 64), MOTIF_WINDOW tokens -> 48 bits, exact in int64.
_CODE_BITS = 6
_CODE_KEEP_MASK = (1 << (_CODE_BITS * (MOTIF_WINDOW - 1))) - 1
assert VOCAB_SIZE <= 1 << _CODE_BITS and _CODE_BITS * MOTIF_WINDOW < 63

# |rho| > p/q  <=>  q |C| > p n V, exactly, with rho = C / (n V) (see `_autocorrelation`).
_AUTOCORR_THRESHOLD_FRACTION = Fraction(AUTOCORR_THRESHOLD).limit_denominator(1000)


def _pitch_class_in(token: int, classes: frozenset[int]) -> bool:
    return bool(IS_PITCH[token]) and int(TOKEN_PITCH[token]) % 12 in classes


def interval_reward(prev: int, action: int) -> float:
    """Rule 7 for one previous pitch token ``prev`` (or ``NO_PITCH``) and one new token."""
    if not IS_PITCH[prev]:
        return 0.0
    if action == NO_EVENT:
        return HOLD_AFTER_TONIC_OR_FIFTH if _pitch_class_in(prev, C_OR_G_PITCH_CLASSES) else HOLD_REWARD
    if action == NOTE_OFF:
        return REST_AFTER_TONIC_OR_FIFTH if _pitch_class_in(prev, C_OR_G_PITCH_CLASSES) else REST_REWARD
    interval = abs(int(TOKEN_PITCH[action]) - int(TOKEN_PITCH[prev]))
    if interval == FIFTH and _pitch_class_in(prev, C_OR_G_PITCH_CLASSES):
        return IN_KEY_FIFTH_REWARD
    if interval == THIRD and _pitch_class_in(prev, C_OR_E_PITCH_CLASSES):
        return IN_KEY_THIRD_REWARD
    if interval > OCTAVE:
        return BEYOND_OCTAVE_REWARD
    return INTERVAL_REWARDS.get(interval, 0.0)


def tonic_reward(beat: int, action: int, composition_length: int) -> float:
    """Rule 2 for one token at one beat (same branch order as RL Tuner, which matters only for L < 8)."""
    last_beat = composition_length - TONIC_LAST_BEAT_FROM_END
    if beat == 0 or beat == last_beat:
        return TONIC_BONUS if action == TONIC else 0.0
    if beat == last_beat + 1:
        return TONIC_BONUS if action == NO_EVENT else 0.0
    if beat > last_beat + 1:
        return TONIC_BONUS if action in (NO_EVENT, NOTE_OFF) else 0.0
    return 0.0


# Rule 7 as one table lookup: INTERVAL_TABLE[previous pitch token or NO_PITCH, new token].
INTERVAL_TABLE = np.array(
    [[interval_reward(prev, action) for action in range(VOCAB_SIZE)] for prev in range(VOCAB_SIZE)],
    dtype=np.float64,
)
INTERVAL_TABLE.flags.writeable = False


# Bit of each pitch token (0 for specials), so a window's pitch set is an OR and its size a popcount.
_PITCH_BIT = np.where(IS_PITCH, np.left_shift(1, np.arange(VOCAB_SIZE, dtype=np.int64)), 0).astype(np.int64)
_INTERVAL_FLAT = INTERVAL_TABLE.ravel()

if hasattr(np, "bitwise_count"):  # numpy >= 2.0

    def _popcount(bits: np.ndarray) -> np.ndarray:
        return np.bitwise_count(bits).astype(np.int64)

else:  # pragma: no cover - numpy 1.x fallback
    _BYTE_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.int64)

    def _popcount(bits: np.ndarray) -> np.ndarray:
        as_bytes = np.ascontiguousarray(bits, dtype=np.int64).view(np.uint8).reshape((*bits.shape, 8))
        return _BYTE_POPCOUNT[as_bytes].sum(axis=-1)
