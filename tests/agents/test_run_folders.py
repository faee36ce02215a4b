"""Run folders that cannot run code, runs that are never overwritten by accident, and bad settings that fail fast.

Every case asserts that the error names the bad thing (file, field, setting or value).
"""

import base64
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from run_files import every_model_zip, newest_checkpoint, reseal

from seqtutor_agents import GLearning, PsiLearning, make_sb3_vec_env
from seqtutor_agents.cli import main
from seqtutor_agents.common.safe_load import ModelFileError, UnsafeModelError

TRAIN = [
    "train",
    "--steps",
    "256",
    "--n-envs",
    "4",
    "--no-progress",
    "--checkpoint-every",
    "128",
    "--algo-kwarg",
    "learning_starts=64",
    "--env-kwarg",
    "composition_length=8",
]


def cli(capsys, *args: str) -> tuple[int, str]:
    try:
        code = main(list(args))
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("trained") / "run"
    assert main([*TRAIN, "--algo", "psi", "--out", str(out)]) == 0
    return out


@pytest.fixture
def run_folder(trained_run, tmp_path) -> Path:
    """A fresh copy of one small trained Ψ run (256 steps, 8-step compositions) per test."""
    return Path(shutil.copytree(trained_run, tmp_path / "run"))


class Payload:
    """Unpickling this writes a marker file: if the file appears, loading ran code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "pwned"))


def _with_payload(model_zip: Path, marker: Path, key: str) -> None:
    """Put a pickled payload into the ``data`` JSON of an SB3 zip, in place of field ``key`` (or as a new one)."""
    import cloudpickle

    with zipfile.ZipFile(model_zip) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    data = json.loads(entries["data"])
    data[key] = {
        ":type:": "<class 'evil'>",
        ":serialized:": base64.b64encode(cloudpickle.dumps(Payload(marker))).decode(),
    }
    entries["data"] = json.dumps(data).encode()
    with zipfile.ZipFile(model_zip, "w") as archive:
        for name, content in entries.items():
            archive.writestr(name, content)


# ---------------------------------------------------------------------------- security
@pytest.mark.parametrize("key", ["policy_class", "lr_schedule", "observation_space", "someone_elses_field"])
def test_a_run_folder_with_pickled_payloads_runs_no_code(run_folder, tmp_path, capsys, key):
    marker = tmp_path / "marker.txt"
    for model_zip in every_model_zip(run_folder):
        _with_payload(model_zip, marker, key)
    (newest_checkpoint(run_folder) / "replay_buffer.pkl").write_bytes(
        __import__("cloudpickle").dumps(Payload(marker))
    )  # an old-style pickled buffer is never read either
    for checkpoint in (run_folder / "checkpoints").glob("ckpt-*"):
        reseal(checkpoint)  # the attacker rewrites the manifests too: they are checksums, not signatures
    for args in (
        ("sample", "--run", str(run_folder), "-n", "2", "--out", str(tmp_path / "s")),
        ("evaluate", "--run", str(run_folder), "-n", "2"),
        ("train", "--out", str(run_folder), "--steps", "512", "--resume", "--no-progress"),
    ):
        code, err = cli(capsys, *args)
        if key == "someone_elses_field":  # no recipe, no stand-in: refused, by name
            assert code == 2 and "someone_elses_field" in err and "never unpickles" in err
        else:  # a known field: rebuilt from the file's JSON recipe, the pickle is ignored
            assert code == 0, err
    assert not marker.exists()


def test_replay_buffers_are_saved_without_pickle(run_folder):
    path = newest_checkpoint(run_folder) / "replay_buffer.npz"
    with np.load(path, allow_pickle=False) as archive:  # plain arrays: loading cannot run code
        assert "tokens" in archive.files and "__meta__" in archive.files
    assert not list(run_folder.rglob("*.pkl"))


# ---------------------------------------------------------------------------- data loss
def test_training_into_an_existing_run_is_refused_and_keeps_it(run_folder, capsys):
    before = (run_folder / "model.zip").read_bytes()
    code, err = cli(capsys, *TRAIN, "--algo", "g", "--out", str(run_folder))
    assert code == 2 and "already holds a run" in err and "--resume" in err and "--overwrite" in err
    assert (run_folder / "model.zip").read_bytes() == before
    assert json.loads((run_folder / "config.json").read_text())["algo"] == "psi"
    code, _ = cli(capsys, *TRAIN, "--algo", "g", "--out", str(run_folder), "--overwrite")
    assert code == 0 and json.loads((run_folder / "config.json").read_text())["algo"] == "g"
    assert not list((run_folder / "logs").glob("resume-*"))  # the old run's logs went with it


# ---------------------------------------------------------------------------- silently wrong results
def test_a_model_of_another_algorithm_in_the_folder_is_refused(run_folder, tmp_path, capsys):
    env = make_sb3_vec_env("SeqTutor-Melody-v0", n_envs=2, composition_length=8)
    GLearning("RecurrentQPolicy", env, learning_starts=10_000).save(tmp_path / "g")
    shutil.copy(tmp_path / "g.zip", run_folder / "model.zip")
    code, err = cli(capsys, "sample", "--run", str(run_folder), "-n", "2", "--out", str(tmp_path / "s"))
    assert code == 2 and "holds a GLearning model but the run's config says psi" in err
    with pytest.raises(ModelFileError, match="holds a GLearning model, not a PsiLearning one"):
        PsiLearning.load(tmp_path / "g.zip", env=env)


@pytest.mark.parametrize(
    "option, value, named",
    [
        ("--c", "2.0", "c="),
        ("--env-kwarg", "prior_weight=0.5", "env_kwargs="),
        ("--algo-kwarg", "gamma=0.5", "algo_kwargs="),
        ("--env-kwarg", "composition_length=16", "env_kwargs="),
        ("--seed", "3", "seed="),
    ],
)
def test_resume_refuses_other_settings_by_name(run_folder, capsys, option, value, named):
    before = (run_folder / "config.json").read_text()
    code, err = cli(
        capsys, "train", "--out", str(run_folder), "--steps", "512", "--resume", "--no-progress", option, value
    )
    assert code == 2 and named in err and "keeps its own settings" in err
    assert (run_folder / "config.json").read_text() == before


def test_resume_takes_the_runs_own_settings_and_never_rewrites_its_config(run_folder, capsys):
    before = (run_folder / "config.json").read_text()
    code, err = cli(capsys, "train", "--out", str(run_folder), "--steps", "512", "--resume", "--no-progress")
    assert code == 0, err
    assert (run_folder / "config.json").read_text() == before  # the run's config stays as it was written
    resumed = json.loads((run_folder / "logs" / "resume-1" / "resume.json").read_text())
    assert resumed["steps"] == 512 and resumed["from_step"] == 256
    config = json.loads(before)
    assert config["algo"] == "psi" and config["resolved"]["algo_kwargs"]["learning_starts"] == 64


# ---------------------------------------------------------------------------- damaged files
@pytest.mark.parametrize(
    "content, named",
    [
        ("", "config.json is not valid JSON"),
        ("{not json", "config.json is not valid JSON"),
        ("[1, 2]", "holds a list, expected a JSON object"),
        ('{"out": "x"}', "lacks 'env_id', 'algo'"),
        ('{"out": "x", "env_id": "SeqTutor-Melody-v0", "algo": "sarsa"}', "unknown algorithm 'sarsa'"),
        (
            '{"out": "x", "env_id": "SeqTutor-Melody-v0", "algo": "ppo", "env_kwargs": {"composition_length": 8}}',
            "holds a PsiLearning model but the run's config says ppo",
        ),
        (
            '{"out": "x", "env_id": "SeqTutor-SMILES-v0", "algo": "psi", '
            '"algo_kwargs": {"learning_starts": 64, "gradient_steps": 2}}',
            "does not fit the env its config describes",
        ),
        ('{"out": "x", "env_id": "CartPole-v1", "algo": "psi"}', "'CartPole-v1' is not a seqtutor env"),
    ],
)
def test_damaged_config_json_gives_a_clear_error(run_folder, capsys, content, named):
    (run_folder / "config.json").write_text(content)
    code, err = cli(capsys, "evaluate", "--run", str(run_folder), "-n", "2")
    assert code == 2 and named in err, err


@pytest.mark.parametrize("damage", ["empty", "truncated", "random", "other_shape"])
def test_damaged_replay_buffer_names_the_file(run_folder, capsys, damage):
    """A damaged buffer whose manifest was rewritten to match (else the checksum refuses it first)."""
    for old in sorted((run_folder / "checkpoints").glob("ckpt-*"))[:-1]:
        shutil.rmtree(old)  # no older checkpoint to fall back to
    path = newest_checkpoint(run_folder) / "replay_buffer.npz"
    data = path.read_bytes()
    if damage == "empty":
        path.write_bytes(b"")
    elif damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "random":
        path.write_bytes(np.random.default_rng(0).bytes(4096))
    else:
        with np.load(path) as archive:
            arrays = {k: archive[k] for k in archive.files}
        arrays["tokens"] = arrays["tokens"][:, :3]
        np.savez(path, **arrays)
    reseal(path.parent)
    code, err = cli(capsys, "train", "--out", str(run_folder), "--steps", "512", "--resume", "--no-progress")
    assert code == 2 and "cannot resume" in err and "replay_buffer.npz" in err, err


@pytest.mark.parametrize("damage", ["missing", "not_a_zip", "no_data"])
def test_damaged_model_file_names_it(run_folder, tmp_path, capsys, damage):
    path = run_folder / "model.zip"
    shutil.rmtree(run_folder / "checkpoints")
    if damage == "missing":
        path.unlink()
        named = "holds no model.zip"
    elif damage == "not_a_zip":
        path.write_bytes(b"hello")
        named = "not a model file (not a zip archive"
    else:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("other", "x")
        named = "without the 'data' entry"
    code, err = cli(capsys, "sample", "--run", str(run_folder), "-n", "2", "--out", str(tmp_path / "s"))
    assert code == 2 and named in err, err


# ---------------------------------------------------------------------------- nonsense settings
@pytest.mark.parametrize(
    "kwargs, named",
    [
        ({"train_freq": 0}, "train_freq must be in [1, inf), got 0"),
        ({"batch_size": 0}, "batch_size must be in [1, inf), got 0"),
        ({"buffer_size": 0}, "buffer_size must be in [1, inf), got 0"),
        ({"gamma": 1.5}, "gamma must be in [0, 1], got 1.5"),
        ({"gamma": "abc"}, "gamma must be a number, got 'abc'"),
        ({"c": True}, "c must be a number, got True"),
        ({"c": 0.0}, "c must be in (0, inf), got 0.0"),
        ({"learning_rate": -1.0}, "learning_rate must be in (0, inf), got -1.0"),
        ({"tau": 2}, "tau must be in [0, 1], got 2"),
        ({"temperature": 0}, "temperature must be in (0, inf), got 0"),
        ({"max_grad_norm": float("nan")}, "max_grad_norm must be finite, got nan"),
        ({"exploration": "ucb"}, "exploration must be one of 'boltzmann', 'egreedy', got 'ucb'"),
        ({"target_kl": -0.1}, "target_kl must be in (0, inf), got -0.1"),
        ({"td_lambda": 2.0}, "td_lambda must be in [0, 1], got 2.0"),
        ({"gradient_steps": 0}, "gradient_steps must be in [1, inf), got 0"),
        ({"learning_starts": -5}, "learning_starts must be in [0, inf), got -5"),
        ({"train_freq": (4, "days")}, "train_freq must be an int or a (frequency, 'step' | 'episode') tuple"),
    ],
)
def test_every_learner_argument_is_checked_at_construction(kwargs, named):
    env = make_sb3_vec_env("SeqTutor-Melody-v0", n_envs=2, composition_length=8)
    with pytest.raises((TypeError, ValueError)) as exc:
        PsiLearning("RecurrentQPolicy", env, **kwargs)
    assert named in str(exc.value)


@pytest.mark.parametrize(
    "args, named",
    [
        (["demo", "--steps", "0"], "argument --steps: must be >= 1, got 0"),
        (["sample", "--prior", "--env", "CartPole-v1"], "--env 'CartPole-v1' is not a seqtutor env"),
        (["evaluate", "--prior", "-n", "0"], "argument -n/--num: must be >= 1, got 0"),
        (["sample", "--prior", "--seed", "-1"], "argument --seed: must be in [0, 2**32), got -1"),
        (["train", "--out", "x", "--seed", str(2**40)], "--seed: seed must be in [0, 4.29497e+09], got 1099511627776"),
        (["train", "--out", "x", "--steps", "abc"], "argument --steps: expected an integer, got 'abc'"),
        (["train", "--out", "x", "--algo-kwarg", "gamma"], "expected KEY=VALUE, got 'gamma'"),
        (["train", "--resume", "--out", "nowhere"], "nowhere is not a seqtutor run folder"),
    ],
)
def test_command_line_misuse_fails_fast_with_the_value_named(tmp_path, capsys, monkeypatch, args, named):
    monkeypatch.chdir(tmp_path)
    code, err = cli(capsys, *args)
    assert code == 2 and named in err, err


def test_an_unwritable_run_folder_fails_before_training(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, err = cli(capsys, *TRAIN, "--out", str(blocker))
    assert code == 2 and "is a file, not a run folder" in err


def test_unknown_pickled_field_is_refused_by_the_python_api_too(run_folder, tmp_path):
    marker = tmp_path / "marker.txt"
    _with_payload(run_folder / "model.zip", marker, "extra")
    env = make_sb3_vec_env("SeqTutor-Melody-v0", n_envs=2, composition_length=8)
    with pytest.raises(UnsafeModelError, match="field 'extra' holds pickled Python"):
        PsiLearning.load(run_folder / "model.zip", env=env)
    assert not marker.exists()


def test_pretrain_input_errors_are_printed_not_raised(tmp_path, capsys):
    bad = tmp_path / "latin1.smi"
    bad.write_bytes("CCO\nC\xe9C\n".encode("latin-1"))
    code, err = cli(
        capsys, "pretrain", "smiles", "--data", str(bad), "--out", str(tmp_path / "p.pt"), "--max-epochs", "1"
    )
    assert code == 2 and "latin1.smi is not UTF-8 text" in err
