"""The PMO tuning and grid scripts: which setting is chosen, how the grid reads it, what the table sums."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.molecule_opt import PMO_REFERENCE, RDKIT_ORACLES, RECORDS, load_settings, summary
from benchmarks.pmo_tuning import SEARCH_SPACE, TUNING_ORACLES, choose

ROOT = Path(__file__).resolve().parents[2]


def _row(oracle, algo, seed, auc, **extra):
    return {
        "oracle": oracle,
        "algo": algo,
        "seed": seed,
        "top10_auc": auc,
        "top100_intdiv": 0.8,
        "top100_scaffolds": 90,
        "kl_per_step": 0.1,
        **extra,
    }


def test_the_reference_holds_pmos_20_rdkit_oracles_and_their_published_sums():
    assert len(RDKIT_ORACLES) == 20 and len(PMO_REFERENCE) == 23
    assert sum(PMO_REFERENCE[o][0][0] for o in RDKIT_ORACLES) == pytest.approx(11.601, abs=1e-3)  # REINVENT
    assert sum(PMO_REFERENCE[o][1][0] for o in RDKIT_ORACLES) == pytest.approx(11.444, abs=1e-3)  # Graph GA


def test_the_records_are_section_13s_and_the_table_counts_wins_against_genetic_gfn():
    assert set(RECORDS) == set(RDKIT_ORACLES)
    sums = [sum(v[i] for v in RECORDS.values()) for i in range(3)]
    assert sums == pytest.approx([13.594, 12.227, 13.912], abs=1e-3)  # Genetic GFN, Mol GA, InVirtuoGen
    rows = [
        _row(o, "dpg", 0, RECORDS[o][0] + (0.01 if i < 3 else -0.01), cpu_minutes=1.0 + i)
        for i, o in enumerate(RECORDS)
    ]
    text = summary(rows)
    assert "**13.594**" in text and "**13.912**" in text
    assert f"**{13.594 + 3 * 0.01 - 17 * 0.01:.3f}**" in text  # the learner's sum of its 20 means
    assert "DPG: at or above Genetic GFN's mean on 3 of 20 oracles" in text
    assert "CPU minutes per run median 10.50, max 20.00 (20 runs)" in text
    text = summary(rows[:5])  # a grid part-way: no sum of 20
    assert "– (not all 20 run)" in text and "on 3 of 5 oracles" in text


def test_the_grid_table_gives_mean_std_sums_and_wins_against_reinvent():
    rows = [
        _row("albuterol_similarity", "g", 0, 0.90),
        _row("albuterol_similarity", "g", 1, 0.80),
        _row("zaleplon_mpo", "g", 0, 0.50),
        _row("zaleplon_mpo", "g", 1, 0.40),
        {"algo": "g", "seed": 2, "error": "RuntimeError: boom"},
    ]
    text = summary(rows)
    assert "0.850 ± 0.050 (0.900, 0.800)" in text and "0.450 ± 0.050 (0.500, 0.400)" in text
    assert "0.883 ± 0.006" in text and "0.839 ± 0.016" in text  # REINVENT's and Graph GA's albuterol figures
    # 0.85 < 0.883 (albuterol), 0.45 >= 0.358 (zaleplon); sums over the two oracles run
    assert "REINVENT's published sum 1.241" in text and "G 1.300 on 2 oracles, at or above REINVENT's mean on 1" in text
    # each seed alone, on the oracles it ran: seed 1 stopped before zaleplon in this grid
    rows = [r for r in rows if not (r.get("seed") == 1 and r.get("oracle") == "zaleplon_mpo")]
    text = summary(rows)
    assert (
        "G, seed 0: 1.400 over 2 oracles (REINVENT's published sum on them 1.241); at or above REINVENT's mean on 2"
        in text
    )
    assert (
        "G, seed 1: 0.800 over 1 oracles (REINVENT's published sum on them 0.883); at or above REINVENT's mean on 0"
        in text
    )


def test_tuning_chooses_the_best_mean_over_both_tuning_oracles_and_only_complete_candidates():
    rows = [
        _row(TUNING_ORACLES[0], "g", 0, 0.50, tag="0"),
        _row(TUNING_ORACLES[1], "g", 0, 0.50, tag="0"),
        _row(TUNING_ORACLES[0], "g", 0, 0.40, tag="1"),
        _row(TUNING_ORACLES[1], "g", 0, 0.70, tag="1"),
        _row(TUNING_ORACLES[0], "g", 0, 0.99, tag="2"),
    ]  # candidate 2 never ran on the second oracle
    chosen = choose(rows)
    assert chosen["g"]["tuning_auc"] == pytest.approx(0.55)
    assert {k: v for k, v in chosen["g"].items() if k != "tuning_auc"} == SEARCH_SPACE["g"][1]


def test_tuning_prefers_settings_whose_runs_fit_the_time_per_run_and_falls_back_when_none_does():
    slow = [_row(o, "dpg", 0, 0.60, tag="1", minutes=12.5) for o in TUNING_ORACLES]
    fast = [
        _row(TUNING_ORACLES[0], "dpg", 0, 0.52, tag="5", minutes=1.3),
        _row(TUNING_ORACLES[1], "dpg", 0, 0.56, tag="5", minutes=3.9),
    ]
    g_only_slow = [_row(o, "g", 0, 0.45, tag="2", minutes=6.0) for o in TUNING_ORACLES]
    chosen = choose(slow + fast + g_only_slow)
    assert chosen["dpg"]["tuning_auc"] == pytest.approx(0.54)
    assert chosen["dpg"]["early_stop_patience"] == SEARCH_SPACE["dpg"][5]["early_stop_patience"] == 5
    assert chosen["g"] == {**SEARCH_SPACE["g"][2], "tuning_auc": 0.45}  # no G setting fits: the best of all
    assert choose(slow + fast, max_minutes=None)["dpg"]["tuning_auc"] == pytest.approx(0.60)  # no limit
    assert choose(slow + fast, max_minutes=3.0)["dpg"]["tuning_auc"] == pytest.approx(0.60)  # 3.9 > 3: none fits


def test_the_grid_falls_back_to_built_in_settings_and_keeps_a_tuned_early_stop(tmp_path):
    assert load_settings(tmp_path / "missing.json")["dap"]["c"] == pytest.approx(0.002)
    path = tmp_path / "settings.json"
    path.write_text(
        json.dumps(
            {"g": {"c": 0.01, "algo_kwargs": {"batch_size": 64}, "tuning_auc": 0.5, "early_stop_patience": None}}
        )
    )
    settings = load_settings(path)
    assert settings["g"] == {"c": 0.01, "algo_kwargs": {"batch_size": 64}, "early_stop_patience": None}
    assert "dap" in settings  # learners the file does not name keep the built-in settings


@pytest.mark.slow
def test_tuning_writes_settings_that_the_grid_then_runs(tmp_path):
    env = {"TMPDIR": str(tmp_path), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    settings = tmp_path / "settings.json"
    common = ["--budget", "30", "--max-steps", "4000", "--backend", "local", "--workers", "1"]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.pmo_tuning",
            "--algos",
            "dap",
            *common,
            "--runs",
            str(tmp_path / "tune"),
            "--out",
            str(tmp_path / "tuning"),
            "--settings-out",
            str(settings),
        ],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    chosen = json.loads(settings.read_text())["dap"]
    assert chosen["c"] == pytest.approx(0.002) and chosen["early_stop_patience"] == 5
    assert (tmp_path / "tuning.md").read_text().count(TUNING_ORACLES[0]) >= 2
    subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.molecule_opt",
            "--algos",
            "dap",
            "--oracles",
            "qed",
            "--seeds",
            "0",
            *common,
            "--settings",
            str(settings),
            "--runs",
            str(tmp_path / "grid"),
            "--out",
            str(tmp_path / "grid"),
        ],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    [run] = [p for p in (tmp_path / "grid").iterdir() if p.is_dir() and p.name.startswith("qed_dap")]
    row = json.loads((run / "trial_result.json").read_text())
    assert row["early_stop_patience"] == 5 and json.loads(row["settings"])["replay_sample"] == 24
    assert row["stop"] == "budget" and row["calls"] == 30
    # a grid read part-way (--report-only): the finished run is reported, the seed that never ran is
    # counted and nothing is trained for it
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.molecule_opt",
            "--algos",
            "dap",
            "--oracles",
            "qed",
            "--seeds",
            "0",
            "1",
            *common,
            "--settings",
            str(settings),
            "--runs",
            str(tmp_path / "grid"),
            "--out",
            str(tmp_path / "partial"),
            "--report-only",
        ],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "1 of 2 trials finished; 1 not run" in done.stderr
    assert not [p for p in (tmp_path / "grid").iterdir() if p.name.endswith("_s1_es5")]
    assert (
        "(DAP), seed 0:" in (tmp_path / "partial.md").read_text()
        and "seed 1:" not in (tmp_path / "partial.md").read_text()
    )


def test_every_tuning_candidate_builds_its_learner_on_the_smiles_env():
    # A misspelt argument in a candidate would otherwise surface only minutes into a sweep, as an error row.
    from seqtutor_agents.runs.config import TrainConfig
    from seqtutor_agents.runs.training import make_env, make_model
    from seqtutor_envs.smiles.env import ENV_ID

    for algo, candidates in SEARCH_SPACE.items():
        for setting in candidates:
            config = TrainConfig(
                env_id=ENV_ID,
                algo=algo,
                steps=64,
                c=setting["c"],
                seed=0,
                out="unused",
                n_envs=2,
                algo_kwargs=dict(setting["algo_kwargs"]),
                device="cpu",
            )
            env = make_env(config)
            try:
                model = make_model(config, env)
                c = model.current_c  # the c the learner divides by (the env's, which --c sets)
                assert c == pytest.approx(setting["c"]), (algo, setting)
                for key in ("learning_rate", "batch_size", "train_freq"):
                    if key in setting["algo_kwargs"]:
                        value = getattr(model, key)
                        value = getattr(value, "frequency", value)  # SB3 keeps train_freq as a TrainFreq
                        assert value == setting["algo_kwargs"][key], (algo, key)
            finally:
                env.close()


def test_the_early_stop_replay_of_a_logged_run_holds_its_last_top10_and_scales_its_minutes(tmp_path):
    from benchmarks.pmo_early_stop import replay_run
    from seqtutor_envs.smiles.pmo import CALL_COLUMNS

    # A logged run without an early stop: 1,100 new molecules (call i scores (i - 1) / 2000), then 512
    # repeats, 64 strings to a REINVENT step and 10 env steps to a step of 64. Patience 5 stops it 5
    # unchanged steps after the step that holds call 1,100.
    rows, step = [], 0
    names = [f"C{'C' * i}" for i in range(1_100)]  # distinct strings; the replay trusts the logged canonical form
    stream = names + [names[0]] * 512
    for index, text in enumerate(stream):
        step = 10 * (index // 64 + 1)
        new = index < len(names)
        rows.append(
            [
                index + 1 if new else "",
                step,
                text,
                text,
                "new" if new else "repeat",
                (index if new else 0) / 2000,
                "",
                "",
                "",
            ]
        )
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "oracle_calls.csv").write_text(
        ",".join(CALL_COLUMNS) + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows)
    )
    (folder / "trial_result.json").write_text(
        json.dumps(
            {
                "oracle": "qed",
                "algo": "dpg",
                "seed": 0,
                "env_steps": step,
                "minutes": 10.0,
                "calls": 1_100,
                "top10_auc": 0.1,
                "early_stop_patience": None,
            }
        )
    )
    row = replay_run(folder, 5)
    assert row["calls"] == 1_100 and row["stop"] == "early_stop"
    stop_step = 10 * (1_100 // 64 + 1 + 5)  # the step holding call 1,100 (its top-100 taken), then 5 unchanged
    assert row["minutes_estimate"] == pytest.approx(10.0 * stop_step / step, abs=0.01)
    top10 = sum(range(1_090, 1_100)) / 10 / 2000
    assert row["auc"] > 0.9 * top10 and row["auc"] < top10  # the last top-10 held to 10,000 calls
    assert replay_run(folder, 50)["stop"] == "as logged"  # 8 repeat steps never reach patience 50
    assert row["run_auc"] is None  # no twin run with the early stop
    twin = tmp_path / "run_es5"
    twin.mkdir()
    (twin / "trial_result.json").write_text(json.dumps({"top10_auc": 0.25, "calls": 1_100, "minutes": 1.5}))
    row = replay_run(folder, 5)
    assert (row["run_auc"], row["run_calls"], row["run_minutes"]) == (0.25, 1_100, 1.5)
    # a lower env-step cap, no early stop: the calls of the steps up to it, minutes scaled to it
    cap = 10 * 10  # 10 REINVENT steps: 640 strings, all new
    capped = replay_run(folder, None, max_steps=cap)
    assert capped["stop"] == "max_steps" and capped["calls"] == 640 and capped["max_steps"] == cap
    assert capped["minutes_estimate"] == pytest.approx(10.0 * cap / step, abs=0.01)
    assert capped["run_auc"] is None  # the twin ran without that cap: not the same run
    assert capped["auc"] < row["auc"]  # the best molecules came later
    assert replay_run(folder, None, max_steps=10 * step)["stop"] == "as logged"  # a cap above the run's steps


def test_an_earlier_results_csv_keeps_the_runs_this_sweep_did_not_run(tmp_path):
    from benchmarks.molecule_opt import merge_rows, read_rows
    from benchmarks.sweep import write_rows

    earlier = [
        _row("qed", "g", 0, 0.9412, calls=10000, env_steps=1234567, best="CCO", tag=""),
        _row("qed", "g", 1, 0.9398, calls=9876, env_steps=222222, best="c1ccccc1O", tag=""),
    ]
    write_rows(earlier, tmp_path / "old", "old", "note")
    back = read_rows(tmp_path / "old.csv")
    # numbers come back as the numbers written (ints stay ints: 1234567 is not re-written as 1.235e+06)
    assert back[0]["env_steps"] == 1234567 and back[0]["top10_auc"] == 0.9412 and back[1]["best"] == "c1ccccc1O"
    assert "tag" not in back[0]  # empty cells are left out
    fresh = [_row("qed", "g", 1, 0.9001), _row("qed", "g", 2, 0.9300)]
    merged = merge_rows(fresh, back)
    assert [(r["seed"], r["top10_auc"]) for r in merged] == [(0, 0.9412), (1, 0.9001), (2, 0.9300)]
    assert merge_rows(fresh, []) == fresh
    assert "G 0.924 on 1 oracles" in summary(merged)  # mean of the three seeds
    with pytest.raises(FileNotFoundError, match="no results file"):
        read_rows(tmp_path / "missing.csv")
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="not a molecule_opt results CSV"):
        read_rows(tmp_path / "other.csv")


def test_the_results_csv_keeps_eight_digits_for_later_reports_and_the_table_four(tmp_path):
    from benchmarks.molecule_opt import read_rows
    from benchmarks.sweep import write_rows

    text = write_rows([_row("qed", "g", 0, 0.94096123456)], tmp_path / "r", "r", "note")
    # not 0.941, which would count as at or above REINVENT's 0.941
    assert read_rows(tmp_path / "r.csv")[0]["top10_auc"] == 0.94096123
    assert "| 0.941 |" in text


def test_a_ga_round_over_the_budget_is_refused_by_name_before_anything_runs(tmp_path):
    from seqtutor_agents.common.offpolicy import check_genetic_budget

    with pytest.raises(ValueError, match=r"^budget=10 oracle calls is smaller than one graph-GA round"):
        check_genetic_budget({}, 10)
    check_genetic_budget({}, 16)  # exactly one round: allowed
    check_genetic_budget(None, 10)  # no GA: nothing to check
    env = {"TMPDIR": str(tmp_path), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.molecule_opt",
            "--algos",
            "tb",
            "--oracles",
            "qed",
            "--seeds",
            "0",
            "--budget",
            "10",
            "--genetic",
            "{}",
            "--backend",
            "local",
            "--runs",
            str(tmp_path / "grid"),
            "--out",
            str(tmp_path / "grid"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "molecule_opt.py: error: tb: budget=10 oracle calls is smaller than one graph-GA round (children=8 x "
        "generations=2 = 16); raise budget or lower the GA's children or generations"
    ]
    assert not (tmp_path / "grid").exists()


def test_the_molecule_options_go_over_each_learners_settings():
    from benchmarks.molecule_opt import with_options

    dap = {"c": 0.002, "algo_kwargs": {"replay_memory": 100, "replay_sample": 24}}
    assert with_options(dap, "dap") == dap
    assert with_options(dap, "dap", {"children": 4}, 2, "rank")["algo_kwargs"] == {
        "replay_memory": 100,
        "replay_sample": 24,
        "genetic": {"children": 4},
        "augment": 2,
        "replay_sampling": "rank",
    }
    g = {"c": 0.02, "algo_kwargs": {"genetic": {}, "replay_buffer_kwargs": {"elite_size": 100}}}
    switched = with_options(g, "g", "off", 0, "rank")
    assert switched["algo_kwargs"] == {"replay_buffer_kwargs": {"elite_size": 100, "elite_sampling": "rank"}}
    assert g["algo_kwargs"]["genetic"] == {}  # the setting itself is untouched
    # TB replays by rank unless told otherwise: uniform is written, rank (its default) is not
    assert with_options({"algo_kwargs": {}}, "tb", replay_sampling="uniform")["algo_kwargs"] == {
        "replay_sampling": "uniform"
    }
    assert (
        with_options({"algo_kwargs": {"replay_sampling": "uniform"}}, "tb", replay_sampling="rank")["algo_kwargs"] == {}
    )


def test_the_ablation_switches_one_option_at_a_time_and_the_tuning_keeps_a_better_earlier_choice():
    from benchmarks.pmo_ablation import variants
    from benchmarks.pmo_tuning import better_before

    named = variants(SEARCH_SPACE["tb"][0], "tb", 2)
    assert list(named) == ["as tuned", "genetic off", "augment 2", "replay uniform (not rank)", "early stop off"]
    kwargs = {name: v["algo_kwargs"] for name, v in named.items()}
    assert kwargs == {
        "as tuned": {"genetic": {}},
        "genetic off": {},
        "augment 2": {"genetic": {}, "augment": 2},
        "replay uniform (not rank)": {"genetic": {}, "replay_sampling": "uniform"},
        "early stop off": {"genetic": {}},
    }
    assert all(v["c"] == 0.02 for v in named.values())
    assert [v["early_stop_patience"] for v in named.values()] == [5, 5, 5, 5, None]
    assert "early stop off" not in variants({**SEARCH_SPACE["tb"][0], "early_stop_patience": None}, "tb", 2)
    from benchmarks.pmo_ablation import retag

    trials = [
        {"oracle": "qed", "seed": 0, "algo_kwargs": v["algo_kwargs"], "early_stop_patience": v["early_stop_patience"]}
        | {"tag": name}
        for name, v in named.items()
    ]
    same_arguments = json.dumps({"genetic": {}}, sort_keys=True)  # "as tuned" and "early stop off" alike
    rows = [
        {"oracle": "qed", "seed": 0, "settings": same_arguments, "early_stop_patience": patience}
        for patience in (5, None, "None")
    ]
    assert [row["tag"] for row in retag(rows, trials)] == ["as tuned", "early stop off", "early stop off"]
    earlier = {**SEARCH_SPACE["g"][2], "tuning_auc": 0.48}
    assert better_before("g", earlier, {"tuning_auc": 0.45}, ran={4})  # not run again, and better: kept
    assert not better_before("g", earlier, {"tuning_auc": 0.50}, ran={4})
    assert not better_before("g", earlier, {"tuning_auc": 0.45}, ran={2, 4})  # ran again: the new result decides
