"""Tokens <-> notes <-> MIDI files, MIDI reading errors, and piano-roll pictures."""

from __future__ import annotations

import time

import numpy as np
import pretty_midi
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqtutor_envs.melody.encoding import (
    MAX_PITCH,
    MIN_PITCH,
    NO_EVENT,
    NOTE_OFF,
    VOCAB_SIZE,
    pitch_to_token,
)
from seqtutor_envs.melody.midi import (
    MidiReadError,
    PolyphonicTrackError,
    decode_tokens,
    encode_notes,
    midi_to_note_lists,
    piano_roll_image,
    read_midi_tokens,
    save_piano_roll_png,
    tokens_to_pretty_midi,
    write_midi,
    write_midis,
)

C4, D4, E4, G4 = 60, 62, 64, 67
H, R = NO_EVENT, NOTE_OFF


def tok(pitch: int) -> int:
    return pitch_to_token(pitch)


# ---------------------------------------------------------------------------------------------
# encode / decode


def test_encode_writes_onsets_holds_and_rests():
    # C4 for 2 steps, D4 right after (no rest), a 2-step rest, E4 for 3 steps, then the final NOTE_OFF.
    notes = [(0, 2, C4), (2, 4, D4), (6, 9, E4)]
    expected = [tok(C4), H, tok(D4), H, R, H, tok(E4), H, H, R]
    tokens = encode_notes(notes)
    assert tokens.dtype == np.uint8
    assert tokens.tolist() == expected
    assert decode_tokens(tokens) == notes


def test_repeated_pitch_needs_a_new_onset_not_a_rest():
    notes = [(0, 1, G4), (1, 2, G4), (2, 4, G4)]
    assert encode_notes(notes).tolist() == [tok(G4), tok(G4), tok(G4), H, R]
    assert decode_tokens(encode_notes(notes)) == notes


def test_total_steps_cuts_the_final_note_off_or_pads_silence():
    notes = [(0, 2, C4), (2, 4, D4)]
    assert encode_notes(notes, total_steps=4).tolist() == [tok(C4), H, tok(D4), H]
    assert encode_notes(notes, total_steps=7).tolist() == [tok(C4), H, tok(D4), H, R, H, H]
    # A note sounding to the end of the sequence decodes as lasting to the end.
    assert decode_tokens(encode_notes(notes, total_steps=4)) == notes
    with pytest.raises(ValueError, match=r"\(2, 4, 62\).*total_steps=2"):
        encode_notes(notes, total_steps=2)


def test_unsorted_notes_are_sorted_and_empty_input_is_empty():
    assert decode_tokens(encode_notes([(3, 4, E4), (0, 2, C4)])) == [(0, 2, C4), (3, 4, E4)]
    assert encode_notes([]).tolist() == []
    assert decode_tokens([]) == []


@pytest.mark.parametrize(
    "notes, message",
    [
        ([(0, 3, C4), (2, 4, D4)], r"note \(0, 3, 60\) overlaps the next note \(2, 4, 62\)"),
        ([(0, 2, C4), (2, 2, D4)], r"note \(2, 2, 62\) has a zero or negative duration"),
        ([(0, 2, C4), (4, 3, D4)], r"note \(4, 3, 62\) has a zero or negative duration"),
        ([(0, 2, MAX_PITCH)], rf"note \(0, 2, {MAX_PITCH}\) has a pitch outside"),
        ([(0, 2, MIN_PITCH - 1)], rf"note \(0, 2, {MIN_PITCH - 1}\) has a pitch outside"),
        ([(-1, 2, C4)], r"note \(-1, 2, 60\) starts before step 0"),
    ],
)
def test_encode_rejects_bad_notes_naming_them(notes, message):
    with pytest.raises(ValueError, match=message):
        encode_notes(notes)


@pytest.mark.parametrize("bad", [VOCAB_SIZE, 255, -1])
def test_decode_rejects_tokens_outside_the_vocabulary(bad):
    with pytest.raises(ValueError, match=rf"token {bad} at step 1"):
        decode_tokens([tok(C4), bad, H])


@st.composite
def monophonic_notes(draw) -> list[tuple[int, int, int]]:
    events = draw(
        st.lists(
            st.tuples(st.integers(0, 5), st.integers(1, 8), st.integers(MIN_PITCH, MAX_PITCH - 1)),
            max_size=40,
        )
    )
    notes, time_step = [], draw(st.integers(0, 3))
    for gap, duration, pitch in events:
        start = time_step + gap
        notes.append((start, start + duration, pitch))
        time_step = start + duration
    return notes


@settings(max_examples=200, deadline=None)
@given(monophonic_notes())
def test_decode_inverts_encode(notes):
    tokens = encode_notes(notes)
    assert decode_tokens(tokens) == notes
    assert len(tokens) == (notes[-1][1] + 1 if notes else 0)
    # The canonical token sequence is reproduced exactly, also when cut to its own length.
    assert encode_notes(decode_tokens(tokens), total_steps=len(tokens)).tolist() == tokens.tolist()


# ---------------------------------------------------------------------------------------------
# MIDI files


def melody_tokens() -> np.ndarray:
    return encode_notes([(0, 2, C4), (2, 3, D4), (3, 4, D4), (6, 10, E4), (10, 12, 83), (13, 17, 48)])


@pytest.mark.parametrize("qpm", [80.0, 133.0])
def test_tokens_survive_a_midi_file_round_trip(tmp_path, qpm):
    tokens = melody_tokens()
    path = write_midi(tokens, tmp_path / "sub" / "melody.mid", qpm=qpm)
    assert path.is_file() and not list(path.parent.glob(".*"))  # no temporary files left behind
    read = read_midi_tokens(path)
    assert len(read) == 1
    assert read[0].tolist() == tokens.tolist()


def test_pretty_midi_timing_is_sixteenths_at_qpm():
    pm = tokens_to_pretty_midi(melody_tokens(), qpm=80.0, program=73, velocity=90)
    (instrument,) = pm.instruments
    assert instrument.program == 73
    first = instrument.notes[0]
    assert (first.pitch, first.velocity) == (C4, 90)
    assert first.end == pytest.approx(2 * 60.0 / 80.0 / 4)


def test_write_midis_writes_one_file_per_composition(tmp_path):
    compositions = np.stack([melody_tokens()] * 3)
    paths = write_midis(compositions, tmp_path / "out", prefix="sample")
    assert [p.name for p in paths] == ["sample_0000.mid", "sample_0001.mid", "sample_0002.mid"]
    assert all(read_midi_tokens(p)[0].tolist() == melody_tokens().tolist() for p in paths)


def write_pretty_midi(path, tracks, tempo=120.0, drum_tracks=()):
    """tracks: lists of (start_seconds, end_seconds, pitch)."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=tempo)
    for index, notes in enumerate(tracks):
        instrument = pretty_midi.Instrument(program=0, is_drum=index in drum_tracks)
        instrument.notes = [pretty_midi.Note(velocity=100, pitch=p, start=s, end=e) for s, e, p in notes]
        pm.instruments.append(instrument)
    pm.write(str(path))
    return path


def test_reading_quantizes_to_sixteenths_and_drops_leading_silence(tmp_path):
    # At 120 qpm a 16th note lasts 0.125 s; small timing jitter is rounded away.
    path = write_pretty_midi(
        tmp_path / "jitter.mid",
        [[(1.0, 1.26, C4), (1.24, 1.5, D4), (1.75, 2.0, E4)], [(0.0, 0.5, G4)]],
        drum_tracks=(),
    )
    assert midi_to_note_lists(path) == [[(0, 2, C4), (2, 4, D4), (6, 8, E4)], [(0, 4, G4)]]


def test_drum_tracks_are_ignored(tmp_path):
    path = write_pretty_midi(tmp_path / "drums.mid", [[(0, 0.5, C4)], [(0, 0.5, 36), (0, 0.5, 38)]], drum_tracks=(1,))
    assert midi_to_note_lists(path) == [[(0, 4, C4)]]


def test_polyphonic_track_raises_naming_file_track_and_time(tmp_path):
    path = write_pretty_midi(tmp_path / "chords.mid", [[(0.0, 0.5, C4)], [(0.0, 0.5, C4), (0.25, 0.75, E4)]])
    with pytest.raises(PolyphonicTrackError) as caught:
        midi_to_note_lists(path)
    error = caught.value
    assert isinstance(error, ValueError)
    assert (error.path, error.track_index, error.time) == (str(path), 1, pytest.approx(0.25))
    assert "chords.mid" in str(error) and "track 1" in str(error) and "monophonic" in str(error)


def test_a_chord_is_polyphonic_but_touching_notes_are_not(tmp_path):
    chord = write_pretty_midi(tmp_path / "chord.mid", [[(0.0, 0.5, C4), (0.0, 0.5, G4)]])
    with pytest.raises(PolyphonicTrackError):
        read_midi_tokens(chord)
    legato = write_pretty_midi(tmp_path / "legato.mid", [[(0.0, 0.5, C4), (0.5, 1.0, G4)]])
    assert read_midi_tokens(legato)[0].tolist() == [tok(C4), H, H, H, tok(G4), H, H, H, R]


def test_non_midi_file_raises_midi_read_error(tmp_path):
    path = tmp_path / "notes.mid"
    path.write_text("this is not a MIDI file\n")
    with pytest.raises(MidiReadError) as caught:
        read_midi_tokens(path)
    assert isinstance(caught.value, ValueError)
    assert "notes.mid" in str(caught.value) and "expected a Standard MIDI File" in str(caught.value)
    with pytest.raises(MidiReadError, match="no such file"):
        read_midi_tokens(tmp_path / "missing.mid")


# ---------------------------------------------------------------------------------------------
# piano rolls


def test_piano_roll_shape_depends_only_on_length():
    rng = np.random.default_rng(0)
    images = [piano_roll_image(rng.integers(0, VOCAB_SIZE, 32).astype(np.uint8)) for _ in range(5)]
    assert {image.shape for image in images} == {(36 * 3, 32 * 4, 3)}
    assert all(image.dtype == np.uint8 for image in images)
    assert piano_roll_image(np.zeros(32, np.uint8), cell_width=2, cell_height=2).shape == (72, 64, 3)
    # A shorter composition is padded to the requested length.
    assert piano_roll_image(melody_tokens(), length=32).shape == images[0].shape


def test_piano_roll_onsets_look_different_from_held_steps():
    tokens = encode_notes([(0, 4, C4), (4, 5, E4)], total_steps=8)
    image = piano_roll_image(tokens, cell_width=4, cell_height=3)
    row_of = lambda pitch: (MAX_PITCH - 1 - pitch) * 3 + 1  # noqa: E731 - high pitches on top
    onset, held, later_held = image[row_of(C4), 0 * 4 + 2], image[row_of(C4), 2 * 4 + 2], image[row_of(C4), 3 * 4 + 2]
    silent = image[row_of(C4), 6 * 4 + 2]
    assert not np.array_equal(onset, held)
    assert np.array_equal(held, later_held)
    assert not np.array_equal(held, silent)
    assert np.array_equal(image[row_of(E4), 4 * 4 + 2], onset)  # E4's single step is an onset
    assert np.array_equal(image[row_of(D4), 2 * 4 + 2], silent)  # nothing on D4


def test_piano_roll_grid_of_compositions():
    compositions = np.stack([melody_tokens()[:16]] * 5)
    image = piano_roll_image(compositions, columns=3, gap=4)
    assert image.shape == (2 * 108 + 4, 3 * 64 + 2 * 4, 3)
    assert np.array_equal(image[:108, :64], piano_roll_image(compositions[0]))


def test_piano_roll_is_fast_for_one_composition():
    tokens = np.random.default_rng(1).integers(0, VOCAB_SIZE, 32).astype(np.uint8)
    piano_roll_image(tokens)
    started = time.perf_counter()
    for _ in range(50):
        piano_roll_image(tokens)
    assert (time.perf_counter() - started) / 50 < 0.005


def test_save_piano_roll_png(tmp_path):
    path = save_piano_roll_png([melody_tokens(), melody_tokens()[:8]], tmp_path / "roll.png", titles=["a", "b"])
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="2 titles for 1 compositions"):
        save_piano_roll_png([melody_tokens()], tmp_path / "x.png", titles=["a", "b"])
