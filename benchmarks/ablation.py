"""What brings Ψ and G to π*: an ablation of the soft learners' settings on SeqTutor-Melody-v0.

Each variant changes the learners' defaults by a few hyperparameters (discount, λ-returns,
target-network rate, gradient steps per collection, learning rate, batch); every trial trains at
one KL target (c adapted by the shared controller, starting at the env's c) and is scored against
π* ∝ p·exp(R/c) like the frontier (``benchmarks/frontier.py``): optimality ratio (return / π*'s
return at the trial's KL), KL error against the target, minutes until the acting policy first held
0.8 of π*'s return, texture distances to π* at the trial's final c. Writes ``<out>.csv`` and
``<out>.md``; resumable like every sweep.

    python -m benchmarks.ablation --algos psi g --target-kl 0.1 --steps 400000 --seeds 0
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS_DIR, machine_description, machine_markdown, markdown_table, write_csv, write_text
from benchmarks.frontier import NAMES, add_optimum_columns, optimum_reference
from benchmarks.sweep import add_sweep_arguments, run_sweep
from seqtutor_agents.runs.sweep import make_trials, trial_folder
from seqtutor_envs.melody.domain import ENV_ID as MELODY

#: (name, hyperparameters over the table's defaults), in the order they are reported.
VARIANTS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("γ 0.9, one-step targets (the paper's)", {"gamma": 0.9, "td_lambda": 0.0}),
    ("γ 1, one-step targets", {"gamma": 1.0, "td_lambda": 0.0}),
    ("γ 1, λ 0.9", {"gamma": 1.0, "td_lambda": 0.9}),
    ("γ 1, λ 0.95", {"gamma": 1.0, "td_lambda": 0.95}),
    ("γ 1, λ 0.9, τ 0.05", {"gamma": 1.0, "td_lambda": 0.9, "tau": 0.05}),
    ("γ 1, λ 0.9, 2 gradient steps", {"gamma": 1.0, "td_lambda": 0.9, "gradient_steps": 2}),
    ("γ 1, λ 0.9, lr 5e-4", {"gamma": 1.0, "td_lambda": 0.9, "learning_rate": 5e-4}),
    ("γ 1, λ 0.9, batch 64", {"gamma": 1.0, "td_lambda": 0.9, "batch_size": 64}),
)

#: DPG's own knobs (it has no discount, λ or target network).
DPG_VARIANTS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("DPG defaults (lr 5e-4, batch 64, on-policy)", {}),
    ("DPG lr 2e-4, batch 128", {"learning_rate": 2e-4, "batch_size": 128}),
    ("DPG frozen proposal", {"proposal": "frozen"}),
    ("DPG batch 256", {"batch_size": 256}),
)


def _cell(value: Any, fmt: str) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else fmt.format(value)


def report(rows: list[dict[str, Any]], names: dict[str, str], out: Path, note: str) -> str:
    header = ["variant", "learner", "seed", "target KL", "KL/step", "KL error", "final c", "music return",
              "return / π*'s at its KL", "minutes to 0.8 of π*", "duration TV to π*", "pitch-class TV to π*"]
    body = []
    order = {name: i for i, (name, _) in enumerate(VARIANTS + DPG_VARIANTS)}
    for row in sorted(rows, key=lambda r: (order.get(names.get(r.get("run", ""), ""), 99), r["algo"], r["seed"])):
        if "error" in row:
            body.append([names.get(row.get("run", ""), "?"), NAMES.get(row["algo"], row["algo"]), str(row["seed"]),
                         "error: " + str(row["error"])[:80]] + [""] * (len(header) - 4))
            continue
        target = float(row["target_kl"])
        body.append([names.get(row["run"], "?"), NAMES.get(row["algo"], row["algo"]), str(row["seed"]), f"{target:g}",
                     f"{row['kl']:.4f}", f"{100 * (row['kl'] / target - 1):+.0f} %", _cell(row.get("final_c"), "{:.3g}"),
                     f"{row['domain_return']:.1f}", _cell(row.get("optimality_ratio"), "{:.3f}"),
                     _cell(row.get("minutes_to_0.8"), "{:.1f}"), _cell(row.get("duration_tv_to_optimum"), "{:.3f}"),
                     _cell(row.get("pitch_class_tv_to_optimum"), "{:.3f}")])
    text = (f"# What brings Ψ and G to π*: ablation on SeqTutor-Melody-v0\n\n{machine_markdown(machine_description())}\n\n"
            f"{markdown_table(header, body)}\n\n{note}\n")
    write_text(out.with_suffix(".md"), text)
    columns = list(dict.fromkeys(k for r in rows for k in r))
    write_csv(out.with_suffix(".csv"), ["variant", *columns],
              [[names.get(r.get("run", ""), "?"), *(r.get(k, "") for k in columns)] for r in rows])
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--algos", nargs="+", default=["psi", "g"])
    parser.add_argument("--variants", nargs="*", type=int, default=None,
                        help=f"indices into the variant list (0..{len(VARIANTS) - 1}; default: all)")
    parser.add_argument("--target-kl", type=float, default=0.1)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--steps", type=int, default=400_000)
    parser.add_argument("--episodes", type=int, default=2_000)
    parser.add_argument("--optimum-n", type=int, default=1_000_000)
    add_sweep_arguments(parser, runs="runs/ablation", out=RESULTS_DIR / "melody_ablation", backend="local", workers=2)
    args = parser.parse_args()

    chosen = [VARIANTS[i] for i in (args.variants if args.variants is not None else range(len(VARIANTS)))]
    common = {"steps": args.steps, "episodes": args.episodes, "runs": str(Path(args.runs).resolve()), "threads": args.threads,
              "resume": args.resume}
    trials, names = [], {}
    soft = [a for a in args.algos if a != "dpg"]
    grid = [(soft, name, kwargs) for name, kwargs in chosen if soft]
    grid += [(["dpg"], name, kwargs) for name, kwargs in DPG_VARIANTS if "dpg" in args.algos]
    for algos, name, kwargs in grid:
        batch = make_trials(MELODY, algos, [{"target_kl": args.target_kl, "algo_kwargs": kwargs}], args.seeds, **common)
        names.update({str(trial_folder(t)): name for t in batch})
        trials += batch
    rows = run_sweep(parser, args, trials)
    sample, points = optimum_reference(args.optimum_n, 0)
    add_optimum_columns(rows, sample, points)
    note = (f"{args.steps:,} env steps per trial (all envs together), {args.episodes:,} compositions evaluated per "
            f"trial; c starts at the env's (10) and is adapted toward the target. π* from {args.optimum_n:,} prior "
            "compositions (seed 0). Other hyperparameters: the table's defaults (ALGOS in seqtutor_agents/runs/config.py).\n\n"
            f"    python -m benchmarks.ablation --algos {' '.join(args.algos)} --target-kl {args.target_kl:g} "
            f"--steps {args.steps} --seeds {' '.join(map(str, args.seeds))}")
    print(report(rows, names, Path(args.out), note))


if __name__ == "__main__":
    main()
