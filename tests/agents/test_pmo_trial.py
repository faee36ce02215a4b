"""A PMO trial end to end on a tiny budget: its stop, its top-10 AUC and its oracle_calls.csv."""

from __future__ import annotations

import csv

import pytest

from seqtutor_agents.runs.sweep import run_trial, trial_folder
from seqtutor_envs.smiles.pmo import CALLS_FILE, top_k_auc


def _trial(tmp_path, **extra):
    # no env_id: benchmarks/molecule_opt.py trials once lacked it, and the SMILES env is the PMO env
    return {
        "kind": "pmo",
        "oracle": "qed",
        "algo": "dap",
        "seed": 0,
        "c": None,
        "budget": 40,
        "max_steps": 20_000,
        "runs": str(tmp_path),
        "threads": 1,
        "n_envs": 8,
        "algo_kwargs": {"batch_size": 16},
        **extra,
    }


def _calls(trial):
    with open(trial_folder(trial) / CALLS_FILE, newline="") as f:
        return list(csv.DictReader(f))


def test_a_pmo_trial_stops_at_its_budget_and_logs_every_scored_molecule(tmp_path):
    trial = _trial(tmp_path, tag="candidate 3")
    row = run_trial(trial)
    assert row["stop"] == "budget" and row["calls"] == 40
    rows = _calls(trial)
    called = [r for r in rows if r["call"]]
    assert [int(r["call"]) for r in called] == list(range(1, len(called) + 1)) and len(called) in (40, 41)
    assert all(r["status"] == "new" for r in called) and all(not r["call"] for r in rows if r["status"] != "new")
    steps = [int(r["env_step"]) for r in rows]
    assert steps == sorted(steps) and steps[-1] == row["env_steps"]
    # our learner reports both log-likelihoods of every episode
    assert all(r["prior_log_likelihood"] and r["agent_log_likelihood"] for r in rows)
    assert all(float(r["prior_log_likelihood"]) < 0 for r in rows)
    assert any(r["scaffold"] for r in called)
    # KL to the prior over the run's molecules (fewer than its window of 1,000): log pi(x) - log p(x), averaged
    kl = [float(r["agent_log_likelihood"]) - float(r["prior_log_likelihood"]) for r in rows]
    assert row["kl_per_molecule"] == pytest.approx(sum(kl) / len(kl), rel=1e-6) and row["kl_per_molecule"] > 0
    assert 0 < row["kl_per_step"] < row["kl_per_molecule"]
    assert row["tag"] == "candidate 3" and row["settings"] == '{"batch_size": 16}'
    scores = [float(r["score"]) for r in called][:40]
    assert row["top10_auc"] == pytest.approx(top_k_auc(scores, 10, 100, 40))
    # 40 calls, no point of the curve before the last call: one trapezoid from 0 to the final top-10 mean
    assert row["top10_auc"] == pytest.approx(row["top10"] / 2)
    # the best molecule is mol_opt's first of its sorted buffer: the top score, the earliest call among ties
    assert row["best"] == next(r["canonical_smiles"] for r in called if float(r["score"]) == max(scores))


def test_a_pmo_trial_cut_by_its_step_cap_holds_its_last_value_to_the_budget(tmp_path):
    trial = _trial(tmp_path, budget=10_000, max_steps=400, early_stop_patience=5)
    assert trial_folder(trial).name.endswith("_es5")  # an early-stopping run gets its own folder
    row = run_trial(trial)
    assert row["stop"] == "max_steps" and 0 < row["calls"] < 100 and row["early_stop_patience"] == 5
    scores = [float(r["score"]) for r in _calls(trial) if r["call"]]
    n = len(scores)
    assert n == row["calls"]
    # mol_opt's finish=True: the trapezoid 0 -> top-10 after n calls, then that value for the 10,000 - n left
    assert row["top10_auc"] == pytest.approx((n * row["top10"] / 2 + (10_000 - n) * row["top10"]) / 10_000)


def test_sweep_trials_run_the_pinned_cpu_kernels_and_their_rows_say_so(tmp_path):
    # torch picks the widest vector kernels a CPU has, and kernels of other widths round differently:
    # a seed gives the same run on any CPU only under one pinned set (AVX2), set in fresh workers.
    import torch

    from seqtutor_agents.runs.sweep import on_x86_64, run_trials

    if not on_x86_64():
        pytest.skip("AVX kernels exist on x86-64 only")
    trial = _trial(tmp_path, budget=12, max_steps=2_000)
    (pinned,) = run_trials([trial], "local", workers=1, storage=tmp_path / "ray", name="pinned", cpu_kernels="avx2")
    assert pinned.get("error") is None, pinned
    assert pinned["cpu_kernels"] == "AVX2, pinned" and pinned["calls"] > 0
    (native,) = run_trials(
        [trial], "local", workers=1, storage=tmp_path / "ray", name="native", overwrite=True, cpu_kernels="native"
    )  # torch's own choice, in this process
    assert native["cpu_kernels"].split(",")[0] == torch.backends.cpu.get_cpu_capability()
    with pytest.raises(ValueError, match="cpu_kernels must be one of"):
        run_trials([trial], "local", storage=tmp_path / "ray", name="bad", overwrite=True, cpu_kernels="avx-2")


def test_the_sweep_kernel_pins_keep_the_users_settings_and_apply_only_on_x86(monkeypatch):
    from seqtutor_agents.runs.sweep import kernels as sweep

    for name in sweep.AVX2_KERNELS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sweep.platform, "machine", lambda: "x86_64")
    assert sweep.sweep_kernel_environment() == sweep.AVX2_KERNELS
    assert sweep.sweep_kernel_environment("native") == {} and sweep.sweep_kernel_environment(None) == {}
    monkeypatch.setenv("MKL_ENABLE_INSTRUCTIONS", "SSE4_2")
    assert sweep.sweep_kernel_environment()["MKL_ENABLE_INSTRUCTIONS"] == "SSE4_2"  # the user's own setting wins
    monkeypatch.setattr(sweep.platform, "machine", lambda: "aarch64")
    assert sweep.sweep_kernel_environment() == {}  # AVX names mean nothing on ARM


def test_a_pmo_trial_with_genetic_exploration_counts_its_children_among_the_calls(tmp_path):
    trial = _trial(
        tmp_path,
        algo="tb",
        budget=60,
        algo_kwargs={
            "batch_size": 16,
            "gradient_steps": 1,
            "replay_sample": 8,
            "genetic": {"children": 4, "interval": 16},
        },
    )
    row = run_trial(trial)
    assert row["stop"] == "budget" and row["calls"] == 60 and 0 < row["ga_calls"] < 60
    assert 0 <= row["ga_in_top10"] <= 10 and row["ga_in_top10"] <= row["ga_in_top100"] <= row["ga_calls"]
    called = [r for r in _calls(trial) if r["call"]]
    # GA children reach the log as calls of their own: an env step and the prior's log-likelihood, no agent's
    children = [r for r in called if not r["agent_log_likelihood"]]
    assert len(children) == row["ga_calls"] and all(
        r["env_step"] and float(r["prior_log_likelihood"]) < 0 for r in children
    )
