"""Maximum-likelihood pre-training of an :class:`~seqtutor_envs.prior.LSTMPrior`.

Domain-agnostic: it takes lists of token sequences. Long sequences (melodies) are cut into windows
that each start from a zero LSTM state -- the same state the environments prime the prior from --
and short ones (SMILES) are padded. Each epoch (or every ``eval_every`` batches) reports validation
NLL per token and next-token accuracy; training stops early when validation NLL stops improving,
keeps the best weights, and writes a resumable training checkpoint atomically after every
evaluation.
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .prior import LSTMPrior, PriorConfig, atomic_torch_save, load_checkpoint

IGNORE_INDEX = -100


class PretrainInputError(ValueError):
    """The data or the destination of a pre-training run is unusable (the message names which and why)."""


def check_output_path(path: str | os.PathLike, what: str = "--out") -> Path:
    """``path`` if a prior (and its ``.train-state.pt`` beside it) can be written there, else a
    :class:`PretrainInputError` saying why -- checked before any data is read or any batch is trained.

    The check writes and removes a uniquely named empty file in the destination folder (or in its
    nearest existing ancestor, which the save would create the folder in); it never touches ``path``
    nor a ``<path>.train-state.pt`` left by an interrupted run, so that run stays resumable.

    :param path: the destination ``.pt`` file.
    :param what: how messages name it (the command-line flag).
    """
    path = Path(path)
    if path.is_dir():
        raise PretrainInputError(
            f"{what} {path} is a folder; expected the path of a .pt file, e.g. {path / 'prior.pt'}"
        )
    state = path.with_name(path.name + ".train-state.pt")
    if state.is_dir():
        raise PretrainInputError(
            f"{what} {path}: its training-state path {state} is a folder, so checkpoints cannot be written"
        )
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise PretrainInputError(
            f"{what} {path}: {folder} is a file, not a folder, so nothing can be written under it"
        )
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".write-test", dir=folder)
    except OSError as error:
        raise PretrainInputError(
            f"{what} {path}: cannot write in {folder} ({type(error).__name__}: {error.strerror or error}); "
            "choose a writable place (checked before training, so no time was spent)"
        ) from error
    os.close(fd)
    os.unlink(probe)
    return path


@dataclass
class PretrainConfig:
    """Optimisation settings for MLE pre-training."""

    max_epochs: int = 30  # upper bound on passes over the training windows
    batch_size: int = 128  # sequences per gradient step (paper: 128)
    window: int = 128  # longest training window in tokens; longer sequences are cut
    learning_rate: float = 1e-3  # Adam step size
    weight_decay: float = 2.5e-5  # L2 penalty (paper's Note RNN: 2.5e-5)
    grad_clip: float = 5.0  # max global gradient norm (paper: 5)
    patience: int = 3  # evaluations without improvement before stopping
    lr_decay: float = 0.5  # learning-rate factor applied at each evaluation without improvement ("plateau")
    lr_schedule: str = "plateau"  # "plateau", or "cosine": anneal to 0 over this run's epochs or time budget
    eval_every: int | None = None  # evaluate every this many batches; None = once per epoch
    max_minutes: float | None = None  # wall-clock budget; stops after the evaluation that exceeds it
    seed: int = 0  # seeds batching, initialisation and dropout
    num_threads: int | None = None  # torch CPU threads; None = torch's default
    progress: bool = True  # tqdm progress bar

    def __post_init__(self) -> None:
        for name in ("max_epochs", "batch_size", "window", "patience"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.learning_rate <= 0 or self.grad_clip <= 0:
            raise ValueError("learning_rate and grad_clip must be > 0")
        if not 0 < self.lr_decay <= 1:
            raise ValueError(f"lr_decay must be in (0, 1], got {self.lr_decay}")
        if self.lr_schedule not in ("plateau", "cosine"):
            raise ValueError(f"lr_schedule must be 'plateau' or 'cosine', got {self.lr_schedule!r}")


@dataclass
class EvalResult:
    nll: float  # mean negative log-likelihood per predicted token (nats)
    accuracy: float  # fraction of tokens whose argmax prediction is right
    tokens: int  # predicted tokens evaluated

    @property
    def perplexity(self) -> float:
        return math.exp(self.nll)


@dataclass
class PretrainResult:
    best: EvalResult
    history: list[dict[str, Any]] = field(default_factory=list)
    stopped_because: str = ""
    prior_path: Path | None = None


def make_windows(sequences: Sequence[np.ndarray], window: int) -> list[np.ndarray]:
    """Cut sequences into windows of at most ``window + 1`` tokens overlapping by one token.

    Each token after a window's first is a prediction target exactly once.
    """
    out: list[np.ndarray] = []
    for seq in sequences:
        seq = np.asarray(seq, dtype=np.int64)
        if len(seq) < 2:
            continue
        for start in range(0, len(seq) - 1, window):
            out.append(seq[start : start + window + 1])
    return out


def _batches(windows: list[np.ndarray], batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Index batches of similar length (little padding), in random order."""
    order = rng.permutation(len(windows))
    lengths = np.array([len(windows[i]) for i in order])
    bucket = batch_size * 50
    batches = []
    for start in range(0, len(order), bucket):
        chunk = order[start : start + bucket]
        chunk = chunk[np.argsort(lengths[start : start + bucket], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def _collate(windows: list[np.ndarray], index: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    rows = [windows[i] for i in index]
    width = max(len(r) for r in rows) - 1
    inputs = np.zeros((len(rows), width), dtype=np.int64)
    targets = np.full((len(rows), width), IGNORE_INDEX, dtype=np.int64)
    for j, row in enumerate(rows):
        inputs[j, : len(row) - 1] = row[:-1]
        targets[j, : len(row) - 1] = row[1:]
    return torch.from_numpy(inputs), torch.from_numpy(targets)


@torch.no_grad()
def evaluate(prior: LSTMPrior, windows: list[np.ndarray], batch_size: int = 512) -> EvalResult:
    """Validation NLL per token and next-token accuracy over ``windows``."""
    was_training = prior.training
    prior.eval()
    total_nll, correct, count = 0.0, 0, 0
    order = np.argsort([len(w) for w in windows], kind="stable")
    for start in range(0, len(order), batch_size):
        inputs, targets = _collate(windows, order[start : start + batch_size])
        logits, _ = prior(inputs)
        mask = targets != IGNORE_INDEX
        total_nll += float(F.cross_entropy(logits[mask], targets[mask], reduction="sum"))
        correct += int((logits[mask].argmax(-1) == targets[mask]).sum())
        count += int(mask.sum())
    prior.train(was_training)
    if count == 0:
        raise ValueError("validation set has no predictable tokens")
    return EvalResult(nll=total_nll / count, accuracy=correct / count, tokens=count)


def pretrain(
    prior_config: PriorConfig,
    train_sequences: Sequence[np.ndarray],
    valid_sequences: Sequence[np.ndarray],
    out_path: str | os.PathLike,
    config: PretrainConfig | None = None,
    metadata: dict[str, Any] | None = None,
    resume: bool = False,
    log: Callable[[str], None] = print,
    init_from: str | os.PathLike | None = None,
) -> PretrainResult:
    """Train a prior by maximum likelihood and save the best weights to ``out_path``.

    :param prior_config: architecture of the prior to train.
    :param train_sequences: token sequences (each starts with the token the env primes with).
    :param valid_sequences: held-out sequences for NLL/accuracy and early stopping.
    :param out_path: where the final prior (best validation NLL) is written.
    :param config: optimisation settings.
    :param metadata: facts stored with the weights (vocabulary, data provenance, command).
    :param resume: continue from ``<out_path>.train-state.pt`` if it exists.
    :param log: where progress lines go.
    :param init_from: a saved prior of the same architecture to start from (a warm restart, e.g. another
        cosine cycle on a shipped prior); its own training record is kept in the new metadata.
    """
    config = config or PretrainConfig()
    out_path = check_output_path(out_path, "out_path")  # before training: a bad destination must not cost a run
    state_path = out_path.with_name(out_path.name + ".train-state.pt")
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)

    train_windows = make_windows(train_sequences, config.window)
    valid_windows = make_windows(valid_sequences, config.window)
    if not train_windows or not valid_windows:
        raise ValueError(
            f"need training and validation sequences of >= 2 tokens, got {len(train_windows)} and "
            f"{len(valid_windows)} windows"
        )

    prior = LSTMPrior(prior_config)
    optimizer = torch.optim.Adam(prior.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    history: list[dict[str, Any]] = []
    best_nll, best_state, bad_evals, epoch = math.inf, None, 0, 0
    if init_from is not None:  # checked and recorded on resume too; the weights then come from the state file
        start_prior, start_meta = LSTMPrior.load(init_from)
        if start_prior.config != prior_config:
            raise ValueError(
                f"--init-from {init_from}: its architecture {start_prior.config} differs from the requested "
                f"{prior_config}"
            )
        prior.load_state_dict(start_prior.state_dict())  # replaced below when resuming
        metadata = dict(metadata or {})
        metadata["warm_started_from"] = {
            "path": str(init_from),
            **{k: start_meta.get(k) for k in ("command", "validation", "training", "warm_started_from")},
        }
        if "vocabulary" in metadata and start_meta.get("vocabulary") not in (None, metadata["vocabulary"]):
            raise ValueError(f"--init-from {init_from}: its vocabulary differs from this corpus's vocabulary")
        log(f"warm start from {init_from} (validation NLL {start_meta.get('validation', {}).get('nll_per_token')})")
    elapsed_before = 0.0
    if resume and state_path.exists():
        saved = load_checkpoint(state_path)
        prior.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        best_state, best_nll = saved["best_model"], float(saved["best_nll"])
        history, bad_evals = list(saved["history"]), int(saved["bad_evals"])
        epoch, elapsed_before = int(saved["epoch"]), float(saved["elapsed_seconds"])
        rng = np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=(epoch,)))
        torch.set_rng_state(saved["torch_rng"])
        log(f"resumed from {state_path} at epoch {epoch} (best validation NLL {best_nll:.4f})")

    n_train_tokens = sum(len(w) - 1 for w in train_windows)
    log(
        f"training {sum(p.numel() for p in prior.parameters()):,} parameters on {len(train_windows):,} windows "
        f"({n_train_tokens:,} target tokens); validating on {len(valid_windows):,} windows"
    )
    started = time.monotonic() - elapsed_before
    run_started, first_epoch = time.monotonic(), epoch
    batches_per_epoch = math.ceil(len(train_windows) / config.batch_size)

    def set_cosine_lr(batch_in_epoch: int) -> None:
        """Anneal from ``learning_rate`` to 0 over what this invocation may still train."""
        if config.max_minutes is not None:
            remaining = config.max_minutes * 60 - elapsed_before
            progress = (time.monotonic() - run_started) / max(remaining, 1e-9)
        else:
            total = (config.max_epochs - first_epoch) * batches_per_epoch
            progress = ((epoch - first_epoch) * batches_per_epoch + batch_in_epoch) / max(total, 1)
        lr = config.learning_rate * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
        for group in optimizer.param_groups:
            group["lr"] = lr

    def run_eval(tag: str) -> bool:
        """Evaluate, record, checkpoint; returns True when training should stop."""
        nonlocal best_nll, best_state, bad_evals
        result = evaluate(prior, valid_windows)
        improved = result.nll < best_nll - 1e-4
        if improved:
            best_nll, bad_evals = result.nll, 0
            best_state = {k: v.detach().clone() for k, v in prior.state_dict().items()}
        else:
            bad_evals += 1
            if config.lr_schedule == "plateau":
                for group in optimizer.param_groups:
                    group["lr"] *= config.lr_decay
        entry = {
            "at": tag,
            "epoch": epoch,
            "valid_nll": round(result.nll, 5),
            "valid_accuracy": round(result.accuracy, 5),
            "lr": optimizer.param_groups[0]["lr"],
            "minutes": round((time.monotonic() - started) / 60, 2),
        }
        history.append(entry)
        log(
            f"[{tag}] validation NLL/token {result.nll:.4f} (ppl {result.perplexity:.3f}), "
            f"accuracy {result.accuracy:.4f}{' *' if improved else ''}"
        )
        atomic_torch_save(
            {
                "model": prior.state_dict(),
                "optimizer": optimizer.state_dict(),
                "best_model": best_state,
                "best_nll": best_nll,
                "history": history,
                "bad_evals": bad_evals,
                "epoch": epoch,
                "elapsed_seconds": time.monotonic() - started,
                "torch_rng": torch.get_rng_state(),
                "config": asdict(config),
            },
            state_path,
        )
        return bad_evals >= config.patience

    def check_point(tag: str) -> str | None:
        """Evaluate at a check point; returns why training must stop, or None."""
        if run_eval(tag):
            return f"validation NLL did not improve for {config.patience} evaluations"
        if config.max_minutes is not None and (time.monotonic() - started) / 60 >= config.max_minutes:
            return f"time budget of {config.max_minutes} minutes used"
        return None

    prior.train()
    stop_reason: str | None = None
    since_eval = 0
    while epoch < config.max_epochs and stop_reason is None:
        batches = _batches(train_windows, config.batch_size, rng)
        bar = tqdm(batches, desc=f"epoch {epoch + 1}", disable=not config.progress, leave=False)
        running = 0.0
        for k, index in enumerate(bar):
            if config.lr_schedule == "cosine":
                set_cosine_lr(k)
            inputs, targets = _collate(train_windows, index)
            logits, _ = prior(inputs)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=IGNORE_INDEX)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"non-finite training loss {float(loss)} at epoch {epoch + 1}, batch {k}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(prior.parameters(), config.grad_clip)
            optimizer.step()
            since_eval += 1
            running = 0.98 * running + 0.02 * loss.item() if k else loss.item()
            bar.set_postfix(loss=f"{running:.3f}")
            if config.eval_every and since_eval >= config.eval_every:
                since_eval = 0
                stop_reason = check_point(f"epoch {epoch + 1}, batch {k + 1}")
                if stop_reason:
                    break
        bar.close()
        if stop_reason:
            break
        epoch += 1
        if not config.eval_every:
            since_eval = 0
            stop_reason = check_point(f"epoch {epoch}")
    if best_state is None or since_eval:
        run_eval(f"epoch {epoch}, end")
    stopped_because = stop_reason or f"reached max_epochs={config.max_epochs}"

    assert best_state is not None
    prior.load_state_dict(best_state)
    prior.eval()
    best = evaluate(prior, valid_windows)
    meta = dict(metadata or {})
    meta["validation"] = {
        "nll_per_token": round(best.nll, 5),
        "accuracy": round(best.accuracy, 5),
        "perplexity": round(best.perplexity, 4),
        "tokens": best.tokens,
    }
    meta["training"] = {
        "config": asdict(config),
        "history": history,
        "stopped_because": stopped_because,
        "train_windows": len(train_windows),
        "train_tokens": n_train_tokens,
        "minutes": round((time.monotonic() - started) / 60, 2),
        "torch": str(torch.__version__),
    }
    prior.save(out_path, metadata=meta)
    log(f"saved prior to {out_path}: validation NLL/token {best.nll:.4f}, accuracy {best.accuracy:.4f} ({stopped_because})")
    return PretrainResult(best=best, history=history, stopped_because=stopped_because, prior_path=out_path)


# ---------------------------------------------------------------------- domains and command line
@dataclass
class PretrainData:
    """What a domain hands the trainer."""

    train: list[np.ndarray]  # training token sequences
    valid: list[np.ndarray]  # validation token sequences
    num_outputs: int  # size of the next-token distribution
    num_inputs: int  # input vocabulary (>= num_outputs)
    metadata: dict[str, Any]  # vocabulary and data provenance stored with the weights


def melody_data(corpus_path: str | None = None) -> PretrainData:
    """The melody corpus (shipped default, or a corpus file built with ``seqtutor_envs.melody.corpus``).

    :param corpus_path: a corpus ``.npz`` (default: the shipped one).
    :raises PretrainInputError: the file is missing or not a melody corpus, or its split leaves no training
        or no validation tune.
    """
    from .melody import encoding as enc
    from .melody.corpus import DEFAULT_CORPUS_PATH, MelodyCorpus, load_default_corpus, validation_split

    try:
        corpus = MelodyCorpus.load(corpus_path) if corpus_path else load_default_corpus()
    except ValueError as error:  # missing, unreadable or not a melody corpus: the message names the file
        raise PretrainInputError(str(error)) from error
    train = [s.astype(np.int64) for s in corpus.train_sequences()]
    valid = [s.astype(np.int64) for s in corpus.validation_sequences()]
    if not train or not valid:
        smallest = next(n for n in range(2, 1000) if 0 < validation_split(n).sum() < n)
        raise PretrainInputError(
            f"melody corpus {corpus_path or DEFAULT_CORPUS_PATH} has {len(corpus)} tune(s), {len(train)} for training "
            f"and {len(valid)} for validation: pre-training needs at least one of each (the corpus builder holds "
            f"out a tenth of the tunes, so build it from at least {smallest} tunes)"
        )
    return PretrainData(
        train=train,
        valid=valid,
        num_outputs=enc.VOCAB_SIZE,
        num_inputs=enc.VOCAB_SIZE,
        metadata={
            "domain": "melody",
            "vocabulary": [enc.token_name(t) for t in range(enc.VOCAB_SIZE)],
            "encoding": "note_seq MelodyOneHotEncoding(min_note=48, max_note=84): 0 hold, 1 rest, 2..37 MIDI 48..83",
            "data": {
                "corpus": str(corpus_path or "shipped melody_corpus.npz"),
                "tunes_train": len(train),
                "tunes_valid": len(valid),
                "steps": int(corpus.num_steps),
                "provenance": corpus.provenance,
            },
        },
    )


def smiles_data(corpus_path: str | None = None, valid_fraction: float = 0.005, workers: int = 2) -> PretrainData:
    """SMILES: the MOSES training set (default, prepared once and cached) or a user ``.smi``/``.csv`` file.

    Every SMILES is canonicalised with RDKit; invalid, untokenizable and duplicate lines are
    dropped and counted. A seeded ``valid_fraction`` of molecules is held out for validation.

    :param corpus_path: a ``.smi``/``.csv`` file (optionally gzipped), a prepared ``.smi.gz`` corpus, or None.
    :param valid_fraction: share of molecules held out.
    :param workers: canonicalising processes.
    :raises PretrainInputError: the file is not UTF-8 text, binary, a damaged gzip, a CSV without a SMILES
        column, or holds fewer than 2 valid SMILES (the message gives the counts of what was rejected).
    """
    from .smiles.corpus import (
        SmilesCorpus,
        SmilesFileError,
        default_cache_dir,
        moses_corpus,
        prepare_corpus,
        read_smiles_file,
        require_smiles,
    )
    from .smiles.tokenizer import Vocabulary

    if corpus_path is None:
        cached = default_cache_dir() / "moses_train_canonical.smi.gz"
        if cached.is_file():
            corpus = SmilesCorpus.load(cached)
        else:
            corpus = moses_corpus("train", workers=workers)
            corpus.save(cached)
        source = "MOSES train (molsets 0.3.1 wheel), canonicalised with RDKit"
    else:
        try:
            if str(corpus_path).endswith(".smi.gz"):
                corpus = SmilesCorpus.load(corpus_path)
            else:
                corpus = prepare_corpus(read_smiles_file(corpus_path), workers=workers,
                                        provenance={"source": str(corpus_path)})
            require_smiles(corpus, corpus_path)
        except SmilesFileError as error:
            raise PretrainInputError(str(error)) from error
        source = str(corpus_path)
    if len(corpus) < 2:
        raise PretrainInputError(
            f"{source} holds {len(corpus)} valid SMILES: pre-training needs at least 2 (one to train on, one to "
            "validate)"
        )
    train_smiles, valid_smiles = corpus.split(valid_fraction, seed=0)
    vocab = Vocabulary.build(corpus.smiles)
    return PretrainData(
        train=[vocab.encode(s) for s in train_smiles],
        valid=[vocab.encode(s) for s in valid_smiles],
        num_outputs=vocab.num_actions,
        num_inputs=vocab.bos_id + 1,  # BOS is read, never predicted; PAD is never read
        metadata={
            "domain": "smiles",
            "vocabulary": vocab.to_json(),
            "data": {
                "corpus": source,
                "molecules_train": len(train_smiles),
                "molecules_valid": len(valid_smiles),
                "report": corpus.report,
                "provenance": corpus.provenance,
            },
        },
    )


DOMAINS: dict[str, Callable[..., PretrainData]] = {"melody": melody_data, "smiles": smiles_data}

#: Default architectures per domain (the paper's Note RNN for melodies).
DEFAULT_ARCHITECTURES: dict[str, dict[str, Any]] = {
    "melody": {"hidden_size": 100, "num_layers": 1, "embedding_dim": None},
    "smiles": {"hidden_size": 256, "num_layers": 2, "embedding_dim": 64},
}


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
    parser.add_argument("domain", choices=sorted(DOMAINS), help="which data and vocabulary")
    parser.add_argument("--out", required=True, type=_output_path,
                        help="where to write the prior (.pt); its folder must be writable (checked before training)")
    parser.add_argument("--data", default=None, help="corpus file (default: the domain's default corpus)")
    parser.add_argument("--hidden-size", type=_positive_int, default=None, help="LSTM cells per layer")
    parser.add_argument("--num-layers", type=_positive_int, default=None, help="stacked LSTM layers")
    parser.add_argument("--embedding-dim", type=_positive_int, default=None,
                        help="token embedding size (default: domain's)")
    parser.add_argument("--dropout", type=_float_in(0, 1, False, True), default=0.0)
    parser.add_argument("--max-epochs", type=_positive_int, default=PretrainConfig.max_epochs)
    parser.add_argument("--batch-size", type=_positive_int, default=PretrainConfig.batch_size)
    parser.add_argument("--window", type=_positive_int, default=PretrainConfig.window)
    parser.add_argument("--lr", type=_float_in(0, inf, True, True), default=PretrainConfig.learning_rate)
    parser.add_argument("--weight-decay", type=_float_in(0, inf, False, True), default=PretrainConfig.weight_decay)
    parser.add_argument("--patience", type=_positive_int, default=PretrainConfig.patience)
    parser.add_argument("--lr-schedule", choices=["plateau", "cosine"], default=PretrainConfig.lr_schedule)
    parser.add_argument("--eval-every", type=_positive_int, default=None,
                        help="evaluate every N batches (default: per epoch)")
    parser.add_argument("--max-minutes", type=_float_in(0, inf, True, True), default=None, help="wall-clock budget")
    parser.add_argument("--limit", type=_positive_int, default=None,
                        help="use at most this many training sequences (>= 1)")
    parser.add_argument("--seed", type=_non_negative_int, default=0)
    parser.add_argument("--threads", type=_positive_int, default=None)
    parser.add_argument("--resume", action="store_true", help="continue from <out>.train-state.pt")
    parser.add_argument("--init-from", default=None, help="start from the weights of this prior (same architecture)")
    parser.add_argument("--no-progress", action="store_true")


def run_pretrain(args, argv: Sequence[str]) -> PretrainResult:
    """Run the pre-training command from parsed arguments.

    :raises PretrainInputError: the data or ``--out`` is unusable (checked before training).
    """
    check_output_path(args.out)  # again: parsed arguments may come from elsewhere than the parser
    data = DOMAINS[args.domain](args.data) if args.data else DOMAINS[args.domain]()
    train = data.train
    if args.limit is not None:
        order = np.random.default_rng(args.seed).permutation(len(train))[: args.limit]
        train = [train[i] for i in sorted(order)]
    arch = dict(DEFAULT_ARCHITECTURES.get(args.domain, {}))
    for key in ("hidden_size", "num_layers", "embedding_dim"):
        if getattr(args, key) is not None:
            arch[key] = getattr(args, key)
    prior_config = PriorConfig(num_outputs=data.num_outputs, num_inputs=data.num_inputs, dropout=args.dropout, **arch)
    config = PretrainConfig(
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
    metadata = dict(data.metadata)
    metadata["command"] = " ".join(argv)
    metadata["data"] = {**metadata.get("data", {}), "train_sequences_used": len(train)}
    return pretrain(prior_config, train, data.valid, args.out, config, metadata=metadata, resume=args.resume,
                    init_from=args.init_from)


def main(argv: Sequence[str] | None = None) -> int:
    import sys

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m seqtutor_envs.pretrain", description=__doc__.split("\n\n")[0])
    add_pretrain_arguments(parser)
    args = parser.parse_args(argv)
    from .prior import CheckpointError

    try:
        run_pretrain(args, ["python -m seqtutor_envs.pretrain", *argv])
    except (PretrainInputError, CheckpointError, FileNotFoundError) as error:  # input problems: no traceback
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
