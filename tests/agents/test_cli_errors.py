"""Bad outputs, bad files and bad arguments end in one line naming what was wrong, exit code 2, no traceback."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from run_files import mounted_tmpfs, pickle_policy_file

import seqtutor_agents.runs.outputs as outputs
from seqtutor_agents.cli import main
from seqtutor_agents.runs.run_folder import ConfigError
from seqtutor_envs.io import atomic_write_bytes


def refused(capsys, *args: str) -> str:
    """Run the CLI, expect exit code 2, and return its one-line message."""
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("seqtutor: error:")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli-errors") / "run"
    assert (
        main(
            [
                "train",
                "--algo",
                "psi",
                "--steps",
                "256",
                "--n-envs",
                "8",
                "--out",
                str(out),
                "--no-progress",
                "--algo-kwarg",
                "learning_starts=64",
            ]
        )
        == 0
    )
    return out


@pytest.mark.parametrize("command", ["sample", "evaluate"])
def test_out_onto_a_file_or_below_one(tmp_path, capsys, run, command):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep me")
    message = refused(capsys, command, "--run", str(run), "-n", "2", "--out", str(a_file))
    assert f"--out {a_file}: is a file, not a folder" in message
    message = refused(capsys, command, "--run", str(run), "-n", "2", "--out", str(a_file / "deeper"))
    assert f"cannot be made: {a_file} is a file" in message
    assert a_file.read_text() == "keep me"


def test_optimum_out_below_a_file(tmp_path, capsys):
    (tmp_path / "f").write_text("")
    message = refused(capsys, "optimum", "--cs", "10", "-n", "10", "--out", str(tmp_path / "f" / "pi.csv"))
    assert "the folder of --out" in message and "is a file" in message


@pytest.mark.parametrize("command", ["sample", "evaluate"])
def test_out_on_a_read_only_file_system(tmp_path, capsys, run, command):
    with mounted_tmpfs(tmp_path / "ro", "ro,size=1m") as read_only:
        message = refused(capsys, command, "--run", str(run), "-n", "2", "--out", str(read_only / "samples"))
    assert f"--out {read_only / 'samples'}: cannot write there (Read-only file system)" in message


def test_a_pickled_policy_file_is_named(tmp_path, capsys, run):
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    model = copy / "model.zip"
    pickle_policy_file(model)
    message = refused(capsys, "sample", "--run", str(copy), "-n", "2", "--out", str(tmp_path / "s"))
    assert f"{model}: policy.pth holds pickled objects" in message and "will not unpickle" in message
    assert not (tmp_path / "s").exists()  # a refused job leaves no empty folder behind


def test_samples_beyond_the_bound_need_yes(tmp_path, capsys, run, monkeypatch):
    monkeypatch.setattr(outputs, "SIZE_BOUND", 100_000)  # 2 melody samples (MIDI + WAV) are ~0.5 MB
    out = tmp_path / "samples"
    message = refused(capsys, "sample", "--run", str(run), "-n", "2", "--out", str(out))
    assert "2 samples would write about" in message and "pass --yes" in message and str(out) in message
    assert not out.exists()
    assert main(["sample", "--run", str(run), "-n", "2", "--out", str(out), "--yes"]) == 0
    assert len(list(out.glob("*.mid"))) == 2


def test_samples_beyond_the_free_disk_are_refused_even_with_yes(tmp_path, capsys, run):
    with mounted_tmpfs(tmp_path / "disk", "size=1m") as disk:
        message = refused(capsys, "sample", "--run", str(run), "-n", "40", "--out", str(disk / "s"), "--yes")
        assert "but only" in message and "is free there" in message
        assert not (disk / "s").exists()


def test_a_full_disk_while_writing_names_the_file(tmp_path):
    with mounted_tmpfs(tmp_path / "disk", "size=64k") as disk:
        target = disk / "big.bin"
        with (
            pytest.raises(ConfigError, match=rf"cannot write {target}: the disk is full, [\d,]+ bytes free"),
            outputs.writing(disk),
        ):
            atomic_write_bytes(target, b"x" * 1_000_000)


@pytest.mark.parametrize("mode", [1, 2.5, b"ansi", "human", "rgb_array_list"])
def test_bad_render_modes_name_the_value(mode):
    with pytest.raises(ValueError, match=r"render_mode must be one of \['ansi', 'rgb_array'\] or None, got"):
        gym.make_vec("SeqTutor-Melody-v0", num_envs=2, render_mode=mode)
    if not isinstance(mode, str):  # gym.make wraps "human" / "*_list" modes itself; others reach the env
        with pytest.raises(ValueError, match=rf"or None, got {mode!r}"):
            gym.make("SeqTutor-Melody-v0", render_mode=mode)


def test_huge_unsigned_actions_are_reported_as_they_are():
    env = gym.make("SeqTutor-Melody-v0")
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"invalid action 9223372036854775808: expected an integer in \[0, 38\)"):
        env.step(np.uint64(2**63))
    envs = gym.make_vec("SeqTutor-Melody-v0", num_envs=2)
    envs.reset(seed=0)
    with pytest.raises(ValueError, match=r"invalid action 18446744073709551615"):
        envs.step(np.array([1, 2**64 - 1], dtype=np.uint64))


@pytest.mark.parametrize(
    "env_id, kwarg", [("SeqTutor-Melody-v0", "composition_length=4096"), ("SeqTutor-SMILES-v0", "max_length=1000000")]
)
def test_episodes_too_long_to_fit_are_refused_before_any_work(tmp_path, capsys, env_id, kwarg):
    name, value = kwarg.split("=")
    message = refused(
        capsys,
        "train",
        "--env",
        env_id,
        "--out",
        str(tmp_path / "run"),
        "--steps",
        "100",
        "--no-progress",
        "--env-kwarg",
        kwarg,
    )
    assert f"{name} must be <= 1024, got {value}" in message and "MB" in message
    with pytest.raises(ValueError, match=f"{name} must be <= 1024"):
        gym.make(env_id, **{name: int(value)})
