"""What each off-policy option is worth: a learner's tuned PMO setting with each option switched, on the tuning oracles.

From a learner's setting (its entry in ``benchmarks/results/pmo_settings.json``, which
``benchmarks/pmo_tuning.py`` writes, or a candidate of its search space with ``--candidate``) each of
issue 35's options is switched -- genetic exploration on/off, augmented replay off/on (``--augment``
extra updates), rank-based replay to uniform (or uniform to rank), REINVENT's early stop off where the
setting has it -- one at a time, and every variant
runs the PMO protocol on zaleplon_mpo and perindopril_mpo (the tuning oracles only, as PMO tunes).
Run folders are the tuning's (``runs/pmo_tuning``), so the unchanged setting is not run again where the
tuning ran it. Writes ``benchmarks/results/pmo_ablation_<algo>.{csv,md}``.

    python -m benchmarks.pmo_ablation --algo tb --seeds 0 --backend local --workers 1 --resume
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from benchmarks.common import RESULTS_DIR, markdown_table
from benchmarks.molecule_opt import (
    SETTINGS_FILE,
    TABLE_REPLAY_SAMPLING,
    load_settings,
    refuse_bad_trials,
    with_options,
    write_report,
)
from benchmarks.pmo_tuning import SEARCH_SPACE, TUNING_ORACLES
from benchmarks.sweep import add_sweep_arguments, run_sweep
from seqtutor_envs.smiles.env import ENV_ID


def variants(setting: dict, algo: str, augment: int) -> dict[str, dict]:
    """The setting as it is, then with each option switched (name -> setting)."""
    kwargs = setting.get("algo_kwargs", {})
    buffer = kwargs.get("replay_buffer_kwargs", {})
    sampling = (
        buffer.get("elite_sampling", "uniform")
        if algo in ("g", "psi", "q")
        else kwargs.get("replay_sampling", TABLE_REPLAY_SAMPLING.get(algo, "uniform"))
    )
    genetic_on = kwargs.get("genetic") not in (None, False)
    out = {"as tuned": with_options(setting, algo)}
    out["genetic off" if genetic_on else "genetic on ({})"] = with_options(setting, algo, "off" if genetic_on else {})
    if kwargs.get("augment"):
        out["augment off"] = with_options(setting, algo, augment=0)
    else:
        out[f"augment {augment}"] = with_options(setting, algo, augment=augment)
    other = "uniform" if sampling == "rank" else "rank"
    out[f"replay {other} (not {sampling})"] = with_options(setting, algo, replay_sampling=other)
    if setting.get("early_stop_patience"):  # what stopping early costs in AUC, and saves in minutes
        out["early stop off"] = {**with_options(setting, algo), "early_stop_patience": None}
    return out


def retag(rows: list[dict], trials: list[dict]) -> list[dict]:
    """Each row tagged with its variant's name: a run the tuning made (same folder) comes back with the tuning's tag."""

    def key(oracle: str, seed: int, settings: str, patience: object) -> tuple:
        # the early stop is not in the settings column: "early stop off" has the tuned setting's arguments
        return oracle, int(seed), settings, None if patience in (None, "", "None") else int(str(patience))

    names = {
        key(
            t["oracle"],
            t["seed"],
            json.dumps({**t.get("algo_kwargs", {}), **t.get("env_kwargs", {})}, sort_keys=True),
            t.get("early_stop_patience"),
        ): t["tag"]
        for t in trials
    }
    return [
        {
            **row,
            "tag": names.get(
                key(row["oracle"], row["seed"], row["settings"], row.get("early_stop_patience")), row.get("tag")
            ),
        }
        if "error" not in row
        else row
        for row in rows
    ]


def summary(rows: list[dict], names: list[str]) -> str:
    by: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    minutes: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        if "error" not in row:
            by[row["tag"]][row["oracle"]].append(float(row["top10_auc"]))
            minutes[row["tag"]].append(float(row["minutes"]))
    base = [np.mean(by[names[0]][o]) for o in TUNING_ORACLES if by[names[0]][o]]
    table = []
    for name in names:
        cells = [np.mean(by[name][o]) if by[name][o] else np.nan for o in TUNING_ORACLES]
        mean = float(np.mean(cells)) if not np.isnan(cells).any() else np.nan
        delta = mean - float(np.mean(base)) if len(base) == len(TUNING_ORACLES) else np.nan
        spent = minutes[name]
        table.append(
            [
                name,
                *(f"{c:.3f}" for c in cells),
                f"{mean:.3f}",
                f"{delta:+.3f}",
                f"{min(spent):.1f}–{max(spent):.1f}" if spent else "–",
            ]
        )
    return markdown_table(["variant", *TUNING_ORACLES, "mean", "vs as tuned", "minutes per run"], table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--algo", required=True, choices=sorted(SEARCH_SPACE))
    parser.add_argument(
        "--candidate",
        type=int,
        default=None,
        help="start from this candidate of the learner's search space (default: its tuned setting)",
    )
    parser.add_argument("--settings", default=str(SETTINGS_FILE), help="the tuned settings (benchmarks/pmo_tuning.py)")
    parser.add_argument("--augment", type=int, default=2, help="extra updates of the 'augment on' variant")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--budget", type=int, default=10_000)
    parser.add_argument("--max-steps", type=int, default=3_000_000)
    add_sweep_arguments(parser, runs="runs/pmo_tuning", out=RESULTS_DIR / "pmo_ablation", workers=1)
    args = parser.parse_args()
    if args.candidate is not None:
        setting = SEARCH_SPACE[args.algo][args.candidate]
    else:
        tuned = load_settings(Path(args.settings))
        if args.algo not in tuned:
            parser.exit(
                2,
                f"{parser.prog}: error: {args.settings} holds no setting of {args.algo}: tune it first "
                f"(benchmarks/pmo_tuning.py --algos {args.algo}) or pass --candidate\n",
            )
        setting = tuned[args.algo]
    named = variants(setting, args.algo, args.augment)
    trials = [
        {
            "kind": "pmo",
            "env_id": ENV_ID,
            "oracle": oracle,
            "algo": args.algo,
            "seed": seed,
            "budget": args.budget,
            "max_steps": args.max_steps,
            "early_stop_patience": None,
            "runs": str(Path(args.runs).resolve()),
            "threads": args.threads,
            **variant,
            "tag": name,
        }
        for name, variant in named.items()
        for oracle in TUNING_ORACLES
        for seed in args.seeds
    ]
    refuse_bad_trials(parser, trials)
    rows = retag(run_sweep(parser, args, trials), trials)
    out = Path(args.out).with_name(f"{Path(args.out).name}_{args.algo}")
    note = (
        f"PMO protocol ({args.budget:,} oracle calls) on the tuning oracles, seeds {args.seeds}. Each variant is "
        f"the setting {json.dumps(setting, sort_keys=True)} with one option switched (its row's settings column "
        "says exactly what ran)."
    )
    write_report(
        rows,
        out,
        f"Ablation of the off-policy options of {args.algo} on the PMO tuning oracles",
        note,
        "Top-10 AUC per variant (mean over seeds)",
        summary(rows, list(named)),
    )


if __name__ == "__main__":
    main()
