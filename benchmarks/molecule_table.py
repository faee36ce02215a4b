"""The paper's molecule experiment on SeqTutor-SMILES-v0: the SMILES prior vs the tuned learners, ``paper`` objective.

Every learner fine-tunes the shipped SMILES prior on the authors' reward (``objective="paper"``:
+5 + score per valid prefix, score + length penalty + 600 at a valid end; score = 3 logP + 5 ring
penalty + 40 QED - 2 SA) for the same env-step budget and seeds; then 2,000 molecules are sampled
from each and compared with 2,000 from the prior: % valid, mean logP, QED, SA, ring penalty,
penalised logP, length, unique, novel (vs the MOSES training set), IntDiv, the paper objective's
mean per molecule, and KL and log p per step. Trials run on the sweep machinery. Writes
``benchmarks/results/molecule_table.{csv,md}``.

    python -m benchmarks.molecule_table --algos g psi q dap klppo ppo --seeds 0 1 2 --steps 300000
    python -m benchmarks.molecule_table --algos dap --kl-algos q psi g --target-kls 0.05 --initial-c 67 \\
        --seeds 0 1 2 --steps 100000
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np

from benchmarks.common import RESULTS_DIR, markdown_table, write_results
from benchmarks.sweep import add_sweep_arguments, episode_trial_settings, run_sweep
from seqtutor_agents.runs.sweep import RESULT_FILE, SAMPLES_FILE, make_trials, trial_folder, trial_name
from seqtutor_envs.smiles.domain import ENV_ID as SMILES

ROWS = (
    ("domain_return", "paper objective per molecule", "{:.1f}"),
    ("valid", "valid", "{:.1%}"),
    ("unique", "unique (of valid)", "{:.1%}"),
    ("novel", "novel (of unique valid)", "{:.1%}"),
    ("intdiv", "IntDiv", "{:.3f}"),
    ("logp", "logP", "{:.2f}"),
    ("qed", "QED", "{:.3f}"),
    ("sa", "SA (lower = easier)", "{:.2f}"),
    ("ring_penalty", "ring penalty", "{:.3f}"),
    ("plogp", "penalised logP", "{:.2f}"),
    ("length", "length (tokens)", "{:.1f}"),
    ("kl", "KL(π ‖ prior) per step", "{:.3f}"),
    ("log_p", "log p_prior per step", "{:.3f}"),
)
NAMES = {"q": "Q", "psi": "Ψ", "g": "G", "dap": "DAP (REINVENT)", "klppo": "KL-PPO", "ppo": "PPO (SB3)"}


def prior_row(episodes: int, seed: int) -> dict:
    from seqtutor_agents.runs.evaluation import run_episodes
    from seqtutor_envs.sampling import prior_policy
    from seqtutor_envs.smiles.metrics import molecule_metrics

    batch = run_episodes(SMILES, episodes, prior_policy(seed=seed), seed=50_000, env_kwargs={"objective": "paper"})
    row = molecule_metrics(list(batch.finals["smiles"]))
    row.update(
        domain_return=float(batch.domain_returns.mean()),
        kl=0.0,
        log_p=batch.prior_log_prob_per_step,
        smiles=list(batch.finals["smiles"]),
    )
    return row


def novelty(smiles: list[str], reference: set[str]) -> float:
    from seqtutor_envs.smiles.scoring import MoleculeScorer

    distinct = {c for c in MoleculeScorer().canonical_batch(smiles) if c is not None}
    return sum(1 for c in distinct if c not in reference) / len(distinct) if distinct else float("nan")


KL_TARGETED = ("q", "psi", "g")


def column_label(trial: dict) -> str:
    """The table's column of a trial: the learner and its setting (a KL target, or the fixed c)."""
    name = NAMES.get(trial["algo"], trial["algo"])
    return f"{name}, KL {trial['target_kl']:g}" if trial.get("target_kl") is not None else f"{name}, fixed c"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--algos", nargs="+", default=["g", "psi", "q", "dap", "klppo", "ppo"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=300_000)
    parser.add_argument("--c", type=float, default=None, help="c for every learner (default: the env's paper c)")
    parser.add_argument(
        "--target-kls",
        nargs="*",
        type=float,
        default=[],
        help="KL targets (nats/step) of the --kl-algos (c adapted from the env's)",
    )
    parser.add_argument(
        "--initial-c",
        type=float,
        default=None,
        help="c the KL-targeted runs start from (default: the env's); e.g. π*'s c at the target "
        "(`seqtutor optimum --env-kwarg objective=paper --target-kl K`)",
    )
    parser.add_argument(
        "--kl-algos",
        nargs="*",
        default=["q", "psi", "g"],
        choices=list(KL_TARGETED),
        help="learners run at each --target-kls (besides their fixed-c runs if in --algos)",
    )
    parser.add_argument("--episodes", type=int, default=2_000)
    parser.add_argument("--no-novelty", action="store_true", help="skip novelty (needs the MOSES training set)")
    add_sweep_arguments(parser, runs="runs/molecule_table", out=RESULTS_DIR / "molecule_table", workers=2)
    args = parser.parse_args()

    setting = {"c": args.c, "env_kwargs": {"objective": "paper"}}
    common = episode_trial_settings(args)
    trials = make_trials(SMILES, args.algos, [setting], args.seeds, **common)
    targeted = args.kl_algos
    if targeted and args.target_kls:  # the paper's fixed c reward-hacks: the same learners held to a KL
        trials += make_trials(
            SMILES,
            targeted,
            [{**setting, "target_kl": k, "c": args.initial_c} for k in args.target_kls],
            args.seeds,
            **common,
        )
    rows = run_sweep(parser, args, trials)
    prior = prior_row(args.episodes, 0)
    reference = None
    if not args.no_novelty:
        from benchmarks.smiles_stats import training_smiles

        reference = set(training_smiles())
        prior["novel"] = novelty(prior["smiles"], reference)
    by_algo: dict[str, list[dict]] = defaultdict(list)
    if len(rows) != len(trials):  # --report-only returns only the finished trials' rows, in trial order
        trials = [t for t in trials if (trial_folder(t) / RESULT_FILE).is_file()]
    for trial, row in zip(trials, rows, strict=True):
        if "error" in row:
            continue
        if reference is not None:
            samples = Path(trial["runs"]) / trial_name(trial) / SAMPLES_FILE
            row["novel"] = novelty(samples.read_text().split(), reference)
        by_algo[column_label(trial)].append(row)

    header = ["", "SMILES prior"] + [f"{a} (mean; seeds)" for a in by_algo]
    lines = []
    for key, label, fmt in ROWS:
        cells = [label, fmt.format(prior[key]) if key in prior else "–"]
        for members in by_algo.values():
            values = [m.get(key) for m in sorted(members, key=lambda m: m["seed"]) if m.get(key) is not None]
            cells.append(
                f"{fmt.format(np.mean(values))} ({'; '.join(fmt.format(v) for v in values)})" if values else "–"
            )
        lines.append(cells)
    checks = []
    for algo, members in by_algo.items():
        for m in sorted(members, key=lambda m: m["seed"]):
            missed = [
                name
                for name, ok in (
                    ("objective above the prior's", m["domain_return"] > prior["domain_return"]),
                    ("valid >= 95 %", m["valid"] >= 0.95),
                    ("unique >= 95 %", m["unique"] >= 0.95),
                    ("length within 25 % of the prior's", abs(m["length"] / prior["length"] - 1) <= 0.25),
                )
                if not ok
            ]
            checks.append(
                f"- {algo} seed {m['seed']}: " + ("all targets met" if not missed else "missed " + ", ".join(missed))
            )
    text = write_results(
        Path(args.out).with_suffix(".md"),
        "The paper's molecule experiment on SeqTutor-SMILES-v0 (`paper` objective)",
        f"{args.steps:,} env steps per learner and seed; {args.episodes:,} molecules sampled from each model; "
        "hyperparameters: the table's SMILES settings"
        + (f", c = {args.c:g}" if args.c else ", the env's c (1/0.35)")
        + (
            f"; Q, Ψ and G also held to KL targets {args.target_kls} (c adapted from "
            + (f"{args.initial_c:g}" if args.initial_c else "the env's")
            + ")"
            if args.target_kls
            else ""
        )
        + ".\n\n"
        + markdown_table(header, lines)
        + "\n\nTargets (every seed):\n"
        + "\n".join(checks)
        + "\n",
    )
    print(text)


if __name__ == "__main__":
    main()
