"""Runs against π*: the distance in nats through evaluate / optimum / the frontier, its fall during training,
and sample efficiency read from a training log.

The toy domain (``tests/toy_domain.py``: 6 tokens over 4, +1 per token 1, an untrained prior) at c = 1:
π* puts about 0.47 on token 1 at every step against the prior's ~0.25, KL(p ‖ π*) ≈ 0.65 nats per sequence.
"""

from __future__ import annotations

import csv
import json
import math
import re

import pytest
from stable_baselines3.common.callbacks import BaseCallback
from toy_domain import ENV_ID, registered_toy_domain

from benchmarks.frontier import COMPOSITIONS_KEY, add_distance_columns, efficiency_span
from seqtutor_agents.cli import main
from seqtutor_agents.runs.evaluation import model_policy, run_episodes
from seqtutor_agents.runs.optimum_figures import TERMS_FILE, compositions_to_ratio, distance_of, write_sequence_terms
from seqtutor_agents.runs.training import TrainConfig, train
from seqtutor_envs.optimum import OptimumPoint, sample_prior
from seqtutor_envs.sampling import prior_policy

C = 1.0
LEARNER = {"learning_starts": 48, "train_freq": 1, "gamma": 1.0}  # γ = 1: G's fixed point is π*


@pytest.fixture
def toy(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQTUTOR_CACHE_DIR", str(tmp_path / "cache"))
    with registered_toy_domain(tmp_path) as prior:
        yield prior


class DistanceProbe(BaseCallback):
    """KL(π ‖ π*) of the learner's policy when training starts and when it ends."""

    def __init__(self, sample) -> None:
        super().__init__()
        self.sample, self.found = sample, []

    def measure(self) -> None:
        batch = run_episodes(ENV_ID, 1_000, model_policy(self.model, seed=1), seed=7, env_kwargs={"c": C})
        self.found.append(distance_of(batch, self.sample, C, n_boot=200))

    def _on_training_start(self) -> None:
        self.measure()

    def _on_step(self) -> bool:
        return True

    def _on_training_end(self) -> None:
        self.measure()


def test_the_distance_to_the_optimum_falls_while_g_learns(toy, tmp_path):
    sample = sample_prior(ENV_ID, 20_000, 0, progress=False)
    probe = DistanceProbe(sample)
    config = TrainConfig(
        env_id=ENV_ID, algo="g", steps=3_000, c=C, n_envs=8, out=str(tmp_path / "run"), algo_kwargs=LEARNER
    )
    train(config, progress=False, callback=probe)
    start, end = probe.found
    assert start.reliable and end.reliable
    # G starts at the prior: its share is 0 and its distance KL(p ‖ π*), well above 0
    assert start.share_interval[0] <= 0.0 <= start.share_interval[1] and start.distance_interval[0] > 0.4
    assert end.distance_interval[1] < start.distance_interval[0]  # fallen, beyond both intervals
    assert end.distance < 0.3 * start.distance and end.share > 0.7


def test_evaluate_and_optimum_give_the_distance_of_a_run_at_its_final_c(toy, tmp_path):
    run = tmp_path / "run"
    args = [
        "train",
        "--env",
        ENV_ID,
        "--algo",
        "g",
        "--steps",
        "1500",
        "--n-envs",
        "8",
        "--no-progress",
        "--out",
        str(run),
        "--c",
        str(C),
    ]
    for key, value in LEARNER.items():
        args += ["--algo-kwarg", f"{key}={value}"]
    assert main(args) == 0
    assert (
        main(["evaluate", "--run", str(run), "-n", "400", "--optimum-n", "20000", "--out", str(tmp_path / "eval")]) == 0
    )
    figures = json.loads((tmp_path / "eval" / "evaluation.json").read_text())["optimum"]
    assert figures["optimum_c"] == C and figures["distance_reason"] == ""
    assert figures["distance_to_optimum_low"] <= figures["distance_to_optimum"] <= figures["distance_to_optimum_high"]
    assert figures["distance_to_optimum"] == pytest.approx(figures["log_z"] - figures["objective"])
    assert 0.0 < figures["improvement_share"] < 1.2 and figures["optimality_ratio"] > 0
    assert "KL(π ‖ π*), nats per sequence" in (tmp_path / "eval" / "evaluation.md").read_text()

    assert (
        main(
            [
                "optimum",
                "--run",
                str(run),
                "--cs",
                "2",
                "-n",
                "20000",
                "--run-samples",
                "400",
                "--out",
                str(tmp_path / "pi.csv"),
            ]
        )
        == 0
    )
    with open(tmp_path / "pi.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted(float(r["c"]) for r in rows) == [C, C, 2.0]  # π* at 2 and at the run's c, and the run's own row
    mine = next(r for r in rows if r["run"])
    assert float(mine["distance_to_optimum"]) == pytest.approx(figures["distance_to_optimum"], abs=0.15)
    prior_row = next(r for r in rows if not r["run"] and float(r["c"]) == C)
    assert float(prior_row["prior_distance_to_optimum"]) > float(mine["distance_to_optimum"])  # it learnt


def test_evaluate_places_the_prior_at_share_zero(toy, tmp_path):
    assert (
        main(
            [
                "evaluate",
                "--prior",
                "--env",
                ENV_ID,
                "--env-kwarg",
                f"c={C}",
                "-n",
                "2000",
                "--optimum-n",
                "20000",
                "--out",
                str(tmp_path),
            ]
        )
        == 0
    )
    figures = json.loads((tmp_path / "evaluation.json").read_text())["optimum"]
    assert figures["improvement_share_low"] <= 0.0 <= figures["improvement_share_high"]
    assert figures["distance_to_optimum_low"] > 0.4  # the prior is far from π* at c = 1


def test_the_frontier_reads_each_trials_distance_from_its_terms(toy, tmp_path):
    sample = sample_prior(ENV_ID, 20_000, 0, progress=False)
    batch = run_episodes(ENV_ID, 500, prior_policy(seed=0), seed=3, env_kwargs={"c": C})
    trial = tmp_path / "trial"
    trial.mkdir()
    write_sequence_terms(trial / TERMS_FILE, batch)
    rows = [{"algo": "g", "run": str(trial), "final_c": C}, {"algo": "g", "run": str(tmp_path / "old"), "final_c": C}]
    add_distance_columns(rows, sample)
    direct = distance_of(batch, sample, C)
    assert rows[0]["distance_to_optimum"] == pytest.approx(direct.distance, rel=1e-9)
    assert rows[0]["distance_to_optimum_low"] == pytest.approx(direct.distance_interval[0], rel=1e-9)
    assert "distance_to_optimum" not in rows[1]  # a trial run before the terms were written: no figure


# ---------------------------------------------------------------------------- sample efficiency
def optimum_line() -> list[OptimumPoint]:
    """A made-up π* curve: return 100 x KL per step, reliable on [0.01, 0.5]."""
    return [
        OptimumPoint(
            c=1 / k, prior_weight=1.0, ess=5_000.0, kl_per_step=k, domain_return=100 * k, mean_length=32, reliable=True
        )
        for k in (0.01, 0.1, 0.5)
    ]


def write_log(run, returns: list[float], kls: list[float], per_window: int = 100, with_sequences: bool = True):
    """A run folder: progress.csv with one window per return, sequences.csv with ``per_window`` episodes each."""
    (run / "logs").mkdir(parents=True)
    with open(run / "logs" / "progress.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(
            [
                "time/total_timesteps",
                "rollout/kl_prior",
                "rollout/domain_reward",
                "rollout/ep_len_mean",
                "time/episodes",
            ]
        )
        for i, (ret, kl) in enumerate(zip(returns, kls, strict=False)):
            # time/episodes differs from sequences.csv's count, so the test tells which one was read
            writer.writerow([32 * per_window * (i + 1), kl, ret / 32, 32, 10 * (i + 1) + 1])
    if with_sequences:
        with open(run / "sequences.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["episode", "step", "composition", "domain_return"])
            for e in range(per_window * len(returns)):
                writer.writerow([e, 32 * (e + 1), "0", 0.0])


def test_compositions_to_ratio_counts_to_the_third_held_window(tmp_path):
    # π* earns 10 at KL 0.1: windows at 0.95, 0.92, 0.85 (a break), then 0.91, 0.93, 0.90 (held from the 4th)
    write_log(tmp_path, [9.5, 9.2, 8.5, 9.1, 9.3, 9.0, 9.9], [0.1] * 7)
    held = compositions_to_ratio(tmp_path, optimum_line(), 0.9, pool=100)  # each window alone (100 episodes)
    assert held.compositions == 600 and held.describe() == "600"  # by the end of the 6th window
    assert held.best_ratio == pytest.approx(0.9)


def test_a_run_that_never_holds_the_ratio_reports_its_best(tmp_path):
    write_log(tmp_path, [9.5, 8.0, 9.5, 9.6, 8.8, 9.7], [0.1] * 6)
    held = compositions_to_ratio(tmp_path, optimum_line(), 0.9, pool=100)
    assert held.compositions is None and held.best_ratio == pytest.approx(0.88)
    assert held.describe() == "not reached (best 0.880)"


def test_windows_near_the_prior_do_not_count_and_the_count_falls_back_to_the_log(tmp_path):
    # the first three windows sit at KL 0.02 (below min_kl): they would pass, but are not counted
    write_log(tmp_path, [2.0, 2.0, 2.0, 9.5, 9.5, 9.5], [0.02, 0.02, 0.02, 0.1, 0.1, 0.1], with_sequences=False)
    held = compositions_to_ratio(tmp_path, optimum_line(), 0.9, min_kl=0.05, pool=100)
    assert held.compositions == 61  # SB3's time/episodes of the 6th window: no sequences.csv here
    assert compositions_to_ratio(tmp_path, optimum_line(), 0.9, pool=100).compositions == 31  # without min_kl: the 3rd
    empty = tmp_path / "empty"
    empty.mkdir()
    assert math.isnan(compositions_to_ratio(empty, optimum_line()).best_ratio)


def test_rolling_figures_pool_enough_compositions_that_noise_does_not_pass(tmp_path):
    # windows of 100 compositions swing 0.95 / 0.80 around a policy at 0.875: alone, three 0.95s in a row pass
    returns = [9.5, 8.0] * 10 + [9.5, 9.5, 9.5] + [8.0, 9.5] * 10
    write_log(tmp_path, returns, [0.1] * len(returns))
    assert compositions_to_ratio(tmp_path, optimum_line(), 0.9, pool=100).compositions == 2_300
    pooled = compositions_to_ratio(tmp_path, optimum_line(), 0.9, pool=1_000)
    assert pooled.compositions is None and 0.875 <= pooled.best_ratio < 0.9
    # the rolling KL is step-weighted: windows at KL 0.05 and 0.5 pool to 0.275, where π* earns 27.5
    write_log(tmp_path / "kl", [27.5] * 4, [0.05, 0.5, 0.05, 0.5])
    assert compositions_to_ratio(tmp_path / "kl", optimum_line(), 0.99, pool=200, windows=1).compositions == 200


def test_the_frontier_column_gives_the_range_and_the_misses():
    members = [
        {COMPOSITIONS_KEY: 1200.0},
        {COMPOSITIONS_KEY: 900.0},
        {COMPOSITIONS_KEY: None, "best_ratio_held_0.9": 0.87},
    ]
    assert efficiency_span(members) == "900–1,200; 1 not reached (best 0.870)"
    assert efficiency_span([{COMPOSITIONS_KEY: "", "best_ratio_held_0.9": math.nan}]) == "1 not reached"
    assert efficiency_span([{COMPOSITIONS_KEY: 5.0}]) == "5"


@pytest.mark.parametrize(
    "args, message",
    [
        (["optimum", "--run", "{tmp}", "--out", "{tmp}/pi.csv"], "not a seqtutor run folder (no config.json)"),
        (
            ["optimum", "--run", "{tmp}", "--env-kwarg", "c=2", "--out", "{tmp}/pi.csv"],
            "--env-kwarg applies without --run",
        ),
        (["optimum", "-n", "10", "--out", "{tmp}/pi.csv"], "give at least one --cs value, --target-kl or --run"),
        (["evaluate", "--prior", "-n", "5", "--optimum-n", "-1"], "argument --optimum-n: must be >= 0, got -1"),
    ],
)
def test_bad_optimum_arguments_are_refused_in_one_line(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exc:
        main([a.replace("{tmp}", str(tmp_path)) for a in args])
    err = capsys.readouterr().err
    # the parser's own checks end in argparse's form ("seqtutor evaluate: error: argument --optimum-n: ...")
    last = err.strip().splitlines()[-1]
    assert (
        exc.value.code == 2
        and "Traceback" not in err
        and re.match(r"seqtutor( \w+)?: error: ", last)
        and message in last
    )
