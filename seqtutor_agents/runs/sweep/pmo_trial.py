"""One PMO trial: a learner on ``guacamol:<oracle>`` until its budget of distinct valid molecules was scored."""

from __future__ import annotations

import json
import time
from collections import deque
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

from seqtutor_envs.io import atomic_write_text
from seqtutor_envs.smiles.diversity_filter import murcko_scaffold
from seqtutor_envs.smiles.env import ENV_ID as SMILES_ENV_ID
from seqtutor_envs.smiles.guacamol import guacamol_objective
from seqtutor_envs.smiles.metrics import internal_diversity
from seqtutor_envs.smiles.pmo import CALLS_FILE, OracleLog, top_k_auc, top_k_mean
from seqtutor_envs.smiles.scoring import parse_smiles

from ...common.offpolicy import check_genetic_budget
from ..training import TrainConfig, train
from .grid import RESULT_FILE, trial_folder
from .kernels import cpu_kernels_in_use

#: Finished molecules over which a PMO trial estimates its KL to the prior (the end of the run).
KL_WINDOW = 1_000


def finished_episodes(transition: Any) -> list[tuple[str, float, float | None]]:
    """``(SMILES, prior log-likelihood, agent log-likelihood or None)`` of the episodes a vector step finished.

    Read from our learners' collector (``locals["transition"]``; episodes in env order, as
    :func:`seqtutor_agents.runs.callbacks.episode_rows` reads them); empty for stock SB3 algorithms.
    """
    if transition is None or not transition.finals:
        return []
    out = []
    for env_index, episode in zip(sorted(transition.finals), transition.episodes, strict=True):
        behaviour = episode.behaviour_log_prob
        out.append(
            (
                transition.finals[env_index].get("smiles", ""),
                float(np.sum(episode.prior_log_prob)),
                float(np.sum(behaviour)) if behaviour is not None else None,
            )
        )
    return out


class StopAtBudget(BaseCallback):
    """Annotates the oracle log with each step's finished episodes and stops training once the budget is
    spent (or the early stop fires); keeps log π(x) − log p(x) of the last :data:`KL_WINDOW` molecules
    (with their lengths, for a per-token figure) -- KL(agent ‖ prior) estimated on the agent's own episodes."""

    def __init__(self, log: OracleLog) -> None:
        super().__init__()
        self.log = log
        self.recent_kl: deque[tuple[float, int]] = deque(maxlen=KL_WINDOW)

    def _on_training_start(self) -> None:
        self.log.reset()  # the env's construction-time sanity check scored three molecules

    def _on_step(self) -> bool:
        transition = self.locals.get("transition")
        self.log.annotate(int(self.model.num_timesteps), finished_episodes(transition))
        for episode in getattr(transition, "episodes", None) or ():
            if episode.behaviour_log_prob is not None:
                self.recent_kl.append(
                    (float(np.sum(episode.behaviour_log_prob) - np.sum(episode.prior_log_prob)), int(episode.length))
                )
        return not (self.log.exhausted or self.log.converged)

    def _on_rollout_end(self) -> None:
        self.log.flush()

    def _on_training_end(self) -> None:
        self.log.flush()


def run_pmo_trial(trial: dict[str, Any]) -> dict[str, Any]:
    """One PMO run: train on ``guacamol:<oracle>`` until ``budget`` distinct valid molecules were scored.

    With ``early_stop_patience`` the run also stops by REINVENT's rule in mol_opt (see
    :class:`~seqtutor_envs.smiles.pmo.OracleLog`); a run that stops short of the budget (early stop or
    the ``max_steps`` cap) holds its last top-10 mean to the budget, as mol_opt's ``finish=True`` does.
    Every scored string goes to ``<run>/oracle_calls.csv`` with its call index, env step and
    log-likelihoods. Returns the row of :func:`pmo_row`.
    """
    out = trial_folder(trial)
    done = out / RESULT_FILE
    if trial.get("resume") and done.is_file():
        return json.loads(done.read_text())
    check_genetic_budget((trial.get("algo_kwargs") or {}).get("genetic"), int(trial["budget"]))
    patience = trial.get("early_stop_patience")
    log = OracleLog(
        guacamol_objective(trial["oracle"]),
        budget=int(trial["budget"]),
        early_stop_patience=int(patience) if patience is not None else None,
        calls_csv=out / CALLS_FILE,
    )
    env_kwargs = {**(trial.get("env_kwargs") or {}), "objective": log}
    config = TrainConfig(
        env_id=trial.get("env_id", SMILES_ENV_ID),
        algo=trial["algo"],
        steps=int(trial["max_steps"]),
        c=trial.get("c"),
        seed=trial["seed"],
        out=str(out),
        n_envs=trial.get("n_envs"),
        checkpoint_every=int(trial["max_steps"]),
        algo_kwargs=dict(trial.get("algo_kwargs") or {}),
        env_kwargs=env_kwargs,
        device="cpu",
    )
    callback = StopAtBudget(log)
    start, cpu_start = time.perf_counter(), time.process_time()
    model = train(config, progress=False, overwrite=True, callback=callback)
    minutes, cpu_minutes = (time.perf_counter() - start) / 60, (time.process_time() - cpu_start) / 60
    row = pmo_row(trial, model, log, callback.recent_kl, minutes, cpu_minutes)
    atomic_write_text(done, json.dumps(row, indent=1))
    return row


def pmo_row(
    trial: dict[str, Any],
    model: Any,
    log: OracleLog,
    recent_kl: deque[tuple[float, int]],
    minutes: float,
    cpu_minutes: float,
) -> dict[str, Any]:
    """A PMO run's figures: the minutes it took (wall clock, and CPU time of its process: on a shared machine
    the two differ), top-10 AUC, top-1/10/100 means, why the run stopped, validity and uniqueness of what was
    generated, the internal diversity and distinct Murcko scaffolds of the 100 best molecules, and the KL of
    the agent to the prior, log π(x) − log p(x) averaged over its last :data:`KL_WINDOW` molecules (per
    molecule and per token)."""
    budget = int(trial["budget"])
    smiles, scores = log.ordered(budget)
    # mol_opt's sort_buffer order: score descending, ties in call order (a stable sort; numpy's default
    # argsort breaks ties in an order that depends on the CPU's SIMD sort, so best/IntDiv/scaffolds did too).
    best = [smiles[i] for i in np.argsort(-np.asarray(scores), kind="stable")[:100]]
    scaffolds = {murcko_scaffold(parse_smiles(s)) for s in best}
    stop = "budget" if log.exhausted else "early_stop" if log.converged else "max_steps"
    row = {
        "oracle": trial["oracle"],
        "algo": trial["algo"],
        "seed": trial["seed"],
        "calls": len(scores),
        "env_steps": int(model.num_timesteps),
        "minutes": round(minutes, 2),
        "cpu_minutes": round(cpu_minutes, 2),
        "stop": stop,
        "early_stop_patience": trial.get("early_stop_patience"),
        "top10_auc": top_k_auc(scores, 10, 100, budget, finish=True),
        "top1": top_k_mean(scores, 1),
        "top10": top_k_mean(scores, 10),
        "top100": top_k_mean(scores, 100),
        "valid": log.valid / max(log.generated, 1),
        "unique": len(log.scores) / max(log.valid, 1),
        "top100_intdiv": internal_diversity(best)[0] if len(best) > 1 else float("nan"),
        "top100_scaffolds": len(scaffolds),
        "kl_per_molecule": float(np.mean([k for k, _ in recent_kl])) if recent_kl else float("nan"),
        "kl_per_step": (
            float(sum(k for k, _ in recent_kl) / sum(n for _, n in recent_kl)) if recent_kl else float("nan")
        ),
        "final_c": float(model.current_c) if getattr(model, "current_c", None) is not None else trial.get("c"),
        "settings": json.dumps({**(trial.get("algo_kwargs") or {}), **(trial.get("env_kwargs") or {})}, sort_keys=True),
        "best": best[0] if best else "",
    }
    row.update(model.molecules.run_figures(best) if getattr(model, "molecules", None) is not None else {})
    if trial.get("tag") is not None:  # the caller's label of the trial (e.g. which candidate setting it ran)
        row["tag"] = trial["tag"]
    row["cpu_kernels"] = cpu_kernels_in_use()  # which kernels drew this run (see AVX2_KERNELS)
    return {k: (float(v) if hasattr(v, "dtype") else v) for k, v in row.items()}
