"""Texture and diversity of a batch of melodies: what fine-tuning keeps of what the prior learned.

The music-theory reward can be won by melodies that lose the variety of the corpus (openings,
rhythm, rests). These figures measure that variety, on ``(N, L)`` token arrays (one composition
per row, tokens as in ``encoding.py``). Fractions are in 0..1 (the table prints them as %).

Notes. A note starts at an onset token (2..37) and ends at the next onset or ``NOTE_OFF``, as in
``midi.decode_tokens``. Only notes that start *and* end inside a composition have a known
duration, so only they enter the duration figures: the last note, if still sounding at the end,
is left out (its real length is unknown), and so are the holds before the first event (the
environment's compositions continue the primer note, which is not part of them). Counting the
cut-off note with the steps it has would make the histogram depend on where the windows end
relative to the beat: corpus windows shifted by one step differ by TV 0.074 that way, by 0.007
with the cut-off note left out. Onset-based figures (pitch range, pitch classes) count every onset.

Diversity (of the set itself):

* ``distinct_compositions``: number of distinct rows / N.
* ``distinct_openings``: number of distinct first-8-token prefixes / N (the whole row if L < 8).
* ``distinct_4gram_rate``: distinct 4-grams / all 4-grams, over the windows ``row[t:t+4]``,
  ``t = 0..L-4`` of every row, pooled over the set (NaN if L < 4). Like the two above it falls
  as N grows, so compare sets of equal N.
* ``mean_pairwise_hamming``: mean over the N(N-1)/2 unordered pairs of rows of the fraction of
  positions where they differ (NaN if N < 2). Computed exactly for any N from per-position token
  counts (pairs agreeing at step t = sum over tokens v of c_tv (c_tv - 1) / 2), so no pair sampling.

Texture (of the set, pooled):

* ``hold_share`` / ``rest_share`` / ``onset_share``: fraction of all N*L tokens that are
  ``NO_EVENT`` / ``NOTE_OFF`` / an onset (they add up to 1).
* ``mean_pitch_range``: max - min MIDI pitch over the onsets of a composition, in semitones,
  averaged over the compositions with at least one onset (NaN if none has one).
* ``pitch_class_entropy``: Shannon entropy in bits of the pitch-class histogram of all onsets of
  the set (0 = one pitch class, log2(12) = 3.585 = uniform; NaN without onsets).

Distance to a reference (by default the corpus windows of the same length, see below):

* Note-duration histogram: 16 bins, bin k (k = 1..15) = notes lasting exactly k 16th-note steps,
  bin 16 = notes of 16 steps (a 4/4 bar) or more; weighted by notes, normalised to sum 1.
* Pitch-class histogram: 12 bins (C = 0), of the onsets, normalised to sum 1.
* ``duration_tv`` / ``pitch_class_tv``: total-variation distance ``0.5 * sum |p - q|`` between
  the set's histogram and the reference's (0 = equal, 1 = disjoint; NaN if either has no notes).
* ``duration_overlap`` / ``pitch_class_overlap``: MGEval's overlapping area (Yang & Lerch 2018).
  Each composition gets a feature vector, its own normalised duration (16) or pitch-class (12)
  histogram (the zero vector if it has no notes). The intra-set distances are Euclidean
  distances between reference compositions, the inter-set distances between a sample
  composition and a reference composition. Each distance set is smoothed by a 1-D Gaussian KDE
  with Scott's bandwidth (std * n^(-1/5), scipy's default, which MGEval uses), floored at 1e-3;
  the figure is the integral of min(f_intra, f_inter) (1 = the sample sits among the reference
  as the reference sits among itself, 0 = far away). When a set has more than ``MAX_PAIRS``
  pairs, ``MAX_PAIRS`` pairs are drawn uniformly with replacement by a generator of fixed seed
  (intra-set pairs i != j; intra and inter use different seeds), so the figure is deterministic;
  the draw costs about 0.01 (the corpus against itself scores 0.99). Unlike MGEval, which
  integrates with ``scipy.integrate.quad`` over [min, max] of the data only (cutting the
  kernels' tails, so a set against itself scores below 1), the integral here runs over the whole
  support (data +- 6 bandwidths, on a grid of 10 points per bandwidth, densities by linear
  binning and FFT convolution: numpy only, O(pairs + grid log grid)).

The reference: the corpus's validation tunes cut into non-overlapping ``length``-step windows,
each starting on an onset: the first window starts at the tune's first onset, each next one at
the first onset at or after the end of the previous one; windows that would run past the end
of the tune are dropped (no padding). Cached per length (:func:`corpus_reference_windows`).
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from seqtutor_envs.melody.encoding import NUM_SPECIAL_TOKENS

from .kde import MAX_PAIRS, OVERLAP_SEED, overlap_area, pair_distances  # noqa: F401  (re-exported)
from .stats import markdown_table
from .texture_figures import (  # noqa: F401  (every figure re-exported: this module is their public path)
    DURATION_BINS,
    NGRAM_LENGTH,
    NUM_PITCH_CLASSES,
    OPENING_LENGTH,
    _normalise,
    check_compositions,
    distinct_compositions,
    distinct_ngram_rate,
    distinct_openings,
    duration_features,
    duration_histogram,
    hold_share,
    mean_pairwise_hamming,
    mean_pitch_range,
    note_durations,
    onset_share,
    pitch_class_entropy,
    pitch_class_features,
    pitch_class_histogram,
    rest_share,
    token_shares,
    total_variation,
    tv,
)

TEXTURE_LABELS: dict[str, str] = {
    "distinct_compositions": "Distinct compositions",
    "distinct_openings": "Distinct openings (first 8 steps)",
    "distinct_4gram_rate": "Distinct 4-grams / all 4-grams",
    "mean_pairwise_hamming": "Mean pairwise Hamming distance",
    "hold_share": "Hold (NO_EVENT) tokens",
    "rest_share": "Rest (NOTE_OFF) tokens",
    "onset_share": "Onset tokens",
    "mean_pitch_range": "Mean pitch range (semitones)",
    "pitch_class_entropy": "Pitch-class entropy (bits)",
    "duration_tv": "Note-duration TV to reference",
    "pitch_class_tv": "Pitch-class TV to reference",
    "duration_overlap": "Note-duration overlap area (MGEval)",
    "pitch_class_overlap": "Pitch-class overlap area (MGEval)",
}
TEXTURE_KEYS: tuple[str, ...] = tuple(TEXTURE_LABELS)
_PERCENT_KEYS = frozenset({"distinct_compositions", "distinct_openings", "hold_share", "rest_share", "onset_share"})
_DECIMALS = {"mean_pitch_range": 1, "pitch_class_entropy": 2}  # other non-percent figures: 3


# ---------------------------------------------------------------------------------------------
# MGEval overlapping area


def reference_windows(tunes: Sequence[np.ndarray], length: int = 32) -> np.ndarray:
    """Non-overlapping ``length``-step windows of the tunes, each starting on an onset, ``(W, length)`` uint8.

    Per tune: the first window starts at the first onset; each next window at the first onset at
    or after the end of the previous window; a window that would run past the tune's end is dropped.

    :param tunes: 1-D token arrays.
    :param length: window length in steps.
    """
    if length < 1:
        raise ValueError(f"window length must be >= 1, got {length}")
    windows = []
    for tune in tunes:
        tune = np.asarray(tune)
        onsets = np.flatnonzero(tune >= NUM_SPECIAL_TOKENS)
        k = 0
        while k < len(onsets) and onsets[k] + length <= len(tune):
            start = int(onsets[k])
            windows.append(tune[start : start + length])
            k = int(np.searchsorted(onsets, start + length))  # first onset at or after the window's end
    if not windows:
        return np.zeros((0, length), dtype=np.uint8)
    return np.stack(windows).astype(np.uint8)


def corpus_reference_windows(length: int = 32, corpus_path: str | os.PathLike | None = None) -> np.ndarray:
    """A corpus's validation tunes cut by :func:`reference_windows` (cached, read-only).

    :param length: window length in steps (the composition length to compare with).
    :param corpus_path: a corpus ``.npz`` (default: the shipped corpus), e.g. the one a user's prior was trained on.
    """
    path = str(Path(corpus_path).resolve()) if corpus_path is not None else None
    return _corpus_reference_windows(int(length), path)  # one cache entry per length and corpus


@functools.lru_cache(maxsize=4)
def _corpus_reference_windows(length: int, corpus_path: str | None) -> np.ndarray:
    from seqtutor_envs.melody.dataset import (  # the corpus loads only when asked for
        MelodyCorpus,
        load_default_corpus,
    )

    corpus = MelodyCorpus.load(corpus_path) if corpus_path else load_default_corpus()
    windows = reference_windows(corpus.validation_sequences(), length)
    if len(windows) == 0:
        raise ValueError(
            f"no validation tune of the corpus {corpus_path or '(shipped)'} is long enough for a {length}-step window"
        )
    windows.flags.writeable = False
    return windows


@dataclasses.dataclass(frozen=True, eq=False)
class TextureReference:
    """What ``texture_statistics`` compares a sample with: histograms, features and intra-set distances."""

    compositions: np.ndarray  # (M, L) int64
    duration_histogram: np.ndarray  # (16,), sum 1
    pitch_class_histogram: np.ndarray  # (12,), sum 1
    duration_features: np.ndarray  # (M, 16)
    pitch_class_features: np.ndarray  # (M, 12)
    duration_intra: np.ndarray  # intra-set distances of the duration features
    pitch_class_intra: np.ndarray  # intra-set distances of the pitch-class features

    def __repr__(self) -> str:
        num, length = self.compositions.shape
        return f"TextureReference({num} compositions of {length} steps)"

    @classmethod
    def from_compositions(cls, compositions: np.ndarray) -> TextureReference:
        """Reference of a set of compositions (computed once; the intra-set pairs use ``OVERLAP_SEED``).

        :param compositions: ``(M, L)`` tokens.
        """
        comps = check_compositions(compositions, name="reference")
        durations, pitch_classes = duration_features(comps), pitch_class_features(comps)
        arrays = {
            "compositions": comps,
            "duration_histogram": duration_histogram(comps),
            "pitch_class_histogram": pitch_class_histogram(comps),
            "duration_features": durations,
            "pitch_class_features": pitch_classes,
            "duration_intra": pair_distances(durations),
            "pitch_class_intra": pair_distances(pitch_classes),
        }
        for array in arrays.values():
            array.flags.writeable = False  # shared through the cache
        return cls(**arrays)


def reference_texture(length: int = 32, corpus_path: str | os.PathLike | None = None) -> TextureReference:
    """The corpus reference (:func:`corpus_reference_windows`) with its histograms, cached per length and corpus.

    :param length: window length in steps.
    :param corpus_path: a corpus ``.npz`` (default: the shipped corpus).
    """
    return _reference_texture(int(length), str(Path(corpus_path).resolve()) if corpus_path is not None else None)


@functools.lru_cache(maxsize=4)
def _reference_texture(length: int, corpus_path: str | None) -> TextureReference:
    return TextureReference.from_compositions(corpus_reference_windows(length, corpus_path))


# ---------------------------------------------------------------------------------------------
# entry point and table


def texture_statistics(
    compositions: np.ndarray, reference: TextureReference | np.ndarray | None = None
) -> dict[str, float]:
    """All texture and diversity figures of ``(N, L)`` compositions (keys ``TEXTURE_KEYS``; see the module docstring).

    Also ``num_compositions`` and ``num_notes`` (the notes that end inside their composition,
    those the duration figures count).

    :param compositions: ``(N, L)`` integer tokens in 0..37.
    :param reference: a :class:`TextureReference`, reference compositions ``(M, L')``, or None for
        the corpus windows of length L (:func:`reference_texture`).
    """
    comps = check_compositions(compositions)
    if reference is None:
        reference = reference_texture(comps.shape[1])
    elif not isinstance(reference, TextureReference):
        reference = TextureReference.from_compositions(reference)

    durations, pitch_classes = duration_features(comps, normalise=False), pitch_class_features(comps, normalise=False)
    # inter-set pairs use another seed than the reference's intra-set pairs, so the two draws are independent
    duration_inter = pair_distances(
        np.nan_to_num(_normalise(durations)), reference.duration_features, seed=OVERLAP_SEED + 1
    )
    pitch_class_inter = pair_distances(
        np.nan_to_num(_normalise(pitch_classes)), reference.pitch_class_features, seed=OVERLAP_SEED + 1
    )
    return {
        "distinct_compositions": distinct_compositions(comps),
        "distinct_openings": distinct_openings(comps),
        "distinct_4gram_rate": distinct_ngram_rate(comps, NGRAM_LENGTH),
        "mean_pairwise_hamming": mean_pairwise_hamming(comps),
        **token_shares(comps),
        "mean_pitch_range": mean_pitch_range(comps),
        "pitch_class_entropy": pitch_class_entropy(comps),
        "duration_tv": tv(_normalise(durations.sum(axis=0)), reference.duration_histogram),
        "pitch_class_tv": tv(_normalise(pitch_classes.sum(axis=0)), reference.pitch_class_histogram),
        "duration_overlap": overlap_area(reference.duration_intra, duration_inter),
        "pitch_class_overlap": overlap_area(reference.pitch_class_intra, pitch_class_inter),
        "num_compositions": len(comps),
        "num_notes": int(durations.sum()),
    }


def _format_number(key: str, value: float) -> str:
    if key in _PERCENT_KEYS:
        return f"{100.0 * value:.1f}%"
    return f"{value:.{_DECIMALS.get(key, 3)}f}"


def format_texture_table(columns: dict[str, dict]) -> str:
    """Markdown table: one row per figure of ``TEXTURE_LABELS``, one column per model.

    :param columns: model name -> a ``texture_statistics`` dict (missing keys print "–").
    """
    if not columns:
        raise ValueError("nothing to tabulate: no columns")
    return markdown_table(
        "Figure",
        list(columns),
        list(columns.values()),
        TEXTURE_LABELS,
        _format_number,
        {"num_compositions": "Compositions", "num_notes": "Notes"},
    )


def corpus_sample(n: int, length: int = 32, seed: int = 0, corpus_path: str | os.PathLike | None = None) -> np.ndarray:
    """``n`` corpus reference windows drawn without replacement by a seeded generator (all if fewer).

    The distinct-rate figures fall as the set grows, so a model's sample is compared with a corpus
    sample of the same size.
    """
    windows = corpus_reference_windows(length, corpus_path)
    if n >= len(windows):
        return np.asarray(windows, dtype=np.int64)
    rows = np.sort(np.random.default_rng(seed).choice(len(windows), size=n, replace=False))
    return np.asarray(windows[rows], dtype=np.int64)
