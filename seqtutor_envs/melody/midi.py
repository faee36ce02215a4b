"""Melody tokens <-> notes <-> MIDI files, and piano-roll pictures of compositions.

Notes are ``(start_step, end_step, midi_pitch)`` triples on the 16th-note grid, end exclusive.
Tokens follow note_seq's ``Melody`` convention (see ``encoding.py``): a pitch token where a note
starts, ``NO_EVENT`` while it (or a silence) lasts, ``NOTE_OFF`` where a rest begins.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import pretty_midi

from seqtutor_envs.io import atomic_write
from seqtutor_envs.melody.encoding import (
    MAX_PITCH,
    MIN_PITCH,
    NO_EVENT,
    NOTE_OFF,
    NUM_PITCHES,
    NUM_SPECIAL_TOKENS,
    PITCH_OFFSET,
    STEPS_PER_BAR,
    STEPS_PER_QUARTER,
    VOCAB_SIZE,
)

Note = tuple[int, int, int]

DEFAULT_QPM = 80.0  # RL Tuner rendered its compositions at 80 quarter notes per minute


class MidiReadError(ValueError):
    """A file could not be read as a Standard MIDI File."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot read MIDI file {self.path}: {reason} (expected a Standard MIDI File, .mid/.midi)")


class PolyphonicTrackError(ValueError):
    """A MIDI track sounds two notes at once, so it is not a monophonic melody."""

    def __init__(self, path: str | os.PathLike, track_index: int, time: float) -> None:
        self.path = str(path)
        self.track_index = track_index
        self.time = time
        super().__init__(
            f"MIDI file {self.path}: track {track_index} is polyphonic (two notes sound at once at "
            f"{time:.3f} s after quantization to 16th notes); expected one monophonic melody per track"
        )


# ---------------------------------------------------------------------------------------------
# notes <-> tokens


def encode_notes(notes: Iterable[Sequence[int]], total_steps: int | None = None) -> np.ndarray:
    """Token sequence (uint8) of a monophonic list of notes.

    The last note gets a ``NOTE_OFF`` at its end, so the natural length is ``last end + 1``.
    Steps before the first note are ``NO_EVENT`` (callers drop leading silence themselves).

    :param notes: ``(start_step, end_step, midi_pitch)`` triples, end exclusive; any order.
    :param total_steps: cut or pad (with ``NO_EVENT``) to this length; every note must start before it.
    :raises ValueError: naming the note, for overlap, a non-positive duration, a negative start, a pitch
        outside [48, 84), or a note starting at or after ``total_steps``.
    """
    array = np.asarray([tuple(n) for n in notes], dtype=np.int64).reshape(-1, 3)
    array = array[np.argsort(array[:, 0], kind="stable")]
    starts, ends, pitches = array[:, 0], array[:, 1], array[:, 2]

    def offending(mask: np.ndarray) -> tuple[int, ...]:
        return tuple(int(v) for v in array[int(np.argmax(mask))])

    if np.any(bad := starts < 0):
        raise ValueError(f"note {offending(bad)} starts before step 0")
    if np.any(bad := ends <= starts):
        raise ValueError(f"note {offending(bad)} has a zero or negative duration (expected end_step > start_step)")
    if np.any(bad := (pitches < MIN_PITCH) | (pitches >= MAX_PITCH)):
        raise ValueError(f"note {offending(bad)} has a pitch outside the encodable range [{MIN_PITCH}, {MAX_PITCH})")
    overlap = np.append(starts[1:] < ends[:-1], False)
    if np.any(overlap):
        i = int(np.argmax(overlap))
        raise ValueError(
            f"note {tuple(int(v) for v in array[i])} overlaps the next note "
            f"{tuple(int(v) for v in array[i + 1])}; a melody must be monophonic"
        )

    length = int(ends[-1]) + 1 if len(array) else 0
    tokens = np.full(max(length, total_steps or 0), NO_EVENT, dtype=np.uint8)
    tokens[starts] = pitches - PITCH_OFFSET
    # A rest starts wherever a note ends before the next one starts (and after the last note).
    rest_follows = np.append(ends[:-1] < starts[1:], True) if len(array) else np.zeros(0, dtype=bool)
    tokens[ends[rest_follows]] = NOTE_OFF
    if total_steps is not None:
        if len(array) and starts[-1] >= total_steps:
            raise ValueError(f"note {tuple(int(v) for v in array[-1])} starts at or after total_steps={total_steps}")
        tokens = tokens[:total_steps]
    return tokens


def _check_tokens(tokens: np.ndarray) -> None:
    if tokens.ndim != 1:
        raise ValueError(f"expected a 1-D token sequence, got shape {tokens.shape}")
    bad = (tokens < 0) | (tokens >= VOCAB_SIZE)
    if np.any(bad):
        i = int(np.argmax(bad))
        raise ValueError(f"token {int(tokens[i])} at step {i} is outside the vocabulary 0..{VOCAB_SIZE - 1}")


def decode_tokens(tokens: Sequence[int] | np.ndarray) -> list[Note]:
    """Notes of a token sequence; a note lasts until the next pitch token, ``NOTE_OFF`` or the end.

    :param tokens: 1-D sequence of tokens in 0..37.
    :raises ValueError: naming the first token outside the vocabulary.
    """
    tokens = np.asarray(tokens, dtype=np.int64)
    _check_tokens(tokens)
    events = np.flatnonzero(tokens != NO_EVENT)
    ends_of_events = np.append(events[1:], len(tokens))
    is_note = tokens[events] >= NUM_SPECIAL_TOKENS
    starts, ends = events[is_note], ends_of_events[is_note]
    pitches = tokens[starts] + PITCH_OFFSET
    return [(int(s), int(e), int(p)) for s, e, p in zip(starts, ends, pitches, strict=True)]


# ---------------------------------------------------------------------------------------------
# tokens -> MIDI files


def tokens_to_pretty_midi(
    tokens: Sequence[int] | np.ndarray, qpm: float = DEFAULT_QPM, program: int = 0, velocity: int = 100
) -> pretty_midi.PrettyMIDI:
    """One-instrument ``PrettyMIDI`` of a token sequence, 16th-note steps at ``qpm``.

    :param tokens: 1-D token sequence.
    :param qpm: tempo in quarter notes per minute.
    :param program: General MIDI program (0 = acoustic grand piano).
    :param velocity: MIDI velocity of every note.
    """
    seconds_per_step = 60.0 / qpm / STEPS_PER_QUARTER
    pm = pretty_midi.PrettyMIDI(initial_tempo=qpm)
    instrument = pretty_midi.Instrument(program=program, name="melody")
    for start, end, pitch in decode_tokens(tokens):
        instrument.notes.append(
            pretty_midi.Note(velocity=velocity, pitch=pitch, start=start * seconds_per_step, end=end * seconds_per_step)
        )
    pm.instruments.append(instrument)
    return pm


def write_midi(tokens: Sequence[int] | np.ndarray, path: str | os.PathLike, **kwargs) -> Path:
    """Write a token sequence as a MIDI file, atomically; returns the path.

    :param tokens: 1-D token sequence.
    :param path: destination ``.mid`` file (parent folders are created).
    :param kwargs: passed to :func:`tokens_to_pretty_midi` (``qpm``, ``program``, ``velocity``).
    """
    path = Path(path)
    pm = tokens_to_pretty_midi(tokens, **kwargs)
    atomic_write(path, pm.write, suffix=".mid")
    return path


def write_each(
    write_one: Callable[..., Path],
    compositions: Iterable[Sequence[int] | np.ndarray],
    folder: str | os.PathLike,
    prefix: str,
    suffix: str,
    **kwargs,
) -> list[Path]:
    """``write_one(tokens, folder/{prefix}_{i:04d}{suffix}, **kwargs)`` for each composition; returns the paths."""
    folder = Path(folder)
    return [write_one(tokens, folder / f"{prefix}_{i:04d}{suffix}", **kwargs) for i, tokens in enumerate(compositions)]


def write_midis(
    compositions: Iterable[Sequence[int] | np.ndarray], folder: str | os.PathLike, prefix: str = "composition", **kwargs
) -> list[Path]:
    """Write each composition (a token sequence, or a row of a 2-D array) to ``folder/{prefix}_{i:04d}.mid``.

    :param kwargs: passed to :func:`tokens_to_pretty_midi`.
    """
    return write_each(write_midi, compositions, folder, prefix, ".mid", **kwargs)


# ---------------------------------------------------------------------------------------------
# MIDI files -> notes / tokens


def _load_pretty_midi(path: Path) -> pretty_midi.PrettyMIDI:
    if not path.is_file():
        raise MidiReadError(path, "no such file")
    try:
        return pretty_midi.PrettyMIDI(str(path))
    except Exception as error:  # mido/pretty_midi raise many unrelated types for corrupt data
        raise MidiReadError(path, f"{type(error).__name__}: {error}") from error


def midi_to_note_lists(path: str | os.PathLike) -> list[list[Note]]:
    """Monophonic note list of every non-drum track with notes, quantized to 16th-note steps.

    Onsets and offsets are rounded to the nearest step of the file's own tempo map; notes shorter
    than half a step (zero length after rounding) are dropped; leading silence is removed per track.
    Pitches are kept as they are (they may lie outside the token range).

    :param path: a Standard MIDI File.
    :raises MidiReadError: the file is missing or is not a readable MIDI file.
    :raises PolyphonicTrackError: a track sounds two notes at once after quantization.
    """
    path = Path(path)
    pm = _load_pretty_midi(path)
    melodies: list[list[Note]] = []
    for track_index, instrument in enumerate(pm.instruments):
        if instrument.is_drum or not instrument.notes:
            continue
        times = np.array([(n.start, n.end) for n in instrument.notes], dtype=np.float64)
        ticks = np.vectorize(pm.time_to_tick, otypes=[np.int64])(times)
        steps = np.floor(ticks / pm.resolution * STEPS_PER_QUARTER + 0.5).astype(np.int64)
        pitches = np.array([n.pitch for n in instrument.notes], dtype=np.int64)
        keep = steps[:, 1] > steps[:, 0]
        steps, pitches, onset_times = steps[keep], pitches[keep], times[keep, 0]
        if len(steps) == 0:
            continue
        order = np.lexsort((steps[:, 1], steps[:, 0]))
        steps, pitches, onset_times = steps[order], pitches[order], onset_times[order]
        overlap = steps[1:, 0] < steps[:-1, 1]
        if np.any(overlap):
            raise PolyphonicTrackError(path, track_index, float(onset_times[1:][np.argmax(overlap)]))
        steps -= steps[0, 0]
        melodies.append([(int(s), int(e), int(p)) for (s, e), p in zip(steps, pitches, strict=True)])
    return melodies


def read_midi_tokens(path: str | os.PathLike) -> list[np.ndarray]:
    """Token sequence of every monophonic track of a MIDI file (see :func:`midi_to_note_lists`).

    :param path: a Standard MIDI File.
    :raises MidiReadError: as :func:`midi_to_note_lists`.
    :raises PolyphonicTrackError: as :func:`midi_to_note_lists`.
    :raises ValueError: a pitch lies outside [48, 84) (transpose first, as the corpus builder does).
    """
    return [encode_notes(notes) for notes in midi_to_note_lists(path)]


# ---------------------------------------------------------------------------------------------
# piano rolls

_EMPTY, _HELD, _ONSET = 0, 1, 2
_BACKGROUND = np.array([250, 250, 250], dtype=np.uint8)
_C_ROW = np.array([228, 228, 236], dtype=np.uint8)  # the C of each octave, to read pitches off
_BAR_LINE = np.array([205, 205, 205], dtype=np.uint8)
_HELD_COLOUR = np.array([120, 170, 230], dtype=np.uint8)
_ONSET_COLOUR = np.array([20, 60, 150], dtype=np.uint8)
_PANEL_GAP_COLOUR = np.array([255, 255, 255], dtype=np.uint8)


def _as_compositions(compositions: Sequence[Sequence[int]] | np.ndarray) -> list[np.ndarray]:
    if isinstance(compositions, np.ndarray) and compositions.ndim == 1:
        return [compositions.astype(np.int64)]
    if isinstance(compositions, np.ndarray) and compositions.ndim == 2:
        return [row.astype(np.int64) for row in compositions]
    items = list(compositions)
    if items and np.ndim(items[0]) == 0:  # a single plain list of tokens
        return [np.asarray(items, dtype=np.int64)]
    return [np.asarray(c, dtype=np.int64) for c in items]


def _note_states(tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per step: the sounding pitch row (0 = lowest, -1 = silent) and whether a note starts there."""
    _check_tokens(tokens)
    event_index = np.where(tokens != NO_EVENT, np.arange(len(tokens)), -1)
    last_event = np.maximum.accumulate(event_index) if len(tokens) else event_index
    last_token = np.where(last_event >= 0, tokens[np.maximum(last_event, 0)], NOTE_OFF)
    row = np.where(last_token >= NUM_SPECIAL_TOKENS, last_token - NUM_SPECIAL_TOKENS, -1)
    return row, tokens >= NUM_SPECIAL_TOKENS


@functools.lru_cache(maxsize=32)
def _background(length: int, cell_width: int, cell_height: int) -> np.ndarray:
    """Empty panel with a thin line under each C and at the start of each bar (cached, read-only)."""
    picture = np.broadcast_to(_BACKGROUND, (NUM_PITCHES * cell_height, length * cell_width, 3)).copy()
    c_rows = np.arange(0, NUM_PITCHES, 12)
    picture[(NUM_PITCHES - c_rows) * cell_height - 1] = _C_ROW  # bottom pixel row of each C (high on top)
    picture[:, np.arange(0, length, STEPS_PER_BAR) * cell_width] = _BAR_LINE
    picture.flags.writeable = False
    return picture


def _panel(tokens: np.ndarray, length: int, cell_width: int, cell_height: int) -> np.ndarray:
    """(NUM_PITCHES*cell_height, length*cell_width, 3) picture of one composition, high pitches on top."""
    codes = np.zeros((NUM_PITCHES, length), dtype=np.uint8)
    row, onset = _note_states(np.asarray(tokens[:length]))
    steps = np.flatnonzero(row >= 0)
    codes[NUM_PITCHES - 1 - row[steps], steps] = np.where(onset[steps], _ONSET, _HELD)
    codes = np.repeat(np.repeat(codes, cell_height, axis=0), cell_width, axis=1)
    picture = _background(length, cell_width, cell_height).copy()
    picture[codes == _HELD] = _HELD_COLOUR
    picture[codes == _ONSET] = _ONSET_COLOUR
    return picture


def piano_roll_image(
    compositions: Sequence[Sequence[int]] | np.ndarray,
    length: int | None = None,
    columns: int | None = None,
    cell_width: int = 4,
    cell_height: int = 3,
    gap: int = 4,
) -> np.ndarray:
    """RGB piano roll (H, W, 3) uint8 of one composition or a grid of them, built with numpy only.

    Pitch 48..83 on y (high on top), one column block per 16th-note step on x. Note onsets are dark,
    held steps light; faint rows mark each C and faint columns each bar. The shape depends only
    on ``length``, the number of compositions and the layout, never on the notes.

    :param compositions: one 1-D token sequence, or several (list or 2-D array).
    :param length: steps shown per composition (longer ones are cut, shorter padded); default: longest.
    :param columns: panels per row of the grid; default: about square.
    :param cell_width: pixels per step.
    :param cell_height: pixels per pitch.
    :param gap: pixels between panels of a grid.
    """
    items = _as_compositions(compositions)
    if not items:
        raise ValueError("piano_roll_image needs at least one composition")
    length = max(len(c) for c in items) if length is None else int(length)
    if len(items) == 1:
        return _panel(items[0], length, cell_width, cell_height)
    columns = columns or int(np.ceil(np.sqrt(len(items))))
    rows = int(np.ceil(len(items) / columns))
    panel_h, panel_w = NUM_PITCHES * cell_height, length * cell_width
    image = np.broadcast_to(
        _PANEL_GAP_COLOUR, (rows * panel_h + (rows - 1) * gap, columns * panel_w + (columns - 1) * gap, 3)
    ).copy()
    for i, tokens in enumerate(items):
        top, left = (i // columns) * (panel_h + gap), (i % columns) * (panel_w + gap)
        image[top : top + panel_h, left : left + panel_w] = _panel(tokens, length, cell_width, cell_height)
    return image


def save_piano_roll_png(
    compositions: Sequence[Sequence[int]] | np.ndarray,
    path: str | os.PathLike,
    titles: Sequence[str] | None = None,
    columns: int | None = None,
) -> Path:
    """Save a labelled grid of piano rolls (pitch names on y, bars on x) as a PNG, atomically.

    :param compositions: one token sequence or several.
    :param path: destination ``.png`` file.
    :param titles: one title per composition (optional).
    :param columns: panels per row; default: about square.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    items = _as_compositions(compositions)
    if titles is not None and len(titles) != len(items):
        raise ValueError(f"got {len(titles)} titles for {len(items)} compositions")
    length = max(len(c) for c in items)
    columns = columns or int(np.ceil(np.sqrt(len(items))))
    rows = int(np.ceil(len(items) / columns))
    panel_width_inches = min(12.0, max(3.0, length / 10))
    figure = Figure(figsize=(columns * panel_width_inches, rows * 2.6), constrained_layout=True)
    FigureCanvasAgg(figure)  # Agg canvas: renders without a display
    axes = figure.subplots(rows, columns, squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= len(items):
            ax.set_axis_off()
            continue
        picture = _panel(items[i], length, cell_width=4, cell_height=3)
        ax.imshow(picture, aspect="auto", interpolation="nearest", extent=(0, length, MIN_PITCH - 0.5, MAX_PITCH - 0.5))
        c_pitches = list(range(MIN_PITCH, MAX_PITCH, 12))
        ax.set_yticks(c_pitches, [f"C{p // 12 - 1}" for p in c_pitches])
        ax.set_xticks(range(0, length + 1, STEPS_PER_BAR))
        ax.set_xlabel("16th-note step")
        if titles is not None:
            ax.set_title(titles[i], fontsize=9)
    path = Path(path)
    atomic_write(path, lambda name: figure.savefig(name, format="png", dpi=100), suffix=".png")
    return path
