"""Sweeps: algorithms x settings x seeds on a seqtutor env, one row of results per trial.

Each trial trains through :func:`seqtutor_agents.runs.training.train`, samples compositions (melody) or
molecules (SMILES) from the trained policy and records the domain statistics, the texture and
diversity figures (melody), mean log p_prior, exact KL and entropy per step. Trials run

* on **Ray Tune** (``--backend ray``, the default when Ray is installed: ``pip install
  'seqtutor[sweep]'``): a local Ray started for the sweep, or an existing cluster with
  ``--address`` (seqtutor must be installed on its nodes); one trial per CPU
  (``--cpus-per-trial``); a stopped sweep resumes from Tune's experiment folder (``--resume``);
* on **local processes** (``--backend local``): ``--workers`` at a time, each trial's result kept
  in its run folder so that a stopped sweep resumes where it stopped.

Writes ``<out>.csv`` and ``<out>.md``.

    python -m benchmarks.sweep --algos q psi g --cs 0.5 1 2 --seeds 0 1 --steps 200000
    python -m benchmarks.sweep --backend ray --algos g --target-kls 0.25 0.5 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS_DIR, markdown_table, write_csv, write_results
from seqtutor_agents.runs.sweep import (
    CPU_KERNELS,
    PINNED_CPU_KERNELS,
    SweepFolderError,
    finished_rows,
    make_trials,
    run_trials,
)
from seqtutor_envs.domains import env_ids


def fmt(value: Any, digits: int = 4) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.{digits}g}"
    return str(value)


def write_rows(rows: list[dict[str, Any]], out: Path, title: str, note: str) -> str:
    """``<out>.csv`` (floats to 8 significant digits: data that later reports read back) and ``<out>.md``
    (4 digits, for reading) of the result rows; returns the markdown."""
    header = list(dict.fromkeys(k for r in rows for k in r))
    body = [[fmt(r.get(k, "")) for k in header] for r in rows]
    write_csv(out.with_suffix(".csv"), header, [[fmt(r.get(k, ""), digits=8) for k in header] for r in rows])
    return write_results(out.with_suffix(".md"), title, f"{markdown_table(header, body)}\n\n{note}\n")


def add_sweep_arguments(
    parser: argparse.ArgumentParser, runs: str, out: Path, backend: str = "auto", workers: int = 1
) -> None:
    """Where and how a sweep runs its trials, and where it writes: the options every sweep script shares."""
    parser.add_argument(
        "--backend",
        choices=["auto", "local", "ray"],
        default=backend,
        help="Ray Tune, local processes, or auto (Ray if installed)",
    )
    parser.add_argument("--address", default=None, help="Ray cluster address (default: start a local Ray)")
    parser.add_argument("--workers", type=int, default=workers, help="local backend: trials at once")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per trial")
    parser.add_argument(
        "--cpu-kernels",
        choices=CPU_KERNELS,
        default=PINNED_CPU_KERNELS,
        help="torch CPU kernels of the trials: avx2 (default; ATen, MKL and oneDNN pinned, so rows do "
        "not depend on the CPU: kernels of other widths round differently, and a seed gives "
        "another run) or native (torch's choice); a pinning variable already set keeps its value",
    )
    parser.add_argument("--resume", action="store_true", help="continue a stopped sweep (finished trials are kept)")
    parser.add_argument("--overwrite", action="store_true", help="run every trial again, replacing an earlier sweep's")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="run nothing: write the report from the trials that have finished (a running or stopped sweep)",
    )
    parser.add_argument("--runs", default=runs, help="run folders of the trials")
    parser.add_argument("--out", default=str(out), help="results: <out>.csv and <out>.md")


def episode_trial_settings(args: argparse.Namespace) -> dict[str, Any]:
    """What every trial of a `seqtutor train` sweep shares: steps, evaluated episodes, runs, threads, resume."""
    return {
        "steps": args.steps,
        "episodes": args.episodes,
        "runs": str(Path(args.runs).resolve()),
        "threads": args.threads,
        "resume": args.resume,
    }


def run_sweep(
    parser: argparse.ArgumentParser, args: argparse.Namespace, trials: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The trials on the backend :func:`add_sweep_arguments` chose; exits 2 if the sweep would redo or replace work.

    Ray reserves ``--cpus-per-trial`` CPUs per trial where a script has that option, else ``--threads``.
    With ``--report-only`` only the finished trials' rows are returned (how many are missing is printed).
    """
    if args.report_only:
        rows, missing = finished_rows(trials)
        print(
            f"{parser.prog}: --report-only: {len(rows)} of {len(trials)} trials finished; {missing} not run (left out)",
            file=sys.stderr,
        )
        return rows
    try:
        return run_trials(
            trials,
            args.backend,
            workers=args.workers,
            cpus_per_trial=getattr(args, "cpus_per_trial", None) or args.threads,
            address=args.address,
            storage=Path(args.runs) / "ray",
            name=Path(args.out).name,
            resume=args.resume,
            overwrite=args.overwrite,
            cpu_kernels=args.cpu_kernels,
        )
    except SweepFolderError as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="SeqTutor-Melody-v0", choices=env_ids())
    parser.add_argument("--algos", nargs="+", default=["q", "psi", "g"])
    parser.add_argument("--cs", nargs="*", type=float, default=[], help="values of c")
    parser.add_argument("--target-kls", nargs="*", type=float, default=[], help="KL targets (Sequence Tutor learners)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument(
        "--algo-kwarg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="hyperparameter for every trial (JSON value)",
    )
    parser.add_argument("--steps", type=int, default=200_000)
    parser.add_argument("--n-envs", type=int, default=None)
    parser.add_argument("--episodes", type=int, default=2_000, help="samples evaluated per trial")
    parser.add_argument("--cpus-per-trial", type=int, default=1, help="Ray: CPUs reserved per trial")
    add_sweep_arguments(parser, runs="runs/sweep", out=RESULTS_DIR / "sweep")
    args = parser.parse_args()

    from seqtutor_agents.runs.config_args import parse_key_value

    algo_kwargs = dict(parse_key_value(kv) for kv in args.algo_kwarg)
    settings = [{"c": c, "algo_kwargs": algo_kwargs} for c in args.cs]
    settings += [{"target_kl": k, "algo_kwargs": algo_kwargs} for k in args.target_kls]
    if not settings:
        settings = [{"algo_kwargs": algo_kwargs}]
    trials = make_trials(
        args.env,
        args.algos,
        settings,
        args.seeds,
        steps=args.steps,
        n_envs=args.n_envs,
        episodes=args.episodes,
        runs=str(Path(args.runs).resolve()),
        threads=args.threads,
        resume=args.resume,
    )
    rows = run_sweep(parser, args, trials)
    print(
        write_rows(
            rows,
            Path(args.out),
            f"Sweep on {args.env}",
            f"{args.steps:,} env steps per trial, {args.episodes:,} samples evaluated.",
        )
    )


if __name__ == "__main__":
    main()
