"""``seqtutor``: pre-train priors, fine-tune them with RL, sample and evaluate.

    seqtutor pretrain melody --out my_prior.pt
    seqtutor train --env SeqTutor-Melody-v0 --algo g --c 0.5 --steps 800000 --out runs/g
    seqtutor sample --run runs/g -n 10 --out runs/g/samples
    seqtutor evaluate --run runs/g -n 10000
    seqtutor score --scoring scoring.toml molecules.smi --out scores.csv
    seqtutor demo --out runs/demo

This module only parses and prints; the work is done by :mod:`seqtutor_agents.runs.training`,
:mod:`seqtutor_agents.runs.evaluation` and :mod:`seqtutor_agents.runs.demo`. The ``train`` options are
generated from :class:`~seqtutor_agents.runs.training.TrainConfig`'s fields and comments.
"""

from __future__ import annotations

# Each command imports its machinery (torch, Stable-Baselines3, matplotlib, RDKit) inside its handler:
# `seqtutor --help` answers in well under a second without them (tests/test_import_graph.py measures it;
# importing torch alone took 2.2 s on this 2-core machine: python -X importtime -c "import torch"). Only the
# parser's own modules are imported at the top.
import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from seqtutor_envs.domains import env_ids
from seqtutor_envs.threads import add_threads_argument, use_threads

from .runs.config import ALGO_CHOICES, DEFAULT_ENV, TrainConfig
from .runs.config_args import (
    add_dataclass_arguments,
    explicit_values,
    parse_count,
    parse_key_value,
    parse_path,
    parse_positive_int,
    parse_seed,
)
from .runs.run_folder import ConfigError

TRAIN_FLAGS = {"env_id": "--env", "env_kwargs": "--env-kwarg", "algo_kwargs": "--algo-kwarg"}
_LONG = "when the estimate exceeds 30 minutes (never beyond the memory at hand)"
YES_HELP = {
    "sample": "write even when the estimate exceeds 2 GB or 30 minutes (never beyond the free disk)",
    "evaluate": "evaluate even " + _LONG,
    "report": "sample even " + _LONG,
    "optimum": "draw even " + _LONG,
}


class DefaultsFormatter(argparse.HelpFormatter):
    """Help that states each option's default, unless the help text already says it or there is none to say."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (
            action.option_strings
            and not any(action.default is v for v in (None, False, True, argparse.SUPPRESS))
            and "default" not in text
        ):
            text += (" " if text else "") + "(default: %(default)s)"
        return text


def build_parser() -> argparse.ArgumentParser:
    from seqtutor_envs.pretrain_cli import add_pretrain_arguments

    parser = argparse.ArgumentParser(prog="seqtutor", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("pretrain", help="MLE pre-training of a prior", formatter_class=DefaultsFormatter)
    add_pretrain_arguments(p)
    _add_train_parser(sub)
    _add_sampling_parsers(sub)
    _add_score_parser(sub)
    _add_optimum_parser(sub)
    _add_report_parsers(sub)
    return parser


def _add_train_parser(sub) -> None:
    p = sub.add_parser("train", help="fine-tune a prior with RL on a seqtutor env")
    add_dataclass_arguments(p, TrainConfig, flags=TRAIN_FLAGS, choices={"env_id": env_ids(), "algo": ALGO_CHOICES})
    for action in p._actions:  # --out may come from --config's file instead (checked in train_config)
        if action.dest == "out":
            action.required = False
    p.add_argument(
        "--config",
        metavar="FILE.toml",
        default=None,
        help="a run described as TOML (any TrainConfig field; [env_kwargs], [algo_kwargs] tables), "
        "e.g. a run's own config.toml, or the [train] table of an experiment in configs/; options "
        "given on the command line win",
    )
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("-v", "--verbose", action="count", default=0, help="also log training figures to stdout")
    add_threads_argument(p)


def _add_optimum_parser(sub) -> None:
    p = sub.add_parser(
        "optimum",
        help="the exact optimum π* ∝ p·exp(R/c) of an env's objective, by importance sampling",
        formatter_class=DefaultsFormatter,
    )
    p.add_argument("--env", default=DEFAULT_ENV, help=f"env id ({', '.join(env_ids())})")
    p.add_argument("--cs", nargs="*", type=float, default=[], help="values of c")
    p.add_argument(
        "--target-kl",
        nargs="*",
        type=float,
        default=[],
        dest="target_kls",
        help="KL per step targets: π* at the c that gives each",
    )
    p.add_argument("-n", "--num", type=parse_positive_int, default=1_000_000, help="prior samples")
    p.add_argument("--seed", type=parse_seed, default=0, help="sampling seed")
    p.add_argument(
        "--env-kwarg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        type=parse_key_value,
        help="env setting (JSON value), e.g. prior_weight=0.5 or objective=qed",
    )
    p.add_argument("--resample", type=parse_count, default=2_000, help="sequences drawn from π* for its statistics")
    p.add_argument("--no-cache", action="store_true", help="draw the prior samples again even if cached")
    p.add_argument(
        "--run",
        default=None,
        type=parse_path,
        help="a run folder: also π* at its final c (with its env's settings), and its distance KL(π ‖ π*) "
        "from --run-samples of its own sequences",
    )
    p.add_argument("--run-samples", type=parse_positive_int, default=2_000, help="sequences of --run's model")
    p.add_argument(
        "--out",
        required=True,
        type=parse_path,
        help="CSV file: one row per point (log Z, J(p) = E_p[R]/c "
        "and KL(p ‖ π*) with bootstrap intervals among the columns)",
    )
    p.add_argument("--yes", action="store_true", help=YES_HELP["optimum"])
    add_threads_argument(p)


def _add_report_parsers(sub) -> None:
    p = sub.add_parser(
        "report",
        help="one self-contained HTML page of runs: curves, statistics, π*, samples to listen to or sort",
        formatter_class=DefaultsFormatter,
    )
    p.add_argument("runs", nargs="+", metavar="RUN", help="run folders written by `seqtutor train`")
    p.add_argument("--out", default="report.html", type=parse_path, help="the HTML file")
    p.add_argument("-n", "--num", type=parse_positive_int, default=500, help="samples of each model and of its prior")
    p.add_argument("--seed", type=parse_seed, default=0, help="sampling seed")
    p.add_argument("--media", type=parse_count, default=6, help="compositions with a player, molecules per grid")
    p.add_argument("--yes", action="store_true", help=YES_HELP["report"])
    p.add_argument(
        "--optimum-n",
        type=parse_count,
        default=None,
        help="prior samples behind π* (default: the domain's, 200,000 for melodies, none for molecules; 0: none)",
    )
    add_threads_argument(p)

    p = sub.add_parser(
        "demo",
        help="fine-tune the Note RNN and write MIDI, audio, plots and Table 1",
        formatter_class=DefaultsFormatter,
    )
    p.add_argument("--out", default="runs/demo", type=parse_path, help="output folder")
    p.add_argument("--steps", type=parse_positive_int, default=None, help="env steps (default: the demo's budget)")
    p.add_argument("--seed", type=parse_seed, default=0, help="training and sampling seed")
    add_threads_argument(p)


def _add_score_parser(sub) -> None:
    p = sub.add_parser(
        "score",
        help="score a file of molecules with a scoring file: a CSV with every component",
        formatter_class=DefaultsFormatter,
    )
    p.add_argument("molecules", metavar="MOLECULES", help="SMILES file (.smi: one per line; .csv: a smiles column)")
    p.add_argument("--scoring", required=True, metavar="FILE", help="scoring file (TOML or JSON)")
    p.add_argument("--out", required=True, type=parse_path, help="CSV file: one row per molecule")
    p.add_argument(
        "--stage", type=parse_positive_int, default=1, help="the stage to score with, for a staged scoring file"
    )
    p.add_argument(
        "--workers", type=parse_positive_int, default=None, help="scoring processes (default: one per CPU core)"
    )


def _add_sampling_parsers(sub) -> None:
    """``sample`` and ``evaluate``: the same source options (a run or the prior), output and bounds."""
    for name, helptext in (
        ("sample", "write samples (MIDI + WAV + piano roll, or SMILES + molecule grid)"),
        ("evaluate", "statistics table of samples (markdown + JSON)"),
    ):
        p = sub.add_parser(name, help=helptext, formatter_class=DefaultsFormatter)
        src = p.add_mutually_exclusive_group(required=True)
        src.add_argument("--run", help="a run folder written by `seqtutor train`")
        src.add_argument("--prior", action="store_true", help="sample the env's prior itself")
        p.add_argument("--env", default=DEFAULT_ENV, help=f"env id, with --prior ({', '.join(env_ids())})")
        p.add_argument(
            "--env-kwarg",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            type=parse_key_value,
            help="env setting (JSON value), with --prior: e.g. prior_path=my_prior.pt or objective=qed",
        )
        p.add_argument(
            "-n", "--num", type=parse_positive_int, default=10 if name == "sample" else 10_000, help="number of samples"
        )
        p.add_argument("--seed", type=parse_seed, default=0, help="sampling seed")
        p.add_argument(
            "--out",
            default=None,
            type=parse_path,
            help="output folder"
            + (
                " (default: <run>/samples with --run, ./samples with --prior)"
                if name == "sample"
                else " for evaluation.md and evaluation.json (default: print only)"
            ),
        )
        p.add_argument("--yes", action="store_true", help=YES_HELP[name])
        if name == "evaluate":
            p.add_argument(
                "--optimum-n",
                type=parse_count,
                default=0,
                help="prior samples behind π* (e.g. 200000; cached): adds, at the run's final c, log Z, "
                "KL(π ‖ π*) per sequence and the share of the achievable improvement with bootstrap "
                "intervals, and the return / π*'s at the same KL (0: none)",
            )
        add_threads_argument(p)


def train_config(args: argparse.Namespace) -> tuple[TrainConfig, dict[str, Any]]:
    """The run's config from the options given (over ``--config``'s file, or the run's own config when resuming)."""
    given = explicit_values(args, TrainConfig)
    if getattr(args, "config", None):
        from .runs.run_config import read_config_toml

        given = {**read_config_toml(args.config), **given}  # options on the command line win over the file
    if "out" not in given:
        raise ConfigError("--out is required (on the command line or as `out` in --config's file)")
    if args.resume:
        from .runs.training import read_run_config

        if "out" not in given:
            raise ConfigError("--resume needs --out, the run folder to continue")
        saved = read_run_config(given["out"])
        return dataclasses.replace(saved, **given), given
    return TrainConfig(**given), given


def _policy_source(args) -> tuple[Any, str, dict[str, Any], str]:
    """(model or None, env id, env kwargs, label) for ``--run`` or ``--prior``."""
    if args.run:
        from .runs.training import load_run

        if args.env_kwarg:
            raise ConfigError("--env-kwarg applies to --prior; a run's env settings are those of its config.json")

        model, config = load_run(args.run)
        return model, config.env_id, config.resolved_env_kwargs(), f"{config.algo} ({args.run})"
    return None, args.env, checked_env_kwargs(args.env, args.env_kwarg), "prior"


def checked_env_kwargs(env_id: str, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``--env`` and its ``--env-kwarg`` pairs, checked by making the env once (a bad one fails here, in one line)."""
    if env_id not in env_ids():
        raise ConfigError(f"--env {env_id!r} is not a seqtutor env; choose one of {', '.join(env_ids())}")
    env_kwargs = dict(pairs)
    if "prior_path" in env_kwargs and not Path(str(env_kwargs["prior_path"])).is_file():
        raise ConfigError(f"--env-kwarg prior_path={env_kwargs['prior_path']}: no such file")
    try:
        import gymnasium as gym

        gym.make(env_id, **env_kwargs).close()
    except (TypeError, ValueError, FileNotFoundError) as exc:
        raise ConfigError(f"--env-kwarg: {str(exc).split(' was raised from the environment creator')[0]}") from None
    return env_kwargs


def main(argv: Sequence[str] | None = None) -> int:
    from .runs.interrupts import Terminated, forget_handled_interrupt, signals_raise

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    use_threads(getattr(args, "threads", None))
    try:
        with signals_raise():  # SIGTERM unwinds the job like Ctrl-C: temp files go, workers stop
            return _run(parser, args, argv)
    except KeyboardInterrupt:
        forget_handled_interrupt()
        print("\nseqtutor: interrupted (Ctrl-C); files it was writing were removed", file=sys.stderr)
        return 130
    except Terminated as stop:
        print(f"\nseqtutor: {stop}; files it was writing were removed", file=sys.stderr)
        return 128 + stop.signum


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace, argv: list[str]) -> int:
    try:
        if args.command == "pretrain":
            from seqtutor_envs.pretrain import PretrainInputError
            from seqtutor_envs.pretrain_cli import run_pretrain

            try:
                run_pretrain(args, ["seqtutor", *argv])
            except PretrainInputError as exc:
                raise ConfigError(str(exc)) from None
        elif args.command == "train":
            from .runs.run_folder import TrainingInterrupted
            from .runs.training import train

            config, _ = train_config(args)
            try:
                train(
                    config,
                    resume=args.resume,
                    overwrite=args.overwrite,
                    progress=not args.no_progress,
                    verbose=args.verbose,
                )
            except TrainingInterrupted as stopped:
                print(f"seqtutor: {stopped}", file=sys.stderr)
                return 128 + stopped.signum
            print(f"model, config and logs in {config.out}")
        elif args.command in ("sample", "evaluate"):
            _sample_or_evaluate(args)
        elif args.command == "optimum":
            _optimum(args)
        elif args.command == "score":
            from .runs.score import score_command

            score_command(args)
        elif args.command == "report":
            _report(args)
        elif args.command == "demo":
            from .runs.demo import run_demo

            run_demo(Path(args.out), steps=args.steps, seed=args.seed)
    except ConfigError as exc:
        parser.exit(2, f"seqtutor: error: {exc}\n")
    return 0


def _sample_or_evaluate(args) -> None:
    from .runs.outputs import output_folder
    from .runs.owned import Outputs

    if args.command == "sample" and args.out is None:
        args.out = str(Path(args.run) / "samples") if args.run else "samples"
    existed = args.out is not None and Path(args.out).exists()
    out = output_folder(args.out) if args.out else None  # before any work: a bad --out fails at once
    try:
        outputs = Outputs(out) if out is not None else None
        if outputs is not None:  # what seqtutor will not replace there is refused now, not after the work
            outputs.check(*(() if args.command == "sample" else EVALUATION_FILES))
            outputs.sweep(*EVALUATION_FILES, "samples.csv")
        model, env_id, env_kwargs, label = _policy_source(args)
        if args.command == "sample":
            _sample(args, model, env_id, env_kwargs, label, outputs)
        else:
            _evaluate(args, model, env_id, env_kwargs, label, outputs)
    except ConfigError:
        if out is not None and not existed and not any(out.iterdir()):
            out.rmdir()  # a refused job leaves no empty folder behind
        raise


EVALUATION_FILES = ("evaluation.md", "evaluation.json")


def _evaluate(args, model, env_id: str, env_kwargs: dict[str, Any], label: str, outputs) -> None:
    from .runs.evaluation import episodes_of, evaluation_report, prior_training_data
    from .runs.outputs import check_memory, episode_bytes, time_guard, writing
    from .runs.training import json_default

    passes = 2 if model is not None else 1  # a run is compared with its prior's samples
    what = f"-n {args.num:,}: {passes * args.num:,} episodes"
    check_memory(what, episode_bytes(env_id, env_kwargs) * args.num * passes)
    guard = time_guard(what, args.num, args.yes)
    batch = episodes_of(model, env_id, args.num, args.seed, env_kwargs, on_batch=guard)
    prior = episodes_of(None, env_id, args.num, args.seed, env_kwargs, progress=False) if model is not None else None
    reference = prior_training_data(env_id, env_kwargs)
    if reference is not None:
        print(f"comparing with the prior's training data: {reference}")
    result, table = evaluation_report(batch, env_id, label, prior, reference)
    if args.optimum_n:
        from .runs.optimum_figures import evaluate_against_optimum

        result["optimum"], text = evaluate_against_optimum(model, batch, env_id, env_kwargs, args.optimum_n, args.seed)
        table += "\n" + text
    print(table)
    if outputs is not None:
        with writing(outputs.folder):
            outputs.write_text("evaluation.md", table, "evaluation")
            outputs.write_text("evaluation.json", json.dumps(result, indent=2, default=json_default), "evaluation")
        print(f"written to {outputs.folder / 'evaluation.md'} and {outputs.folder / 'evaluation.json'}")


def _sample(args, model, env_id: str, env_kwargs: dict[str, Any], label: str, outputs) -> None:
    """Write ``args.num`` samples, after sizing the job on a few of them
    (:func:`~seqtutor_agents.runs.outputs.check_budget`).

    They are written to a staging folder, then replace the folder's earlier sample set
    (:meth:`~seqtutor_agents.runs.owned.Outputs.publish_set`).
    """
    import shutil
    import tempfile
    import time

    from .runs.evaluation import episodes_of, write_samples
    from .runs.outputs import check_budget, folder_bytes, writing

    out = outputs.folder
    probe_n = min(args.num, 8)
    started = time.perf_counter()
    probe = episodes_of(model, env_id, probe_n, args.seed, env_kwargs, progress=False)
    sampled = time.perf_counter()
    # The probe is written to the temp folder: the output's disk may not even hold the probe.
    with writing(Path(tempfile.gettempdir())), tempfile.TemporaryDirectory(prefix="seqtutor-size-") as scratch:
        write_samples(probe, env_id, Path(scratch), label)
        size = folder_bytes(Path(scratch)) / probe_n * args.num
    seconds = (time.perf_counter() - sampled) / probe_n * args.num + (sampled - started) / probe_n * args.num
    check_budget(f"{args.num:,} samples", out, size, seconds, args.yes)
    batch = episodes_of(model, env_id, args.num, args.seed, env_kwargs)
    with writing(out):
        staging = outputs.staging()
        try:
            written = write_samples(batch, env_id, staging, label)
            outputs.publish_set(staging, "samples")
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    for key, value in written.items():
        if isinstance(value, list):
            print(f"{len(value)} {key} files in {out}")
        elif key not in ("label", "env_id"):
            print(f"{key}: {str(value).replace(str(staging), str(out))}")


def _report(args) -> None:
    from seqtutor_envs.domains import get_domain

    from .runs.outputs import check_memory, episode_bytes, output_folder, time_guard, writing
    from .runs.owned import check_output_file
    from .runs.report import build_report
    from .runs.training import read_run_config

    out = Path(args.out)
    if out.is_dir() and not out.is_symlink():
        raise ConfigError(f"--out {out}: is a folder; give an .html file name")
    check_output_file(out)  # never a run's own file, a device, another program's file
    output_folder(out.parent, flag="the folder of --out")
    need = 0
    for run in args.runs:
        if not (Path(run) / "config.json").is_file():
            raise ConfigError(f"{run} is not a seqtutor run folder (no config.json)")
        config = read_run_config(run)
        each = episode_bytes(config.env_id, config.resolved_env_kwargs())
        optimum_n = get_domain(config.env_id).report_optimum_samples if args.optimum_n is None else args.optimum_n
        need += 2 * args.num * each + optimum_n * (each // 16 + 256)  # its samples, its prior's, π*'s
    check_memory(f"-n {args.num:,}: {2 * args.num:,} episodes of each run (and π*'s prior samples)", need)
    guard = time_guard(f"-n {args.num:,}: {2 * args.num * len(args.runs):,} episodes", args.num, args.yes)
    with writing(out.parent):
        path = build_report(
            args.runs, out, n=args.num, seed=args.seed, media=args.media, optimum_n=args.optimum_n, on_batch=guard
        )
    print(f"report: {path.resolve()}")


def _optimum(args) -> None:
    from seqtutor_envs.optimum import optimum_curve, sample_prior
    from seqtutor_envs.optimum_distance import optimum_row, prior_replicates

    from .runs.csv_cells import csv_text
    from .runs.optimum_figures import env_weights
    from .runs.outputs import check_memory, episode_bytes, output_folder, time_guard, writing
    from .runs.owned import check_output_file

    if args.run is None and args.env not in env_ids():
        raise ConfigError(f"--env {args.env!r} is not a seqtutor env; choose one of {', '.join(env_ids())}")
    if not args.cs and not args.target_kls and args.run is None:
        raise ConfigError("give at least one --cs value, --target-kl or --run")
    out = Path(args.out)
    if out.is_dir() and not out.is_symlink():
        raise ConfigError(f"--out {out}: is a folder; give a CSV file name")
    outputs, name = check_output_file(out)  # never a run's own file, a device, another program's file
    output_folder(out.parent, flag="the folder of --out")
    model, env_id, env_kwargs, run_c = _optimum_source(args)
    # A prior sample holds its tokens (a byte each) and three numbers; episode_bytes bounds a token by 16 bytes.
    check_memory(f"-n {args.num:,} prior samples", args.num * (episode_bytes(env_id, env_kwargs) // 16 + 256))
    guard = time_guard(f"-n {args.num:,} prior samples", args.num, args.yes)
    try:
        prior_weight = env_weights(env_id, env_kwargs)[1]
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"--env-kwarg: {exc}") from None
    sample = sample_prior(env_id, args.num, args.seed, env_kwargs, cache=not args.no_cache, on_progress=guard)
    try:
        points = optimum_curve(
            sample,
            [*args.cs, *([run_c] if run_c else [])],
            args.target_kls,
            prior_weight,
            args.resample,
            args.seed,
            progress=print,
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    replicates = prior_replicates(sample, [p.c for p in points], prior_weight, seed=args.seed)
    rows = [{**p.row(), **optimum_row(r)} for p, r in zip(points, replicates, strict=True)]
    if model is not None and run_c is not None:  # (a run's model comes with its final c)
        rows.append(_run_distance_row(args, model, env_id, env_kwargs, sample, replicates, prior_weight, run_c))
    with writing(out.parent):
        outputs.write_text(name, csv_text(rows), "optimum")
    print(f"{len(rows)} rows of π* from {sample.n:,} prior samples written to {args.out}")


def _optimum_source(args) -> tuple[Any, str, dict[str, Any], float | None]:
    """``(model or None, env id, env kwargs, the run's final c or None)`` of ``seqtutor optimum``."""
    if args.run is None:
        return None, args.env, checked_env_kwargs(args.env, args.env_kwarg), None
    if args.env_kwarg:
        raise ConfigError("--env-kwarg applies without --run; a run's env settings are those of its config.json")
    if not (Path(args.run) / "config.json").is_file():
        raise ConfigError(f"--run {args.run}: not a seqtutor run folder (no config.json)")
    from .runs.optimum_figures import final_c
    from .runs.training import load_run

    model, config = load_run(args.run)
    env_kwargs = config.resolved_env_kwargs()
    return model, config.env_id, env_kwargs, final_c(model, config.env_id, env_kwargs)


def _run_distance_row(
    args, model, env_id: str, env_kwargs: dict[str, Any], sample, replicates, prior_weight: float, run_c: float
) -> dict[str, Any]:
    """The run's own row: its sequences against π* at its final c (printed as a sentence too)."""
    from seqtutor_envs.optimum_distance import distance_from

    from .runs.evaluation import episodes_of
    from .runs.optimum_figures import sequence_terms

    prior = next(r for r in replicates if r.c == run_c)
    batch = episodes_of(model, env_id, args.run_samples, args.seed, env_kwargs)
    distance = distance_from(prior, sequence_terms(batch), prior_weight, sample.n, seed=args.seed)
    print(f"{args.run}: {distance.describe()}")
    return {
        "c": run_c,
        "run": args.run,
        "run_kl_per_step": batch.kl_per_step,
        "run_domain_return": float(batch.domain_returns.mean()),
        **distance.row(),
    }


if __name__ == "__main__":
    raise SystemExit(main())
