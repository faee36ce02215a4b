"""Sweeps: algorithms x c x seeds on a seqtutor env, one row of results per trial.

Each trial trains with ``seqtutor train``'s code path, samples compositions (melody) or molecules
(SMILES) from the trained policy and records the domain statistics, mean log p_prior and exact KL
per step. Trials run in local worker processes (``--workers``, torch threads split between them)
or, for sweeps that outgrow one machine, on a Ray cluster through Ray Tune (``--backend ray``;
``pip install 'seqtutor[sweep]'``). Writes ``<out>.csv`` and ``<out>.md``.

    python benchmarks/sweep.py --algos q psi g --cs 0.5 1 2 --seeds 0 1 --steps 200000
    python benchmarks/sweep.py --backend ray --algos g --cs 0.5 1 --seeds 0 1 2 3
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import RESULTS_DIR, machine_description, machine_markdown, markdown_table, write_csv, write_text  # noqa: E402

METRICS = {
    "SeqTutor-Melody-v0": ("notes_not_in_key", "starts_with_tonic", "leaps_resolved", "notes_in_motif",
                           "notes_excessively_repeated"),
    "SeqTutor-SMILES-v0": ("valid", "unique", "qed", "plogp", "length"),
}


def run_trial(trial: dict[str, Any]) -> dict[str, Any]:
    """Train and evaluate one (algo, c, seed) trial; returns a flat result row."""
    import torch

    if trial.get("threads"):
        torch.set_num_threads(trial["threads"])
    from seqtutor_agents.training import TrainConfig, train
    from seqtutor_agents.evaluation import model_policy
    from seqtutor_envs.evaluation import run_episodes

    env_id = trial["env_id"]
    algo_kwargs = {"gamma": trial["gamma"]} if trial.get("gamma") is not None else {}
    config = TrainConfig(env_id=env_id, algo=trial["algo"], steps=trial["steps"], c=trial["c"], seed=trial["seed"],
                         out=f"{trial['runs']}/{trial['algo']}_c{trial['c']:g}_g{trial.get('gamma')}_s{trial['seed']}",
                         n_envs=trial["n_envs"], checkpoint_every=trial["steps"], algo_kwargs=algo_kwargs)
    start = time.perf_counter()
    model = train(config, progress=False, overwrite=True)
    minutes = (time.perf_counter() - start) / 60
    batch = run_episodes(env_id, trial["episodes"], model_policy(model, seed=trial["seed"]), seed=50_000,
                         env_kwargs={"c": trial["c"]})
    row = {k: trial.get(k) for k in ("algo", "c", "gamma", "seed", "steps")}
    row.update(minutes=round(minutes, 2), domain_return=float(batch.domain_returns.mean()),
               log_p=batch.prior_log_prob_per_step, kl=batch.kl_per_step)
    if env_id == "SeqTutor-Melody-v0":
        from seqtutor_envs.melody.stats import composition_statistics

        stats = composition_statistics(batch.finals["composition"])
    else:
        from seqtutor_envs.smiles.metrics import molecule_metrics

        stats = molecule_metrics(list(batch.finals["smiles"]))
    row.update({k: stats[k] for k in METRICS[env_id]})
    return row


def run_local(trials: list[dict[str, Any]], workers: int) -> list[dict[str, Any]]:
    if workers == 1:
        return [run_trial(t) for t in trials]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(run_trial, trials))


def run_ray(trials: list[dict[str, Any]], cpus_per_trial: int) -> list[dict[str, Any]]:
    try:
        from ray import tune
    except ImportError as exc:
        raise SystemExit("--backend ray needs Ray Tune: pip install 'seqtutor[sweep]'") from exc
    base = {k: v for k, v in trials[0].items() if k not in ("algo", "c", "seed")}
    space = {**base,
             "algo": tune.grid_search(sorted({t["algo"] for t in trials})),
             "c": tune.grid_search(sorted({t["c"] for t in trials})),
             "gamma": tune.grid_search(sorted({t["gamma"] for t in trials}, key=lambda g: -1 if g is None else g)),
             "seed": tune.grid_search(sorted({t["seed"] for t in trials}))}
    tuner = tune.Tuner(tune.with_resources(lambda cfg: run_trial(cfg), {"cpu": cpus_per_trial}), param_space=space)
    results = tuner.fit()
    return [r.metrics for r in results]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="SeqTutor-Melody-v0", choices=sorted(METRICS))
    parser.add_argument("--algos", nargs="+", default=["q", "psi", "g"])
    parser.add_argument("--cs", nargs="+", type=float, default=[1.0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--gammas", nargs="+", type=float, default=[None], help="discounts (default: the algorithm's)")
    parser.add_argument("--steps", type=int, default=200_000)
    parser.add_argument("--n-envs", type=int, default=64)
    parser.add_argument("--episodes", type=int, default=2_000, help="samples evaluated per trial")
    parser.add_argument("--backend", choices=["local", "ray"], default="local")
    parser.add_argument("--workers", type=int, default=1, help="local trials at once (torch threads split)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads per trial (default: cores / workers)")
    parser.add_argument("--runs", default="runs/sweep")
    parser.add_argument("--out", default=str(RESULTS_DIR / "sweep"))
    args = parser.parse_args()

    import os

    threads = args.threads or max(1, (os.cpu_count() or 1) // args.workers)
    trials = [dict(env_id=args.env, algo=a, c=c, gamma=g, seed=s, steps=args.steps, n_envs=args.n_envs,
                   episodes=args.episodes, runs=args.runs, threads=threads)
              for a, c, g, s in itertools.product(args.algos, args.cs, args.gammas, args.seeds)]
    rows = run_ray(trials, threads) if args.backend == "ray" else run_local(trials, args.workers)
    header = list(rows[0].keys())
    body = [[_fmt(r.get(k)) for k in header] for r in rows]
    out = Path(args.out)
    write_csv(out.with_suffix(".csv"), header, body)
    text = (f"# Sweep on {args.env}\n\n{machine_markdown(machine_description())}\n\n"
            f"{markdown_table(header, body)}\n\n{args.steps:,} env steps per trial, {args.episodes:,} samples evaluated.\n")
    write_text(out.with_suffix(".md"), text)
    print(text)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    return str(value)


if __name__ == "__main__":
    main()
