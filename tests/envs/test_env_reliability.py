"""Bad inputs get precise errors that name the bad thing, and nothing is lost.

One section per input: the melody corpus command line, the tune-length cap, prior checkpoints with
non-finite weights, reward settings that cannot give finite rewards, env API abuse (reset options
and seeds), and pre-training inputs (SMILES files, melody corpora, command-line values, --out).
"""

from __future__ import annotations

import gzip
import os
import tempfile
from pathlib import Path
from types import SimpleNamespace

import gymnasium as gym
import mido
import numpy as np
import pytest
import torch

import seqtutor_envs  # noqa: F401
from seqtutor_envs import pretrain_cli as pretrain_module
from seqtutor_envs.core import SequenceCore
from seqtutor_envs.melody import corpus as corpus_module
from seqtutor_envs.melody.corpus import build_corpus, format_report
from seqtutor_envs.melody.dataset import (
    DEFAULT_CORPUS_PATH,
    MelodyCorpus,
    validation_split,
)
from seqtutor_envs.melody.dataset import pretrain_data as melody_data
from seqtutor_envs.melody.env import default_prior_path as melody_prior_path
from seqtutor_envs.melody.midi import encode_notes
from seqtutor_envs.melody.tunes import (
    MAX_STEPS,
    TuneRejected,
    normalise_melody,
    tune_from_abc,
    tunes_from_midi,
)
from seqtutor_envs.pretrain import (
    PretrainConfig,
    PretrainInputError,
    check_output_path,
    pretrain,
)
from seqtutor_envs.pretrain_cli import add_pretrain_arguments
from seqtutor_envs.prior import (
    CheckpointError,
    LSTMPrior,
    PriorConfig,
    load_frozen_prior,
)
from seqtutor_envs.reward import LOG_PROB_FLOOR, RewardOverflowError
from seqtutor_envs.smiles.corpus import SmilesCorpus, SmilesFileError, read_smiles_file
from seqtutor_envs.smiles.corpus import pretrain_data as smiles_data
from seqtutor_envs.task import SequenceTask, TaskStep

MELODY, SMILES = "SeqTutor-Melody-v0", "SeqTutor-SMILES-v0"


# ---------------------------------------------------------------------------------------------
# 1. melody corpus command line


def write_long_midi(path: Path, quarters: int = 8_000_000) -> Path:
    """Four notes, the last lasting ``quarters`` quarter notes, at one tick per quarter: a tiny file."""
    mid = mido.MidiFile(ticks_per_beat=1)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    for pitch, length in ((60, 1), (62, 1), (64, 1), (65, quarters)):
        track.append(mido.Message("note_on", note=pitch, velocity=100, time=0))
        track.append(mido.Message("note_off", note=pitch, velocity=0, time=length))
    mid.save(str(path))
    return path


def corpus_main(argv, capsys) -> tuple[int, str, str]:
    """Run the corpus command line; (exit status, stdout, stderr)."""
    try:
        status = corpus_module.main([*argv, "--no-progress", "--workers", "1"])
    except SystemExit as exit_:
        status = exit_.code
    out, err = capsys.readouterr()
    return status, out, err


def test_corpus_cli_requires_out_so_the_shipped_corpus_is_never_overwritten_by_default(capsys):
    before = DEFAULT_CORPUS_PATH.stat().st_mtime_ns
    status, _, err = corpus_main(["--collections"], capsys)
    assert status == 2 and "--out" in err and "required" in err
    assert DEFAULT_CORPUS_PATH.stat().st_mtime_ns == before
    with pytest.raises(SystemExit):
        corpus_module.main(["--help"])
    help_text = capsys.readouterr().out
    assert "required" in help_text and "no default" in help_text
    assert "--out is required" in corpus_module.__doc__.replace("``", "")


@pytest.mark.parametrize(
    "files, expected",
    [
        ({}, "no tune was found (no .mid/.midi files in the MIDI folder(s))"),
        ({"broken.mid": b"not a MIDI file"}, "all 1 tunes were rejected (1 unreadable)"),
        ({"long.mid": None}, "all 1 tunes were rejected (1 too_long)"),
    ],
    ids=["empty folder", "unreadable", "too long"],
)
def test_corpus_cli_refuses_to_write_an_empty_corpus(tmp_path, capsys, files, expected):
    folder = tmp_path / "midis"
    folder.mkdir()
    for name, data in files.items():
        if data is None:
            write_long_midi(folder / name)
        else:
            (folder / name).write_bytes(data)
    out = tmp_path / "corpus.npz"
    status, _, err = corpus_main(["--out", str(out), "--collections", "--midi-dir", str(folder)], capsys)
    assert status == 1
    assert "no tune was accepted" in err and expected in err and str(out) in err and "not written" in err
    assert not out.exists() and not out.with_suffix(".json").exists()


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda tmp: tmp / "missing", "MIDI folder {path} does not exist (expected a folder of .mid/.midi files)"),
        (
            lambda tmp: write_long_midi(tmp / "one.mid", 4),
            "MIDI folder {path} is a file, not a folder: expected a folder",
        ),
    ],
    ids=["missing", "a file"],
)
def test_corpus_midi_dir_that_is_not_a_folder_is_named(tmp_path, capsys, make, message):
    path = make(tmp_path)
    status, _, err = corpus_main(["--out", str(tmp_path / "c.npz"), "--collections", "--midi-dir", str(path)], capsys)
    assert status == 2 and message.format(path=path) in err
    with pytest.raises((FileNotFoundError, NotADirectoryError)) as info:
        build_corpus(collections=(), midi_dirs=[path], workers=1, progress=False)
    assert message.format(path=path) in str(info.value)


def test_corpus_out_that_is_a_folder_is_refused(tmp_path, capsys):
    status, _, err = corpus_main(["--out", str(tmp_path), "--collections"], capsys)
    assert status == 2 and f"--out {tmp_path} is a folder" in err


def test_saving_an_empty_corpus_is_refused_and_keeps_the_old_file(tmp_path):
    path = tmp_path / "corpus.npz"
    path.write_bytes(b"the old corpus")
    empty = MelodyCorpus(np.zeros(0, np.uint8), np.zeros(1, np.int64), [], [], np.zeros(0, bool), {}, {})
    with pytest.raises(ValueError, match=f"refusing to write an empty melody corpus \\(0 tunes\\) to {path}"):
        empty.save(path)
    assert path.read_bytes() == b"the old corpus"


# ---------------------------------------------------------------------------------------------
# 2. tune length cap


def test_tune_cap_keeps_every_shipped_tune():
    shipped = MelodyCorpus.load(DEFAULT_CORPUS_PATH)
    assert np.diff(shipped.offsets).max() <= MAX_STEPS


def test_a_tiny_midi_file_cannot_add_a_huge_tune(tmp_path):
    path = write_long_midi(tmp_path / "long.mid")
    assert path.stat().st_size < 100
    (result,) = tunes_from_midi(path)
    assert result.reason == "too_long" and result.tokens is None
    corpus = build_corpus(collections=(), midi_dirs=[tmp_path], workers=1, progress=False)
    assert len(corpus) == 0 and corpus.report["total"]["rejected"]["too_long"] == 1
    assert "too_long" in format_report(corpus.report)


def test_a_long_abc_tune_is_rejected_as_too_long():
    # L:1/4: each note a quarter (4 steps); 1100 quarters = 4400 steps > MAX_STEPS.
    result = tune_from_abc("X:1\nT:long\nM:4/4\nL:1/4\nK:C\n" + "CDEF|" * 275 + "\n")
    assert result.reason == "too_long"
    assert tune_from_abc("X:1\nT:fine\nM:4/4\nL:1/4\nK:C\n" + "CDEF|" * 10 + "\n").reason is None


def test_normalise_melody_names_the_length_and_the_cap():
    with pytest.raises(TuneRejected, match=f"too_long: {MAX_STEPS + 2} steps, more than MAX_STEPS={MAX_STEPS}"):
        normalise_melody([0, 1, 2, 3], [1, 2, 3, MAX_STEPS + 1], [60, 62, 64, 65], key_sharps=0)
    tokens, _ = normalise_melody([0, 1, 2, 3], [1, 2, 3, MAX_STEPS - 1], [60, 62, 64, 65], key_sharps=0)
    assert len(tokens) == MAX_STEPS


def test_old_reports_without_the_new_reason_still_format():
    report = {
        "sources": {},
        "total": {
            "files": 1,
            "tunes_seen": 1,
            "kept": 1,
            "quantization_collisions": 0,
            "steps": 20,
            "rejected": {"chords": 0},
        },
    }
    assert "too_long" in format_report(report)


# ---------------------------------------------------------------------------------------------
# 3. priors with non-finite weights


@pytest.mark.parametrize(
    "tensor, index, value",
    [
        ("head.bias", (3,), float("nan")),
        ("lstm.weight_hh_l0", (5, 2), float("inf")),
        ("lstm.bias_ih_l0", (0,), float("-inf")),
    ],
)
def test_prior_with_non_finite_weights_is_refused_naming_file_and_tensor(tmp_path, tensor, index, value):
    prior = LSTMPrior(PriorConfig(num_outputs=6, hidden_size=8))
    with torch.no_grad():
        prior.state_dict()[tensor][index] = value
    path = prior.save(tmp_path / "diverged.pt")
    with pytest.raises(CheckpointError) as info:
        LSTMPrior.load(path)
    message = str(info.value)
    assert str(path) in message and f"weight tensor {tensor!r}" in message
    assert f"first: {value} at index {index}" in message and "1 non-finite value(s)" in message


def test_non_finite_prior_is_refused_by_the_env_too(tmp_path):
    prior, meta = LSTMPrior.load(melody_prior_path())
    with torch.no_grad():
        prior.head.bias[0] = float("nan")
    path = prior.save(tmp_path / "nan_prior.pt", metadata=meta)
    with pytest.raises(CheckpointError, match=r"'head.bias'"):
        gym.make(MELODY, prior_path=str(path))


def test_priors_are_still_loaded_with_weights_only(tmp_path, monkeypatch):
    path = LSTMPrior(PriorConfig(num_outputs=6, hidden_size=8)).save(tmp_path / "p.pt")
    calls = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: calls.append(k) or real_load(*a, **k))
    LSTMPrior.load(path)
    assert calls and all(k.get("weights_only") is True for k in calls)


# ---------------------------------------------------------------------------------------------
# 4. rewards that cannot be finite


@pytest.mark.parametrize(
    "env_id, kwargs, error, message",
    [
        (MELODY, {"c": 1e-320}, ValueError, "c=1e-320 is too small: 1/c overflows to inf"),
        (SMILES, {"c": 1e-320}, ValueError, "c=1e-320 is too small: 1/c overflows to inf"),
        (
            MELODY,
            {"prior_weight": 1e308},
            ValueError,
            "prior_weight=1e+308 is too large: times the log-probability floor -100.0 it overflows to -inf",
        ),
        (SMILES, {"prior_weight": 1e308}, ValueError, "prior_weight=1e+308 is too large"),
        (
            MELODY,
            {"c": 1e-307},
            ValueError,
            "c=1e-307 with prior_weight=1.0 cannot give finite rewards: the "
            "SeqTutor-Melody-v0 task's domain reward reaches +-1000",
        ),
        (MELODY, {"c": True}, TypeError, "c must be a real number, got True (bool)"),
        (SMILES, {"c": True}, TypeError, "c must be a real number, got True (bool)"),
        (MELODY, {"prior_weight": True}, TypeError, "prior_weight must be a real number, got True (bool)"),
        (SMILES, {"prior_weight": False}, TypeError, "prior_weight must be a real number, got False (bool)"),
        (MELODY, {"c": "10"}, TypeError, "c must be a real number, got '10' (str)"),
        (MELODY, {"c": float("nan")}, ValueError, "c must be a finite number > 0, got nan"),
        (MELODY, {"c": 0}, ValueError, "c must be a finite number > 0, got 0.0"),
        (MELODY, {"prior_weight": -1}, ValueError, "prior_weight must be a finite number >= 0, got -1.0"),
    ],
)
def test_settings_that_cannot_give_finite_rewards_are_refused_at_construction(env_id, kwargs, error, message):
    for make in (lambda: gym.make(env_id, **kwargs), lambda: gym.make_vec(env_id, num_envs=2, **kwargs)):
        with pytest.raises(error) as info:
            make()
        assert message in str(info.value)


def test_numpy_numbers_are_still_accepted():
    env = gym.make(MELODY, c=np.float32(2.0), prior_weight=np.int64(1))
    assert env.unwrapped.c == 2.0 and env.unwrapped.prior_weight == 1.0


def state_of(env) -> tuple:
    core = env.unwrapped.core
    task = env.unwrapped.task
    tracker = tuple(v.copy() for v in task._tracker_state().values()) if hasattr(task, "_tracker_state") else ()
    return core.tokens.copy(), core.lengths.copy(), core.log_probs.copy(), core.h.clone(), core.c_state.clone(), tracker


def assert_same_state(a: tuple, b: tuple) -> None:
    for x, y in zip(a, b, strict=True):
        if isinstance(x, tuple):
            assert_same_state(x, y)
        elif isinstance(x, torch.Tensor):
            assert torch.equal(x, y)
        else:
            assert np.array_equal(x, y)


@pytest.mark.parametrize("diversity_filter", [None, {"min_score": 0.0}])
def test_an_objective_overflowing_the_reward_is_refused_and_the_env_left_as_it_was(diversity_filter):
    env = gym.make(SMILES, objective=lambda mol: 1e308, c=0.1, diversity_filter=diversity_filter)
    env.reset(seed=0)
    carbon = env.unwrapped.vocab.tokens.index("C")
    env.step(carbon)
    before = state_of(env)
    with pytest.raises(RewardOverflowError) as info:
        env.step(0)  # END: the final score 1e308 / c = 1e309 overflows
    message = str(info.value)
    assert "objective '<lambda>" in message and "final score of 1e+308" in message
    assert "c=0.1, prior_weight=1.0" in message and "the step was refused and the env left as it was" in message
    assert isinstance(info.value, ValueError) and isinstance(info.value, FloatingPointError)
    assert_same_state(before, state_of(env))
    if diversity_filter:
        assert env.unwrapped.diversity_filter.num_molecules == 0  # the refused molecule was not remembered
    _, reward, terminated, _, _ = env.step(carbon)  # the env goes on from where it was
    assert np.isfinite(reward) and not terminated and env.unwrapped.emitted_tokens().tolist() == [carbon, carbon]


@pytest.mark.parametrize("mode", ["next_step", "same_step"])
def test_a_vector_step_with_one_overflowing_row_is_refused_whole(mode):
    envs = gym.make_vec(SMILES, num_envs=3, objective=lambda mol: 1e308, c=0.1, autoreset_mode=mode)
    envs.reset(seed=0)
    carbon = envs.vocab.tokens.index("C")
    envs.step(np.array([carbon] * 3))
    core = envs.core
    before = (core.tokens.copy(), core.lengths.copy(), core.log_probs.copy())
    with pytest.raises(RewardOverflowError, match=r"final score of 1e\+308 \(row 0 of the batch\)"):
        envs.step(np.array([carbon, 0, carbon]))
    assert np.array_equal(core.tokens, before[0]) and np.array_equal(core.lengths, before[1])
    assert np.array_equal(core.log_probs, before[2])


class _RawTask(SequenceTask):
    """A task that pays a fixed domain reward and does not check it (so the core's last guard acts)."""

    name = "raw-task"

    def __init__(self, value: float, num_actions: int) -> None:
        super().__init__(1, 8, num_actions, pad_token=num_actions)
        self.value = value

    def primer(self, rng, options):
        return 2

    def reset(self, env_indices):
        pass

    def step(self, actions, env_indices, tokens, lengths):
        n = len(actions)
        return TaskStep(np.full(n, self.value), np.zeros(n, bool), {})

    def final_info(self, env_indices, tokens, lengths):
        return {}


@pytest.mark.parametrize(
    "value, c, prior_weight, part",
    [
        (float("nan"), 1.0, 1.0, "the domain reward nan is not a finite number"),
        (1e308, 0.5, 1.0, "the domain reward 1e+308 divided by c=0.5 overflows"),
        (-1.7e308, 1.0, 1.7e306, "prior_weight=1.7e+306 * log p"),
    ],
    ids=["nan", "r over c", "sum"],
)
def test_the_core_refuses_a_non_finite_reward_naming_the_part_that_overflowed(value, c, prior_weight, part):
    stepper, _ = load_frozen_prior(melody_prior_path())
    core = SequenceCore(_RawTask(value, stepper.num_outputs), stepper, c, prior_weight)
    core.reset(np.array([0]), np.array([2]))
    action = np.array([int(np.argmin(core.log_probs[0]))])  # the least likely token: the largest |w log p|
    assert core.log_probs[0, action[0]] < -1 and core.log_probs[0, action[0]] >= LOG_PROB_FLOOR
    before = (core.tokens.copy(), core.lengths.copy(), core.log_probs.copy(), core.h.clone())
    with pytest.raises(RewardOverflowError) as info, np.errstate(over="ignore"):  # numpy's warning is redundant
        core.step(action)
    assert part in str(info.value) and "raw-task: the reward of row 0 of the batch is" in str(info.value)
    assert np.array_equal(core.tokens, before[0]) and np.array_equal(core.lengths, before[1])
    assert np.array_equal(core.log_probs, before[2]) and torch.equal(core.h, before[3])


# ---------------------------------------------------------------------------------------------
# 5. env API abuse


SINGLE_RESET_CASES = [
    ({"options": "bogus"}, TypeError, "reset(options=...) must be a dict or None, got 'bogus' (str)"),
    ({"options": ["primer"]}, TypeError, "must be a dict or None, got ['primer'] (list)"),
    ({"options": {"primr": 40}}, ValueError, "unknown reset option(s) ['primr']"),
    ({"seed": -1}, ValueError, "seed must be an integer in [0, 2**64) or None, got -1"),
    ({"seed": 2**64}, ValueError, f"seed must be an integer in [0, 2**64) or None, got {2**64}"),
    ({"seed": 1.5}, TypeError, "seed must be an integer in [0, 2**64) or None, got 1.5 (float)"),
    ({"seed": "abc"}, TypeError, "got 'abc' (str)"),
    ({"seed": True}, TypeError, "got True (bool)"),
]

VECTOR_RESET_CASES = [
    ({"options": "bogus"}, TypeError, "reset(options=...) must be a dict or None, got 'bogus' (str)"),
    ({"options": {"primr": 40}}, ValueError, "unknown reset option(s) ['primr']"),
    (
        {"seed": 1.5},
        TypeError,
        "seed must be an integer in [0, 2**64), a list of 3 such integers (or None entries), or None; got 1.5 (float)",
    ),
    ({"seed": "abc"}, TypeError, "got 'abc' (str)"),
    ({"seed": -1}, ValueError, "seed must be an integer in [0, 2**64) or None, got -1"),
    ({"seed": 2**64 - 2}, ValueError, f"seed {2**64 - 2} gives sub-env 2 the seed {2**64}, beyond 2**64 - 1"),
    ({"seed": [1, 2]}, ValueError, "expected 3 seeds (one per sub-env), got 2: [1, 2]"),
    ({"seed": [1, 2, 3, 4]}, ValueError, "expected 3 seeds (one per sub-env), got 4"),
    ({"seed": [1, "x", 3]}, TypeError, "seed[1] must be an integer in [0, 2**64) or None, got 'x' (str)"),
    ({"seed": [1, 2, 2.0]}, TypeError, "seed[2] must be an integer in [0, 2**64) or None, got 2.0 (float)"),
    ({"seed": [0, None, -5]}, ValueError, "seed[2] must be an integer in [0, 2**64) or None, got -5"),
]


@pytest.mark.parametrize("env_id", [MELODY, SMILES])
@pytest.mark.parametrize("kwargs, error, message", SINGLE_RESET_CASES)
def test_single_env_reset_abuse_is_named(env_id, kwargs, error, message):
    env = gym.make(env_id)
    with pytest.raises(error) as info:
        env.reset(**kwargs)
    assert message in str(info.value)


@pytest.mark.parametrize("env_id", [MELODY, SMILES])
@pytest.mark.parametrize("kwargs, error, message", VECTOR_RESET_CASES)
def test_vector_env_reset_abuse_is_named_and_changes_nothing(env_id, kwargs, error, message):
    envs = gym.make_vec(env_id, num_envs=3)
    envs.reset(seed=7)
    with pytest.raises(error) as info:
        envs.reset(**kwargs)
    assert message in str(info.value)
    # The refused reset did not reseed anything: a plain reset continues the seeded streams.
    again = gym.make_vec(env_id, num_envs=3)
    again.reset(seed=7)
    assert np.array_equal(envs.reset()[0]["tokens"], again.reset()[0]["tokens"])


def test_smiles_env_accepts_no_reset_option_and_says_so():
    with pytest.raises(ValueError, match=r"unknown reset option\(s\) \['primer'\]; it accepts none"):
        gym.make(SMILES).reset(options={"primer": 3})


@pytest.mark.parametrize("seed", [0, 2**64 - 1, np.uint64(2**64 - 1), np.int32(5), None])
def test_valid_seeds_are_accepted(seed):
    gym.make(MELODY).reset(seed=seed)
    gym.make_vec(MELODY, num_envs=2).reset(seed=None if seed is None else [seed, None])


# ---------------------------------------------------------------------------------------------
# 6. pre-training inputs


SMILES_FILE_CASES = [
    (
        "latin1.smi",
        "CCO\nC(=O)O caf\xe9\n".encode("latin-1"),
        "latin1.smi is not UTF-8 text: byte 0xe9 at byte offset 14 (line 2) cannot be decoded",
    ),
    ("binary.smi", bytes(range(256)), "binary.smi looks binary (a NUL byte at byte offset 0, line 1)"),
    ("fake.smi.gz", b"CCO\n", "fake.smi.gz is not a readable gzip file"),
    (
        "latin1.smi.gz",
        gzip.compress("CCO caf\xe9\n".encode("latin-1")),
        "latin1.smi.gz is not UTF-8 text: byte 0xe9 at byte offset 7 of its decompressed content (line 1)",
    ),
    ("empty.smi", b"", "no valid SMILES in {path} (0 lines read: the file is empty)"),
    ("comments.smi", b"# header\n\n   \n", "no valid SMILES in {path} (3 lines read, 3 rejected: blank or # comment"),
    (
        "columns.csv",
        b"id,structure\n1,CCO\n",
        "columns.csv has no SMILES column: its header row has the columns "
        "['id', 'structure'], and the SMILES column must be named one of "
        "['smiles', 'canonical_smiles', 'isomeric_smiles']",
    ),
    ("header_only.csv", b"SMILES\n", "no valid SMILES in {path} (1 lines read, 0 rejected"),
]


@pytest.mark.parametrize("name, data, message", SMILES_FILE_CASES, ids=[c[0] for c in SMILES_FILE_CASES])
def test_unreadable_smiles_files_are_named_with_the_reason(tmp_path, name, data, message):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(SmilesFileError) as info:
        read_smiles_file(path)
    assert message.format(path=path) in str(info.value)
    with pytest.raises(PretrainInputError) as info:  # and the pre-training data loader says the same
        smiles_data(str(path), workers=1)
    assert message.format(path=path) in str(info.value)


def test_a_smiles_file_with_no_valid_molecule_gives_the_rejection_counts(tmp_path):
    path = tmp_path / "garbage.smi"
    path.write_text("not_a_smiles\nC1CC\n((((\n# a comment\n", encoding="utf-8")
    with pytest.raises(PretrainInputError) as info:
        smiles_data(str(path), workers=1)
    assert f"no valid SMILES in {path} (3 lines read, 3 rejected: 3 invalid)" in str(info.value)


def test_a_single_valid_smiles_cannot_be_split(tmp_path):
    path = tmp_path / "one.smi"
    path.write_text("CCO\nnot_a_smiles\n", encoding="utf-8")
    with pytest.raises(PretrainInputError) as info:
        smiles_data(str(path), workers=1)
    message = str(info.value)
    assert "one.smi holds 1 usable SMILES (kept 1 of 2 lines; dropped 1 invalid" in message
    assert "leaves 0 to validate on, and at least 10 are needed" in message


def test_a_prepared_corpus_that_is_not_gzip_is_named(tmp_path):
    path = tmp_path / "corpus.smi.gz"
    path.write_text("CCO\n")
    with pytest.raises(SmilesFileError, match=r"corpus.smi.gz is not a readable gzip file"):
        SmilesCorpus.load(path)
    with pytest.raises(FileNotFoundError, match="no SMILES corpus file at"):
        SmilesCorpus.load(tmp_path / "missing.smi.gz")


def tiny_corpus(num_tunes: int) -> MelodyCorpus:
    tunes = [encode_notes([(2 * i, 2 * i + 2, 60 + (i + k) % 12) for i in range(8)]) for k in range(num_tunes)]
    return MelodyCorpus(
        np.concatenate(tunes),
        np.concatenate([[0], np.cumsum([len(t) for t in tunes])]),
        [f"t{k}" for k in range(num_tunes)],
        ["test"] * num_tunes,
        validation_split(num_tunes),
        {},
        {},
    )


@pytest.mark.parametrize("num_tunes", [1, 5])
def test_a_melody_corpus_too_small_to_split_is_refused(tmp_path, num_tunes):
    path = tiny_corpus(num_tunes).save(tmp_path / "tiny.npz")
    with pytest.raises(PretrainInputError) as info:
        melody_data(str(path))
    expected = f"melody corpus {path} has {num_tunes} tune(s), {num_tunes} for training and 0 for validation"
    assert expected in str(info.value)
    assert "at least 6 tunes" in str(info.value)
    melody_data(str(tiny_corpus(6).save(tmp_path / "six.npz")))  # the smallest corpus that splits


def test_a_melody_data_file_that_is_not_a_corpus_is_named(tmp_path):
    path = tmp_path / "tunes.smi"
    path.write_text("CCO\n")
    with pytest.raises(PretrainInputError, match=f"{path} is not a melody corpus"):
        melody_data(str(path))
    with pytest.raises(PretrainInputError, match=r"missing.npz: no such melody corpus file"):
        melody_data(str(tmp_path / "missing.npz"))


def parse_pretrain(argv):
    import argparse

    parser = argparse.ArgumentParser(prog="pretrain")
    add_pretrain_arguments(parser)
    return parser.parse_args(argv)


@pytest.mark.parametrize(
    "flag, value, message",
    [
        ("--limit", "0", "argument --limit: expected an integer >= 1, got 0"),
        ("--limit", "-3", "argument --limit: expected an integer >= 1, got -3"),
        ("--limit", "many", "argument --limit: expected an integer >= 1, got 'many'"),
        ("--batch-size", "0", "argument --batch-size: expected an integer >= 1, got 0"),
        ("--max-epochs", "-1", "argument --max-epochs: expected an integer >= 1, got -1"),
        ("--lr", "0", "argument --lr: expected a number in (0, inf), got 0.0"),
        ("--dropout", "1", "argument --dropout: expected a number in [0, 1), got 1.0"),
        ("--max-minutes", "nan", "argument --max-minutes: expected a number in (0, inf), got nan"),
        ("--seed", "-1", "argument --seed: expected an integer >= 0, got -1"),
    ],
)
def test_bad_pretrain_values_are_refused_at_parsing(tmp_path, capsys, flag, value, message):
    with pytest.raises(SystemExit) as exit_:
        parse_pretrain(["melody", "--out", str(tmp_path / "p.pt"), flag, value])
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def _readonly_dir() -> Path | None:
    """A folder this process cannot write in (/sys refuses even root), or None."""
    try:
        fd, name = tempfile.mkstemp(dir="/sys")
    except OSError:
        return Path("/sys")
    os.close(fd)
    os.unlink(name)
    return None


@pytest.mark.parametrize(
    "make_out, message",
    [
        (lambda tmp: tmp, "--out {tmp} is a folder; expected the path of a .pt file"),
        (lambda tmp: tmp / "notes.txt" / "prior.pt", "--out {out}: {tmp}/notes.txt is a file, not a folder"),
        (
            lambda tmp: (_readonly_dir() or pytest.skip("no read-only folder here")) / "seqtutor" / "prior.pt",
            "--out {out}: cannot write in /sys (PermissionError",
        ),
    ],
    ids=["folder", "under a file", "read-only"],
)
def test_unwritable_out_is_refused_before_any_data_is_read(tmp_path, capsys, monkeypatch, make_out, message):
    (tmp_path / "notes.txt").write_text("a file")
    out = make_out(tmp_path)
    expected = message.format(tmp=tmp_path, out=out)
    with pytest.raises(SystemExit) as exit_:
        parse_pretrain(["melody", "--out", str(out)])
    assert exit_.value.code == 2 and "argument --out: " + expected.removeprefix("--out ") in capsys.readouterr().err
    # Arguments built elsewhere than the parser are checked by run_pretrain, before the data is read.
    args = parse_pretrain(["melody", "--out", str(tmp_path / "ok.pt")])
    args.out = str(out)
    unread = SimpleNamespace(
        pretrain_data=lambda *a: pytest.fail("data read before --out check"), default_architecture={}
    )
    monkeypatch.setattr(pretrain_module, "domain_named", lambda name: unread)
    with pytest.raises(PretrainInputError) as info:
        pretrain_module.run_pretrain(args, ["test"])
    assert expected in str(info.value)


def test_pretrain_checks_out_before_training(tmp_path):
    log: list[str] = []
    with pytest.raises(PretrainInputError, match=r"out_path .* is a folder"):
        pretrain(
            PriorConfig(8, hidden_size=8),
            [np.arange(8)] * 4,
            [np.arange(8)] * 2,
            tmp_path,
            PretrainConfig(max_epochs=1, progress=False),
            log=log.append,
        )
    assert log == []  # nothing trained, nothing logged


def test_an_interrupted_run_stays_resumable(tmp_path):
    rng = np.random.default_rng(0)
    train, valid = [rng.integers(0, 8, 12) for _ in range(8)], [rng.integers(0, 8, 12) for _ in range(2)]
    out = tmp_path / "prior.pt"
    kw = {"batch_size": 8, "progress": False, "seed": 0}
    pretrain(PriorConfig(8, hidden_size=8), train, valid, out, PretrainConfig(max_epochs=1, **kw), log=lambda _: None)
    out.unlink()  # as if killed after the last checkpoint, before the final save
    state = out.with_name(out.name + ".train-state.pt")
    saved = state.read_bytes()
    check_output_path(out)
    assert state.read_bytes() == saved and sorted(p.name for p in tmp_path.iterdir()) == [state.name]
    lines: list[str] = []
    resumed = pretrain(
        PriorConfig(8, hidden_size=8),
        train,
        valid,
        out,
        PretrainConfig(max_epochs=2, **kw),
        resume=True,
        log=lines.append,
    )
    assert any(line.startswith(f"resumed from {state} at epoch 1") for line in lines)
    assert len(resumed.history) == 2 and out.is_file()


def test_pretrain_command_reports_input_errors_without_a_traceback(tmp_path, capsys):
    path = tmp_path / "latin1.smi"
    path.write_bytes("CCO caf\xe9\n".encode("latin-1"))
    with pytest.raises(SystemExit) as exit_:
        pretrain_module.main(["smiles", "--out", str(tmp_path / "p.pt"), "--data", str(path)])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and f"error: {path} is not UTF-8 text: byte 0xe9" in err
    assert not (tmp_path / "p.pt").exists()
