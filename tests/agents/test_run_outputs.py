"""What a run writes besides its model: every episode as CSV, a re-runnable config.toml, a stop on collapse."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from seqtutor_agents.cli import main
from seqtutor_agents.runs.config import TrainConfig
from seqtutor_agents.runs.run_config import read_config_toml
from seqtutor_agents.runs.run_folder import ConfigError
from seqtutor_agents.runs.training import train


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def small(out: Path, **fields) -> TrainConfig:
    settings = {
        "env_id": "SeqTutor-SMILES-v0",
        "algo": "g",
        "steps": 1024,
        "n_envs": 16,
        "seed": 0,
        "env_kwargs": {"objective": "qed"},
        "algo_kwargs": {"learning_starts": 256},
        **fields,
    }
    return TrainConfig(out=str(out), **settings)


def test_every_training_molecule_is_a_row_with_scores_and_likelihoods(tmp_path):
    model = train(small(tmp_path / "run"), progress=False)
    rows = read_rows(tmp_path / "run" / "sequences.csv")
    assert len(rows) == model._episode_num > 10
    assert [int(r["episode"]) for r in rows] == list(range(len(rows)))
    steps = [int(r["step"]) for r in rows]
    assert steps == sorted(steps) and steps[-1] <= model.num_timesteps
    for row in rows:
        assert set(row) >= {
            "smiles",
            "valid",
            "scaffold",
            "domain_return",
            "prior_log_likelihood",
            "policy_log_likelihood",
        }
        assert float(row["prior_log_likelihood"]) < 0 and float(row["policy_log_likelihood"]) < 0
        if row["valid"] == "1":
            assert float(row["domain_return"]) == pytest.approx(float(row["qed"]), abs=1e-6)  # qed: the score
    assert any(r["valid"] == "1" and r["scaffold"] for r in rows)


def test_a_resumed_run_logs_no_episode_twice(tmp_path):
    out = tmp_path / "run"
    train(small(out, steps=512, checkpoint_every=256), progress=False)
    first = read_rows(out / "sequences.csv")
    with open(out / "sequences.csv", "a", newline="") as f:  # as if logged after the checkpoint, before a kill
        f.write(",".join(["999", "99999"] + [""] * (len(first[0]) - 2)) + "\n")
    train(small(out, steps=1024, checkpoint_every=256), resume=True, progress=False)
    rows = read_rows(out / "sequences.csv")
    assert [int(r["episode"]) for r in rows] == list(range(len(rows)))
    assert rows[: len(first)] == first and all(int(r["step"]) <= 1024 for r in rows)


def test_samples_csv_beside_the_samples(tmp_path):
    assert main(["sample", "--prior", "--env", "SeqTutor-SMILES-v0", "-n", "12", "--out", str(tmp_path)]) == 0
    rows = read_rows(tmp_path / "samples.csv")
    assert len(rows) == 12
    for row in rows:  # the prior sampled them: its likelihood is the policy's
        assert float(row["prior_log_likelihood"]) == pytest.approx(float(row["policy_log_likelihood"]), abs=1e-3)


def test_collapse_stop_fires_on_repeats_and_logs(tmp_path, capsys):
    from stable_baselines3.common.logger import configure

    from seqtutor_agents import GLearning, make_sb3_vec_env
    from seqtutor_agents.runs.callbacks import StopOnCollapse

    model = GLearning("RecurrentQPolicy", make_sb3_vec_env("SeqTutor-SMILES-v0", n_envs=2, seed=0), seed=0)
    model.set_logger(configure(str(tmp_path), ["csv"]))
    stop = StopOnCollapse(min_unique=0.5, window=4, env_id="SeqTutor-SMILES-v0")
    stop.init_callback(model)

    def step(*smiles: str) -> bool:
        stop.update_locals({"transition": SimpleNamespace(finals={i: {"smiles": s} for i, s in enumerate(smiles)})})
        return stop.on_step()

    assert step("CCO", "CCN") and step("c1ccccc1", "CCO")  # 3 distinct of 4: no collapse
    assert step("CCO", "CCO") and not step("CCO", "CCO")  # 2 of 4, then 1 of 4 distinct: stop
    assert stop.stopped_at == 0 and "only 25.0% of the last 4 sequences are distinct" in capsys.readouterr().out
    with pytest.raises(ValueError, match="share in"):
        StopOnCollapse(1.5, 10, "SeqTutor-SMILES-v0")


def test_training_logs_the_distinct_share_and_validates_the_bound(tmp_path):
    model = train(small(tmp_path / "run", stop_on_collapse=0.2, collapse_window=20), progress=False)
    assert model.num_timesteps >= 1024  # the shipped prior's molecules are distinct: no stop
    header = (tmp_path / "run" / "logs" / "progress.csv").read_text().splitlines()[0].split(",")
    assert "rollout/unique_share" in header
    with pytest.raises(ConfigError, match="stop_on_collapse"):
        small(tmp_path / "x", stop_on_collapse=1.5).validate()


def test_a_runs_config_toml_runs_it_again(tmp_path):
    first = tmp_path / "first"
    assert (
        main(
            [
                "train",
                "--env",
                "SeqTutor-Melody-v0",
                "--algo",
                "psi",
                "--steps",
                "512",
                "--n-envs",
                "8",
                "--target-kl",
                "0.1",
                "--algo-kwarg",
                "learning_starts=128",
                "--env-kwarg",
                "prior_weight=0.5",
                "--out",
                str(first),
                "--no-progress",
            ]
        )
        == 0
    )
    written = read_config_toml(first / "config.toml")
    assert written["target_kl"] == 0.1 and written["env_kwargs"] == {"prior_weight": 0.5}
    assert "c" not in written  # unset: TOML has no null, the default applies again
    second = tmp_path / "second"
    assert main(["train", "--config", str(first / "config.toml"), "--out", str(second), "--no-progress"]) == 0
    a, b = (json.loads((d / "config.json").read_text()) for d in (first, second))
    assert {k: v for k, v in a.items() if k not in ("out", "resolved")} == {
        k: v for k, v in b.items() if k not in ("out", "resolved")
    }
    assert (first / "sequences.csv").read_bytes() == (second / "sequences.csv").read_bytes()  # same seed, same run


def test_bad_config_files_are_named(tmp_path, capsys):
    (tmp_path / "bad.toml").write_text('algo = "g"\nwarp = 9\n')
    (tmp_path / "broken.toml").write_text("algo = \n")
    for name, message in (
        ("bad.toml", "unknown setting(s) warp"),
        ("broken.toml", "not valid TOML"),
        ("missing.toml", "no such file"),
    ):
        with pytest.raises(SystemExit) as exc:
            main(["train", "--config", str(tmp_path / name), "--out", str(tmp_path / "r")])
        assert exc.value.code == 2 and message in capsys.readouterr().err
    (tmp_path / "no_out.toml").write_text('algo = "g"\n')
    with pytest.raises(SystemExit):
        main(["train", "--config", str(tmp_path / "no_out.toml")])
    assert "--out is required" in capsys.readouterr().err
