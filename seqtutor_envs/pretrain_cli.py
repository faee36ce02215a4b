"""``seqtutor pretrain <domain>`` (and ``python -m seqtutor_envs.pretrain_cli``): MLE pre-training of a domain's prior.

The domains are those of the registry (:mod:`seqtutor_envs.domains`); each brings its corpus
loader and its default architecture. Values are checked at parsing, so a bad one is refused
before minutes of data preparation or training.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from .domains import domain_named, domains
from .pretrain_config import PretrainConfig, PretrainInputError, check_output_path
from .threads import add_threads_argument

if TYPE_CHECKING:
    from .pretrain import PretrainResult


def pretrainable_domains() -> list[str]:
    """Short names of the registered domains that can pre-train a prior."""
    return sorted(d.name for d in domains().values() if d.pretrain_data is not None)


def _int_at_least(low: int) -> Callable[[str], int]:
    """argparse type: an integer >= ``low``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {value}")
        return value

    return parse


_positive_int = _int_at_least(1)
_non_negative_int = _int_at_least(0)


def _float_in(low: float, high: float, low_open: bool, high_open: bool):
    """argparse type: a finite float in the interval (``low_open``/``high_open`` exclude the ends)."""
    interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number in {interval}, got {text!r}") from None
        inside = (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
        if not math.isfinite(value) or not inside:
            raise argparse.ArgumentTypeError(f"expected a number in {interval}, got {value!r}")
        return value

    return parse


def _output_path(text: str) -> str:
    """argparse type of ``--out``: checked for writability at parsing, before any data is read."""
    try:
        check_output_path(text)
    except PretrainInputError as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix("--out ")) from None  # argparse names the flag
    return text


def add_pretrain_arguments(parser) -> None:
    """Arguments of the pre-training command (shared by ``seqtutor pretrain``).

    Values are checked at parsing (counts >= 1, rates > 0, ``--out`` writable), so a bad one is
    refused before minutes of data preparation or training.
    """
    inf = math.inf
    parser.add_argument("domain", choices=pretrainable_domains(), help="which data and vocabulary")
    parser.add_argument(
        "--out",
        required=True,
        type=_output_path,
        help="where to write the prior (.pt); its folder must be writable (checked before training)",
    )
    parser.add_argument("--data", default=None, help="corpus file (default: the domain's default corpus)")
    parser.add_argument(
        "--hidden-size", type=_positive_int, default=None, help="LSTM cells per layer (default: domain's)"
    )
    parser.add_argument(
        "--num-layers", type=_positive_int, default=None, help="stacked LSTM layers (default: domain's)"
    )
    parser.add_argument(
        "--embedding-dim", type=_positive_int, default=None, help="token embedding size (default: domain's)"
    )
    parser.add_argument(
        "--dropout",
        type=_float_in(0, 1, False, True),
        default=0.0,
        help="dropout between layers and before the output layer, training only",
    )
    parser.add_argument(
        "--max-epochs",
        type=_positive_int,
        default=PretrainConfig.max_epochs,
        help="upper bound on passes over the training windows",
    )
    parser.add_argument(
        "--batch-size", type=_positive_int, default=PretrainConfig.batch_size, help="sequences per gradient step"
    )
    parser.add_argument(
        "--window",
        type=_positive_int,
        default=PretrainConfig.window,
        help="longest training window in tokens; longer sequences are cut",
    )
    parser.add_argument(
        "--lr", type=_float_in(0, inf, True, True), default=PretrainConfig.learning_rate, help="Adam step size"
    )
    parser.add_argument(
        "--weight-decay", type=_float_in(0, inf, False, True), default=PretrainConfig.weight_decay, help="L2 penalty"
    )
    parser.add_argument(
        "--patience",
        type=_positive_int,
        default=PretrainConfig.patience,
        help="evaluations without improvement before stopping",
    )
    parser.add_argument(
        "--lr-schedule",
        choices=["plateau", "cosine"],
        default=PretrainConfig.lr_schedule,
        help="plateau: decay on a stalled evaluation; cosine: anneal over the run",
    )
    parser.add_argument(
        "--eval-every", type=_positive_int, default=None, help="evaluate every N batches (default: per epoch)"
    )
    parser.add_argument("--max-minutes", type=_float_in(0, inf, True, True), default=None, help="wall-clock budget")
    parser.add_argument(
        "--limit", type=_positive_int, default=None, help="use at most this many training sequences (>= 1)"
    )
    parser.add_argument("--seed", type=_non_negative_int, default=0, help="seeds batching, initialisation and dropout")
    add_threads_argument(parser)
    parser.add_argument("--resume", action="store_true", help="continue from <out>.train-state.pt")
    parser.add_argument(
        "--init-from",
        default=None,
        help="transfer learning: start from this prior's weights, keep its architecture and vocabulary "
        "(lines with tokens it lacks are reported and dropped) and stop early when validation "
        "NLL stops improving on it (e.g. the shipped prior and --data your molecules)",
    )
    parser.add_argument(
        "--extend-vocab",
        action="store_true",
        help="with --init-from: add the tokens the prior lacks to its vocabulary instead of dropping their lines",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run_pretrain(args, argv: Sequence[str]) -> PretrainResult:
    """Run the pre-training command from parsed arguments.

    :raises PretrainInputError: the data or ``--out`` is unusable (checked before training).
    """
    from .pretrain import pretrain
    from .prior import PriorConfig

    check_output_path(args.out)  # again: parsed arguments may come from elsewhere than the parser
    domain = domain_named(args.domain)
    assert domain.pretrain_data is not None
    start_arch = _checked_start(args)  # before the data is read
    data = domain.pretrain_data(args.data) if args.data else domain.pretrain_data()
    report = data.metadata.get("data", {}).get("report")
    print(
        f"data: {len(data.train):,} training and {len(data.valid):,} validation sequences"
        + (" (" + ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in report.items()) + ")" if report else ""),
        flush=True,
    )
    train = data.train
    if args.limit is not None:
        order = np.random.default_rng(args.seed).permutation(len(train))[: args.limit]
        train = [train[i] for i in sorted(order)]
    arch = start_arch if start_arch is not None else dict(domain.default_architecture)  # None: no --init-from
    for key in ("hidden_size", "num_layers", "embedding_dim"):
        if getattr(args, key) is not None:
            arch[key] = getattr(args, key)
    prior_config = PriorConfig(num_outputs=data.num_outputs, num_inputs=data.num_inputs, dropout=args.dropout, **arch)
    config = _pretrain_config(args)
    metadata = dict(data.metadata)
    metadata["command"] = " ".join(argv)
    metadata["data"] = {**metadata.get("data", {}), "train_sequences_used": len(train)}
    result = pretrain(
        prior_config,
        train,
        data.valid,
        args.out,
        config,
        metadata=metadata,
        resume=args.resume,
        init_from=args.init_from,
        extend_vocab=args.extend_vocab,
    )
    if domain.prior_quality is not None:  # after any pre-training: is this prior good enough to tutor?
        assert result.prior_path is not None  # pretrain() always reports the file it wrote
        line, warning = domain.prior_quality(result.prior_path, replace(data, train=train), args.window)
        print(line, flush=True)
        if warning:
            print(f"warning: {warning}", file=sys.stderr, flush=True)
    return result


def _checked_start(args) -> dict | None:
    """Check ``--data`` and the flags that meet ``--init-from``; the layers of ``--init-from``'s prior (None
    without it).

    :raises PretrainInputError: no such data, ``--extend-vocab`` without ``--init-from``, or a layer flag
        that contradicts ``--init-from``'s prior.
    """
    if args.data and not os.path.exists(args.data):
        raise PretrainInputError(f"--data {args.data}: no such file or folder")
    if args.extend_vocab and not args.init_from:
        raise PretrainInputError("--extend-vocab extends the vocabulary of --init-from's prior; pass --init-from")
    start_arch = _prior_architecture(args.init_from) if args.init_from else None
    for key, value in (start_arch or {}).items():
        if getattr(args, key) is not None and getattr(args, key) != value:
            flag = "--" + key.replace("_", "-")
            raise PretrainInputError(
                f"{flag} {getattr(args, key)}: --init-from {args.init_from} has {key}={value} "
                f"(leave {flag} out to keep the prior's)"
            )
    return start_arch


def _pretrain_config(args) -> PretrainConfig:
    """The training settings of the parsed arguments."""
    return PretrainConfig(
        max_epochs=args.max_epochs,
        batch_size=args.batch_size,
        window=args.window,
        learning_rate=args.lr,
        weight_decay=args.weight_decay,
        patience=args.patience,
        lr_schedule=args.lr_schedule,
        eval_every=args.eval_every,
        max_minutes=args.max_minutes,
        seed=args.seed,
        num_threads=args.threads,
        progress=not args.no_progress,
    )


def _prior_architecture(path: str) -> dict:
    """The layers of the prior at ``path`` (what ``--init-from`` keeps unless a flag says otherwise)."""
    from .prior import CheckpointError, LSTMPrior

    if not os.path.isfile(path):
        raise PretrainInputError(f"--init-from {path}: no such file")
    try:
        config = LSTMPrior.load(path)[0].config
    except CheckpointError as error:
        raise PretrainInputError(f"--init-from {path}: {error}") from None
    return {"hidden_size": config.hidden_size, "num_layers": config.num_layers, "embedding_dim": config.embedding_dim}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m seqtutor_envs.pretrain_cli", description=__doc__.split("\n\n")[0])
    add_pretrain_arguments(parser)
    args = parser.parse_args(argv)
    from .prior import CheckpointError

    try:
        run_pretrain(args, ["python -m seqtutor_envs.pretrain_cli", *argv])
    except (PretrainInputError, CheckpointError, FileNotFoundError) as error:  # input problems: no traceback
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
