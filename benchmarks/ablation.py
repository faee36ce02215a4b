"""What brings the learners to π*: an ablation of their settings on SeqTutor-Melody-v0.

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

import numpy as np

from benchmarks.common import RESULTS_DIR, markdown_table, write_csv, write_results
from benchmarks.frontier import NAMES, add_optimum_columns, optimum_reference
from benchmarks.sweep import add_sweep_arguments, episode_trial_settings, run_sweep
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
    # Over the melody defaults that came of the rows above (γ 1, λ 0.9, 2 gradient steps per collection),
    # with c starting at π*'s c for the target (seqtutor_agents/runs/kl_start.py): issue 36's gap to π*.
    ("defaults (γ 1, λ 0.9, 2 gradient steps)", {}),
    ("defaults, 4 gradient steps", {"gradient_steps": 4}),
    ("defaults, 4 gradient steps, τ 0.02", {"gradient_steps": 4, "tau": 0.02}),
    ("defaults, batch 64", {"batch_size": 64}),
    ("defaults, replay 25k transitions", {"buffer_size": 25_000}),
    ("defaults, slow controller (kl_horizon 300k)", {"kl_horizon": 300_000}),
    ("defaults, 64 envs, train_freq 2", {"n_envs": 64, "train_freq": 2}),
    ("defaults, path consistency 1", {"consistency_coef": 1.0}),
    ("defaults, path consistency 0.1", {"consistency_coef": 0.1}),
    ("defaults, lr 2e-3", {"learning_rate": 2e-3}),
    ("defaults, lr 2e-3, 4 gradient steps", {"learning_rate": 2e-3, "gradient_steps": 4}),
    ("defaults, lr 3e-3", {"learning_rate": 3e-3}),
    ("defaults, lr 2e-3, 64 envs, train_freq 2", {"learning_rate": 2e-3, "n_envs": 64, "train_freq": 2}),
    ("defaults, lr 2e-3, path consistency 0.1", {"learning_rate": 2e-3, "consistency_coef": 0.1}),
)

#: DPG's own knobs (it has no discount, λ or target network).
DPG_VARIANTS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("DPG defaults (lr 5e-4, batch 64, on-policy)", {}),
    ("DPG lr 2e-4, batch 128", {"learning_rate": 2e-4, "batch_size": 128}),
    ("DPG frozen proposal", {"proposal": "frozen"}),
    ("DPG batch 256", {"batch_size": 256}),
    ("DPG 4 epochs", {"n_epochs": 4}),
    ("DPG temper 0.5", {"temper": 0.5}),
    ("DPG temper 0.5, 4 epochs", {"temper": 0.5, "n_epochs": 4}),
    ("DPG lr 1e-3, 4 epochs", {"learning_rate": 1e-3, "n_epochs": 4}),
    ("DPG temper 0.25", {"temper": 0.25}),
    ("DPG temper 0.5, lr 1e-3", {"temper": 0.5, "learning_rate": 1e-3}),
    ("DPG temper 0.5, batch 32", {"temper": 0.5, "batch_size": 32}),
    ("DPG temper 0.25, lr 2e-3", {"temper": 0.25, "learning_rate": 2e-3}),
)
#: Trajectory balance's (issue 36): Genetic GFN's molecule settings against on-policy training on melodies.
TB_VARIANTS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("TB Genetic GFN's settings (top-1,024 memory, rank, 8 steps)", {"replay_memory": 1024, "gradient_steps": 8}),
    ("TB on-policy (no memory, 1 step)", {"replay_memory": 0, "gradient_steps": 1}),
    ("TB on-policy, 2 steps", {"replay_memory": 0, "gradient_steps": 2}),
    ("TB on-policy, lr 1e-3", {"replay_memory": 0, "gradient_steps": 1, "learning_rate": 1e-3}),
    ("TB uniform memory (1,024), 2 steps", {"replay_memory": 1024, "replay_sampling": "uniform", "gradient_steps": 2}),
    ("TB on-policy, 4 steps", {"replay_memory": 0, "gradient_steps": 4}),
    ("TB on-policy, 4 steps, batch 128", {"replay_memory": 0, "gradient_steps": 4, "batch_size": 128}),
    ("TB on-policy, 8 steps", {"replay_memory": 0, "gradient_steps": 8}),
    ("TB on-policy, 8 steps, lr 2e-4", {"replay_memory": 0, "gradient_steps": 8, "learning_rate": 2e-4}),
)
#: Learners with variant lists of their own (no discount, λ or target network): name in the help, the list.
OWN_VARIANTS = {"dpg": ("DPG", DPG_VARIANTS), "tb": ("trajectory balance", TB_VARIANTS)}
#: Variant keys that are settings of the trial, not algorithm arguments.
TRIAL_KEYS = ("n_envs",)


def add_distance_to_optimum(rows: list[dict[str, Any]], sample: Any) -> None:
    """Each trial's KL(π ‖ π*) in nats per composition at its final c (reference §14), in place.

    ``J(π) = E_π[R]/c − KL(π ‖ p) = log Z − KL(π ‖ π*)``: from the trial's own compositions (mean
    return, exact KL per step times the composition's steps) and ``log Z = log mean_i exp(R_i / c)``
    over the prior sample. The melody env's prior weight is 1, so π* ∝ p·exp(R/c) for every learner.
    """
    for row in rows:
        c = float(row.get("final_c") or math.nan)
        if "error" in row or not c > 0:
            continue
        scaled = sample.domain_return / c
        top = float(scaled.max())
        log_z = top + math.log(float(np.mean(np.exp(scaled - top))))
        steps = float(np.mean(sample.lengths))
        objective = row["domain_return"] / c - row["kl"] * steps
        row["log_z"], row["kl_to_optimum"] = log_z, log_z - objective


def _cell(value: Any, fmt: str) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else fmt.format(value)


def report(rows: list[dict[str, Any]], names: dict[str, str], out: Path, note: str) -> str:
    header = [
        "variant",
        "learner",
        "seed",
        "target KL",
        "KL/step",
        "KL error",
        "final c",
        "music return",
        "return / π*'s at its KL",
        "KL(π ‖ π*) per composition",
        "minutes to 0.8 of π*",
        "duration TV to π*",
        "pitch-class TV to π*",
        "CPU minutes",
    ]
    body = []
    algos = list(dict.fromkeys(NAMES.get(r["algo"], r["algo"]) for r in rows))
    learners = " and ".join([", ".join(algos[:-1]), algos[-1]] if len(algos) > 1 else algos)
    order = {name: i for i, (name, _) in enumerate(VARIANTS + DPG_VARIANTS + TB_VARIANTS)}
    for row in sorted(
        rows,
        key=lambda r: (
            order.get(names.get(r.get("run", ""), ""), 99),
            r["algo"],
            float(r.get("target_kl") or 0),
            r["seed"],
        ),
    ):
        if "error" in row:
            body.append(
                [
                    names.get(row.get("run", ""), "?"),
                    NAMES.get(row["algo"], row["algo"]),
                    str(row["seed"]),
                    "error: " + str(row["error"])[:80],
                ]
                + [""] * (len(header) - 4)
            )
            continue
        target = float(row["target_kl"])
        body.append(
            [
                names.get(row["run"], "?"),
                NAMES.get(row["algo"], row["algo"]),
                str(row["seed"]),
                f"{target:g}",
                f"{row['kl']:.4f}",
                f"{100 * (row['kl'] / target - 1):+.0f} %",
                _cell(row.get("final_c"), "{:.3g}"),
                f"{row['domain_return']:.1f}",
                _cell(row.get("optimality_ratio"), "{:.3f}"),
                _cell(row.get("kl_to_optimum"), "{:.2f}"),
                _cell(row.get("minutes_to_0.8"), "{:.1f}"),
                _cell(row.get("duration_tv_to_optimum"), "{:.3f}"),
                _cell(row.get("pitch_class_tv_to_optimum"), "{:.3f}"),
                _cell(row.get("cpu_minutes"), "{:.2f}"),
            ]
        )
    text = write_results(
        out.with_suffix(".md"),
        f"What brings {learners} to π*: ablation on SeqTutor-Melody-v0",
        f"{markdown_table(header, body)}\n\n{note}\n",
    )
    columns = list(dict.fromkeys(k for r in rows for k in r))
    write_csv(
        out.with_suffix(".csv"),
        ["variant", *columns],
        [[names.get(r.get("run", ""), "?"), *(r.get(k, "") for k in columns)] for r in rows],
    )
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--algos", nargs="+", default=["psi", "g"])
    parser.add_argument(
        "--variants",
        nargs="*",
        type=int,
        default=None,
        help=f"indices into the variant list (0..{len(VARIANTS) - 1}; default: all)",
    )
    parser.add_argument(
        "--psi-variants",
        nargs="*",
        type=int,
        default=None,
        help="the variants Ψ runs, of those --variants names (default: all of them)",
    )
    for algo, (label, variants) in OWN_VARIANTS.items():
        parser.add_argument(
            f"--{algo}-variants",
            nargs="*",
            type=int,
            default=None,
            help=f"indices into {label}'s variant list (0..{len(variants) - 1}; default: all)",
        )
    parser.add_argument("--target-kls", "--target-kl", nargs="+", type=float, default=[0.1])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--steps", type=int, default=400_000)
    parser.add_argument("--episodes", type=int, default=2_000)
    parser.add_argument("--optimum-n", type=int, default=1_000_000)
    add_sweep_arguments(parser, runs="runs/ablation", out=RESULTS_DIR / "melody_ablation", backend="local", workers=2)
    args = parser.parse_args()

    indices = args.variants if args.variants is not None else list(range(len(VARIANTS)))
    psi_indices = set(indices if args.psi_variants is None else args.psi_variants)
    common = episode_trial_settings(args)
    trials, names = [], {}
    soft = [a for a in args.algos if a not in OWN_VARIANTS]
    grid = [([a for a in soft if a != "psi" or i in psi_indices], *VARIANTS[i]) for i in indices]
    grid = [(algos, name, kwargs) for algos, name, kwargs in grid if algos]
    for algo, (_, variants) in OWN_VARIANTS.items():
        chosen = getattr(args, f"{algo}_variants")
        if algo in args.algos:
            grid += [([algo], *variants[i]) for i in (chosen if chosen is not None else range(len(variants)))]
    for algos, name, kwargs in grid:
        trial_settings = {k: v for k, v in kwargs.items() if k in TRIAL_KEYS}
        algo_kwargs = {k: v for k, v in kwargs.items() if k not in TRIAL_KEYS}
        batch = make_trials(
            MELODY,
            algos,
            [{"target_kl": k, "algo_kwargs": algo_kwargs, **trial_settings} for k in args.target_kls],
            args.seeds,
            **common,
        )
        names.update({str(trial_folder(t)): name for t in batch})
        trials += batch
    rows = run_sweep(parser, args, trials)
    sample, points = optimum_reference(args.optimum_n, 0)
    add_optimum_columns(rows, sample, points)
    add_distance_to_optimum(rows, sample)
    note = (
        f"{args.steps:,} env steps per trial (all envs together), {args.episodes:,} compositions evaluated per "
        "trial; c starts at π*'s c for the target (seqtutor_agents/runs/kl_start.py; the rows above 'defaults' were "
        "run before that, from the env's 10) and is adapted toward it. π* from "
        f"{args.optimum_n:,} prior compositions (seed 0). Other hyperparameters: the table's defaults (ALGOS in "
        "seqtutor_agents/runs/config.py, the melody domain's learner_defaults). CPU minutes: the process time of "
        "the trial's training, on a machine shared with other work (wall minutes are in the CSV).\n\n"
        f"    python -m benchmarks.ablation --algos {' '.join(args.algos)}"
        + (f" --variants {' '.join(map(str, indices))}" if soft else "")
        + ("" if args.psi_variants is None else f" --psi-variants {' '.join(map(str, args.psi_variants))}")
        + "".join(
            f" --{algo}-variants {' '.join(map(str, getattr(args, f'{algo}_variants')))}"
            for algo in OWN_VARIANTS
            if getattr(args, f"{algo}_variants") is not None
        )
        + " --target-kls "
        f"{' '.join(f'{k:g}' for k in args.target_kls)} --steps {args.steps} --seeds {' '.join(map(str, args.seeds))}"
    )
    print(report(rows, names, Path(args.out), note))


if __name__ == "__main__":
    main()
