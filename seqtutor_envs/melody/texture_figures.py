"""Each texture and diversity figure of one set of melodies, as a function of ``(N, L)`` tokens.

The definitions (notes, cut-off notes, histograms, total variation) are in the docstring of
:mod:`seqtutor_envs.melody.texture`, which combines these figures with a reference (the corpus) into
``texture_statistics`` and the table, and re-exports every name defined here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from seqtutor_envs.melody.encoding import (
    IS_PITCH,
    NO_EVENT,
    NOTE_OFF,
    NUM_SPECIAL_TOKENS,
    PITCH_CLASS,
    TOKEN_PITCH,
    VOCAB_SIZE,
)

OPENING_LENGTH = 8  # half a 4/4 bar of 16ths
NGRAM_LENGTH = 4
DURATION_BINS = 16  # 1..15 steps exactly, then ">= 16" (a bar or more)
NUM_PITCH_CLASSES = 12


# ---------------------------------------------------------------------------------------------
# input


def check_compositions(compositions: np.ndarray | Sequence[Sequence[int]], name: str = "compositions") -> np.ndarray:
    """The compositions as a C-contiguous ``(N, L)`` int64 array, after the checks of ``composition_statistics``.

    :param compositions: ``(N, L)`` integer tokens in 0..37, N >= 1, L >= 1.
    :param name: what to call the array in error messages.
    :raises ValueError: for a wrong shape, a non-integer dtype or a token out of range (named with its position).
    """
    comps = np.asarray(compositions)
    if comps.ndim != 2 or comps.shape[0] == 0 or comps.shape[1] == 0:
        raise ValueError(f"{name} has shape {comps.shape}, expected (N, L) with N >= 1 and L >= 1")
    if not np.issubdtype(comps.dtype, np.integer):
        raise ValueError(f"{name} has dtype {comps.dtype}, expected an integer dtype")
    bad = (comps < 0) | (comps >= VOCAB_SIZE)
    if np.any(bad):
        row, step = np.argwhere(bad)[0]
        raise ValueError(
            f"{name} token {int(comps[row, step])} at row {row}, step {step} is out of range, "
            f"expected 0..{VOCAB_SIZE - 1}"
        )
    return np.ascontiguousarray(comps, dtype=np.int64)


# ---------------------------------------------------------------------------------------------
# diversity


def _count_distinct_rows(rows: np.ndarray) -> int:
    return int(np.unique(rows, axis=0).shape[0])


def distinct_compositions(compositions: np.ndarray) -> float:
    """Number of distinct compositions (rows) / N.

    :param compositions: ``(N, L)`` tokens.
    """
    comps = check_compositions(compositions)
    return _count_distinct_rows(comps) / len(comps)


def distinct_openings(compositions: np.ndarray, length: int = OPENING_LENGTH) -> float:
    """Number of distinct first-``length``-token prefixes / N (the whole row when L < ``length``).

    :param compositions: ``(N, L)`` tokens.
    :param length: prefix length in steps (default 8, half a bar).
    """
    comps = check_compositions(compositions)
    if length < 1:
        raise ValueError(f"opening length must be >= 1, got {length}")
    return _count_distinct_rows(comps[:, :length]) / len(comps)


def distinct_ngram_rate(compositions: np.ndarray, n: int = NGRAM_LENGTH) -> float:
    """Distinct n-grams / all n-grams, windows ``row[t:t+n]`` inside each row, pooled over the set.

    NaN when the rows are shorter than ``n``.

    :param compositions: ``(N, L)`` tokens.
    :param n: n-gram length.
    """
    comps = check_compositions(compositions)
    if n < 1:
        raise ValueError(f"n-gram length must be >= 1, got {n}")
    if comps.shape[1] < n:
        return math.nan
    windows = np.lib.stride_tricks.sliding_window_view(comps, n, axis=1).reshape(-1, n)
    return _count_distinct_rows(windows) / len(windows)


def mean_pairwise_hamming(compositions: np.ndarray) -> float:
    """Mean over unordered pairs of rows of the fraction of positions where the two differ.

    Exact for any N: at step t, the pairs that agree number ``sum_v c_tv (c_tv - 1) / 2``, where
    ``c_tv`` counts the rows with token v there, so no pairs need to be enumerated or sampled.
    NaN when N < 2.

    :param compositions: ``(N, L)`` tokens.
    """
    comps = check_compositions(compositions)
    num, length = comps.shape
    if num < 2:
        return math.nan
    codes = np.arange(length)[None, :] * VOCAB_SIZE + comps
    counts = np.bincount(codes.ravel(), minlength=length * VOCAB_SIZE).astype(np.float64)
    agreeing_ordered_pairs = float(np.sum(counts * (counts - 1)))
    return 1.0 - agreeing_ordered_pairs / (length * num * (num - 1))


# ---------------------------------------------------------------------------------------------
# texture


def token_shares(compositions: np.ndarray) -> dict[str, float]:
    """Fractions of all tokens that are holds, rests and onsets: ``hold_share``, ``rest_share``, ``onset_share``.

    :param compositions: ``(N, L)`` tokens.
    """
    comps = check_compositions(compositions)
    return {
        "hold_share": float(np.mean(comps == NO_EVENT)),
        "rest_share": float(np.mean(comps == NOTE_OFF)),
        "onset_share": float(np.mean(comps >= NUM_SPECIAL_TOKENS)),
    }


def hold_share(compositions: np.ndarray) -> float:
    """Fraction of all tokens that are ``NO_EVENT`` (a note or silence goes on)."""
    return token_shares(compositions)["hold_share"]


def rest_share(compositions: np.ndarray) -> float:
    """Fraction of all tokens that are ``NOTE_OFF`` (a rest starts)."""
    return token_shares(compositions)["rest_share"]


def onset_share(compositions: np.ndarray) -> float:
    """Fraction of all tokens that are note onsets (2..37)."""
    return token_shares(compositions)["onset_share"]


def mean_pitch_range(compositions: np.ndarray) -> float:
    """Max - min MIDI pitch over the onsets of each composition, averaged over compositions with an onset.

    NaN when no composition has an onset.

    :param compositions: ``(N, L)`` tokens.
    """
    comps = check_compositions(compositions)
    pitches = TOKEN_PITCH[comps]
    has_onset = IS_PITCH[comps].any(axis=1)
    if not has_onset.any():
        return math.nan
    highest = pitches.max(axis=1)  # non-pitch tokens map to -1, below every pitch
    lowest = np.where(pitches >= 0, pitches, np.iinfo(np.int64).max).min(axis=1)
    return float(np.mean((highest - lowest)[has_onset]))


def pitch_class_histogram(compositions: np.ndarray) -> np.ndarray:
    """Pitch-class histogram (12 bins, C = 0) of all onsets of the set, normalised to sum 1 (NaN without onsets).

    :param compositions: ``(N, L)`` tokens.
    """
    return _normalise(pitch_class_features(compositions, normalise=False).sum(axis=0))


def pitch_class_entropy(compositions: np.ndarray) -> float:
    """Shannon entropy, in bits, of the set's onset pitch-class histogram (NaN without onsets).

    :param compositions: ``(N, L)`` tokens.
    """
    p = pitch_class_histogram(compositions)
    if np.isnan(p).any():
        return math.nan
    p = p[p > 0]
    return float(-np.sum(p * np.log2(p)) + 0.0)  # + 0.0 turns -0.0 into 0.0


# ---------------------------------------------------------------------------------------------
# notes and histograms


def note_durations(
    compositions: np.ndarray, include_cut_off: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The notes of the set: row, onset step and duration in steps of each (int64 arrays, row-major order).

    A note lasts from its onset to the next onset or ``NOTE_OFF``. A note still sounding at the
    end of its row has no known duration and is left out unless ``include_cut_off`` (then it
    counts with the steps it has): counting it would make the histogram depend on where the
    composition ends relative to the beat (see the module docstring).

    :param compositions: ``(N, L)`` tokens.
    :param include_cut_off: also return the notes cut off by the end of their row.
    """
    comps = check_compositions(compositions)
    num, length = comps.shape
    event_step = np.where(comps != NO_EVENT, np.arange(length), length)
    # suffix minimum: the first event at or after each step; shift by one for "after"
    first_event_from = np.minimum.accumulate(event_step[:, ::-1], axis=1)[:, ::-1]
    next_event = np.concatenate([first_event_from[:, 1:], np.full((num, 1), length)], axis=1)
    rows, steps = np.nonzero(comps >= NUM_SPECIAL_TOKENS)
    ends = next_event[rows, steps]
    if not include_cut_off:
        ended = ends < length
        rows, steps, ends = rows[ended], steps[ended], ends[ended]
    return rows, steps, ends - steps


def _normalise(counts: np.ndarray) -> np.ndarray:
    """Counts / their sum along the last axis; all-NaN where the sum is 0."""
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, counts / np.where(total > 0, total, 1.0), np.nan)


def duration_features(compositions: np.ndarray, normalise: bool = True) -> np.ndarray:
    """Per-composition note-duration histograms, ``(N, 16)``: bin k-1 = k steps (k < 16), last bin = 16+ steps.

    Counts the notes that end inside their composition (:func:`note_durations`).

    :param compositions: ``(N, L)`` tokens.
    :param normalise: divide each row by its number of such notes (rows without any stay zero).
    """
    comps = check_compositions(compositions)
    rows, _, durations = note_durations(comps)
    bins = np.minimum(durations, DURATION_BINS) - 1
    counts = np.bincount(rows * DURATION_BINS + bins, minlength=len(comps) * DURATION_BINS)
    counts = counts.reshape(len(comps), DURATION_BINS).astype(np.float64)
    return np.nan_to_num(_normalise(counts)) if normalise else counts


def pitch_class_features(compositions: np.ndarray, normalise: bool = True) -> np.ndarray:
    """Per-composition onset pitch-class histograms, ``(N, 12)``, C = 0.

    :param compositions: ``(N, L)`` tokens.
    :param normalise: divide each row by its number of onsets (rows without onsets stay zero).
    """
    comps = check_compositions(compositions)
    rows, steps = np.nonzero(comps >= NUM_SPECIAL_TOKENS)
    classes = PITCH_CLASS[comps[rows, steps]]
    counts = np.bincount(rows * NUM_PITCH_CLASSES + classes, minlength=len(comps) * NUM_PITCH_CLASSES)
    counts = counts.reshape(len(comps), NUM_PITCH_CLASSES).astype(np.float64)
    return np.nan_to_num(_normalise(counts)) if normalise else counts


def duration_histogram(compositions: np.ndarray) -> np.ndarray:
    """Note-duration histogram of the set (16 bins as :func:`duration_features`), weighted by notes, sum 1.

    All NaN when the set has no notes.

    :param compositions: ``(N, L)`` tokens.
    """
    return _normalise(duration_features(compositions, normalise=False).sum(axis=0))


def tv(p: np.ndarray, q: np.ndarray) -> float:
    """Total-variation distance ``0.5 * sum |p - q|`` of two histograms (NaN if either contains NaN).

    :param p: a probability vector.
    :param q: a probability vector of the same length.
    """
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    if p.shape != q.shape or p.ndim != 1:
        raise ValueError(f"histograms have shapes {p.shape} and {q.shape}, expected two equal 1-D shapes")
    if np.isnan(p).any() or np.isnan(q).any():
        return math.nan
    return float(0.5 * np.abs(p - q).sum())


total_variation = tv
