"""A run held to a KL target with no c of its own starts c at π*'s c for the target (runs/kl_start.py),
not at the env's: on the paper's molecule objective the env's 1/0.35 is an order of magnitude too small."""

import json

import pytest

from seqtutor_agents.runs import kl_start
from seqtutor_agents.runs.config import TrainConfig
from seqtutor_agents.runs.kl_start import c_for_ess, needs_start_c, optimum_start_c
from seqtutor_agents.runs.training import train
from seqtutor_envs.optimum import c_for_kl, optimum_at, sample_prior

SMILES = "SeqTutor-SMILES-v0"
PAPER = {"objective": "paper"}
N = 256  # prior molecules: seconds to draw, enough to place c for KL 0.05 per step


@pytest.fixture(autouse=True)
def small_cached_sample(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("SEQTUTOR_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "kl_start_cache"))
    monkeypatch.setattr(kl_start, "START_SAMPLES", {"default": N})


def test_only_a_c_adapting_target_without_a_c_starts_from_the_optimum():
    assert needs_start_c(TrainConfig(out="x", algo="g", target_kl=0.1))
    assert needs_start_c(TrainConfig(out="x", algo="dpg", target_kl=0.1))
    assert not needs_start_c(TrainConfig(out="x", algo="g"))  # no target: c is the setting
    assert not needs_start_c(TrainConfig(out="x", algo="g", target_kl=0.1, c=5.0))  # --c names the start
    assert not needs_start_c(TrainConfig(out="x", algo="g", target_kl=0.1, algo_kwargs={"c": 5.0}))
    assert not needs_start_c(TrainConfig(out="x", algo="klppo", target_kl=0.1))  # adapts β, not c


def test_paper_objective_starts_where_pi_star_holds_the_target():
    lines = []
    c = optimum_start_c(SMILES, PAPER, 0.05, report=lines.append)
    sample = sample_prior(SMILES, N, kl_start.SAMPLE_SEED, PAPER, progress=False)
    estimate = c_for_kl(sample, 0.05)
    assert c == pytest.approx(max(estimate, c_for_ess(sample, min(kl_start.MIN_START_ESS, N / 4))))
    assert optimum_at(sample, c, statistics=False).kl_per_step <= 0.05 + 1e-6  # never on the hacking side
    assert c > 10 / 0.35  # the env's c is 1/0.35: more than ten times too small for this target
    assert lines[0].startswith(f"{SMILES}: c starts at π*'s c for KL 0.05") and f"{c:.4g}" in lines[-1]
    # beyond what the sample resolves (log N nats per molecule at most): the run keeps its c
    assert optimum_start_c(SMILES, PAPER, 5.0) is None


def test_a_paper_objective_run_records_and_adapts_from_the_optimum_c(tmp_path):
    config = TrainConfig(
        out=str(tmp_path / "run"),
        env_id=SMILES,
        algo="g",
        target_kl=0.05,
        steps=256,
        n_envs=8,
        env_kwargs=dict(PAPER),
        checkpoint_every=10_000,
        log_sequences=False,
    )
    model = train(config, progress=False)
    start = json.loads((tmp_path / "run" / "config.json").read_text())["resolved"]["start_c"]
    assert start == pytest.approx(optimum_start_c(SMILES, PAPER, 0.05))
    assert model.c == pytest.approx(start) and model.current_c == pytest.approx(start, rel=0.1)
