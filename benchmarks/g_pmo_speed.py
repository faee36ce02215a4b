"""G at PMO speed (issue 35, item 5): where a G run under the PMO budget spends its time, and what fewer updates cost.

Two parts, one report (``benchmarks/results/g_pmo_speed.md``):

* ``profile``: one G run on zaleplon_mpo with the PMO settings (``pmo_settings.json``) up to ``--budget``
  oracle calls under cProfile, timed in CPU seconds of the process (the machine is shared: wall
  time also counts other people's work), split into the phases of a run -- collection (acting,
  the env), training (the replayed minibatch's unroll, the backward pass and the optimiser step).
  ``--label`` names the tree it ran on; run it once on the code before a change (``PYTHONPATH`` of
  that tree) and once after, and both land in ``g_pmo_speed_profile.json``.
* ``candidates``: full PMO runs (10,000 calls) of G's candidate settings on the two tuning oracles,
  one at a time (:data:`CANDIDATES`: replay ratios and the learning rate / target rate that go with
  fewer updates), with wall and CPU minutes, env steps and top-10 AUC.

    PYTHONPATH=<old tree> python benchmarks/g_pmo_speed.py profile --label before
    python benchmarks/g_pmo_speed.py profile --label after
    python benchmarks/g_pmo_speed.py candidates --candidates 0 1 2 --runs /tmp/gspeed
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import (
    machine_description,
    markdown_table,
    typed_cell,
    write_csv,
    write_results,
    write_text,
)
from benchmarks.sweep import add_sweep_arguments, run_sweep

# Beside this script (not the imported package's): the profile may run with an older tree first on the path.
HERE_RESULTS = Path(__file__).resolve().parent / "results"
SETTINGS_FILE = HERE_RESULTS / "pmo_settings.json"
PROFILE_FILE = HERE_RESULTS / "g_pmo_speed_profile.json"
TUNING_ORACLES = ("zaleplon_mpo", "perindopril_mpo")
_ELITES = {"replay_buffer_kwargs": {"elite_size": 100, "elite_sample": 16}}
#: G's candidates, c 0.02 and the elite memory throughout (the tuned PMO setting is candidate 0). A
#: candidate's index is the tag its stored runs carry: new ones go at the end.
CANDIDATES: list[dict[str, Any]] = [
    {"c": 0.02, "algo_kwargs": {"train_freq": 16, "batch_size": 64, **_ELITES}},
    # 128 envs: a vector step costs about as much as one of 32 (the env's and the actor's per-step work
    # is mostly per call), so collection takes ~half the time per env step. train_freq counts vector
    # steps: 128 x 4 = 32 x 16 = 512 env steps per update, the tuned replay ratio.
    {"c": 0.02, "n_envs": 128, "algo_kwargs": {"train_freq": 4, "batch_size": 64, **_ELITES}},
    {"c": 0.02, "n_envs": 128, "algo_kwargs": {"train_freq": 8, "batch_size": 64, **_ELITES}},
    {"c": 0.02, "n_envs": 128, "algo_kwargs": {"train_freq": 16, "batch_size": 64, **_ELITES}},
    # a quarter of the updates, each moving the network and its target further
    {
        "c": 0.02,
        "n_envs": 128,
        "algo_kwargs": {"train_freq": 16, "batch_size": 64, "learning_rate": 2e-3, "tau": 0.04, **_ELITES},
    },
    # 32 envs (the table's), a quarter of the updates: does the env count or the replay ratio cost AUC?
    {"c": 0.02, "algo_kwargs": {"train_freq": 64, "batch_size": 64, **_ELITES}},
]
#: Phases of a run: (name, file suffix, function); a phase's CPU time is the function's cumulative time.
PHASES = (
    ("training phases", "sequence_tutor/algorithm.py", "train"),
    ("  replayed minibatch: both networks' unroll", "sequence_tutor/buffers.py", "td_batch"),
    ("  backward pass and optimiser step", "common/learner.py", "_gradient_step"),
    ("  TD target (λ-returns)", "sequence_tutor/algorithm.py", "td_target"),
    ("collection phases", "sequence_tutor/algorithm.py", "collect_rollouts"),
    ("  acting (the Q-network's step)", "sequence_tutor/algorithm.py", "act"),
    ("  env step (prior, syntax, oracle)", "common/vec_env.py", "step_arrays"),
)


def pmo_trial(oracle: str, setting: dict[str, Any], seed: int, runs: str, budget: int, tag: str) -> dict[str, Any]:
    return {
        "kind": "pmo",
        "env_id": "SeqTutor-SMILES-v0",
        "oracle": oracle,
        "algo": "g",
        "seed": seed,
        "budget": budget,
        "max_steps": 3_000_000,
        "early_stop_patience": None,
        "runs": runs,
        "tag": tag,
        **setting,
    }


def profile(args: argparse.Namespace) -> None:
    """CPU seconds per phase of one G PMO run (see the module docstring); kept under ``--label``."""
    import torch

    from seqtutor_agents.runs.sweep import run_pmo_trial

    torch.set_num_threads(1)
    setting = json.loads(SETTINGS_FILE.read_text())["g"]
    trial = pmo_trial(
        "zaleplon_mpo",
        {"c": setting["c"], "algo_kwargs": setting["algo_kwargs"]},
        0,
        args.runs,
        args.budget,
        args.label,
    )
    profiler = cProfile.Profile(time.process_time)
    wall = time.perf_counter()
    profiler.enable()
    row = run_pmo_trial(trial)
    profiler.disable()
    wall = time.perf_counter() - wall
    stats = pstats.Stats(profiler)
    total = stats.total_tt  # type: ignore[attr-defined]
    phases = {}
    for name, suffix, function in PHASES:
        cumulative = sum(
            value[3]
            for (path, _, func), value in stats.stats.items()  # type: ignore[attr-defined]
            if func == function and path.endswith(suffix)
        )
        phases[name] = cumulative
    lstm = sum(value[2] for (_, _, func), value in stats.stats.items() if "torch.lstm" in func)  # type: ignore[attr-defined]
    backward = sum(value[2] for (_, _, func), value in stats.stats.items() if "run_backward" in func)  # type: ignore[attr-defined]
    steps = int(row["env_steps"])
    result = {
        "machine": machine_description(),
        "env_steps": steps,
        "calls": row["calls"],
        "cpu_seconds": total,
        "wall_seconds": wall,
        "phases": phases,
        "lstm_forward_seconds": lstm,
        "backward_seconds": backward,
        "us_per_env_step": 1e6 * total / steps,
        "settings": setting["algo_kwargs"],
    }
    saved = json.loads(PROFILE_FILE.read_text()) if PROFILE_FILE.is_file() else {}
    write_text(PROFILE_FILE, json.dumps({**saved, args.label: result}, indent=1) + "\n")  # in the order they ran
    stats.sort_stats("tottime").print_stats(15)
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=1))


def profile_table(profiles: dict[str, dict[str, Any]]) -> str:
    labels = list(profiles)
    header = ["CPU seconds (share of the run)", *labels]

    def cell(p: dict[str, Any], seconds: float) -> str:
        return f"{seconds:.1f} ({100 * seconds / p['cpu_seconds']:.0f} %)"

    body = [["whole run", *(f"{profiles[k]['cpu_seconds']:.1f}" for k in labels)]]
    body += [
        [name, *(cell(profiles[k], profiles[k]["phases"].get(name, 0.0)) for k in labels)] for name, _, _ in PHASES
    ]
    body += [
        [
            "torch.lstm calls (forward, all networks)",
            *(cell(profiles[k], profiles[k]["lstm_forward_seconds"]) for k in labels),
        ],
        ["autograd backward", *(cell(profiles[k], profiles[k]["backward_seconds"]) for k in labels)],
        ["env steps", *(f"{profiles[k]['env_steps']:,}" for k in labels)],
        ["oracle calls", *(f"{profiles[k]['calls']:,}" for k in labels)],
        ["CPU µs per env step", *(f"{profiles[k]['us_per_env_step']:.0f}" for k in labels)],
        ["wall seconds (shared machine)", *(f"{profiles[k]['wall_seconds']:.1f}" for k in labels)],
    ]
    runs = "\n".join(
        f"* `{k}`: {profiles[k]['machine']['date']}, `{profiles[k]['machine']['command']}`" for k in labels
    )
    return markdown_table(header, body) + "\n\n" + runs


def candidate_summary(rows: list[dict[str, Any]]) -> str:
    header = [
        "candidate",
        "setting",
        *(f"{o} AUC" for o in TUNING_ORACLES),
        "mean AUC",
        "wall minutes",
        "CPU minutes",
        "env steps",
    ]
    body = []
    for tag in sorted({str(r["tag"]) for r in rows if "error" not in r}, key=int):
        runs = {r["oracle"]: r for r in rows if str(r.get("tag")) == tag and "error" not in r}
        aucs = [runs[o]["top10_auc"] for o in TUNING_ORACLES if o in runs]
        body.append(
            [
                tag,
                json.dumps(CANDIDATES[int(tag)], sort_keys=True),
                *(f"{runs[o]['top10_auc']:.3f}" if o in runs else "–" for o in TUNING_ORACLES),
                f"{np.mean(aucs):.3f}" if len(aucs) == len(TUNING_ORACLES) else "–",
                " / ".join(f"{runs[o]['minutes']:.2f}" for o in TUNING_ORACLES if o in runs),
                " / ".join(f"{runs[o].get('cpu_minutes', float('nan')):.2f}" for o in TUNING_ORACLES if o in runs),
                " / ".join(f"{runs[o]['env_steps']:,}" for o in TUNING_ORACLES if o in runs),
            ]
        )
    return markdown_table(header, body)


def candidates(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    trials = [
        pmo_trial(oracle, CANDIDATES[i], seed, str(Path(args.runs).resolve()), args.budget, str(i))
        for i in args.candidates
        for seed in args.seeds
        for oracle in TUNING_ORACLES
    ]
    for trial in trials:
        trial["threads"] = args.threads
    rows = run_sweep(parser, args, trials)
    columns = list(dict.fromkeys(k for r in rows for k in r))
    write_csv(Path(args.out).with_suffix(".csv"), columns, [[r.get(k, "") for k in columns] for r in rows])
    print(candidate_summary(rows))


def report(out: Path) -> None:
    """``<out>.md`` from the stored profiles and candidate rows."""
    import csv

    parts = []
    if PROFILE_FILE.is_file():
        parts += ["## Where a G PMO run spends its time", "", profile_table(json.loads(PROFILE_FILE.read_text())), ""]
    rows_file = out.with_suffix(".csv")
    if rows_file.is_file():
        with rows_file.open(newline="") as stream:
            rows = [{k: typed_cell(v) for k, v in row.items() if v != ""} for row in csv.DictReader(stream)]
        parts += [
            "## Replay ratio: full PMO runs on the tuning oracles (seed 0, one at a time)",
            "",
            candidate_summary(rows),
            "",
        ]
    write_results(out.with_suffix(".md"), "G at PMO speed (issue 35, item 5)", "\n".join(parts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("part", choices=["profile", "candidates", "report"])
    parser.add_argument("--label", default="after", help="profile: the name of the tree it ran on")
    parser.add_argument("--budget", type=int, default=None, help="oracle calls (profile: 2,000; candidates: 10,000)")
    parser.add_argument("--candidates", nargs="+", type=int, default=list(range(len(CANDIDATES))))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    add_sweep_arguments(parser, runs="runs/g_pmo_speed", out=HERE_RESULTS / "g_pmo_speed", backend="local", workers=1)
    args = parser.parse_args()
    if args.part == "profile":
        args.budget = args.budget or 2_000
        profile(args)
    elif args.part == "candidates":
        args.budget = args.budget or 10_000
        candidates(args, parser)
    report(Path(args.out))


if __name__ == "__main__":
    main()
