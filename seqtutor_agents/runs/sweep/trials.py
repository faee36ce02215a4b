"""One trial of a sweep: train through :func:`~seqtutor_agents.runs.training.train`, sample from the trained
policy, and keep a flat row of figures in the trial's run folder."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch

from seqtutor_envs.domains import get_domain
from seqtutor_envs.io import atomic_write_text

from ..evaluation import model_policy, run_episodes
from ..optimum_figures import TERMS_FILE, write_sequence_terms
from ..run_folder import ConfigError, latest_checkpoint
from ..training import TrainConfig, train
from .grid import RESULT_FILE, SAMPLES_FILE, trial_folder
from .kernels import cpu_kernels_in_use
from .pmo_trial import run_pmo_trial


def run_trial(trial: dict[str, Any]) -> dict[str, Any]:
    """Train and evaluate one trial; returns a flat result row (also kept in the trial's run folder).

    A trial with ``"kind": "pmo"`` is a goal-directed run under an oracle budget (:func:`run_pmo_trial`).
    """
    if trial.get("threads"):
        torch.set_num_threads(int(trial["threads"]))
    if trial.get("kind") == "pmo":
        return run_pmo_trial(trial)
    out = trial_folder(trial)
    done = out / RESULT_FILE
    if trial.get("resume") and done.is_file():  # a resumed sweep: this trial finished before the stop
        return json.loads(done.read_text())
    config = TrainConfig(
        env_id=trial["env_id"],
        algo=trial["algo"],
        steps=trial["steps"],
        c=trial.get("c"),
        target_kl=trial.get("target_kl"),
        seed=trial["seed"],
        out=str(out),
        n_envs=trial.get("n_envs"),
        checkpoint_every=trial["steps"],
        algo_kwargs=dict(trial.get("algo_kwargs") or {}),
        env_kwargs=dict(trial.get("env_kwargs") or {}),
        device="cpu",
    )
    start, cpu_start = time.perf_counter(), time.process_time()
    model = _train(config, resume=bool(trial.get("resume")))
    minutes, cpu_minutes = (time.perf_counter() - start) / 60, (time.process_time() - cpu_start) / 60
    row = evaluate_trial(trial, model, config, out, minutes, cpu_minutes)
    atomic_write_text(done, json.dumps(row, indent=1))
    return row


def _train(config: TrainConfig, resume: bool) -> Any:
    """The trained model: an interrupted trial of a resumed sweep goes on from its newest checkpoint."""
    if resume and latest_checkpoint(Path(config.out)) is not None:
        try:
            return train(config, resume=True, progress=False)
        except ConfigError:
            pass  # a checkpoint of other settings: train afresh
    return train(config, progress=False, overwrite=True)


def evaluate_trial(
    trial: dict[str, Any], model: Any, config: TrainConfig, out: Path, minutes: float, cpu_minutes: float
) -> dict[str, Any]:
    """The trial's row: its settings, the minutes it trained, and the figures of ``trial["episodes"]`` samples.

    Writes the samples (``samples.txt``: novelty and the like are computed from them later) and, where the
    domain has them, J(π)'s terms per sequence (the frontier reads the distance to π* from them).
    """
    env_id = trial["env_id"]
    env_kwargs = config.resolved_env_kwargs()
    batch = run_episodes(
        env_id, trial["episodes"], model_policy(model, seed=trial["seed"]), seed=50_000, env_kwargs=env_kwargs
    )
    row: dict[str, Any] = {
        "algo": trial["algo"],
        "c": trial.get("c"),
        "target_kl": trial.get("target_kl"),
        "seed": trial["seed"],
        "steps": trial["steps"],
        "run": str(out),
        "settings": json.dumps({**(trial.get("algo_kwargs") or {}), **(trial.get("env_kwargs") or {})}, sort_keys=True),
    }
    final_c = getattr(model, "current_c", None)  # a seqtutor learner's live c (None: a stock SB3 algorithm)
    row.update(
        minutes=round(minutes, 2),
        cpu_minutes=round(cpu_minutes, 2),
        final_c=float(final_c) if final_c is not None else env_kwargs.get("c"),
        domain_return=float(batch.domain_returns.mean()),
        log_p=batch.prior_log_prob_per_step,
        kl=batch.kl_per_step,
        entropy=batch.entropy_per_step,
    )
    domain = get_domain(env_id)
    stats = domain.statistics(batch.finals)
    sequences = batch.finals[domain.sequence_key]
    atomic_write_text(
        out / SAMPLES_FILE, "\n".join(s if isinstance(s, str) else " ".join(map(str, s)) for s in sequences) + "\n"
    )
    if batch.kl_sums is not None:
        write_sequence_terms(out / TERMS_FILE, batch)
    row.update({k: stats[k] for k in domain.metric_keys})
    row["cpu_kernels"] = cpu_kernels_in_use()
    return {k: (float(v) if hasattr(v, "dtype") else v) for k, v in row.items()}
