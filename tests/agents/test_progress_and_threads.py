"""--threads on every command that trains or samples; progress as lines when stdout is not a terminal,
through PPO-family updates too."""

import re

import pytest

import seqtutor_envs.progress as progress_module
from seqtutor_agents import cli
from seqtutor_agents.runs.progress import update_steps
from seqtutor_agents.runs.training import TrainConfig, train
from seqtutor_envs.threads import DEFAULT_THREADS

COMMANDS = {
    "pretrain": ["pretrain", "melody", "--out", "p.pt"],
    "train": ["train", "--out", "run"],
    "sample": ["sample", "--prior"],
    "evaluate": ["evaluate", "--prior"],
    "optimum": ["optimum", "--out", "o.csv"],
    "report": ["report", "run"],
    "demo": ["demo"],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_that_trains_or_samples_takes_threads(command, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    parser = cli.build_parser()
    assert parser.parse_args(COMMANDS[command]).threads == DEFAULT_THREADS == 1
    assert parser.parse_args([*COMMANDS[command], "--threads", "2"]).threads == 2
    with pytest.raises(SystemExit):
        parser.parse_args([*COMMANDS[command], "--threads", "0"])


def test_the_threads_setting_reaches_torch(tmp_path, monkeypatch):
    applied = []
    monkeypatch.setattr(cli, "use_threads", applied.append)
    assert cli.main(["sample", "--prior", "-n", "2", "--threads", "2", "--out", str(tmp_path / "s")]) == 0
    assert applied == [2]


def _lines(capsys):
    return capsys.readouterr().out.splitlines()


def test_progress_lines_when_stdout_is_not_a_terminal(capsys):
    bar = progress_module.ProgressLines(total=10, desc="work", unit="items", every=0.0)
    for _ in range(10):
        bar.update(1)
    bar.close()
    lines = _lines(capsys)
    assert lines[0].startswith("work: 1/10 items (10 %)") and lines[-1].startswith("work: 10/10 items (100 %)")
    assert len(lines) == 10  # one per update at every=0, and no repeated closing line
    quiet = progress_module.ProgressLines(total=3, desc="short", every=60.0, leave=False)
    quiet.update(3)
    quiet.close()
    assert _lines(capsys) == []  # a short phase that printed nothing stays quiet


def test_training_progress_counts_env_steps_and_the_gradient_steps_of_each_update(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(progress_module, "LINE_EVERY_S", 0.0)  # pytest's stdout is not a terminal: lines
    config = TrainConfig(
        out=str(tmp_path / "run"),
        algo="klppo",
        steps=512,
        n_envs=16,
        seed=0,
        env_kwargs={"composition_length": 8},
        algo_kwargs={"batch_size": 32},
    )
    model = train(config, progress=True)
    lines = _lines(capsys)
    per_update = update_steps(model)
    assert per_update == model.n_epochs * 2  # 32 episodes a rollout, 16 a minibatch
    train_lines = [line for line in lines if line.startswith("train: ")]
    assert train_lines[-1].startswith(f"train: {model.num_timesteps:,}/512 env steps")
    updates = [int(m.group(1)) for m in (re.match(r"update: (\d+)/(\d+) gradient steps", line) for line in lines) if m]
    assert updates and max(updates) == per_update
    assert all(f"/{per_update} gradient steps" in line for line in lines if line.startswith("update: "))


def test_pretrain_prints_batch_progress_lines(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(progress_module, "LINE_EVERY_S", 0.0)
    assert (
        cli.main(
            [
                "pretrain",
                "melody",
                "--out",
                str(tmp_path / "p.pt"),
                "--limit",
                "40",
                "--max-epochs",
                "1",
                "--hidden-size",
                "8",
                "--batch-size",
                "8",
            ]
        )
        == 0
    )
    lines = _lines(capsys)
    assert any(re.match(r"epoch 1: \d+/\d+ batches .*loss=", line) for line in lines)
    assert any(line.startswith("prior quality: validation NLL/token") for line in lines)
