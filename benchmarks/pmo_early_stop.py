"""What REINVENT's early stop would have given finished PMO runs, without training again.

A learner's stream of molecules does not depend on when its run is stopped, so each run's
``oracle_calls.csv`` replayed through :meth:`~seqtutor_envs.smiles.pmo.OracleLog.replay` with an early
stop gives exactly the calls, and so the top-10 AUC, that the same run stopped by that rule makes.
Minutes are estimated from the env step the replay stops at (the run's minutes times that step over its
env steps). Where the same trial was also run with that early stop (the sweep's ``<run>_es<patience>``
folder beside it), its own AUC, calls and minutes are shown beside the replay's, which checks the replay.
``--max-steps`` replays each run under lower env-step caps too (the strings of later steps dropped).
Writes ``benchmarks/results/pmo_early_stop.{csv,md}`` (or ``--out``).

    python -m benchmarks.pmo_early_stop --runs "runs/pmo_tuning/*_dpg_c0.005_*_s0" --patience 5 10 20
    python -m benchmarks.pmo_early_stop --runs "runs/avx2/celecoxib*" "runs/avx2/isomers*" "runs/avx2/median2*" \
        --patience 5 --max-steps 750000 850000 1000000 --out benchmarks/results/pmo_step_cap
"""

from __future__ import annotations

import argparse
import glob
import json
from pathlib import Path

from benchmarks.common import (
    RESULTS_DIR,
    markdown_table,
    repo_relative,
    write_csv,
    write_results,
)
from seqtutor_agents.runs.sweep import RESULT_FILE, with_early_stop
from seqtutor_envs.smiles.guacamol import guacamol_objective
from seqtutor_envs.smiles.pmo import CALLS_FILE, OracleLog, top_k_auc


def replay_run(folder: Path, patience: int | None, max_steps: int | None = None) -> dict:
    """One finished run replayed with REINVENT's early stop at ``patience`` (None: none) under an env-step cap."""
    run = json.loads((folder / RESULT_FILE).read_text())
    budget = int(run.get("budget", 10_000))
    log = OracleLog(guacamol_objective(run["oracle"]), budget=budget, early_stop_patience=patience)
    stop_step = log.replay(folder / CALLS_FILE, max_env_step=max_steps)
    _, scores = log.ordered(budget)
    capped = stop_step is None and max_steps is not None and max_steps < run["env_steps"]
    fraction = (max_steps if capped else stop_step or run["env_steps"]) / run["env_steps"]
    # the same trial run with the stop (none to compare with: no stop, or a cap the run did not have)
    twin = with_early_stop(folder, patience) / RESULT_FILE if patience is not None and max_steps is None else None
    ran = json.loads(twin.read_text()) if twin is not None and twin.is_file() else {}
    return {
        "oracle": run["oracle"],
        "algo": run["algo"],
        "seed": run["seed"],
        "patience": patience,
        "max_steps": max_steps,
        "logged_patience": run.get("early_stop_patience"),
        "logged_auc": run["top10_auc"],
        "logged_calls": run["calls"],
        "logged_minutes": run["minutes"],
        "auc": top_k_auc(scores, 10, 100, budget, finish=True),
        "calls": len(scores),
        "stop": (
            "budget" if log.exhausted else "early_stop" if log.converged else "max_steps" if capped else "as logged"
        ),
        "minutes_estimate": round(run["minutes"] * fraction, 2),
        "run_auc": ran.get("top10_auc"),
        "run_calls": ran.get("calls"),
        "run_minutes": ran.get("minutes"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", nargs="+", required=True, help="run folders or glob patterns (quoted)")
    parser.add_argument("--patience", nargs="+", type=int, default=[5, 10, 20], help="early-stop patiences")
    parser.add_argument(
        "--max-steps",
        nargs="+",
        type=int,
        default=[None],
        help="env-step caps below the logged runs' (default: as logged); each with each patience",
    )
    parser.add_argument("--out", default=str(RESULTS_DIR / "pmo_early_stop"), help="<out>.csv and <out>.md")
    args = parser.parse_args()
    folders = sorted({Path(p) for pattern in args.runs for p in (glob.glob(pattern) or [pattern])})
    done = [f for f in folders if (f / RESULT_FILE).is_file() and (f / CALLS_FILE).is_file()]
    if not done:
        parser.error(f"no finished run (with {RESULT_FILE} and {CALLS_FILE}) among {args.runs}")
    rows = [replay_run(folder, p, cap) for folder in done for p in args.patience for cap in args.max_steps]
    header = list(rows[0])
    write_csv(Path(args.out).with_suffix(".csv"), header, [[r[k] for k in header] for r in rows])
    table = [
        [
            r["oracle"],
            r["algo"],
            r["seed"],
            f"{r['logged_auc']:.3f}",
            r["logged_calls"],
            f"{r['logged_minutes']:.1f}",
            r["patience"],
            r["max_steps"] or "as logged",
            f"{r['auc']:.3f}",
            r["calls"],
            f"{r['minutes_estimate']:.1f}",
            *(
                (f"{r['run_auc']:.3f}", r["run_calls"], f"{r['run_minutes']:.1f}")
                if r["run_auc"] is not None
                else ("–", "–", "–")
            ),
        ]
        for r in rows
    ]
    checked = [r for r in rows if r["run_auc"] is not None]
    agree = sum(r["run_calls"] == r["calls"] and abs(r["run_auc"] - r["auc"]) < 1e-9 for r in checked)
    text = write_results(
        Path(args.out).with_suffix(".md"),
        "REINVENT's early stop (and env-step caps) replayed on finished PMO runs",
        "\n".join(
            [
                (
                    "Each run's oracle-calls log replayed with the early stop (exact: the stream does not depend "
                    "on when a run stops); minutes estimated from the env step it stops at."
                ),
                "",
                markdown_table(
                    [
                        "oracle",
                        "algo",
                        "seed",
                        "logged AUC",
                        "logged calls",
                        "logged min",
                        "patience",
                        "env-step cap",
                        "AUC",
                        "calls",
                        "min (est.)",
                        "run with it: AUC",
                        "calls",
                        "min",
                    ],
                    table,
                ),
                "",
                f"Replay and run agree (same calls, same AUC) on {agree} of the {len(checked)} replays whose trial was "
                "also run with the early stop.",
                "",
            ]
        ),
    )
    print(text)
    print(f"wrote {repo_relative(Path(args.out).with_suffix('.md'))}")


if __name__ == "__main__":
    main()
