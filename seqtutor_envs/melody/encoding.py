"""Melody token encoding shared by the corpus, the prior, the rules and the environment.

The convention is note_seq's ``MelodyOneHotEncoding(min_note=48, max_note=84)``, the encoding
the Note RNN of the paper was trained on:

* ``NO_EVENT`` (0): nothing new happens at this 16th-note step -- the sounding note is held,
  or the silence goes on.
* ``NOTE_OFF`` (1): the sounding note stops; a rest starts.
* ``2 .. 37``: a new note starts, MIDI pitch ``token + PITCH_OFFSET`` (48 = C3 .. 83 = B5).

RL Tuner's code declares ``NOTE_OFF = 0, NO_EVENT = 1``, which contradicts its own decoder and the
data its Note RNN was trained on. Every rule in this package is written against the names below,
by musical meaning, so that mistake is not repeated (see ``rules.py`` for what that changes).
"""

from __future__ import annotations

import numpy as np

NO_EVENT = 0
NOTE_OFF = 1
NUM_SPECIAL_TOKENS = 2

MIN_PITCH = 48  # inclusive, C3
MAX_PITCH = 84  # exclusive, so the top pitch is B5 (83)
PITCH_OFFSET = MIN_PITCH - NUM_SPECIAL_TOKENS  # pitch = token + PITCH_OFFSET
NUM_PITCHES = MAX_PITCH - MIN_PITCH
VOCAB_SIZE = NUM_SPECIAL_TOKENS + NUM_PITCHES  # 38

STEPS_PER_QUARTER = 4  # 16th-note resolution
STEPS_PER_BAR = 16  # a 4/4 bar

C_MAJOR_PITCH_CLASSES = frozenset({0, 2, 4, 5, 7, 9, 11})
TONIC_PITCH = 60  # C4


def pitch_to_token(pitch: int) -> int:
    """Token of a MIDI pitch; raises ``ValueError`` outside [MIN_PITCH, MAX_PITCH)."""
    if not MIN_PITCH <= int(pitch) < MAX_PITCH:
        raise ValueError(f"MIDI pitch {pitch} is outside the encodable range [{MIN_PITCH}, {MAX_PITCH})")
    return int(pitch) - PITCH_OFFSET


def token_to_pitch(token: int) -> int:
    """MIDI pitch of a pitch token; raises ``ValueError`` for NO_EVENT, NOTE_OFF or out-of-range tokens."""
    if not NUM_SPECIAL_TOKENS <= int(token) < VOCAB_SIZE:
        raise ValueError(f"token {token} is not a pitch token (expected {NUM_SPECIAL_TOKENS}..{VOCAB_SIZE - 1})")
    return int(token) + PITCH_OFFSET


TONIC = pitch_to_token(TONIC_PITCH)  # 14

# Per-token lookup tables (index = token), so rules can be evaluated with one gather over a batch.
IS_PITCH = np.zeros(VOCAB_SIZE, dtype=bool)
IS_PITCH[NUM_SPECIAL_TOKENS:] = True
TOKEN_PITCH = np.full(VOCAB_SIZE, -1, dtype=np.int64)
TOKEN_PITCH[NUM_SPECIAL_TOKENS:] = np.arange(MIN_PITCH, MAX_PITCH)
PITCH_CLASS = np.where(IS_PITCH, TOKEN_PITCH % 12, -1)
IN_C_MAJOR = ~IS_PITCH | np.isin(PITCH_CLASS, sorted(C_MAJOR_PITCH_CLASSES))

_NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def token_name(token: int) -> str:
    """Human-readable name: ``'-'`` for NO_EVENT (hold), ``'rest'`` for NOTE_OFF, else e.g. ``'C4'``."""
    token = int(token)
    if token == NO_EVENT:
        return "-"
    if token == NOTE_OFF:
        return "rest"
    pitch = token_to_pitch(token)
    return f"{_NOTE_NAMES[pitch % 12]}{pitch // 12 - 1}"
