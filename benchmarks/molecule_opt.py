"""Goal-directed molecule optimisation on SeqTutor-SMILES-v0 under the PMO protocol.

Each learner fine-tunes the shipped SMILES prior on a GuacaMol/PMO oracle (``guacamol:<name>``)
until 10,000 distinct valid molecules have been scored (PMO's oracle budget), on the same env and
budget for every learner. Per run: top-10 AUC (PMO's metric), top-1/10/100 means, validity and
uniqueness of what was generated, IntDiv and distinct Murcko scaffolds of the 100 best. Published
REINVENT (SMILES) top-10 AUC from the PMO paper is printed beside each oracle. ``--early-stop``
adds REINVENT's early stop of PMO's code (see ``seqtutor_envs/smiles/pmo.py``). Each run writes
``oracle_calls.csv`` (every scored molecule with its call index). Trials run on the sweep machinery
(Ray Tune or local processes, resumable). Writes ``benchmarks/results/molecule_opt.{csv,md}``.

    python -m benchmarks.molecule_opt --algos g psi q dap ppo --seeds 0 1 2
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np

from benchmarks.common import RESULTS_DIR, markdown_table, write_text
from benchmarks.sweep import write_rows
from seqtutor_agents.sweep import SweepFolderError, run_trials
from seqtutor_envs.smiles.pmo import EARLY_STOP_PATIENCE
from seqtutor_envs.smiles_env import ENV_ID

#: REINVENT (SMILES) top-10 AUC in PMO (Gao et al. 2022, Table 2).
PUBLISHED_REINVENT = {"qed": 0.941, "celecoxib_rediscovery": 0.713, "osimertinib_mpo": 0.837,
                      "isomers_c9h10n2o2pf2cl": 0.642, "median1": 0.356, "albuterol_similarity": 0.882,
                      "sitagliptin_mpo": 0.021, "valsartan_smarts": 0.178}
NAMES = {"q": "Q", "psi": "Ψ", "g": "G", "dap": "REINVENT-style (DAP)", "klppo": "KL-PPO", "ppo": "PPO (SB3)"}
#: Per-learner settings under PMO. The REINVENT-style baseline gets PMO's REINVENT configuration
#: (sigma = 500, i.e. c = 1/500; learning rate 5e-4; batch 64; an experience replay of 24 of its best
#: sequences); the others keep the table's SMILES settings and the env's c for GuacaMol oracles (0.02).
PMO_SETTINGS: dict[str, dict] = {
    "dap": {"c": 1 / 500, "algo_kwargs": {"learning_rate": 5e-4, "batch_size": 64, "replay_memory": 100,
                                          "replay_sample": 24}},
}


def summary(rows: list[dict]) -> str:
    by: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for row in rows:
        if "error" not in row:
            by[(row["oracle"], row["algo"])].append(row)
    oracles = [o for o in PUBLISHED_REINVENT if any(k[0] == o for k in by)] + sorted(
        {k[0] for k in by} - set(PUBLISHED_REINVENT))
    algos = list(dict.fromkeys(k[1] for k in by))
    header = ["oracle", "REINVENT (PMO paper)"] + [f"{NAMES.get(a, a)} top-10 AUC (seeds)" for a in algos]
    table = []
    wins = defaultdict(int)
    for oracle in oracles:
        line = [oracle, f"{PUBLISHED_REINVENT.get(oracle, float('nan')):.3f}"]
        for algo in algos:
            values = [r["top10_auc"] for r in sorted(by.get((oracle, algo), []), key=lambda r: r["seed"])]
            if not values:
                line.append("–")
                continue
            line.append(f"{np.mean(values):.3f} ({', '.join(f'{v:.3f}' for v in values)})")
            if oracle in PUBLISHED_REINVENT and np.mean(values) >= PUBLISHED_REINVENT[oracle]:
                wins[algo] += 1
        table.append(line)
    lines = [markdown_table(header, table), "",
             "Oracles (of the 8 with a published REINVENT figure) on which the mean top-10 AUC reaches REINVENT's: "
             + ", ".join(f"{NAMES.get(a, a)} {wins[a]}" for a in algos) + "."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--oracles", nargs="+", default=list(PUBLISHED_REINVENT))
    parser.add_argument("--algos", nargs="+", default=["g", "psi", "q", "dap", "ppo"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--budget", type=int, default=10_000, help="oracle calls (distinct valid molecules)")
    parser.add_argument("--max-steps", type=int, default=3_000_000, help="env-step cap of a run")
    parser.add_argument("--c", type=float, default=None, help="c for every learner (default: the table's / env's)")
    parser.add_argument("--early-stop", type=int, nargs="?", const=EARLY_STOP_PATIENCE, default=None,
                        metavar="PATIENCE",
                        help="REINVENT's early stop in PMO's code: stop once, past 1,000 calls, the 100 best scores "
                             f"are unchanged for PATIENCE steps of 64 molecules (default {EARLY_STOP_PATIENCE}, "
                             "mol_opt's --patience; the PMO paper's code stopped at 2 x 5 = 10)")
    parser.add_argument("--backend", choices=["auto", "local", "ray"], default="auto")
    parser.add_argument("--address", default=None)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--resume", action="store_true", help="continue a stopped sweep (finished trials are kept)")
    parser.add_argument("--overwrite", action="store_true", help="run every trial again, replacing an earlier sweep's")
    parser.add_argument("--runs", default="runs/molecule_opt")
    parser.add_argument("--out", default=str(RESULTS_DIR / "molecule_opt"))
    args = parser.parse_args()

    trials = [{"kind": "pmo", "env_id": ENV_ID, "oracle": oracle, "algo": algo, "seed": seed, "c": args.c,
               "budget": args.budget, "max_steps": args.max_steps, "early_stop_patience": args.early_stop,
               "runs": str(Path(args.runs).resolve()), "threads": args.threads,
               "resume": args.resume, **({} if args.c is not None else PMO_SETTINGS.get(algo, {}))}
              for oracle in args.oracles for algo in args.algos for seed in args.seeds]
    try:
        rows = run_trials(trials, args.backend, workers=args.workers, cpus_per_trial=args.threads, address=args.address,
                          storage=Path(args.runs) / "ray", name=Path(args.out).name, resume=args.resume, overwrite=args.overwrite)
    except SweepFolderError as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    stop = ("" if args.early_stop is None else
            f"REINVENT's early stop (patience {args.early_stop} steps of 64 molecules, after 1,000 calls); ")
    note = (f"PMO protocol: {args.budget:,} distinct valid molecules scored per run; top-10 AUC every 100 calls, the "
            f"last value held to the budget when a run stops short of it; {stop}"
            "Every learner starts from the shipped SMILES prior on SeqTutor-SMILES-v0 with the hyperparameter table's "
            f"SMILES settings{'' if args.c is None else f' and c = {args.c:g}'}"
            + ("" if args.c is not None else f"; per-learner overrides: {PMO_SETTINGS}") + ".")
    text = write_rows(rows, Path(args.out), "Goal-directed optimisation under the PMO protocol", note)
    text += "\n## Top-10 AUC per oracle (mean over seeds, then each seed)\n\n" + summary(rows) + "\n"
    write_text(Path(args.out).with_suffix(".md"), text)
    print(text)


if __name__ == "__main__":
    main()
