"""Outputs never replace or delete what seqtutor did not write: run files, devices, other programs' files, folders."""

from __future__ import annotations

import csv
import json
import os
import shutil
import stat
from pathlib import Path

import pytest
from run_files import refused, train_melody_run

from seqtutor_agents.cli import main


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return train_melody_run(tmp_path_factory.mktemp("owned") / "run", steps=256)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_report_out_onto_a_runs_own_file_is_refused(run, capsys):
    before = snapshot(run)
    err = refused(capsys, "report", str(run), "--out", str(run / "model.zip"), "-n", "4", "--optimum-n", "0")
    assert f"--out {run / 'model.zip'} was not written by seqtutor" in err
    assert snapshot(run) == before


def test_optimum_out_onto_a_runs_own_file_is_refused(run, capsys):
    before = (run / "config.json").read_bytes()
    err = refused(capsys, "optimum", "--cs", "10", "-n", "64", "--no-cache", "--out", str(run / "config.json"))
    assert "config.json was not written by seqtutor" in err
    assert (run / "config.json").read_bytes() == before


@pytest.mark.parametrize("command", ["report", "optimum"])
def test_a_device_is_never_replaced(run, capsys, command):
    args = [str(run), "-n", "4", "--optimum-n", "0"] if command == "report" else ["--cs", "10", "-n", "64"]
    err = refused(capsys, command, *args, "--out", "/dev/null")
    assert "--out /dev/null is a character device, not a file seqtutor wrote" in err
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_a_file_written_by_seqtutor_is_replaced_an_edited_one_is_not(run, tmp_path, capsys):
    out = tmp_path / "pi.csv"
    for _ in range(2):  # the second run replaces the file the first one wrote
        assert main(["optimum", "--cs", "10", "-n", "64", "--no-cache", "--resample", "8", "--out", str(out)]) == 0
    with open(out, "a") as f:
        f.write("my own notes\n")
    err = refused(capsys, "optimum", "--cs", "10", "-n", "64", "--no-cache", "--out", str(out))
    assert "has changed since seqtutor wrote it" in err and out.read_text().endswith("my own notes\n")


def test_overwrite_deletes_nothing_of_a_folder_that_is_not_a_run(tmp_path, capsys):
    folder = tmp_path / "project"
    (folder / "logs").mkdir(parents=True)
    (folder / "logs" / "server.log").write_text("keep")
    (folder / "checkpoints").mkdir()
    (folder / "config.json").write_text('{"port": 8080}')
    before = snapshot(folder)
    err = refused(
        capsys, "train", "--algo", "psi", "--steps", "64", "--out", str(folder), "--overwrite", "--no-progress"
    )
    assert "which seqtutor did not write" in err and "config.json, checkpoints/, logs/" in err
    assert snapshot(folder) == before and (folder / "checkpoints").is_dir()


def test_overwrite_of_a_run_unlinks_a_symlinked_logs_without_following_it(run, tmp_path):
    copy, elsewhere = tmp_path / "run", tmp_path / "elsewhere"
    shutil.copytree(run, copy)
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("keep")
    shutil.rmtree(copy / "logs")
    (copy / "logs").symlink_to(elsewhere)
    train_melody_run(copy, steps=128, overwrite=True)
    assert (
        (elsewhere / "keep.txt").read_text() == "keep" and (copy / "logs").is_dir() and not (copy / "logs").is_symlink()
    )


@pytest.mark.parametrize(
    "command",
    [
        ["train", "--steps", "64"],
        ["sample", "--prior"],
        ["evaluate", "--prior"],
        ["optimum", "--cs", "1"],
        ["report", "somewhere"],
    ],
)
def test_an_empty_out_is_refused_by_the_parser(tmp_path, capsys, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main([*command, "--out", ""])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "argument --out: must name a file or folder, got ''" in err, err
    assert list(tmp_path.iterdir()) == []


def test_a_second_sample_set_replaces_the_first(run, tmp_path, capsys):
    out = tmp_path / "samples"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(["sample", "--run", str(run), "-n", "5", "--out", str(out)]) == 0
    assert len(list(out.glob("*.mid"))) == 5
    assert main(["sample", "--run", str(run), "-n", "2", "--seed", "1", "--out", str(out)]) == 0
    with open(out / "samples.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and sorted(p.name for p in out.glob("*.mid")) == ["sample_0000.mid", "sample_0001.mid"]
    assert len(list(out.glob("*.wav"))) == 2 and (out / "notes.txt").read_text() == "mine"
    owned = set(json.loads((out / ".seqtutor-outputs.json").read_text())["files"])
    assert owned == {p.name for p in out.iterdir() if not p.name.startswith(".")} - {"notes.txt"}


def test_a_sample_set_never_replaces_a_file_it_did_not_write(run, tmp_path, capsys):
    out = tmp_path / "samples"
    out.mkdir()
    (out / "sample_0000.mid").write_bytes(b"my own tune")
    err = refused(capsys, "sample", "--run", str(run), "-n", "2", "--out", str(out))
    assert "sample_0000.mid was not written by seqtutor" in err
    assert (out / "sample_0000.mid").read_bytes() == b"my own tune" and not (out / "samples.csv").exists()
    assert not any(p.name.startswith(".seqtutor-staging") for p in out.iterdir())
