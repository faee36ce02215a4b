"""The frozen prior: a generic, batched LSTM language model over a token vocabulary.

One class serves both domains (melody Note RNN, SMILES RNN), the environments' reward and the
agents' initialisation. Its step API ``(tokens, state) -> (log_probs, state)`` advances a batch of
sequences by one token with no Python work per sequence.

Checkpoints are a plain dict of tensors and JSON-like metadata written atomically and read with
``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import functools
import json
import os
import threading
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .io import atomic_write

CHECKPOINT_FORMAT = "seqtutor-lstm-prior"
CHECKPOINT_VERSION = 1

State = tuple[torch.Tensor, torch.Tensor]


class CheckpointError(ValueError):
    """A weights file exists but is not a usable seqtutor checkpoint."""


@dataclass(frozen=True)
class PriorConfig:
    """Architecture of an :class:`LSTMPrior`."""

    num_outputs: int  # size of the next-token distribution (the env's action space)
    num_inputs: int | None = None  # rows of the input table; > num_outputs adds input-only tokens (BOS)
    embedding_dim: int | None = None  # None: one-hot inputs, as the paper's Note RNN
    hidden_size: int = 100  # LSTM cells per layer (paper: 100)
    num_layers: int = 1  # stacked LSTM layers (paper: 1)
    dropout: float = 0.0  # dropout between layers and before the output layer, training only

    def __post_init__(self) -> None:
        if self.num_outputs < 2:
            raise ValueError(f"num_outputs must be >= 2, got {self.num_outputs}")
        if self.num_inputs is not None and self.num_inputs < self.num_outputs:
            raise ValueError(f"num_inputs ({self.num_inputs}) must be >= num_outputs ({self.num_outputs})")
        if self.embedding_dim is not None and self.embedding_dim < 1:
            raise ValueError(f"embedding_dim must be positive or None, got {self.embedding_dim}")
        if self.hidden_size < 1 or self.num_layers < 1:
            raise ValueError(f"hidden_size and num_layers must be positive, got {self.hidden_size}, {self.num_layers}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    @property
    def input_vocab(self) -> int:
        return self.num_inputs if self.num_inputs is not None else self.num_outputs

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PriorConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise CheckpointError(f"unknown prior config keys {sorted(unknown)}; expected a subset of {sorted(known)}")
        return cls(**data)


class LSTMPrior(nn.Module):
    """Embedding (or one-hot) -> LSTM -> linear logits over ``num_outputs`` tokens.

    :param config: the architecture.
    """

    def __init__(self, config: PriorConfig) -> None:
        super().__init__()
        self.config = config
        vocab = config.input_vocab
        if config.embedding_dim is None:
            # One-hot input times W_ih is a column gather, so an identity "embedding" is exact and
            # lets the LSTM own the input weights like the paper's Note RNN.
            self.embedding = None
            input_size = vocab
        else:
            self.embedding = nn.Embedding(vocab, config.embedding_dim)
            input_size = config.embedding_dim
        self.lstm = nn.LSTM(
            input_size,
            config.hidden_size,
            num_layers=config.num_layers,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
            batch_first=True,
        )
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden_size, config.num_outputs)

    # ------------------------------------------------------------------ core
    def initial_state(self, batch_size: int) -> State:
        """Zero LSTM state ``(h, c)``, each ``(num_layers, batch_size, hidden_size)``."""
        shape = (self.config.num_layers, batch_size, self.config.hidden_size)
        weight = self.head.weight
        return (weight.new_zeros(shape), weight.new_zeros(shape))

    def _embed(self, tokens: torch.Tensor) -> torch.Tensor:
        if self.embedding is None:
            return F.one_hot(tokens, self.config.input_vocab).to(self.head.weight.dtype)
        return self.embedding(tokens)

    def forward(self, tokens: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """Logits for every position of a batch of sequences.

        :param tokens: ``(batch, time)`` int64 input tokens.
        :param state: LSTM state to start from; zeros if None.
        :return: logits ``(batch, time, num_outputs)`` and the final state.
        """
        hidden, state = self.hidden_states(tokens, state)
        return self.head(self.dropout(hidden)), state

    def hidden_states(self, tokens: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """The last LSTM layer's output at every position (what the output layer reads), and the final state.

        Learners that put another head on the prior's LSTM (a critic) read these.
        """
        self._check_tokens(tokens)
        if state is None:
            state = self.initial_state(tokens.shape[0])
        return self.lstm(self._embed(tokens), state)

    @torch.no_grad()
    def step(self, tokens: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """Advance a batch of sequences by one token.

        :param tokens: ``(batch,)`` int64, the token each sequence just emitted (or its primer).
        :param state: the LSTM state before ``tokens``; zeros if None.
        :return: next-token log-probabilities ``(batch, num_outputs)`` and the new state.
        """
        logits, state = self.forward(tokens.reshape(-1, 1), state)
        return torch.log_softmax(logits[:, 0], dim=-1), state

    @torch.no_grad()
    def sample(
        self,
        primers: torch.Tensor,
        length: int,
        generator: torch.Generator | None = None,
        temperature: float = 1.0,
        stop_token: int | None = None,
    ) -> torch.Tensor:
        """Sample continuations of one primer token per sequence.

        :param primers: ``(batch,)`` first input token of each sequence.
        :param length: number of tokens to sample after the primer.
        :param generator: torch RNG for reproducible samples.
        :param temperature: softmax temperature (1 = the model's distribution).
        :param stop_token: if given, positions after a sequence emitted it are filled with it.
        :return: ``(batch, length)`` sampled tokens (primer excluded).
        """
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        was_training = self.training
        self.eval()
        tokens = primers.to(torch.int64)
        state = self.initial_state(tokens.shape[0])
        out = torch.empty((tokens.shape[0], length), dtype=torch.int64)
        finished = torch.zeros(tokens.shape[0], dtype=torch.bool)
        for t in range(length):
            log_probs, state = self.step(tokens, state)
            probs = torch.softmax(log_probs / temperature, dim=-1)
            tokens = torch.multinomial(probs, 1, generator=generator).squeeze(1)
            if stop_token is not None:
                tokens = torch.where(finished, torch.full_like(tokens, stop_token), tokens)
                finished |= tokens == stop_token
            out[:, t] = tokens
            if stop_token is not None and bool(finished.all()):
                out[:, t + 1 :] = stop_token
                break
        self.train(was_training)
        return out

    def frozen_stepper(self) -> FrozenStepper:
        """A fast, inference-only copy of :meth:`step` for a prior whose weights no longer change."""
        return FrozenStepper(self)

    def _check_tokens(self, tokens: torch.Tensor) -> None:
        if tokens.dtype not in (torch.int64, torch.int32):
            raise TypeError(f"tokens must be an integer tensor, got {tokens.dtype}")
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= self.config.input_vocab):
            raise ValueError(
                f"token ids must be in [0, {self.config.input_vocab}), got range "
                f"[{int(tokens.min())}, {int(tokens.max())}]"
            )

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike, metadata: dict[str, Any] | None = None) -> Path:
        """Write weights, config and metadata atomically (temp file + rename).

        :param path: destination ``.pt`` file.
        :param metadata: JSON-like facts (vocabulary, data, training command, validation figures).
        """
        payload = {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "config": asdict(self.config),
            "state_dict": {k: v.detach().cpu().clone() for k, v in self.state_dict().items()},
            "metadata": _plain(metadata or {}),
        }
        return atomic_torch_save(payload, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> tuple[LSTMPrior, dict[str, Any]]:
        """Load a prior saved by :meth:`save`; returns ``(prior in eval mode, metadata)``.

        :raises FileNotFoundError: no file at ``path``.
        :raises CheckpointError: the file is corrupt, truncated or not a seqtutor prior, or a weight
            is NaN or infinite (its rewards and observations would be NaN).
        """
        payload = load_checkpoint(path)
        if payload.get("format") != CHECKPOINT_FORMAT:
            raise CheckpointError(
                f"{path} is not a seqtutor prior checkpoint (format={payload.get('format')!r}, "
                f"expected {CHECKPOINT_FORMAT!r})"
            )
        if payload.get("version") != CHECKPOINT_VERSION:
            raise CheckpointError(
                f"{path} has checkpoint version {payload.get('version')!r}; this seqtutor reads {CHECKPOINT_VERSION}"
            )
        try:
            config = PriorConfig.from_dict(dict(payload["config"]))
            with torch.random.fork_rng(devices=[]):  # the layers' random initial weights are overwritten:
                prior = cls(config)  # loading a file must not move the caller's torch RNG (seeded runs)
            prior.load_state_dict(payload["state_dict"])
        except (KeyError, TypeError, RuntimeError, ValueError) as exc:
            raise CheckpointError(f"{path} holds weights that do not match their config: {exc}") from exc
        _check_finite_weights(path, payload["state_dict"])
        prior.eval()
        for p in prior.parameters():
            p.requires_grad_(False)
        return prior, dict(payload.get("metadata", {}))


def _check_finite_weights(path: str | os.PathLike, state_dict: dict[str, Any]) -> None:
    """A ``CheckpointError`` naming the file and the first tensor holding a NaN or an infinity.

    :param path: the checkpoint file (for the message).
    :param state_dict: its tensors, in file order.
    """
    for name, tensor in state_dict.items():
        if not torch.is_tensor(tensor) or not tensor.is_floating_point():
            continue
        finite = torch.isfinite(tensor)
        if bool(finite.all()):
            continue
        bad = ~finite
        first = tuple(int(i) for i in torch.nonzero(bad)[0])
        raise CheckpointError(
            f"{path}: weight tensor {name!r} {tuple(tensor.shape)} holds {int(bad.sum())} non-finite value(s) "
            f"(first: {float(tensor[first])} at index {first}); a prior's weights must all be finite (did the "
            "training run that wrote it diverge?)"
        )


def _plain(metadata: dict[str, Any]) -> dict[str, Any]:
    """Metadata as plain JSON types, so ``weights_only=True`` loading accepts it."""
    try:
        return json.loads(json.dumps(metadata))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"prior metadata must be JSON-serialisable: {exc}") from exc


class FrozenStepper:
    """Inference-only single-step LSTM on pre-transposed weight snapshots.

    ``nn.LSTM`` on a length-1 sequence pays for one-hot/embedding, layout and cuDNN-style
    dispatch on every call; for the env's hot path the input projection is a row gather from a
    pre-computed ``(vocab, 4H)`` table into a reused buffer, and each layer adds its recurrent
    product in place. Weights are copied when the stepper is made, so later changes to the network
    are not seen (envs use frozen priors; an off-policy learner makes one per collection phase, between
    its updates, and acts with :meth:`outputs`). ``benchmarks/env_speed.py`` measures it against a
    bare ``nn.LSTMCell`` step.
    """

    def __init__(self, prior: LSTMPrior) -> None:
        cfg = prior.config
        self.num_layers, self.hidden_size, self.num_outputs = cfg.num_layers, cfg.hidden_size, cfg.num_outputs
        self.input_vocab = cfg.input_vocab
        with torch.no_grad():
            lstm = prior.lstm
            # get_parameter: the same tensors as attribute access, typed (nn.Module.__getattr__ is not)
            w_ih0 = lstm.get_parameter("weight_ih_l0").detach()
            if prior.embedding is not None:
                w_ih0 = w_ih0 @ prior.embedding.weight.detach().t()  # fold the embedding into layer 0
            bias0 = (lstm.get_parameter("bias_ih_l0") + lstm.get_parameter("bias_hh_l0")).detach()
            self.input_table = (w_ih0.t() + bias0).contiguous()  # (vocab, 4H)
            self.w_hh_t = [getattr(lstm, f"weight_hh_l{k}").detach().t().contiguous() for k in range(cfg.num_layers)]
            self.w_ih_t = [None] + [
                getattr(lstm, f"weight_ih_l{k}").detach().t().contiguous() for k in range(1, cfg.num_layers)
            ]
            self.bias = [None] + [
                (getattr(lstm, f"bias_ih_l{k}") + getattr(lstm, f"bias_hh_l{k}")).detach()
                for k in range(1, cfg.num_layers)
            ]
            self.head_w_t = prior.head.weight.detach().t().contiguous()
            self.head_b = prior.head.bias.detach().clone()
        self._buffers = threading.local()

    def initial_state(self, batch_size: int) -> State:
        shape = (self.num_layers, batch_size, self.hidden_size)
        return torch.zeros(shape, device=self.head_b.device), torch.zeros(shape, device=self.head_b.device)

    def _gates_buffer(self, batch: int) -> torch.Tensor:
        """A ``(batch, 4H)`` scratch tensor for the gate pre-activations, reused call after call (per thread)."""
        buffers = self._buffers.__dict__.setdefault("by_batch", {})
        if batch not in buffers:
            buffers.clear()  # one batch size at a time is the common case: keep one buffer
            buffers[batch] = torch.empty((batch, 4 * self.hidden_size), device=self.head_b.device)
        return buffers[batch]

    @torch.no_grad()
    def __call__(self, tokens: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """Same contract as :meth:`LSTMPrior.step`; ``state`` is not modified in place."""
        logits, state = self.outputs(tokens, state)
        return torch.log_softmax(logits, dim=-1), state

    @torch.no_grad()
    def outputs(self, tokens: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """The output layer's values ``(batch, num_outputs)`` after one step (logits; a learner's
        Q-values), and the new state; ``state`` is not modified in place.

        The gate pre-activations go into a reused scratch buffer (the input projection gathered
        into it, the recurrent product added in place) and the non-linearities run in place on its
        views: no allocation or copy of the largest tensor per step, and values bit-identical to
        the out-of-place computation.
        """
        h_all, c_all = state
        new_h, new_c = [], []
        gates = self._gates_buffer(tokens.shape[0])
        x: torch.Tensor | None = None  # the previous layer's output
        for k in range(self.num_layers):
            if k == 0:
                torch.index_select(self.input_table, 0, tokens, out=gates)
            else:
                assert x is not None  # set by layer k - 1
                torch.addmm(self.bias[k], x, self.w_ih_t[k], out=gates)
            gates.addmm_(h_all[k], self.w_hh_t[k])
            i, f, g, o = gates.chunk(4, dim=1)
            i, f, g, o = i.sigmoid_(), f.sigmoid_(), g.tanh_(), o.sigmoid_()
            c = (f * c_all[k]).add_(i * g)
            x = o * torch.tanh(c)
            new_h.append(x)
            new_c.append(c)
        assert x is not None  # num_layers >= 1 (LSTMPriorConfig checks it)
        logits = torch.addmm(self.head_b, x, self.head_w_t)
        if self.num_layers == 1:
            return logits, (new_h[0].unsqueeze(0), new_c[0].unsqueeze(0))
        return logits, (torch.stack(new_h), torch.stack(new_c))


def atomic_torch_save(payload: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` written atomically (see :func:`seqtutor_envs.io.atomic_write`)."""
    return atomic_write(path, lambda name: torch.save(payload, name))


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """``torch.load(weights_only=True)`` with precise errors for missing and corrupt files."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several unrelated types for truncated/garbage files
        raise CheckpointError(f"{path} is corrupt or not a torch checkpoint: {type(exc).__name__}: {exc}") from exc
    if not isinstance(payload, dict):
        raise CheckpointError(f"{path} holds a {type(payload).__name__}, expected a checkpoint dict")
    return payload


@functools.lru_cache(maxsize=8)
def _load_stepper(path: str, mtime_ns: int) -> tuple[FrozenStepper, dict[str, Any]]:
    prior, metadata = LSTMPrior.load(path)
    return prior.frozen_stepper(), metadata


def load_frozen_prior(path: str | os.PathLike) -> tuple[FrozenStepper, dict[str, Any]]:
    """Load a prior for an environment, sharing one copy between envs made from the same file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no prior weights file at {path}")
    return _load_stepper(str(path.resolve()), path.stat().st_mtime_ns)
