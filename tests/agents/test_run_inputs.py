"""What a run folder feeds into report, evaluate, sample and resume: regular files inside the run only, size-capped;
paths recorded absolute (or read relative to the run); the prior identified by its SHA-256."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch
from run_files import refused, train_melody_run

from seqtutor_agents.cli import main
from seqtutor_agents.runs.report import read_progress
from seqtutor_agents.runs.training import load_run
from seqtutor_envs.melody.env import default_prior_path
from seqtutor_envs.prior import LSTMPrior

SECRET = "SEQTUTOR_TEST_TOKEN=hunter2-do-not-share"


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return train_melody_run(tmp_path_factory.mktemp("inputs") / "run", steps=256)


@pytest.fixture
def copy(run, tmp_path) -> Path:
    target = tmp_path / "run"
    shutil.copytree(run, target)
    return target


def report(capsys, run: Path, out: Path) -> tuple[int | str, str]:
    try:
        code = main(["report", str(run), "--out", str(out), "-n", "8", "--optimum-n", "0", "--media", "1"])
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize("target", ["outside_file", "proc_environ"])
def test_a_config_toml_leading_outside_the_run_is_never_embedded(copy, tmp_path, capsys, monkeypatch, target):
    secret = tmp_path / "id_rsa"
    secret.write_text(SECRET)
    monkeypatch.setenv("SEQTUTOR_TEST_TOKEN", "hunter2-do-not-share")
    (copy / "config.toml").unlink()
    (copy / "config.toml").symlink_to(secret if target == "outside_file" else Path("/proc/self/environ"))
    page = tmp_path / "report.html"
    code, err = report(capsys, copy, page)
    assert code == 2 and "leads outside the run folder" in err and "config.toml" in err, err
    assert not page.exists()


def test_an_oversized_config_toml_is_refused_naming_the_limit(copy, tmp_path, capsys):
    (copy / "config.toml").write_text("# padding\n" * 500_000)  # 5 MB, over the 4 MiB limit of a settings file
    page = tmp_path / "report.html"
    code, err = report(capsys, copy, page)
    assert code == 2 and "config.toml is 5.0 MB; seqtutor reads at most 4.2 MB" in err, err
    assert not page.exists()


def test_logs_linked_to_the_root_are_not_walked(copy, tmp_path, capsys):
    shutil.rmtree(copy / "logs")
    (copy / "logs").symlink_to("/")
    code, err = report(capsys, copy, tmp_path / "report.html")
    assert code == 2 and f"{copy / 'logs'} leads outside the run folder" in err and "(to /)" in err, err


def test_a_non_numeric_progress_cell_is_a_gap_with_a_note(copy):
    path = copy / "logs" / "progress.csv"
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    row = lines[1].split(",")
    row[header.index("time/total_timesteps")] = "not-a-number"
    path.write_text("\n".join([lines[0], ",".join(row), *lines[2:]]) + "\n")
    notes: list[str] = []
    progress = read_progress(copy, notes)
    assert progress["time/total_timesteps"].shape == (len(lines) - 1,)
    assert notes == ["1 cells of the training log are not numbers; the curves show gaps there."]


# ---------------------------------------------------------------------------- paths and the prior
def perturbed_prior(path: Path) -> None:
    """A valid melody prior with other weights (another file of the same name)."""
    prior, metadata = LSTMPrior.load(default_prior_path())
    with torch.no_grad():
        for parameter in prior.parameters():
            parameter.add_(0.5)
    prior.save(path, metadata)


def evaluation(capsys, run: Path, out: Path) -> dict:
    assert main(["evaluate", "--run", str(run), "-n", "40", "--out", str(out)]) == 0
    capsys.readouterr()
    return json.loads((out / "evaluation.json").read_text())


def test_a_relative_prior_path_is_recorded_absolute_with_its_checksum(tmp_path, capsys, monkeypatch):
    here, elsewhere = tmp_path / "here", tmp_path / "elsewhere"
    here.mkdir(), elsewhere.mkdir()
    shutil.copy(default_prior_path(), here / "my_prior.pt")
    perturbed_prior(elsewhere / "my_prior.pt")  # same name, other weights
    monkeypatch.chdir(here)
    assert (
        main(
            [
                "train",
                "--algo",
                "psi",
                "--steps",
                "128",
                "--n-envs",
                "8",
                "--out",
                "run",
                "--no-progress",
                "--env-kwarg",
                "prior_path=my_prior.pt",
                "--env-kwarg",
                "composition_length=8",
                "--algo-kwarg",
                "learning_starts=64",
            ]
        )
        == 0
    )
    config = json.loads((here / "run" / "config.json").read_text())
    assert config["env_kwargs"]["prior_path"] == str(here / "my_prior.pt")
    assert (
        config["resolved"]["prior_path"] == str(here / "my_prior.pt") and len(config["resolved"]["prior_sha256"]) == 64
    )
    assert config["out"] == str(here / "run")
    at_home = evaluation(capsys, here / "run", tmp_path / "eval_here")
    monkeypatch.chdir(elsewhere)  # another folder, with another my_prior.pt: the run still uses its own prior
    away = evaluation(capsys, here / "run", tmp_path / "eval_away")
    assert away["prior"] == at_home["prior"] and away["kl_per_step"] == at_home["kl_per_step"]

    perturbed_prior(here / "my_prior.pt")  # the run's prior file replaced by another one
    err = refused(capsys, "evaluate", "--run", str(here / "run"), "-n", "4")
    assert (
        "the run was trained with the prior" in err and "a different file" in err and str(here / "my_prior.pt") in err
    )


def test_a_relative_path_in_a_config_is_read_relative_to_the_run(copy, tmp_path, capsys, monkeypatch):
    config = json.loads((copy / "config.json").read_text())
    shutil.copy(default_prior_path(), copy / "prior.pt")
    config["env_kwargs"]["prior_path"] = "prior.pt"  # as a run of an earlier release recorded it
    config["resolved"].pop("prior_sha256", None)
    (copy / "config.json").write_text(json.dumps(config))
    perturbed_prior(tmp_path / "prior.pt")
    monkeypatch.chdir(tmp_path)  # a prior.pt here must not be the one used
    _, loaded = load_run(copy)
    assert loaded.env_kwargs["prior_path"] == str((copy / "prior.pt").resolve())
    config["env_kwargs"]["prior_path"] = "../prior.pt"
    (copy / "config.json").write_text(json.dumps(config))
    err = refused(capsys, "evaluate", "--run", str(copy), "-n", "4")
    assert "is relative, so it is read relative to the run folder" in err and "leads outside the run folder" in err


def test_a_model_zip_linked_from_outside_is_refused(copy, tmp_path, capsys):
    outside = tmp_path / "elsewhere.zip"
    shutil.move(copy / "model.zip", outside)
    os.symlink(outside, copy / "model.zip")
    err = refused(capsys, "sample", "--run", str(copy), "-n", "2", "--out", str(tmp_path / "s"))
    assert "model.zip leads outside the run folder" in err
