"""A run's sequences.csv holds every episode its checkpoint counts, survives a kill, and a damaged one is
salvaged on resume."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from stable_baselines3.common.callbacks import BaseCallback

from seqtutor_agents.runs.config import TrainConfig
from seqtutor_agents.runs.run_folder import list_checkpoints
from seqtutor_agents.runs.training import train

FIELDS = ["episode", "step", "composition", "domain_return", "prior_log_likelihood", "policy_log_likelihood"]


class Killed(BaseException):
    """Stands for kill -9: nothing of the process runs after it (no callback, no flush)."""


class KillAfterFirstCheckpoint(BaseCallback):
    """Ends the process, as kill -9 would, at the first step after a checkpoint was published."""

    def __init__(self, out: Path) -> None:
        super().__init__()
        self.out = out

    def _on_step(self) -> bool:
        if list_checkpoints(self.out):
            raise Killed
        return True


def config(out: Path, steps: int) -> TrainConfig:
    return TrainConfig(
        out=str(out),
        algo="psi",
        steps=steps,
        n_envs=4,
        checkpoint_every=96,
        seed=3,
        env_kwargs={"composition_length": 8},
        algo_kwargs={"learning_starts": 64, "train_freq": 16},
    )


def rows_of(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def assert_well_formed(path: Path) -> list[dict[str, str]]:
    fields, rows = rows_of(path)
    assert fields == FIELDS
    assert [int(r["episode"]) for r in rows] == list(range(len(rows)))
    steps = [int(r["step"]) for r in rows]
    assert steps == sorted(steps)
    for row in rows:
        assert None not in row and all(row[k] not in (None, "") for k in FIELDS), row
        float(row["domain_return"]), float(row["prior_log_likelihood"])
    return rows


def test_a_kill_right_after_a_checkpoint_loses_none_of_its_episodes(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(Killed):
        train(config(out, 10_000), callback=KillAfterFirstCheckpoint(out), progress=False)
    checkpoint = list_checkpoints(out)[-1]
    train(config(out, 384), resume=True, progress=False)
    rows = assert_well_formed(out / "sequences.csv")
    at_checkpoint = [r for r in rows if int(r["step"]) <= checkpoint.step]
    assert any(int(r["step"]) == checkpoint.step for r in rows)  # the episodes of the checkpoint's own step

    fresh = tmp_path / "fresh"  # the same seed without the kill: the same episodes up to the checkpoint
    train(config(fresh, 384), progress=False)
    _, uninterrupted = rows_of(fresh / "sequences.csv")
    assert at_checkpoint == [r for r in uninterrupted if int(r["step"]) <= checkpoint.step]


@pytest.fixture(scope="module")
def stopped(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("logs") / "run"
    train(config(out, 192), progress=False)
    return out


def damage(path: Path, how: str) -> None:
    lines = path.read_text().splitlines(keepends=True)
    if how == "header":  # another program's columns: new rows would be written empty under them
        lines[0] = "time,user,message\r\n"
    elif how == "cut_row":  # a row cut short in the middle of the log
        lines[3] = lines[3][: len(lines[3]) // 3] + "\r\n"
    elif how == "no_step":  # the step column gone
        lines = [",".join(c for i, c in enumerate(line.rstrip("\r\n").split(",")) if i != 1) + "\r\n" for line in lines]
    path.write_text("".join(lines))


@pytest.mark.parametrize("how, kept", [("header", 0), ("cut_row", 2), ("no_step", 0)])
def test_a_damaged_log_is_salvaged_on_resume_with_a_warning(stopped, tmp_path, how, kept):
    import shutil

    out = tmp_path / "run"
    shutil.copytree(stopped, out)
    damage(out / "sequences.csv", how)
    with pytest.warns(UserWarning, match="sequences"):
        train(config(out, 384), resume=True, progress=False)
    rows = assert_well_formed(out / "sequences.csv")
    assert len(rows) > kept and all(int(r["step"]) > 192 for r in rows[kept:])
    if how != "cut_row":
        assert list(out.glob("sequences.damaged-*.csv"))  # the damaged file is kept aside, not lost


def test_an_intact_log_is_cut_back_to_its_checkpoint_by_checksum(stopped, tmp_path):
    import shutil

    out = tmp_path / "run"
    shutil.copytree(stopped, out)
    state = json.loads((list_checkpoints(out)[-1].path / "state.json").read_text())
    facts = state["logs"]["sequences.csv"]
    assert facts["bytes"] == (out / "sequences.csv").stat().st_size and facts["fields"] == FIELDS
    with open(out / "sequences.csv", "a", newline="") as f:  # logged after the checkpoint, cut by a kill
        f.write("999,99999,1 2 3")
    train(config(out, 384), resume=True, progress=False)
    rows = assert_well_formed(out / "sequences.csv")
    assert len(rows) > facts["rows"] and (out / "sequences.csv").read_bytes().startswith(
        (stopped / "sequences.csv").read_bytes()
    )
