"""Scoring files in runs: ``seqtutor train --scoring`` (the copy, the CSV columns, resume, stages, the report),
``seqtutor score``, and the two-component example trained for 20,000 steps."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from seqtutor_agents.cli import main
from seqtutor_envs.smiles.scoring_file import load_scoring_file
from seqtutor_envs.smiles.stages import StagedScoring, SwitchRule

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "scoring" / "qed_mw.toml"
FIXTURE = ROOT / "tests" / "data" / "smiles_fixture.smi"
STAGE = """[[stage]]
name = "{name}"
{condition}
[stage.scoring]
[[stage.scoring.component]]
[stage.scoring.component.{kind}]
[[stage.scoring.component.{kind}.endpoint]]
{endpoint}
"""
QED_STAGE = {"kind": "QED", "endpoint": 'name = "QED"'}
CSP3_STAGE = {"kind": "Csp3", "endpoint": 'name = "Csp3"'}


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _train(out: Path, scoring: Path, steps: int, *extra: str) -> int:
    return main(
        [
            "train",
            "--env",
            "SeqTutor-SMILES-v0",
            "--algo",
            "dap",
            "--scoring",
            str(scoring),
            "--steps",
            str(steps),
            "--n-envs",
            "32",
            "--out",
            str(out),
            "--no-progress",
            *extra,
        ]
    )


def _staged(tmp_path: Path, condition: str) -> Path:
    path = tmp_path / "stages.toml"
    path.write_text(
        STAGE.format(name="qed first", condition=condition, **QED_STAGE)
        + STAGE.format(name="then csp3", condition="", **CSP3_STAGE)
    )
    return path


def test_staged_scoring_switches_on_the_mean_of_its_window_or_its_budget(tmp_path):
    staged = load_scoring_file(_staged(tmp_path, "max_score = 0.5\nwindow = 4\nmin_steps = 10"))
    assert isinstance(staged, StagedScoring) and staged.current.switch == SwitchRule(0.5, 4, 10, None)
    staged.observe(np.array([0.9, 0.9, 0.9]), 20)  # 3 molecules: the window is not full
    staged.observe(np.array([0.1]), 1)  # full, mean 0.7 >= 0.5, 21 steps >= min_steps: switch
    assert staged.stage == 2 and staged.switches[0].env_step == 21 and "mean score 0.7000" in staged.switches[0].reason
    staged.observe(np.array([0.0] * 10), 1000)  # the last stage never switches
    assert staged.stage == 2 and len(staged.switches) == 1
    budget = load_scoring_file(_staged(tmp_path, "max_steps = 100"))
    for _ in range(3):
        budget.observe(np.array([]), 32)
    assert budget.stage == 1
    budget.observe(np.array([]), 32)  # 128 >= 100
    assert budget.stage == 2 and budget.switches[0].env_step == 128


def _expected_switch(rows: list[dict[str, str]], threshold: float, window: int) -> int:
    """The first env step after which the last ``window`` logged scores average >= threshold (the rule, replayed)."""
    recent: list[float] = []
    steps = sorted({int(r["step"]) for r in rows})
    for step in steps:
        recent += [float(r["score"]) for r in rows if int(r["step"]) == step]
        if len(recent) >= window and np.mean(recent[-window:]) >= threshold:
            return step
    raise AssertionError("the rule never fires on this log")


def test_a_staged_run_switches_where_its_rule_says(tmp_path, capsys):
    out = tmp_path / "run"
    scoring = _staged(tmp_path, "max_score = 0.6\nwindow = 20")
    assert _train(out, scoring, 3000) == 0
    rows = _rows(out / "sequences.csv")
    stages = json.loads((out / "stages.json").read_text())["stages"]
    assert [s["stage"] for s in stages] == [1, 2] and stages[1]["name"] == "then csp3"
    switch = stages[1]["step"]
    assert switch == _expected_switch([r for r in rows if r["stage"] == "1"], 0.6, 20)
    assert all(r["stage"] == ("1" if int(r["step"]) <= switch else "2") for r in rows)
    assert f"stage 2 (then csp3) from env step {switch:,}" in capsys.readouterr().out
    after = [r for r in rows if r["stage"] == "2" and r["valid"] == "1"]
    assert after and all(float(r["score"]) == max(float(r["Csp3"]), 1e-8) and r["QED"] == "nan" for r in after)
    progress = _rows(out / "logs" / "progress.csv")
    logged = [(int(r["time/total_timesteps"]), float(r["train/stage"])) for r in progress]
    assert logged and all(stage == (1.0 if step < switch else 2.0) for step, stage in logged)
    report = tmp_path / "report.html"
    assert main(["report", str(out), "--out", str(report), "-n", "8", "--media", "2"]) == 0
    page = report.read_text()
    assert (
        "Scoring stages" in page and f"<td>then csp3</td><td>{switch:,}</td>" in page and "<th>Csp3 (raw)</th>" in page
    )


def test_a_step_budget_switch_survives_a_resume(tmp_path):
    scoring = _staged(tmp_path, "max_steps = 1000")
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert _train(whole, scoring, 2000) == 0
    assert _train(parts, scoring, 640) == 0
    scoring.write_text("garbage = 1")  # the run reads its own copy from now on
    assert _train(parts, scoring, 2000, "--resume") == 0
    for out in (whole, parts):  # 32 envs: the 32nd vector step is the first with >= 1,000 steps in stage 1
        stages = json.loads((out / "stages.json").read_text())["stages"]
        assert [(s["stage"], s["step"]) for s in stages] == [(1, 0), (2, 1024)]
        assert all(r["stage"] == ("1" if int(r["step"]) <= 1024 else "2") for r in _rows(out / "sequences.csv"))


def test_a_damaged_copy_is_refused_on_resume_and_report(tmp_path, capsys):
    out = tmp_path / "run"
    assert _train(out, EXAMPLE, 200) == 0
    assert (out / "scoring.toml").read_text() == EXAMPLE.read_text()
    (out / "scoring.toml").write_text((out / "scoring.toml").read_text().replace("weight = 0.4", "weight = -0.4"))
    for args in (
        ["train", "--out", str(out), "--steps", "400", "--resume", "--no-progress"],
        ["report", str(out), "--out", str(tmp_path / "r.html"), "-n", "4"],
    ):
        with pytest.raises(SystemExit) as exc:
            main(args)
        err = capsys.readouterr().err
        assert exc.value.code == 2 and f"{out / 'scoring.toml'}, scoring.component[1]" in err and "got -0.4" in err


@pytest.mark.parametrize(
    "args,message",
    [
        (["--scoring", "absent.toml"], "--scoring: absent.toml: no such scoring file"),
        (["--scoring", str(EXAMPLE), "--env", "SeqTutor-Melody-v0"], "it needs --env SeqTutor-SMILES-v0"),
        (["--scoring", str(EXAMPLE), "--env-kwarg", "objective=qed"], "leave out --env-kwarg objective=qed"),
        (["--env-kwarg", f"objective=file:{EXAMPLE}"], f"give a scoring file with --scoring {EXAMPLE}"),
    ],
)
def test_bad_scoring_options_are_refused_before_the_folder_is_touched(tmp_path, capsys, args, message):
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exc:
        main(
            ["train", "--out", str(out), "--steps", "100", "--no-progress", *args]
            + ([] if "--env" in args else ["--env", "SeqTutor-SMILES-v0"])
        )
    assert exc.value.code == 2 and message in capsys.readouterr().err
    assert not out.exists()


def test_score_writes_every_component_and_workers_agree(tmp_path, capsys):
    for workers in ("1", "2"):
        assert (
            main(
                [
                    "score",
                    "--scoring",
                    str(EXAMPLE),
                    str(FIXTURE),
                    "--out",
                    str(tmp_path / f"s{workers}.csv"),
                    "--workers",
                    workers,
                ]
            )
            == 0
        )
    one, two = (tmp_path / "s1.csv").read_text(), (tmp_path / "s2.csv").read_text()
    assert one == two
    rows = _rows(tmp_path / "s1.csv")
    assert list(rows[0]) == ["smiles", "valid", "score", "QED", "QED (raw)", "MW", "MW (raw)"]
    table = load_scoring_file(EXAMPLE).evaluate([r["smiles"] for r in rows])
    assert [float(r["score"]) for r in rows] == table.score.tolist()
    assert [float(r["MW (raw)"]) if r["MW (raw)"] else math.nan for r in rows][:5] == table.raw[:5, 1].tolist()
    assert sum(r["valid"] == "0" for r in rows) >= 3 and all(r["score"] == "0.0" for r in rows if r["valid"] == "0")
    assert "molecules" in capsys.readouterr().out
    (tmp_path / "bad.toml").write_text("[scoring]\n")
    with pytest.raises(SystemExit) as exc:
        main(["score", "--scoring", str(tmp_path / "bad.toml"), str(FIXTURE), "--out", str(tmp_path / "x.csv")])
    assert exc.value.code == 2 and "bad.toml, scoring.component" in capsys.readouterr().err


def test_the_two_component_example_trains_for_20k_steps(tmp_path):
    out = tmp_path / "example"
    assert _train(out, EXAMPLE, 20_000, "--n-envs", "256") == 0
    rows = _rows(out / "sequences.csv")
    assert int(rows[-1]["step"]) >= 20_000 and len(rows) > 300
    table = load_scoring_file(EXAMPLE).evaluate([r["smiles"] for r in rows])  # the rewards are the file's scores
    np.testing.assert_array_equal([float(r["score"]) for r in rows], table.score)
    np.testing.assert_array_equal([float(r["MW (raw)"]) for r in rows if r["valid"] == "1"], table.raw[table.valid, 1])
    report = tmp_path / "report.html"
    assert main(["report", str(out), "--out", str(report), "-n", "20", "--media", "2"]) == 0
    page = report.read_text()
    assert "<th>MW (raw)</th>" in page and "<th>QED</th>" in page


def test_a_scoring_runs_files_are_run_entries_that_overwrite_removes():
    """--overwrite removes only a run's own entries (runs.owned): a scoring run's files must be among them."""
    from seqtutor_agents.runs.owned import RUN_ENTRIES
    from seqtutor_agents.runs.scoring_run import RUN_FILES

    assert set(RUN_FILES) <= set(RUN_ENTRIES)
