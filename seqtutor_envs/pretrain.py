"""Maximum-likelihood pre-training of an :class:`~seqtutor_envs.prior.LSTMPrior`.

Domain-agnostic: it takes lists of token sequences. Long sequences (melodies) are cut into windows
that each start from a zero LSTM state -- the same state the environments prime the prior from --
and short ones (SMILES) are padded. Each epoch (or every ``eval_every`` batches) reports validation
NLL per token and next-token accuracy; training stops early when validation NLL stops improving,
keeps the best weights, and writes a resumable training checkpoint atomically after every
evaluation.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .prior import LSTMPrior, PriorConfig, atomic_torch_save, load_checkpoint
from .progress import progress_bar

IGNORE_INDEX = -100


from .pretrain_config import PretrainConfig, PretrainInputError, check_output_path  # noqa: E402  (re-exported)


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
    batches: list[np.ndarray] = []
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
    extend_vocab: bool = False,
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
    :param init_from: a saved prior to start from (transfer learning, or a warm restart such as another
        cosine cycle on a shipped prior); its own training record is kept in the new metadata. Its
        layers set the architecture (``prior_config`` must agree on them; its dropout is used), and the
        sequences are re-encoded on its vocabulary when ``metadata["vocabulary"]`` differs
        (:func:`~seqtutor_envs.transfer.align_to_prior`: sequences with tokens it lacks are dropped and
        reported). Training starts by evaluating it, so early stopping never keeps worse weights.
    :param extend_vocab: with ``init_from``, add the tokens the prior lacks instead of dropping their sequences.
    """
    config = config or PretrainConfig()
    out_path = check_output_path(out_path, "out_path")  # before training: a bad destination must not cost a run
    start = None
    if init_from is not None:
        start, prior_config, train_sequences, valid_sequences, metadata = _transfer_start(
            init_from, prior_config, train_sequences, valid_sequences, dict(metadata or {}), extend_vocab, log
        )
    train_windows = make_windows(train_sequences, config.window)
    valid_windows = make_windows(valid_sequences, config.window)
    if not train_windows or not valid_windows:
        raise ValueError(
            f"need training and validation sequences of >= 2 tokens, got {len(train_windows)} and "
            f"{len(valid_windows)} windows"
        )
    run = _Run(prior_config, config, train_windows, valid_windows, out_path, dict(metadata or {}), log)
    if start is not None:  # recorded on resume too; the weights then come from the state file
        assert init_from is not None  # start is only set from init_from
        run.warm_start(init_from, *start)
    if resume and run.state_path.exists():
        run.resume()
    return run.train()


#: The architecture fields a warm start must agree on, and the command-line flags that set them.
ARCHITECTURE_FLAGS = {"embedding_dim": "--embedding-dim", "hidden_size": "--hidden-size", "num_layers": "--num-layers"}


def _transfer_start(init_from, prior_config, train, valid, metadata, extend_vocab, log):
    """The prior to start from and the data on its vocabulary (see :func:`pretrain`'s ``init_from``)."""
    from .transfer import align_to_prior, extend_prior

    start, start_meta = LSTMPrior.load(init_from)
    for name, flag in ARCHITECTURE_FLAGS.items():
        if getattr(prior_config, name) != getattr(start.config, name):
            raise PretrainInputError(
                f"{flag} {getattr(prior_config, name)}: --init-from {init_from} has "
                f"{name}={getattr(start.config, name)} (leave {flag} out to keep the prior's)"
            )
    ours, theirs = metadata.get("vocabulary"), start_meta.get("vocabulary")
    if ours is not None and theirs is not None and ours != theirs:
        aligned = align_to_prior(train, valid, ours, theirs, extend=extend_vocab)
        log(f"--init-from {init_from}: {aligned.report()}")
        if aligned.added:
            start = extend_prior(start, theirs, aligned.vocabulary)
        train, valid, metadata["vocabulary"] = aligned.train, aligned.valid, aligned.vocabulary
        metadata["transfer"] = {
            "missing_tokens": aligned.missing,
            "dropped_train": aligned.dropped_train,
            "dropped_valid": aligned.dropped_valid,
            "added_tokens": aligned.added,
        }
    elif extend_vocab:
        log(f"--extend-vocab: nothing to add, the data's vocabulary is --init-from {init_from}'s")
    prior_config = replace(start.config, dropout=prior_config.dropout)
    return (start, start_meta), prior_config, train, valid, metadata


class _Run:
    """One pre-training run: the model, its optimiser and progress, and the training-state file."""

    def __init__(
        self,
        prior_config: PriorConfig,
        config: PretrainConfig,
        train_windows: list[np.ndarray],
        valid_windows: list[np.ndarray],
        out_path: Path,
        metadata: dict[str, Any],
        log: Callable[[str], None],
    ) -> None:
        self.config, self.out_path, self.metadata, self.log = config, out_path, metadata, log
        self.train_windows, self.valid_windows = train_windows, valid_windows
        self.state_path = out_path.with_name(out_path.name + ".train-state.pt")
        if config.num_threads:
            torch.set_num_threads(config.num_threads)
        torch.manual_seed(config.seed)
        self.rng = np.random.default_rng(config.seed)
        self.prior = LSTMPrior(prior_config)
        self.optimizer = torch.optim.Adam(
            self.prior.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
        )
        self.history: list[dict[str, Any]] = []
        self.best_state: dict[str, Any] | None = None
        self.best_nll, self.bad_evals, self.epoch = math.inf, 0, 0
        self.elapsed_before, self.eval_seconds, self.warm, self.resumed = 0.0, 0.0, False, False
        self.best_result: EvalResult | None = None

    def warm_start(self, init_from: str | os.PathLike, start_prior: LSTMPrior, start_meta: dict[str, Any]) -> None:
        self.prior.load_state_dict(start_prior.state_dict())  # replaced when resuming
        self.warm = True
        self.metadata["warm_started_from"] = {
            "path": str(init_from),
            **{k: start_meta.get(k) for k in ("command", "validation", "training", "warm_started_from")},
        }
        self.log(
            f"warm start from {init_from} (validation NLL {start_meta.get('validation', {}).get('nll_per_token')})"
        )

    def resume(self) -> None:
        saved = load_checkpoint(self.state_path)
        self.prior.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.best_state, self.best_nll = saved["best_model"], float(saved["best_nll"])
        self.history, self.bad_evals = list(saved["history"]), int(saved["bad_evals"])
        self.epoch, self.elapsed_before = int(saved["epoch"]), float(saved["elapsed_seconds"])
        self.rng = np.random.default_rng(np.random.SeedSequence(self.config.seed, spawn_key=(self.epoch,)))
        torch.set_rng_state(saved["torch_rng"])
        self.resumed = True
        self.log(f"resumed from {self.state_path} at epoch {self.epoch} (best validation NLL {self.best_nll:.4f})")

    # ------------------------------------------------------------------ the loop
    def train(self) -> PretrainResult:
        config = self.config
        self.n_train_tokens = sum(len(w) - 1 for w in self.train_windows)
        self.log(
            f"training {sum(p.numel() for p in self.prior.parameters()):,} parameters on {len(self.train_windows):,} "
            f"windows ({self.n_train_tokens:,} target tokens); validating on {len(self.valid_windows):,} windows"
        )
        self.started = time.monotonic() - self.elapsed_before
        self.run_started, self.first_epoch = time.monotonic(), self.epoch
        self.batches_per_epoch = math.ceil(len(self.train_windows) / config.batch_size)
        self.prior.train()
        stop_reason: str | None = None
        self.since_eval = 0
        if self.warm and not self.resumed:  # the starting prior is the first candidate: never keep worse weights
            self._evaluate("start")
        while self.epoch < config.max_epochs and stop_reason is None:
            stop_reason = self._epoch()
            if stop_reason:
                break
            self.epoch += 1
            if not config.eval_every:
                self.since_eval = 0
                stop_reason = self._check_point(f"epoch {self.epoch}")
        if self.best_state is None or self.since_eval:
            self._evaluate(f"epoch {self.epoch}, end")
        return self._finish(stop_reason or f"reached max_epochs={config.max_epochs}")

    def _epoch(self) -> str | None:
        """One pass over the training windows; returns why training must stop, or None."""
        config = self.config
        batches = _batches(self.train_windows, config.batch_size, self.rng)
        bar = progress_bar(len(batches), f"epoch {self.epoch + 1}", "batches", enabled=config.progress, leave=False)
        running = 0.0
        try:
            for k, index in enumerate(batches):
                if config.lr_schedule == "cosine":
                    self._set_cosine_lr(k)
                loss = self._gradient_step(index, k)
                self.since_eval += 1
                if self._out_of_time():  # checked per batch: an epoch of a big corpus outlasts the budget
                    return f"time budget of {config.max_minutes} minutes used"
                running = 0.98 * running + 0.02 * loss if k else loss
                bar.set_postfix(loss=f"{running:.3f}")
                bar.update(1)
                if config.eval_every and self.since_eval >= config.eval_every:
                    self.since_eval = 0
                    stop = self._check_point(f"epoch {self.epoch + 1}, batch {k + 1}")
                    if stop:
                        return stop
        finally:
            bar.close()
        return None

    def _gradient_step(self, index: np.ndarray, k: int) -> float:
        inputs, targets = _collate(self.train_windows, index)
        logits, _ = self.prior(inputs)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=IGNORE_INDEX)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite training loss {float(loss)} at epoch {self.epoch + 1}, batch {k}")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.prior.parameters(), self.config.grad_clip)
        self.optimizer.step()
        return loss.item()

    def _set_cosine_lr(self, batch_in_epoch: int) -> None:
        """Anneal from ``learning_rate`` to 0 over what this invocation may still train."""
        config = self.config
        if config.max_minutes is not None:
            remaining = config.max_minutes * 60 - self.elapsed_before
            progress = (time.monotonic() - self.run_started) / max(remaining, 1e-9)
        else:
            total = (config.max_epochs - self.first_epoch) * self.batches_per_epoch
            progress = ((self.epoch - self.first_epoch) * self.batches_per_epoch + batch_in_epoch) / max(total, 1)
        lr = config.learning_rate * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def _check_point(self, tag: str) -> str | None:
        """Evaluate at a check point; returns why training must stop, or None."""
        if self._evaluate(tag):
            return f"validation NLL did not improve for {self.config.patience} evaluations"
        if self._out_of_time():
            return f"time budget of {self.config.max_minutes} minutes used"
        return None

    def _out_of_time(self) -> bool:
        """Whether the budget is used, counting the closing evaluation (as long as the last one took)."""
        budget = self.config.max_minutes
        return budget is not None and time.monotonic() - self.started + self.eval_seconds >= budget * 60

    def _evaluate(self, tag: str) -> bool:
        """Evaluate, record, write the training state; returns True when patience ran out."""
        began = time.monotonic()
        result = evaluate(self.prior, self.valid_windows)
        self.eval_seconds = time.monotonic() - began
        improved = result.nll < self.best_nll - 1e-4
        if improved:
            self.best_nll, self.bad_evals, self.best_result = result.nll, 0, result
            self.best_state = {k: v.detach().clone() for k, v in self.prior.state_dict().items()}
        else:
            self.bad_evals += 1
            if self.config.lr_schedule == "plateau":
                for group in self.optimizer.param_groups:
                    group["lr"] *= self.config.lr_decay
        self.history.append(
            {
                "at": tag,
                "epoch": self.epoch,
                "valid_nll": round(result.nll, 5),
                "valid_accuracy": round(result.accuracy, 5),
                "lr": self.optimizer.param_groups[0]["lr"],
                "minutes": round((time.monotonic() - self.started) / 60, 2),
            }
        )
        self.log(
            f"[{tag}] validation NLL/token {result.nll:.4f} (ppl {result.perplexity:.3f}), "
            f"accuracy {result.accuracy:.4f}{' *' if improved else ''}"
        )
        atomic_torch_save(
            {
                "model": self.prior.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "best_model": self.best_state,
                "best_nll": self.best_nll,
                "history": self.history,
                "bad_evals": self.bad_evals,
                "epoch": self.epoch,
                "elapsed_seconds": time.monotonic() - self.started,
                "torch_rng": torch.get_rng_state(),
                "config": asdict(self.config),
            },
            self.state_path,
        )
        return self.bad_evals >= self.config.patience

    def _finish(self, stopped_because: str) -> PretrainResult:
        """Keep the best weights and write them with their record."""
        assert self.best_state is not None
        self.prior.load_state_dict(self.best_state)
        self.prior.eval()
        # the best evaluation's figures (evaluated again only after a resume, which keeps the NLL alone)
        best = self.best_result if self.best_result is not None else evaluate(self.prior, self.valid_windows)
        meta = dict(self.metadata)
        meta["validation"] = {
            "nll_per_token": round(best.nll, 5),
            "accuracy": round(best.accuracy, 5),
            "perplexity": round(best.perplexity, 4),
            "tokens": best.tokens,
        }
        meta["training"] = {
            "config": asdict(self.config),
            "history": self.history,
            "stopped_because": stopped_because,
            "train_windows": len(self.train_windows),
            "train_tokens": self.n_train_tokens,
            "minutes": round((time.monotonic() - self.started) / 60, 2),
            "torch": str(torch.__version__),
        }
        self.prior.save(self.out_path, metadata=meta)
        self.log(
            f"saved prior to {self.out_path}: validation NLL/token {best.nll:.4f}, accuracy {best.accuracy:.4f} "
            f"({stopped_because})"
        )
        return PretrainResult(
            best=best, history=self.history, stopped_because=stopped_because, prior_path=self.out_path
        )


# ---------------------------------------------------------------------- what a domain hands the trainer
@dataclass
class PretrainData:
    """What a domain hands the trainer."""

    train: list[np.ndarray]  # training token sequences
    valid: list[np.ndarray]  # validation token sequences
    num_outputs: int  # size of the next-token distribution
    num_inputs: int  # input vocabulary (>= num_outputs)
    metadata: dict[str, Any]  # vocabulary and data provenance stored with the weights
