"""The experiments' settings in configs/*.toml: read by `seqtutor train --config` and by the benchmark scripts."""

from __future__ import annotations

import json
import sys

import pytest

from benchmarks import frontier, melody_table, molecule_opt
from benchmarks.common import CONFIGS_DIR, parse_args
from seqtutor_agents.cli import main
from seqtutor_agents.runs.demo import DEMO_ALGO, DEMO_SETTING, DEMO_STEPS, ENV_ID
from seqtutor_agents.runs.run_config import read_config_toml

CONFIGS = sorted(CONFIGS_DIR.glob("*.toml"))
SCRIPTS = {"melody_table.toml": melody_table, "frontier.toml": frontier, "pmo.toml": molecule_opt}


def refused(capsys, call) -> str:
    """Run ``call``, expect exit code 2 and no traceback; return stderr."""
    with pytest.raises(SystemExit) as exc:
        call()
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "Traceback" not in err, err
    return err


def script_args(module, monkeypatch, *argv: str):
    """The options a benchmark script parses from ``argv`` (it stops before running anything)."""
    seen = {}

    def stop(parser, shipped, **kwargs):
        seen["args"] = parse_args(parser, shipped, argv=list(argv), **kwargs)
        raise SystemExit(0)

    monkeypatch.setattr(module, "parse_args", stop)
    with pytest.raises(SystemExit):
        module.main()
    return seen["args"]


def test_every_configs_file_is_read_by_its_script_or_by_train():
    assert {p.name for p in CONFIGS} == {"demo.toml", *SCRIPTS}
    for path in CONFIGS:
        if path.name != "pmo.toml":  # a PMO trial is not a `seqtutor train` run: that file has no [train]
            assert read_config_toml(path)["env_id"]


def test_the_demo_file_is_the_demo_run():
    settings = read_config_toml(CONFIGS_DIR / "demo.toml")
    assert settings == {"env_id": ENV_ID, "algo": DEMO_ALGO, "steps": DEMO_STEPS, "seed": 0, **DEMO_SETTING}


def test_scripts_take_their_defaults_from_the_shipped_file(monkeypatch):
    args = script_args(melody_table, monkeypatch)
    assert (args.algos, args.steps, args.c, args.n_envs, args.compositions) == (
        ["q", "psi", "g", "ppo", "dqn"],
        2_000_000,
        0.5,
        32,
        10_000,
    )
    args = script_args(frontier, monkeypatch, "--seeds", "4")
    assert (args.steps, args.target_kls, args.dap_cs, args.seeds, args.workers) == (
        1_000_000,
        [0.05, 0.1, 0.15],
        [4.0, 8.0, 16.0],
        [4],
        2,
    )
    args = script_args(molecule_opt, monkeypatch)
    assert (args.algos, args.seeds, args.budget, args.max_steps) == (["g", "dap"], [0, 1, 2], 10_000, 3_000_000)


def test_another_file_goes_over_the_shipped_one_and_the_command_line_over_both(tmp_path, monkeypatch):
    mine = tmp_path / "mine.toml"
    mine.write_text('[train]\nsteps = 5000\n\n[benchmark]\nalgos = ["g"]\ncompositions = 64\n')
    args = script_args(melody_table, monkeypatch, "--config", str(mine), "--compositions", "32")
    assert (args.steps, args.algos, args.compositions, args.c) == (5000, ["g"], 32, 0.5)


@pytest.mark.parametrize(
    "text, named",
    [
        ("[benchmark]\ncompostions = 5\n", "unknown setting 'compostions'"),
        ('[train]\nenv_id = "SeqTutor-SMILES-v0"\n', "env_id must be 'SeqTutor-Melody-v0'"),
        ('[benchmark]\nsteps = "many"\n', "steps = 'many': expected an integer"),
        ('[benchmark]\nalgos = "g"\n', "algos must be a list, got 'g'"),
        ("[runs]\nx = 1\n", "runs is not one of its tables (train, benchmark)"),
    ],
)
def test_a_bad_setting_in_a_scripts_file_is_refused_in_one_line_naming_it(tmp_path, monkeypatch, capsys, text, named):
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    monkeypatch.setattr(sys, "argv", ["benchmarks/melody_table.py", "--config", str(bad)])
    err = refused(capsys, melody_table.main)
    assert f"--config {bad}: {named}" in err, err
    assert err.strip().splitlines()[-1].startswith("melody_table.py: error: --config")


def test_train_with_a_configs_file_writes_the_config_of_the_same_flags(tmp_path):
    """`seqtutor train --config configs/melody_table.toml --algo psi` is Table 1's Ψ run (tiny here)."""
    tiny = ["--steps", "256", "--n-envs", "4", "--checkpoint-every", "256", "--no-progress"]
    assert (
        main(
            [
                "train",
                "--config",
                str(CONFIGS_DIR / "melody_table.toml"),
                "--algo",
                "psi",
                "--out",
                str(tmp_path / "from_file"),
                *tiny,
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "train",
                "--env",
                "SeqTutor-Melody-v0",
                "--algo",
                "psi",
                "--c",
                "0.5",
                "--seed",
                "0",
                "--out",
                str(tmp_path / "from_flags"),
                *tiny,
            ]
        )
        == 0
    )
    from_file, from_flags = (
        json.loads((tmp_path / f / "config.json").read_text()) for f in ("from_file", "from_flags")
    )
    assert from_file.pop("out") != from_flags.pop("out")
    assert from_file == from_flags and from_file["c"] == 0.5 and from_file["algo"] == "psi"


@pytest.mark.parametrize(
    "text, named",
    [
        ("[train]\nstpes = 5\n", "unknown setting(s) stpes;"),
        ('[benchmark]\nalgos = ["g"]\n', "no [train] table"),
        ("[train]\nsteps = 5\n[sweep]\nx = 1\n", "unknown table(s) sweep;"),
    ],
)
def test_train_refuses_a_bad_configs_file_in_one_line_naming_the_key(tmp_path, capsys, text, named):
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    err = refused(capsys, lambda: main(["train", "--config", str(bad), "--out", str(tmp_path / "r"), "--no-progress"]))
    assert f"--config {bad}: {named}" in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "r").exists()


def test_the_frontier_gives_trajectory_balance_kl_targets_not_a_fixed_c(monkeypatch):
    args = script_args(
        frontier,
        monkeypatch,
        "--algos",
        "g",
        "tb",
        "ppo",
        "--seeds",
        "0",
        "1",
        "--baseline-seeds",
        "0",
        "--baseline-target-kls",
        "0.1",
    )
    trials = frontier.frontier_trials(args, {})
    by_algo = {a: [(t["target_kl"], t["c"], t["seed"]) for t in trials if t["algo"] == a] for a in ("g", "tb", "ppo")}
    assert by_algo["g"] == [(k, None, s) for k in (0.05, 0.1, 0.15) for s in (0, 1)]
    assert by_algo["tb"] == [(0.1, None, 0)]  # a baseline: its targets and seeds, c adapted from π*'s
    assert by_algo["ppo"] == [(None, 2.0, 0)]  # no KL target: the fixed values of c
    assert {t["algo"] for t in trials} == {"g", "tb", "ppo"}
