"""The monophonic melody corpus the Note RNN prior is trained on, built from real tunes.

Sources: the folk-tune collections shipped inside music21's corpus (ABC files, many tunes per
file) and, optionally, folders of MIDI files with one monophonic melody per track. Every tune is
quantized to 16th notes, transposed to C major / A minor (white-key modes in general), shifted
by octaves into the token range [48, 84) and encoded with :func:`midi.encode_notes`.

Build the shipped corpus with::

    python -m seqtutor_envs.melody.corpus --out seqtutor_envs/data/melody_corpus.npz --workers 2

``--out`` is required: there is no default destination, so a build never overwrites the corpus
shipped inside the installed package by accident. A build that accepts no tune (an empty or wrong
``--midi-dir``, say) writes nothing and exits with status 1, printing the rejection counts.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import io
import json
import os
import re
import sys
import time
import warnings
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from seqtutor_envs.io import atomic_write_bytes, atomic_write_text
from seqtutor_envs.melody import midi
from seqtutor_envs.melody.encoding import (
    C_MAJOR_PITCH_CLASSES,
    MAX_PITCH,
    MIN_PITCH,
    STEPS_PER_QUARTER,
    VOCAB_SIZE,
)

FORMAT = "seqtutor.melody_corpus/1"
DEFAULT_COLLECTIONS: tuple[str, ...] = ("essenFolksong", "oneills1850", "airdsAirs", "ryansMammoth", "miscFolk")
DEFAULT_CORPUS_PATH = Path(__file__).resolve().parent.parent / "data" / "melody_corpus.npz"
VALIDATION_FRACTION = 0.1
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

MUSIC21_LICENCE = (
    "Tunes come from the corpus distributed with music21 (music21/corpus/license.txt): the encodings are "
    "distributed with the encoders' permission and 'some encodings included in the corpus may not be used for "
    "commercial uses or have other restrictions'. Essen Folksong Collection (essenFolksong/license.txt): legal "
    "status unclear, permission given by Prof. Ewa Dahlig-Turek for non-commercial distribution and use in "
    "music21; ABC encodings by Seymour Shlien. O'Neill's 1850 (transcribed by Norbert Paap), Aird's Airs "
    "(Jack Campin), Ryan's Mammoth Collection and miscFolk have no separate licence file; the music itself is "
    "public domain (18th/19th-century publications). Treat this derived corpus as for NON-COMMERCIAL RESEARCH "
    "USE ONLY."
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


def quantize_notes(starts: np.ndarray, ends: np.ndarray, pitches: np.ndarray) -> tuple[np.ndarray, int]:
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
    starts, ends, pitches = [], [], []
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


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # some older ABC transcriptions are Latin-1


def _tune_name(collection: str, path: Path, abc_text: str) -> str:
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


# ---------------------------------------------------------------------------------------------
# the corpus


def _encode_strings(strings: Sequence[str]) -> np.ndarray:
    """Newline-joined UTF-8 bytes: far smaller in an npz than a fixed-width unicode array."""
    return np.frombuffer("\n".join(s.replace("\n", " ") for s in strings).encode("utf-8"), dtype=np.uint8)


def _decode_strings(data: np.ndarray, count: int) -> list[str]:
    return data.tobytes().decode("utf-8").split("\n") if count else []


def validation_split(num_tunes: int, seed: int = 0, fraction: float = VALIDATION_FRACTION) -> np.ndarray:
    """Tune-level split mask (True = validation), deterministic in ``seed``.

    :param num_tunes: number of tunes.
    :param seed: seed of the numpy Generator.
    :param fraction: share of tunes held out.
    """
    split = np.zeros(num_tunes, dtype=bool)
    split[np.random.default_rng(seed).permutation(num_tunes)[: int(round(fraction * num_tunes))]] = True
    return split


@dataclasses.dataclass
class MelodyCorpus:
    """Tunes as one concatenated uint8 token array; tune ``i`` is ``tokens[offsets[i]:offsets[i+1]]``."""

    tokens: np.ndarray
    offsets: np.ndarray
    names: list[str]
    sources: list[str]
    split: np.ndarray  # True = validation
    report: dict
    provenance: dict

    def __post_init__(self) -> None:
        self.tokens = np.asarray(self.tokens, dtype=np.uint8)
        self.offsets = np.asarray(self.offsets, dtype=np.int64)
        self.split = np.asarray(self.split, dtype=bool)
        problem = self._problem()
        if problem:
            raise ValueError(f"inconsistent melody corpus: {problem}")

    def _problem(self) -> str | None:
        n = len(self.names)
        if self.tokens.ndim != 1 or self.offsets.ndim != 1:
            return "tokens and offsets must be 1-D"
        if len(self.offsets) != n + 1 or len(self.sources) != n or len(self.split) != n:
            return f"{n} names but {len(self.offsets)} offsets, {len(self.sources)} sources, {len(self.split)} split flags"
        if self.offsets[0] != 0 or self.offsets[-1] != len(self.tokens) or np.any(np.diff(self.offsets) <= 0):
            return "offsets must rise strictly from 0 to len(tokens)"
        if len(self.tokens) and int(self.tokens.max()) >= VOCAB_SIZE:
            return f"token {int(self.tokens.max())} outside 0..{VOCAB_SIZE - 1}"
        return None

    def __len__(self) -> int:
        return len(self.names)

    @property
    def num_steps(self) -> int:
        """Total number of 16th-note steps (tokens) over all tunes."""
        return len(self.tokens)

    def tune(self, i: int) -> np.ndarray:
        """Tokens of tune ``i`` (a read-only view).

        :param i: tune index.
        """
        view = self.tokens[self.offsets[i] : self.offsets[i + 1]]
        view.flags.writeable = False
        return view

    def _sequences(self, validation: bool) -> list[np.ndarray]:
        return [self.tune(int(i)) for i in np.flatnonzero(self.split == validation)]

    def train_sequences(self) -> list[np.ndarray]:
        """Token arrays of the training tunes."""
        return self._sequences(validation=False)

    def validation_sequences(self) -> list[np.ndarray]:
        """Token arrays of the held-out validation tunes."""
        return self._sequences(validation=True)

    def save(self, path: str | os.PathLike) -> Path:
        """Write a compressed ``.npz`` and a human-readable ``.json`` side file, both atomically.

        :param path: destination ``.npz`` path.
        :raises ValueError: the corpus holds no tune (nothing could be trained on it; an existing file
            at ``path`` is left as it was).
        """
        path = Path(path)
        if len(self) == 0:
            raise ValueError(f"refusing to write an empty melody corpus (0 tunes) to {path}")
        source_names = sorted(set(self.sources))
        source_index = np.array([source_names.index(s) for s in self.sources], dtype=np.int32)
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            format=np.array(FORMAT),
            tokens=self.tokens,
            offsets=self.offsets,
            names=_encode_strings(self.names),
            source_names=np.array(source_names),
            source_index=source_index,
            split=self.split,
            report=np.array(json.dumps(self.report)),
            provenance=np.array(json.dumps(self.provenance)),
        )
        atomic_write_bytes(path, buffer.getvalue())
        summary = {
            "format": FORMAT,
            "file": path.name,
            "num_tunes": len(self),
            "num_validation_tunes": int(self.split.sum()),
            "num_steps": self.num_steps,
            "report": self.report,
            "provenance": self.provenance,
        }
        text = json.dumps(summary, indent=2) + "\n"
        atomic_write_text(path.with_suffix(".json"), text)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "MelodyCorpus":
        """Read a corpus written by :meth:`save`.

        :param path: the ``.npz`` file.
        :raises ValueError: naming the path, when the file is missing, unreadable or not a melody corpus.
        """
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"{path}: no such melody corpus file")
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files}
        except Exception as error:
            raise ValueError(f"{path} is not a melody corpus (cannot read it as .npz: {error})") from error
        if "format" not in arrays or str(arrays["format"]) != FORMAT:
            raise ValueError(f"{path} is not a melody corpus (expected format {FORMAT!r})")
        try:
            source_names = [str(s) for s in arrays["source_names"]]
            count = len(arrays["offsets"]) - 1
            return cls(
                tokens=arrays["tokens"],
                offsets=arrays["offsets"],
                names=_decode_strings(arrays["names"], count),
                sources=[source_names[i] for i in arrays["source_index"]],
                split=arrays["split"],
                report=json.loads(str(arrays["report"])),
                provenance=json.loads(str(arrays["provenance"])),
            )
        except (KeyError, IndexError, ValueError) as error:
            raise ValueError(f"{path} is a damaged melody corpus: {error}") from error


def load_default_corpus() -> MelodyCorpus:
    """The corpus shipped with the package (music21 folk collections)."""
    return MelodyCorpus.load(DEFAULT_CORPUS_PATH)


# ---------------------------------------------------------------------------------------------
# building


def music21_corpus_dir() -> Path:
    """Folder of music21's shipped corpus."""
    from music21 import common

    return Path(common.getCorpusFilePath())


def _tasks(collections: Sequence[str], midi_dirs: Sequence[str | os.PathLike]):
    """(kind, source, name, payload) work items plus the number of files per source."""
    root = music21_corpus_dir()
    tasks: list[tuple[str, str, str, str]] = []
    files: dict[str, int] = {}
    for collection in collections:
        folder = root / collection
        paths = sorted(folder.glob("*.abc"))
        if not paths:
            raise FileNotFoundError(f"music21 corpus collection {collection!r} has no .abc files in {folder}")
        files[collection] = len(paths)
        for path in paths:
            for tune in split_abc_file(_read_text(path)):
                tasks.append(("abc", collection, _tune_name(collection, path, tune), tune))
    for folder in midi_dirs:
        folder = Path(folder)
        check_midi_dir(folder)
        source = f"midi:{folder.name}"
        paths = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in (".mid", ".midi"))
        files[source] = len(paths)
        tasks.extend(("midi", source, str(p.relative_to(folder)), str(p)) for p in paths)
    return tasks, files


def check_midi_dir(folder: Path) -> None:
    """A precise error unless ``folder`` is an existing folder.

    :param folder: a ``--midi-dir`` / ``midi_dirs`` entry.
    :raises NotADirectoryError: it is a file (say which, and what was expected).
    :raises FileNotFoundError: nothing is there.
    """
    if folder.is_dir():
        return
    if folder.exists():
        raise NotADirectoryError(
            f"MIDI folder {folder} is a file, not a folder: expected a folder of .mid/.midi files "
            f"(searched recursively); to use this one file, pass its folder {folder.parent}"
        )
    raise FileNotFoundError(f"MIDI folder {folder} does not exist (expected a folder of .mid/.midi files)")


def _run_task(task: tuple[str, str, str, str]) -> list[TuneResult]:
    kind, source, name, payload = task
    if kind == "abc":
        return [tune_from_abc(payload, source, name)]
    return tunes_from_midi(payload, source, name)


def _empty_source_report(files: int) -> dict:
    return {
        "files": files,
        "tunes_seen": 0,
        "kept": 0,
        "rejected": {reason: 0 for reason in REJECT_REASONS},
        "quantization_collisions": 0,
        "tunes_with_collisions": 0,
        "steps": 0,
    }


def _assemble(results: Iterable[TuneResult], files: dict[str, int]) -> tuple[list[TuneResult], dict]:
    """Keep the good tunes (dropping exact duplicates, first one wins) and count everything."""
    per_source = {source: _empty_source_report(count) for source, count in files.items()}
    seen: set[bytes] = set()
    kept = []
    for result in results:
        entry = per_source[result.source]
        entry["tunes_seen"] += 1
        reason = result.reason
        if reason is None:
            fingerprint = result.tokens.tobytes()
            if fingerprint in seen:
                reason = "duplicate"  # the same melody in two collections/files would leak into validation
            seen.add(fingerprint)
        if reason is not None:
            entry["rejected"][reason] += 1
            continue
        kept.append(result)
        entry["kept"] += 1
        entry["steps"] += len(result.tokens)
        entry["quantization_collisions"] += result.collisions
        entry["tunes_with_collisions"] += int(result.collisions > 0)
    total = _empty_source_report(0)
    for entry in per_source.values():
        for field, value in entry.items():
            if field == "rejected":
                for reason, count in value.items():
                    total["rejected"][reason] += count
            else:
                total[field] += value
    return kept, {"sources": per_source, "total": total}


def build_corpus(
    collections: Sequence[str] = DEFAULT_COLLECTIONS,
    midi_dirs: Sequence[str | os.PathLike] = (),
    workers: int | None = None,
    progress: bool = True,
    seed: int = 0,
    command: str | None = None,
) -> MelodyCorpus:
    """Parse, filter, normalise and encode every tune of the given sources.

    :param collections: music21 corpus collections (folders of ABC files) to read.
    :param midi_dirs: folders of MIDI files (searched recursively), one monophonic melody per track.
    :param workers: parser processes; None = all CPU cores, 0 or 1 = parse in this process.
    :param progress: show a tqdm progress bar.
    :param seed: seed of the validation split.
    :param command: command line recorded in the provenance (default: ``sys.argv``).
    """
    import music21
    from tqdm.auto import tqdm

    started = time.perf_counter()
    tasks, files = _tasks(collections, midi_dirs)
    workers = (os.cpu_count() or 1) if workers is None else workers
    bar = tqdm(total=len(tasks), desc="parsing tunes", unit="tune", disable=not progress)
    results: list[TuneResult] = []
    if workers <= 1:
        for task in tasks:
            results.extend(_run_task(task))
            bar.update()
    else:
        # spawn, not fork: the caller may hold threads (torch) that a forked child would inherit broken
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
            for batch in pool.map(_run_task, tasks, chunksize=16):
                results.extend(batch)
                bar.update()
    bar.close()

    kept, report = _assemble(results, files)
    report["build_seconds"] = round(time.perf_counter() - started, 1)
    lengths = [len(r.tokens) for r in kept]
    split = validation_split(len(kept), seed)
    provenance = {
        "music21_version": music21.__version__,
        "collections": list(collections),
        "midi_dirs": [str(d) for d in midi_dirs],
        "encoding": ENCODING_DESCRIPTION,
        "transposition": TRANSPOSITION_RULE,
        "filters": (
            f"chord symbols and grace notes skipped, ties between equal contiguous pitches merged (ties between different pitches are slurs: kept as two notes); rejected: tunes with chords, several "
            f"parts/voices, fewer than {MIN_NOTES} notes or {MIN_STEPS} steps, more than {MAX_STEPS} steps, no "
            f"octave fitting [48, 84), exact "
            f"duplicates of an earlier kept tune; onsets colliding on one 16th-note step keep the first"
        ),
        "validation": f"tune-level, {VALIDATION_FRACTION:.0%} by numpy default_rng({seed}).permutation",
        "seed": seed,
        "licence": MUSIC21_LICENCE,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": command if command is not None else " ".join([Path(sys.executable).name, *sys.argv]),
    }
    return MelodyCorpus(
        tokens=np.concatenate([r.tokens for r in kept]) if kept else np.zeros(0, np.uint8),
        offsets=np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]),
        names=[r.name for r in kept],
        sources=[r.source for r in kept],
        split=split,
        report=report,
        provenance=provenance,
    )


def format_report(report: dict) -> str:
    """The build report as a plain-text table, one row per source plus a total."""
    columns = ["files", "tunes_seen", "kept", *REJECT_REASONS, "quantization_collisions", "steps"]
    headers = ["source", "files", "seen", "kept", *REJECT_REASONS, "collisions", "steps"]
    rows = []
    for source, entry in [*report["sources"].items(), ("TOTAL", report["total"])]:
        # .get: reports written before a reason existed (too_long) lack its count
        values = [entry[c] if c in entry else entry["rejected"].get(c, 0) for c in columns]
        rows.append([source, *[str(v) for v in values]])
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.rjust(w) if i else h.ljust(w) for i, (h, w) in enumerate(zip(headers, widths)))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(row, widths))) for row in rows]
    return "\n".join(lines)


def rejection_summary(report: dict) -> str:
    """Why tunes were not kept, e.g. ``"3 unreadable, 1 too_long"`` (``"none"`` when nothing was rejected).

    :param report: a build report (:func:`build_corpus`).
    """
    rejected = report["total"]["rejected"]
    parts = [f"{count} {reason}" for reason, count in rejected.items() if count]
    return ", ".join(parts) if parts else "none"


def empty_corpus_message(report: dict, out: Path) -> str:
    """Why a build accepted no tune, for the command line: files and tunes seen, rejections by reason.

    :param report: the build report.
    :param out: the destination that was not written.
    """
    total = report["total"]
    sources = ", ".join(f"{name}: {entry['files']} file(s)" for name, entry in report["sources"].items()) or "no source"
    if total["tunes_seen"] == 0:
        from_midi = any(name.startswith("midi:") for name in report["sources"])
        why = "no tune was found" + (" (no .mid/.midi files in the MIDI folder(s))" if from_midi else "")
    else:
        why = f"all {total['tunes_seen']} tunes were rejected ({rejection_summary(report)})"
    return f"error: no tune was accepted, so {out} was not written: {why}; sources read: {sources}"


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: build the corpus, print the report, save it (refusing an empty corpus).

    :param argv: arguments (default: ``sys.argv[1:]``).
    :returns: 0 on success, 1 when no tune was accepted (nothing is written).
    """
    parser = argparse.ArgumentParser(
        prog="python -m seqtutor_envs.melody.corpus",
        description=__doc__.split("\n")[0],
        epilog="Exit status: 0 when the corpus was written; 1 when no tune was accepted (nothing is written); 2 for "
        "bad arguments.",
    )
    parser.add_argument(
        "--out", type=Path, required=True,
        help="destination .npz, required (a .json summary is written beside it); no default, so the corpus "
        f"shipped in the package ({DEFAULT_CORPUS_PATH}) is only replaced when named explicitly",
    )
    parser.add_argument("--collections", nargs="*", default=list(DEFAULT_COLLECTIONS), help="music21 corpus collections")
    parser.add_argument("--midi-dir", action="append", default=[], type=Path,
                        help="folder of MIDI files, searched recursively (repeatable)")
    parser.add_argument("--workers", type=int, default=None, help="parser processes (default: all cores)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the validation split")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = parser.parse_args(argv)
    if args.out.is_dir():
        parser.error(
            f"--out {args.out} is a folder; expected the path of a .npz file, e.g. {args.out / 'melody_corpus.npz'}"
        )
    for folder in args.midi_dir:  # checked before minutes of ABC parsing, not after
        try:
            check_midi_dir(folder)
        except OSError as error:
            parser.error(f"--midi-dir: {error}")
    if args.workers is not None and args.workers < 0:
        parser.error(f"--workers must be >= 0, got {args.workers}")
    command = "python -m seqtutor_envs.melody.corpus " + " ".join(sys.argv[1:] if argv is None else argv)
    try:
        corpus = build_corpus(args.collections, args.midi_dir, args.workers, not args.no_progress, args.seed, command)
    except OSError as error:  # an unknown music21 collection, a folder removed meanwhile
        parser.error(str(error))
    print(format_report(corpus.report))
    if len(corpus) == 0:
        print(empty_corpus_message(corpus.report, args.out), file=sys.stderr)
        return 1
    path = corpus.save(args.out)
    print(
        f"\n{len(corpus)} tunes ({int(corpus.split.sum())} validation), {corpus.num_steps} steps, "
        f"built in {corpus.report['build_seconds']} s -> {path} ({path.stat().st_size / 1e6:.2f} MB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
