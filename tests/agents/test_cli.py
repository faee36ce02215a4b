"""``seqtutor`` command line: smoke runs, bad values, and resuming a killed run."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from run_files import checkpoint_step, newest_checkpoint

from seqtutor_agents.cli import main


def run(*args: str) -> int:
    return main(list(args))


@pytest.mark.slow
def test_train_sample_evaluate_smoke(tmp_path, capsys):
    out = tmp_path / "run"
    assert (
        run(
            "train",
            "--env",
            "SeqTutor-Melody-v0",
            "--algo",
            "g",
            "--steps",
            "512",
            "--n-envs",
            "8",
            "--out",
            str(out),
            "--no-progress",
            "--algo-kwarg",
            "learning_starts=128",
            "--checkpoint-every",
            "256",
        )
        == 0
    )
    config = json.loads((out / "config.json").read_text())
    resolved = config["resolved"]
    assert config["algo"] == "g" and resolved["algo_class"] == "GLearning" and resolved["env_c"] == 10.0
    assert resolved["algo_kwargs"]["learning_starts"] == 128 and resolved["algo_kwargs"]["gamma"] == 1.0  # the domain's
    assert (out / "model.zip").is_file() and (newest_checkpoint(out) / "model.zip").is_file()
    assert list((out / "logs").glob("events.out.tfevents*"))  # TensorBoard
    assert (out / "logs" / "progress.csv").is_file()

    assert run("sample", "--run", str(out), "-n", "3", "--out", str(tmp_path / "samples")) == 0
    midis = sorted((tmp_path / "samples").glob("*.mid"))
    assert len(midis) == 3 and (tmp_path / "samples" / "piano_roll.png").stat().st_size > 1000
    assert len(sorted((tmp_path / "samples").glob("*.wav"))) == 3  # listenable too

    assert run("evaluate", "--run", str(out), "-n", "50", "--out", str(tmp_path / "eval")) == 0
    result = json.loads((tmp_path / "eval" / "evaluation.json").read_text())
    assert result["episodes"] == 50 and 0 <= result["statistics"]["notes_not_in_key"] <= 100
    assert 0 <= result["statistics"]["distinct_openings"] <= 1 and result["prior"]["kl_per_step"] == pytest.approx(
        0, abs=1e-6
    )
    text = (tmp_path / "eval" / "evaluation.md").read_text()
    assert "Notes in motif" in text and "Distinct openings" in text and "| domain objective" in text


def test_sample_and_evaluate_the_smiles_prior(tmp_path):
    assert run("sample", "--prior", "--env", "SeqTutor-SMILES-v0", "-n", "6", "--out", str(tmp_path)) == 0
    smiles = (tmp_path / "samples.smi").read_text().split()
    assert len(smiles) == 6 and (tmp_path / "top_molecules.png").stat().st_size > 1000
    assert run("evaluate", "--prior", "--env", "SeqTutor-SMILES-v0", "-n", "40", "--out", str(tmp_path)) == 0
    result = json.loads((tmp_path / "evaluation.json").read_text())
    assert 0.0 <= result["statistics"]["valid"] <= 1.0


@pytest.mark.parametrize(
    "algo, cls, kwargs",
    [
        ("ppo", "PPO", ["n_steps=32", "batch_size=64"]),
        (
            "recurrent_ppo",
            "RecurrentPPO",
            ["n_steps=32", "batch_size=64", "n_epochs=1", 'policy_kwargs={"lstm_hidden_size": 16, "net_arch": [16]}'],
        ),
        ("qrdqn", "QRDQN", ["learning_starts=64"]),
        ("dap", "DAP", ["batch_size=8", "replay_memory=16", "replay_sample=4"]),
        ("klppo", "KLPPO", ["batch_size=8", "minibatch_size=4"]),
    ],
)
def test_other_algorithms_through_the_cli(tmp_path, algo, cls, kwargs):
    out = tmp_path / algo
    extra = [arg for kv in kwargs for arg in ("--algo-kwarg", kv)]
    assert (
        run("train", "--algo", algo, "--steps", "256", "--n-envs", "4", "--out", str(out), "--no-progress", *extra) == 0
    )
    assert json.loads((out / "config.json").read_text())["resolved"]["algo_class"] == cls
    header = (out / "logs" / "progress.csv").read_text().splitlines()[0].split(",")
    assert "rollout/prior_log_prob" in header and "rollout/domain_reward" in header
    assert run("evaluate", "--run", str(out), "-n", "8") == 0  # loads back (safely) and samples
    # and resumes from its checkpoint to a larger budget
    assert (
        run("train", "--algo", algo, "--steps", "512", "--n-envs", "4", "--out", str(out), "--no-progress", "--resume")
        == 0
    )
    assert checkpoint_step(out) >= 512


@pytest.mark.parametrize(
    "args, message",
    [
        (["--env", "CartPole-v1"], "not a seqtutor env"),
        (["--env", "SeqTutor-Drums-v0"], "unknown env id"),
        (["--algo", "sac"], "unknown algorithm 'sac'"),
        (["--c", "0"], "--c: c must be in (0, inf), got 0.0"),
        (["--c", "-3"], "--c: c must be in (0, inf)"),
        (["--steps", "0"], "--steps: steps must be in [1, inf), got 0"),
        (["--target-kl", "0.5", "--algo", "ppo"], "--target-kl adapts the KL weight during training"),
        (["--algo-kwarg", "train_freq=0"], "train_freq must be in [1, inf), got 0"),
        (["--algo-kwarg", "gamma=abc"], "gamma must be a number, got 'abc'"),
        (["--seed", "-1"], "--seed: seed must be in [0, 4.29497e+09], got -1"),
        (["--algo-kwarg", "warp_speed=9"], "bad hyperparameter"),
        (["--env-kwarg", "tempo=9"], "got an unexpected keyword argument 'tempo'"),
    ],
)
def test_bad_values_give_clear_errors(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exc:
        run("train", "--out", str(tmp_path / "x"), "--steps", "100", "--no-progress", *args)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_missing_run_folder(tmp_path, capsys):
    with pytest.raises(SystemExit):
        run("sample", "--run", str(tmp_path / "nothing"))
    assert "not a seqtutor run folder" in capsys.readouterr().err


@pytest.mark.slow
def test_killed_training_resumes_from_its_checkpoint(tmp_path):
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "seqtutor_agents.cli",
        "train",
        "--algo",
        "psi",
        "--steps",
        "200000",
        "--n-envs",
        "8",
        "--out",
        str(out),
        "--checkpoint-every",
        "512",
        "--no-progress",
        "--algo-kwarg",
        "learning_starts=256",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ})
    deadline = time.time() + 240
    while time.time() < deadline and not (list((out / "checkpoints").glob("ckpt-*")) and checkpoint_step(out) >= 1024):
        time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    killed_at = checkpoint_step(out)
    assert 1024 <= killed_at < 200_000
    # Resume to a nearby total: training continues from the checkpoint, not from zero.
    assert (
        main(
            [
                "train",
                "--algo",
                "psi",
                "--steps",
                str(killed_at + 512),
                "--n-envs",
                "8",
                "--out",
                str(out),
                "--no-progress",
                "--resume",
                "--algo-kwarg",
                "learning_starts=256",
            ]
        )
        == 0
    )
    final = checkpoint_step(out)
    assert killed_at + 512 <= final < killed_at + 512 + 8
    assert list((out / "logs").glob("resume-*/progress.csv"))
