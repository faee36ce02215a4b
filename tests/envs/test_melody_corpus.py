"""Corpus building (ABC via music21, MIDI folders), normalisation, storage, and the shipped corpus."""

from __future__ import annotations

import numpy as np
import pretty_midi
import pytest

from seqtutor_envs.melody import corpus as corpus_module
from seqtutor_envs.melody.corpus import build_corpus, format_report
from seqtutor_envs.melody.dataset import (
    DEFAULT_CORPUS_PATH,
    FORMAT,
    MelodyCorpus,
    load_default_corpus,
    validation_split,
)
from seqtutor_envs.melody.encoding import (
    IN_C_MAJOR,
    IS_PITCH,
    MAX_PITCH,
    MIN_PITCH,
    NOTE_OFF,
    NUM_SPECIAL_TOKENS,
    TOKEN_PITCH,
    VOCAB_SIZE,
)
from seqtutor_envs.melody.midi import decode_tokens, encode_notes
from seqtutor_envs.melody.tunes import (
    MIN_STEPS,
    TuneRejected,
    estimate_transposition,
    normalise_melody,
    octave_shift_into_range,
    quantize_notes,
    split_abc_file,
    transposition_to_c,
    tune_from_abc,
)

ABC_HEADER = "X:1\nT:{title}\nM:4/4\nL:1/8\nK:{key}\n"


def abc(body: str, key: str = "C", title: str = "test tune") -> str:
    return ABC_HEADER.format(title=title, key=key) + body + "\n"


def pitches_of(tokens: np.ndarray) -> list[int]:
    return [pitch for _, _, pitch in decode_tokens(tokens)]


# ---------------------------------------------------------------------------------------------
# normalisation rules


@pytest.mark.parametrize(
    "sharps, shift",
    [(0, 0), (1, 5), (2, -2), (3, 3), (4, -4), (5, 1), (6, -6), (-1, -5), (-2, 2), (-3, -3), (-6, -6)],
)
def test_transposition_to_c_removes_the_key_signature(sharps, shift):
    assert transposition_to_c(sharps) == shift
    # The major tonic of that key signature lands on C.
    assert (7 * sharps + shift) % 12 == 0


def test_estimated_transposition_maximises_white_keys():
    d_major_scale = np.array([62, 64, 66, 67, 69, 71, 73, 74])
    assert estimate_transposition(d_major_scale, np.ones(8)) == transposition_to_c(2)
    assert estimate_transposition(np.array([60, 62, 64, 65, 67]), np.ones(5)) == 0


def test_octave_shift_centres_the_tune_or_rejects_it():
    assert octave_shift_into_range(np.array([36, 40, 43])) == 24  # mean 39.7 -> 63.7, nearest 65.5
    assert octave_shift_into_range(np.array([60, 64, 67])) == 0
    assert octave_shift_into_range(np.array([96, 100])) == -36  # mean 98 -> 62, nearer 65.5 than 74
    with pytest.raises(TuneRejected, match="out_of_range"):
        octave_shift_into_range(np.array([49, 84]))  # span 35 fits the range width but no octave of it


def test_quantize_keeps_the_first_of_colliding_onsets():
    # A triplet squeezed into one 8th (onsets 0, 2/3, 4/3) plus a normal note: 2/3 and 4/3 round to 1.
    notes, collisions = quantize_notes(
        starts=np.array([10.0, 10 + 2 / 3, 10 + 4 / 3, 12.0]),
        ends=np.array([10 + 2 / 3, 10 + 4 / 3, 12.0, 14.0]),
        pitches=np.array([60, 62, 64, 65]),
    )
    assert collisions == 1
    assert notes.tolist() == [[0, 1, 60], [1, 2, 62], [2, 4, 65]]


def test_short_tunes_are_rejected():
    with pytest.raises(TuneRejected, match="too_short"):
        normalise_melody([0, 4, 8], [4, 8, 12], [60, 62, 64], key_sharps=0)  # 3 notes
    with pytest.raises(TuneRejected, match="too_short"):
        normalise_melody([0, 1, 2, 3], [1, 2, 3, 4], [60, 62, 64, 65], key_sharps=0)  # 5 steps


# ---------------------------------------------------------------------------------------------
# ABC tunes through music21


def test_g_major_tune_comes_out_in_c_major():
    result = tune_from_abc(abc("GABc defg|gfed cBAG|", key="G"))
    assert result.reason is None
    pitches = pitches_of(result.tokens)
    assert pitches[0] % 12 == 0 and pitches[-1] % 12 == 0  # G -> C
    assert all(IN_C_MAJOR[result.tokens])
    assert np.diff(pitches).tolist() == [2, 2, 1, 2, 2, 2, 1, 0, -1, -2, -2, -2, -1, -2, -2]
    assert result.tokens[0] >= NUM_SPECIAL_TOKENS and result.tokens[-1] == NOTE_OFF
    assert min(pitches) >= MIN_PITCH and max(pitches) < MAX_PITCH


def test_minor_and_modal_keys_land_on_white_keys():
    e_minor = tune_from_abc(abc("EFGA Bcde|edcB AGFE|", key="Em"))
    assert all(IN_C_MAJOR[e_minor.tokens]) and pitches_of(e_minor.tokens)[0] % 12 == 9  # E minor -> A minor
    d_dorian = tune_from_abc(abc("DEFG ABcd|dcBA GFED|", key="Ddor"))
    assert all(IN_C_MAJOR[d_dorian.tokens]) and pitches_of(d_dorian.tokens)[0] % 12 == 2  # stays D dorian


def test_tune_without_key_signature_is_estimated():
    result = tune_from_abc(abc("D^FGA B^cde|d^cBA G^FED|", key="none"))  # D major, accidentals written out
    assert result.reason is None and all(IN_C_MAJOR[result.tokens])


def test_tune_spanning_more_than_three_octaves_is_rejected():
    assert tune_from_abc(abc("C,,DEF GABc|c'd'e'f' g'a'b'c''|")).reason == "out_of_range"


def test_chords_voices_and_short_tunes_are_rejected_with_their_reason():
    assert tune_from_abc(abc("CDEF [CEG]ABc|cdef gabc'|")).reason == "chords"
    two_voices = abc("V:1\nCDEF GABc|cdef gabc'|\nV:2\nC,D,E,F, G,A,B,C|CDEF GABc|")
    assert tune_from_abc(two_voices).reason == "polyphonic"
    assert tune_from_abc(abc("CD|")).reason == "too_short"


def test_chord_symbols_and_grace_notes_are_skipped_and_ties_merged():
    plain = tune_from_abc(abc("C2 D2 E2 F2|G4- G4|"))
    decorated = tune_from_abc(abc('"C"C2 {B}D2 "G7"E2 {ef}F2|G4- G4|'))
    assert plain.reason is None and decorated.reason is None
    assert decorated.tokens.tolist() == plain.tokens.tolist()
    assert decode_tokens(plain.tokens)[-1][1] - decode_tokens(plain.tokens)[-1][0] == 16  # tied G: one note


def test_a_tie_between_different_pitches_is_a_slur_not_one_note():
    # O'Neill's transcriptions write "G3-A" for a slur; music21's stripTies would merge it into one G.
    result = tune_from_abc(abc("G3-A Bcde|f4- f4|", key="C"))
    notes = decode_tokens(result.tokens)
    assert [end - start for start, end, _ in notes] == [6, 2, 2, 2, 2, 2, 16]
    assert np.diff([pitch for _, _, pitch in notes]).tolist() == [2, 2, 1, 2, 2, 1]


def test_split_abc_file_keeps_every_tune_and_the_file_header():
    text = "%comment\nO:Ireland\n\nX:1\nT:a\nK:C\nCDEF|\n\nX:1\nT:b\nK:C\nGABc|\n"
    tunes = split_abc_file(text)
    assert len(tunes) == 2  # repeated reference numbers are not merged
    assert all(t.startswith("O:Ireland\nX:1") for t in tunes)
    assert "T:b" in tunes[1] and "T:a" not in tunes[1]


# ---------------------------------------------------------------------------------------------
# MIDI folders, storage


def write_midi_file(path, notes, tracks=1):
    pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    for _ in range(tracks):
        instrument = pretty_midi.Instrument(program=0)
        instrument.notes = [pretty_midi.Note(velocity=100, pitch=p, start=s, end=e) for s, e, p in notes]
        pm.instruments.append(instrument)
    pm.write(str(path))


@pytest.fixture
def midi_folder(tmp_path):
    folder = tmp_path / "midis"
    folder.mkdir()
    d_major = [62, 64, 66, 67, 69, 71, 73, 74]
    write_midi_file(folder / "good.mid", [(0.5 + 0.25 * i, 0.75 + 0.25 * i, p) for i, p in enumerate(d_major)])
    write_midi_file(folder / "chords.mid", [(0.0, 1.0, 60), (0.0, 1.0, 64), (1.0, 2.0, 62), (2.0, 3.0, 60)])
    (folder / "broken.mid").write_text("not a MIDI file")
    (folder / "readme.txt").write_text("ignored: not a .mid file")
    return folder


def test_build_from_midi_folder_keeps_good_files_and_counts_bad_ones(midi_folder):
    corpus = build_corpus(collections=(), midi_dirs=[midi_folder], workers=1, progress=False)
    assert len(corpus) == 1
    entry = corpus.report["sources"]["midi:midis"]
    assert entry["files"] == 3 and entry["tunes_seen"] == 3 and entry["kept"] == 1
    assert entry["rejected"]["polyphonic"] == 1 and entry["rejected"]["unreadable"] == 1
    assert corpus.report["total"]["kept"] == 1
    tokens = corpus.tune(0)
    assert corpus.names == ["good.mid#track0"]
    assert all(IN_C_MAJOR[tokens])  # D major estimated and moved to C major
    assert len(decode_tokens(tokens)) == 8 and tokens[0] >= NUM_SPECIAL_TOKENS  # leading silence dropped
    assert "midi:midis" in format_report(corpus.report)


def make_corpus(num_tunes: int = 20) -> MelodyCorpus:
    rng = np.random.default_rng(3)
    tunes = [encode_notes([(2 * i, 2 * i + 2, int(rng.integers(48, 84))) for i in range(8)]) for _ in range(num_tunes)]
    return MelodyCorpus(
        tokens=np.concatenate(tunes),
        offsets=np.concatenate([[0], np.cumsum([len(t) for t in tunes])]),
        names=[f"tune {i}" for i in range(num_tunes)],
        sources=["a" if i % 2 else "b" for i in range(num_tunes)],
        split=validation_split(num_tunes, seed=0),
        report={"total": {"kept": num_tunes}},
        provenance={"date": "today"},
    )


def test_save_and_load_round_trip(tmp_path):
    corpus = make_corpus()
    path = corpus.save(tmp_path / "corpus.npz")
    assert path.with_suffix(".json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus.json", "corpus.npz"]  # no temp files left
    loaded = MelodyCorpus.load(path)
    assert np.array_equal(loaded.tokens, corpus.tokens) and loaded.tokens.dtype == np.uint8
    assert np.array_equal(loaded.offsets, corpus.offsets) and np.array_equal(loaded.split, corpus.split)
    assert (loaded.names, loaded.sources) == (corpus.names, corpus.sources)
    assert (loaded.report, loaded.provenance) == (corpus.report, corpus.provenance)
    assert len(loaded.train_sequences()) + len(loaded.validation_sequences()) == 20
    assert loaded.tune(3).tolist() == corpus.tune(3).tolist()


def test_load_rejects_files_that_are_not_a_melody_corpus(tmp_path):
    text = tmp_path / "notes.npz"
    text.write_text("hello")
    with pytest.raises(ValueError, match=r"notes.npz is not a melody corpus"):
        MelodyCorpus.load(text)
    other = tmp_path / "other.npz"
    np.savez(other, tokens=np.zeros(3, np.uint8))
    with pytest.raises(ValueError, match=f"other.npz is not a melody corpus.*{FORMAT}"):
        MelodyCorpus.load(other)
    with pytest.raises(ValueError, match=r"missing.npz: no such"):
        MelodyCorpus.load(tmp_path / "missing.npz")


def test_inconsistent_corpus_is_refused():
    corpus = make_corpus()
    with pytest.raises(ValueError, match="offsets"):
        MelodyCorpus(corpus.tokens, corpus.offsets[:-2], corpus.names, corpus.sources, corpus.split, {}, {})
    bad_tokens = corpus.tokens.copy()
    bad_tokens[5] = VOCAB_SIZE
    with pytest.raises(ValueError, match=f"token {VOCAB_SIZE}"):
        MelodyCorpus(bad_tokens, corpus.offsets, corpus.names, corpus.sources, corpus.split, {}, {})


def test_validation_split_is_deterministic_and_a_tenth():
    first, again, other = validation_split(1000, seed=0), validation_split(1000, seed=0), validation_split(1000, 1)
    assert np.array_equal(first, again) and not np.array_equal(first, other)
    assert first.sum() == 100


# ---------------------------------------------------------------------------------------------
# the shipped corpus


@pytest.fixture(scope="module")
def shipped() -> MelodyCorpus:
    if not DEFAULT_CORPUS_PATH.is_file():
        pytest.fail(
            f"shipped corpus missing: build it with python -m {corpus_module.__name__} --out {DEFAULT_CORPUS_PATH}"
        )
    return load_default_corpus()


def test_shipped_corpus_is_large_and_well_formed(shipped):
    assert len(shipped) > 10_000
    assert shipped.tokens.dtype == np.uint8 and int(shipped.tokens.max()) < VOCAB_SIZE
    starts = shipped.tokens[shipped.offsets[:-1]]
    ends = shipped.tokens[shipped.offsets[1:] - 1]
    assert np.all(starts >= NUM_SPECIAL_TOKENS)  # every tune starts with a note
    assert np.all(ends == NOTE_OFF)  # and ends with the last note's NOTE_OFF
    assert np.all(np.diff(shipped.offsets) >= MIN_STEPS)
    assert shipped.report["total"]["kept"] == len(shipped) and shipped.report["total"]["steps"] == shipped.num_steps
    assert "non-commercial" in shipped.provenance["licence"].lower()


def test_shipped_corpus_is_mostly_in_c_major(shipped):
    notes = shipped.tokens[IS_PITCH[shipped.tokens]]
    assert np.mean(IN_C_MAJOR[notes]) > 0.9
    assert TOKEN_PITCH[notes].min() >= MIN_PITCH and TOKEN_PITCH[notes].max() < MAX_PITCH


def test_shipped_split_is_a_deterministic_tenth(shipped):
    assert abs(shipped.split.mean() - 0.1) < 0.005
    assert np.array_equal(shipped.split, validation_split(len(shipped), seed=shipped.provenance["seed"]))
    train, validation = shipped.train_sequences(), shipped.validation_sequences()
    assert len(train) + len(validation) == len(shipped)
    assert sum(map(len, train)) + sum(map(len, validation)) == shipped.num_steps
    # Tunes are immutable views: training code cannot corrupt the corpus by accident.
    with pytest.raises(ValueError):
        train[0][0] = 0
