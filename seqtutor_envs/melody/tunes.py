"""One tune at a time: notes -> 16th-note grid -> C major / A minor -> tokens, from ABC (music21) or MIDI.

Every tune is quantized to 16th notes, transposed to C major / A minor (white-key modes in
general), shifted by octaves into the token range [48, 84) and encoded with
:func:`~seqtutor_envs.melody.midi.encode_notes`; a tune that cannot be kept raises
:class:`TuneRejected` with one of :data:`REJECT_REASONS`.
"""

from __future__ import annotations

import dataclasses
import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from seqtutor_envs.melody import midi
from seqtutor_envs.melody.encoding import (
    C_MAJOR_PITCH_CLASSES,
    MAX_PITCH,
    MIN_PITCH,
    STEPS_PER_QUARTER,
)

MIN_STEPS = 16
MIN_NOTES = 4
# Longest tune kept, in 16th-note steps (256 bars of 4/4). The shipped corpus's longest tunes have
# 2785, 2433 and 2177 steps (99.9th percentile: ~1750), so this keeps every real tune while a
# corrupt or hostile file (a 96-byte MIDI file whose one note ends after 8 million quarter notes
# once encoded 32,000,005 steps) is rejected as "too_long" before any token array is allocated.
MAX_STEPS = 4096

# Reasons a tune is not kept, in report order. MIDI files that cannot be read at all count once,
# as "unreadable"; a MIDI file with a polyphonic track counts once, as "polyphonic".
REJECT_REASONS: tuple[str, ...] = (
    "unparsable",
    "unreadable",
    "chords",
    "polyphonic",
    "too_short",
    "too_long",
    "out_of_range",
    "duplicate",
)

TRANSPOSITION_RULE = (
    "transpose by the shift s in [-6, +5] semitones that leaves the tune's (first) key signature with no "
    "sharps or flats, s = (-7 * sharps) mod 12 mapped into [-6, +5], so majors land on C, minors on A, other "
    "modes on their white-key mode (D dorian stays D dorian); with no key signature (ABC 'K:none' or no K:, and "
    "all MIDI input) the shift in [-6, +5] that puts the most note duration on C-major pitch classes (ties: "
    "smallest |s|); then shift by whole octaves so every note lies in [48, 84), choosing the octave whose mean "
    "pitch is nearest 65.5; tunes that fit no octave are rejected as out_of_range"
)

ENCODING_DESCRIPTION = (
    "note_seq Melody one-hot convention, MelodyOneHotEncoding(min_note=48, max_note=84): 0 = NO_EVENT (hold), "
    "1 = NOTE_OFF (rest starts), 2..37 = note-on of MIDI pitch token + 46; one token per 16th note; leading "
    "silence dropped; the last note is followed by NOTE_OFF; repeats are not expanded"
)


# ---------------------------------------------------------------------------------------------
# one tune: notes -> normalised tokens


class TuneRejected(Exception):
    """A tune is not kept; ``reason`` is one of :data:`REJECT_REASONS`."""

    def __init__(self, reason: str, detail: str = "") -> None:
        assert reason in REJECT_REASONS, reason
        self.reason = reason
        super().__init__(f"{reason}: {detail}" if detail else reason)


@dataclasses.dataclass(frozen=True)
class TuneResult:
    """Outcome of processing one tune: its tokens, or the reason it was rejected."""

    source: str
    name: str
    tokens: np.ndarray | None
    reason: str | None = None
    collisions: int = 0  # onsets dropped because an earlier onset fell on the same 16th-note step


def quantize_notes(
    starts: Sequence[float] | np.ndarray, ends: Sequence[float] | np.ndarray, pitches: Sequence[int] | np.ndarray
) -> tuple[np.ndarray, int]:
    """Notes on the 16th-note grid, leading silence removed: an (n, 3) int64 array and the collision count.

    Onsets and offsets are rounded half up; when several onsets fall on one step the first is kept
    (the others are collisions); a note is cut where the next one starts and lasts at least one step.

    :param starts: onsets in 16th-note steps (floats allowed), sorted.
    :param ends: offsets in steps.
    :param pitches: MIDI pitches.
    """
    start_steps = np.floor(np.asarray(starts, dtype=np.float64) + 0.5).astype(np.int64)
    end_steps = np.floor(np.asarray(ends, dtype=np.float64) + 0.5).astype(np.int64)
    keep = np.append(True, start_steps[1:] > start_steps[:-1]) if len(start_steps) else np.zeros(0, bool)
    collisions = int(np.count_nonzero(~keep))
    start_steps, end_steps, pitches = start_steps[keep], end_steps[keep], np.asarray(pitches, np.int64)[keep]
    if len(start_steps):
        end_steps = np.minimum(end_steps, np.append(start_steps[1:], np.iinfo(np.int64).max))
        end_steps = np.maximum(end_steps, start_steps + 1)
        offset = start_steps[0]
        start_steps, end_steps = start_steps - offset, end_steps - offset
    return np.stack([start_steps, end_steps, pitches], axis=1), collisions


def transposition_to_c(key_sharps: int) -> int:
    """Semitone shift in [-6, +5] that turns a key signature with ``key_sharps`` (flats < 0) into none.

    :param key_sharps: number of sharps of the key signature, negative for flats.
    """
    shift = (-7 * int(key_sharps)) % 12
    return shift - 12 if shift > 5 else shift


def estimate_transposition(pitches: np.ndarray, durations: np.ndarray) -> int:
    """Shift in [-6, +5] putting the most note duration on C-major pitch classes (ties: smallest |shift|).

    :param pitches: MIDI pitches.
    :param durations: their durations (any unit), the weights.
    """
    shifts = np.arange(-6, 6)
    pitch_classes = (np.asarray(pitches)[None, :] + shifts[:, None]) % 12
    in_key = np.isin(pitch_classes, sorted(C_MAJOR_PITCH_CLASSES))
    score = (in_key * np.asarray(durations, dtype=np.float64)[None, :]).sum(axis=1)
    best = np.flatnonzero(score == score.max())
    return int(shifts[best[np.argmin(np.abs(shifts[best]))]])


def octave_shift_into_range(pitches: np.ndarray) -> int:
    """Whole-octave shift (in semitones) fitting all pitches in [48, 84), mean nearest the middle.

    :param pitches: MIDI pitches of one tune.
    :raises TuneRejected: ``out_of_range`` when no octave shift fits the tune.
    """
    low, high = int(np.min(pitches)), int(np.max(pitches))
    first, last = -((low - MIN_PITCH) // 12), (MAX_PITCH - 1 - high) // 12  # ceil and floor
    if first > last:
        raise TuneRejected("out_of_range", f"pitches {low}..{high} fit no octave of [{MIN_PITCH}, {MAX_PITCH})")
    octaves = np.arange(first, last + 1)
    middle = (MIN_PITCH + MAX_PITCH - 1) / 2
    return int(12 * octaves[np.argmin(np.abs(np.mean(pitches) + 12 * octaves - middle))])


def normalise_melody(
    starts: Sequence[float] | np.ndarray,
    ends: Sequence[float] | np.ndarray,
    pitches: Sequence[int] | np.ndarray,
    key_sharps: int | None,
) -> tuple[np.ndarray, int]:
    """Tokens of one monophonic tune after quantization, transposition to C and octave shift.

    :param starts: note onsets in 16th-note steps, in time order.
    :param ends: note offsets in steps.
    :param pitches: MIDI pitches.
    :param key_sharps: the tune's key signature (sharps > 0, flats < 0), or None to estimate it.
    :returns: (uint8 tokens, number of quantization collisions).
    :raises TuneRejected: ``too_short``, ``too_long`` or ``out_of_range``.
    """
    notes, collisions = quantize_notes(starts, ends, pitches)
    if len(notes) < MIN_NOTES or notes[-1, 1] + 1 < MIN_STEPS:
        raise TuneRejected("too_short", f"{len(notes)} notes")
    if notes[-1, 1] + 1 > MAX_STEPS:  # checked before encode_notes allocates one token per step
        raise TuneRejected("too_long", f"{int(notes[-1, 1]) + 1} steps, more than MAX_STEPS={MAX_STEPS}")
    pitches = notes[:, 2]
    if key_sharps is None:
        shift = estimate_transposition(pitches, notes[:, 1] - notes[:, 0])
    else:
        shift = transposition_to_c(key_sharps)
    pitches = pitches + shift
    notes[:, 2] = pitches + octave_shift_into_range(pitches)
    return midi.encode_notes(notes), collisions


# ---------------------------------------------------------------------------------------------
# ABC tunes (music21)

_KEY_FIELD = re.compile(r"^K:[ \t]*(\S*)", re.MULTILINE)
_TITLE_FIELD = re.compile(r"^T:[ \t]*(.*?)\s*$", re.MULTILINE)
_REFERENCE_FIELD = re.compile(r"^X:[ \t]*(\S*)", re.MULTILINE)


def _abc_notes(score) -> tuple[np.ndarray, np.ndarray, np.ndarray, int | None]:
    """Onsets, offsets (in steps), pitches and key-signature sharps of a one-part music21 score."""
    from music21 import chord, harmony, key, note, stream

    parts = [p for p in score.parts if p.recurse().notes.first() is not None] if score.parts else [score]
    if len(parts) > 1:
        raise TuneRejected("polyphonic", f"{len(parts)} parts")
    if not parts:
        raise TuneRejected("too_short", "no notes")
    part = parts[0]
    for measure in part.getElementsByClass(stream.Measure):
        if sum(1 for v in measure.voices if v.notes.first() is not None) > 1:
            raise TuneRejected("polyphonic", f"several voices in measure {measure.number}")
    key_signature = part.recurse().getElementsByClass(key.KeySignature).first()
    starts: list[float] = []
    ends: list[float] = []
    pitches: list[int] = []
    for element in part.flatten().notes:
        if isinstance(element, harmony.Harmony) or element.duration.isGrace:
            continue  # chord symbols are accompaniment hints, grace notes are ornaments
        if isinstance(element, chord.Chord):
            raise TuneRejected("chords", f"chord at offset {element.offset}")
        if not isinstance(element, note.Note):
            continue  # unpitched notes carry no melody
        onset = float(element.offset) * STEPS_PER_QUARTER
        end = onset + float(element.quarterLength) * STEPS_PER_QUARTER
        pitch = element.pitch.midi
        # Merge ties ourselves: music21's stripTies also merges "ties" between different pitches,
        # which ABC transcribers (O'Neill's) use as slurs, and that would swallow the second note.
        tied_back = element.tie is not None and element.tie.type in ("stop", "continue")
        if tied_back and pitches and pitches[-1] == pitch and abs(ends[-1] - onset) < 1e-6:
            ends[-1] = end
            continue
        starts.append(onset)
        ends.append(end)
        pitches.append(pitch)
    sharps = None if key_signature is None else key_signature.sharps
    return np.array(starts), np.array(ends), np.array(pitches, dtype=np.int64), sharps


def tune_from_abc(abc_text: str, source: str = "abc", name: str = "tune") -> TuneResult:
    """Parse one ABC tune with music21 and turn it into corpus tokens (or a rejection).

    :param abc_text: the ABC text of one tune (``X:`` ... notes), possibly preceded by file-header fields.
    :param source: collection name recorded in the result.
    :param name: tune name recorded in the result.
    """
    from music21 import converter

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            score = converter.parse(abc_text, format="abc")
    except Exception:  # music21's ABC reader raises many exception types on malformed tunes
        return TuneResult(source, name, None, "unparsable")
    try:
        starts, ends, pitches, sharps = _abc_notes(score)
        key_fields = _KEY_FIELD.findall(abc_text)
        if not key_fields or key_fields[-1].lower().startswith("none"):
            sharps = None  # music21 reads 'K:none' as C major; estimate instead
        tokens, collisions = normalise_melody(starts, ends, pitches, sharps)
    except TuneRejected as rejection:
        return TuneResult(source, name, None, rejection.reason)
    except Exception:  # a tune music21 parsed into something unusable
        return TuneResult(source, name, None, "unparsable")
    return TuneResult(source, name, tokens, collisions=collisions)


def split_abc_file(text: str) -> list[str]:
    """The tunes of an ABC file, each prefixed with the file header (fields before the first ``X:``).

    Splitting the text ourselves (rather than music21's Opus parsing) lets the tunes be parsed in
    parallel and keeps tunes whose ``X:`` reference numbers repeat within a file.

    :param text: contents of an ABC file.
    """
    chunks = re.split(r"(?m)^(?=X:)", text)
    header, tunes = chunks[0], chunks[1:]
    header = "\n".join(line for line in header.splitlines() if re.match(r"^[A-Za-z]:", line))
    return [f"{header}\n{tune}" if header else tune for tune in tunes]


def read_text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # some older ABC transcriptions are Latin-1


def tune_name(collection: str, path: Path, abc_text: str) -> str:
    reference = _REFERENCE_FIELD.search(abc_text)
    title = _TITLE_FIELD.search(abc_text)
    name = f"{collection}/{path.name} X:{reference.group(1) if reference else '?'}"
    return f"{name} {title.group(1)}" if title and title.group(1) else name


# ---------------------------------------------------------------------------------------------
# MIDI files


def tunes_from_midi(path: str | os.PathLike, source: str = "midi", name: str | None = None) -> list[TuneResult]:
    """Corpus tokens of every track of a MIDI file; an unreadable or polyphonic file gives one rejection.

    MIDI key signatures are often missing or wrong, so the key is always estimated from the notes.

    :param path: a MIDI file.
    :param source: source name recorded in the results.
    :param name: file name recorded in the results (default: the file's name); tracks add ``#track<i>``.
    """
    path = Path(path)
    name = path.name if name is None else name
    try:
        melodies = midi.midi_to_note_lists(path)
    except midi.MidiReadError:
        return [TuneResult(source, name, None, "unreadable")]
    except midi.PolyphonicTrackError:
        return [TuneResult(source, name, None, "polyphonic")]
    if not melodies:
        return [TuneResult(source, name, None, "too_short")]
    results = []
    for track, notes in enumerate(melodies):
        array = np.asarray(notes, dtype=np.int64)
        track_name = f"{name}#track{track}"
        try:
            tokens, collisions = normalise_melody(array[:, 0], array[:, 1], array[:, 2], key_sharps=None)
            results.append(TuneResult(source, track_name, tokens, collisions=collisions))
        except TuneRejected as rejection:
            results.append(TuneResult(source, track_name, None, rejection.reason))
    return results
