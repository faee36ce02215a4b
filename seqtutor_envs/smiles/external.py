"""Molecules that the agent did not write, as the episodes ``SeqTutor-SMILES-v0`` would have produced for them.

Off-policy learners learn from sequences any behaviour produced: graph-GA offspring, randomised
SMILES of remembered molecules. :class:`EpisodeEncoder` turns a list of SMILES into exactly what
the env reports when an agent steps their tokens: the ``tokens`` observation (BOS, the tokens, END
unless the string fills ``max_length``, PAD after), the prior's next-token log-probabilities at
every state (the ``prior_log_probs`` observation, terminal state included, floored at -100 nats:
G-learning reads ``log p(.|s')`` there), ``log p(a_t|s_t)`` of each taken token and the domain
reward of each step (the objective's prefix shaping where it has one, its final score at the last
step). One batched prior forward serves the whole list. A string that cannot be encoded (a
character no token starts, a token outside the prior's vocabulary, more tokens than
``max_length``) is skipped and counted, before any scoring: no oracle call is spent on it.

The result, :class:`ExternalEpisodes`, is plain numpy; :meth:`ExternalEpisodes.to_arrays` gives
the padded-array layout the agents' episode memories read
(``seqtutor_agents.policy_gradient.dap.TopKMemory.from_arrays``) and
:meth:`ExternalEpisodes.episode` the fields of one ``seqtutor_agents.common.episodes.Episode``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..prior import FrozenStepper, LSTMPrior
from ..reward import LOG_PROB_FLOOR, compose
from .env import SmilesTask
from .objective import Objective
from .syntax import PrefixSyntaxTracker
from .tokenizer import SPECIAL_TOKENS, Vocabulary, try_tokenize

#: Why a string was not encoded (the keys of the ``skipped`` counts).
SKIP_REASONS = ("untokenizable", "unknown_token", "too_long")


@dataclass
class ExternalEpisodes:
    """Whole episodes of externally produced SMILES, as the env would have reported them (``n`` episodes).

    ``W`` is the longest episode's number of actions; rows are padded beyond their length.
    """

    smiles: list[str]  # (n,) the strings the episodes spell (END excluded)
    source: np.ndarray  # (n,) int64: each episode's index in the input list (skipped inputs have none)
    tokens: np.ndarray  # (n, W + 1) int64: BOS, then the actions (END last unless max_length is filled), PAD after
    lengths: np.ndarray  # (n,) int64: actions per episode (the env's final ``step``)
    prior_log_probs: np.ndarray  # (n, W + 1, V) float32: log p(.|s_t), t = 0..length (floored at -100), 0 beyond
    prior_log_prob: np.ndarray  # (n, W) float32: log p(a_t|s_t) of each taken token (info["prior_log_prob"]), 0 beyond
    domain_rewards: np.ndarray  # (n, W) float64: r_domain of each step (info["domain_reward"]), 0 beyond
    final_scores: np.ndarray  # (n,) float64: the objective's final score (the last step's final-score term)
    c: float  # the env's c
    prior_weight: float  # the env's weight on log p
    skipped: dict[str, int] = field(default_factory=dict)  # inputs not encoded, by reason (SKIP_REASONS)

    def __len__(self) -> int:
        return len(self.smiles)

    @property
    def mask(self) -> np.ndarray:
        """``(n, W)`` True on real steps."""
        return np.arange(self.prior_log_prob.shape[1])[None, :] < self.lengths[:, None]

    def rewards(self, c: float | None = None, prior_weight: float | None = None) -> np.ndarray:
        """``(n, W)`` per-step rewards ``w log p(a_t|s_t) + r_t / c`` (the env's c and w unless given), 0 beyond."""
        w = self.prior_weight if prior_weight is None else prior_weight
        out = compose(self.prior_log_prob.astype(np.float64), self.domain_rewards, self.c if c is None else c, w)
        return np.where(self.mask, out, 0.0)

    def prior_log_likelihood(self) -> np.ndarray:
        """``(n,)`` float64 ``log p(x)``: the sum of each episode's taken-token log-probabilities."""
        return self.prior_log_prob.astype(np.float64).sum(axis=1)

    def episode(self, i: int) -> dict[str, Any]:
        """Episode ``i``'s fields as ``seqtutor_agents.common.episodes.Episode`` takes them (unpadded copies)."""
        n = int(self.lengths[i])
        return {
            "tokens": self.tokens[i, : n + 1].copy(),
            "prior_log_probs": self.prior_log_probs[i, : n + 1].copy(),
            "prior_log_prob": self.prior_log_prob[i, :n].copy(),
            "domain_rewards": self.domain_rewards[i, :n].astype(np.float32),
            "prior_weight": float(self.prior_weight),
        }

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The padded arrays of ``TopKMemory.to_arrays`` / ``from_arrays`` (tokens padded with 0, float32 rewards)."""
        n = len(self)
        within = np.arange(self.tokens.shape[1])[None, :] <= self.lengths[:, None]
        return {
            "lengths": self.lengths.copy(),
            "tokens": np.where(within, self.tokens, 0),
            "prior_log_probs": self.prior_log_probs.copy(),
            "prior_log_prob": self.prior_log_prob.copy(),
            "domain_rewards": self.domain_rewards.astype(np.float32),
            "prior_weight": np.full(n, self.prior_weight, dtype=np.float64),
        }


@dataclass
class EncodedSmiles:
    """SMILES as env token sequences, before any forward or scoring."""

    smiles: list[str]  # the encodable inputs, in input order
    source: np.ndarray  # (n,) int64 index of each in the input list
    tokens: np.ndarray  # (n, W + 1) int64: BOS, actions, PAD after
    lengths: np.ndarray  # (n,) int64 actions
    skipped: dict[str, int]  # inputs left out, by reason


class EpisodeEncoder:
    """Tokenise SMILES into a SMILES env's vocabulary and compute the episodes the env would produce.

    :param vocab: the prior's vocabulary.
    :param prior: the frozen prior: an :class:`LSTMPrior` (one ``nn.LSTM`` forward over the batch) or a
        :class:`FrozenStepper` (the env's own stepper, unrolled over positions, batched over rows).
    :param max_length: the env's ``max_length`` (most actions per episode).
    :param c: the env's c (only carried into the result, which recomposes rewards).
    :param prior_weight: the env's weight on ``log p``.
    :param task: the env's :class:`SmilesTask`; its objective scores molecules when :meth:`episodes`
        is given no scores (so oracle calls and the diversity filter count as in the env).
    """

    def __init__(
        self,
        vocab: Vocabulary,
        prior: LSTMPrior | FrozenStepper,
        max_length: int,
        c: float,
        prior_weight: float = 1.0,
        task: SmilesTask | None = None,
    ) -> None:
        outputs = prior.config.num_outputs if isinstance(prior, LSTMPrior) else getattr(prior, "num_outputs", None)
        if outputs != vocab.num_actions:
            raise ValueError(f"the prior predicts {outputs} tokens but the vocabulary has {vocab.num_actions} actions")
        if isinstance(max_length, bool) or not isinstance(max_length, (int, np.integer)) or max_length < 1:
            raise ValueError(f"max_length must be an integer >= 1, got {max_length!r}")
        self.vocab, self.prior, self.max_length = vocab, prior, int(max_length)
        self.c, self.prior_weight, self.task = float(c), float(prior_weight), task
        self._index = {t: i for i, t in enumerate(vocab.tokens) if t not in SPECIAL_TOKENS}
        self._strings = np.array(vocab.tokens, dtype=object)

    @classmethod
    def from_env(cls, env: Any, prior: LSTMPrior | FrozenStepper | None = None) -> EpisodeEncoder:
        """The encoder of a SMILES env: a ``SmilesEnv``, a ``SmilesVectorEnv``, a wrapper of one or the SB3 adapter.

        :param env: the env.
        :param prior: the prior to run (default: the env's prior file as an :class:`LSTMPrior`, loaded once).
        """
        native = getattr(env, "venv", env)
        native = getattr(native, "unwrapped", native)
        task = getattr(native, "task", None)
        if not isinstance(task, SmilesTask):
            raise TypeError(
                f"EpisodeEncoder.from_env needs a SeqTutor-SMILES-v0 env (SmilesEnv, SmilesVectorEnv or "
                f"the SB3 adapter of one), got {type(env).__name__}"
            )
        if prior is None:
            prior = load_lstm_prior(native.prior_path)
        return cls(task.vocab, prior, task.max_length, native.c, native.prior_weight, task)

    # ------------------------------------------------------------------ encoding
    def _ids(self, smiles: str) -> list[int] | str:
        """The actions an agent takes to write ``smiles``, or the reason it cannot (a :data:`SKIP_REASONS` key)."""
        tokens = try_tokenize(smiles)
        if tokens is None:
            return "untokenizable"
        index = self._index
        if any(t not in index for t in tokens):
            return "unknown_token"
        if len(tokens) > self.max_length:
            return "too_long"
        ids = [index[t] for t in tokens]
        if len(ids) < self.max_length:  # the env ends at max_length tokens without END
            ids.append(self.vocab.end_id)
        return ids

    def encodable(self, smiles: str) -> bool:
        """True if an agent of the env can write ``smiles`` (known tokens, at most ``max_length``)."""
        return not isinstance(self._ids(smiles), str)

    def encode(self, smiles: Sequence[str]) -> EncodedSmiles:
        """The encodable strings as env token sequences; the others counted by reason."""
        rows, kept, source = [], [], []
        skipped = dict.fromkeys(SKIP_REASONS, 0)
        for i, s in enumerate(smiles):
            ids = self._ids(s)
            if isinstance(ids, str):
                skipped[ids] += 1
                continue
            rows.append(ids)
            kept.append(s)
            source.append(i)
        lengths = np.array([len(r) for r in rows], dtype=np.int64)
        tokens = np.full((len(rows), int(lengths.max(initial=0)) + 1), self.vocab.pad_id, dtype=np.int64)
        tokens[:, 0] = self.vocab.bos_id
        if len(rows):
            flat = np.concatenate([np.asarray(r, dtype=np.int64) for r in rows])
            row_of = np.repeat(np.arange(len(rows)), lengths)
            col_of = np.arange(len(flat)) - np.repeat(np.cumsum(lengths) - lengths, lengths) + 1
            tokens[row_of, col_of] = flat
        return EncodedSmiles(kept, np.array(source, dtype=np.int64), tokens, lengths, skipped)

    # ------------------------------------------------------------------ the prior
    @torch.no_grad()
    def prior_log_probs(self, tokens: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """``(n, W + 1, V)`` float32 ``log p(.|s_t)`` for t = 0..length (floored as the env floors), 0 beyond."""
        inputs = np.where(tokens == self.vocab.pad_id, self.vocab.end_id, tokens)  # padding: any id, masked below
        if not len(inputs):
            return np.zeros((0, inputs.shape[1], self.vocab.num_actions), dtype=np.float32)
        if isinstance(self.prior, LSTMPrior):
            was_training = self.prior.training
            self.prior.eval()
            weight = self.prior.head.weight
            logits, _ = self.prior(torch.as_tensor(inputs, device=weight.device))
            self.prior.train(was_training)
            log_probs = torch.log_softmax(logits.float(), dim=-1)
        else:  # the env's stepper: one batched step per position
            batch = torch.from_numpy(np.ascontiguousarray(inputs))
            state = self.prior.initial_state(len(inputs))
            steps = []
            for t in range(inputs.shape[1]):
                step_log_probs, state = self.prior(batch[:, t].contiguous(), state)
                steps.append(step_log_probs.clone())
            log_probs = torch.stack(steps, dim=1)
        out = log_probs.clamp_(min=LOG_PROB_FLOOR).cpu().numpy().astype(np.float32, copy=False)
        out[np.arange(out.shape[1])[None, :] > lengths[:, None]] = 0.0
        return out

    # ------------------------------------------------------------------ episodes
    def episodes(self, smiles: Sequence[str], scores: Sequence[float] | np.ndarray | None = None) -> ExternalEpisodes:
        """The env's episodes for the encodable ``smiles``.

        :param smiles: SMILES strings (any: invalid molecules get the objective's invalid score as in the env).
        :param scores: the final score of each input (e.g. a remembered molecule's, re-written as a
            randomised SMILES: rewards reused, nothing scored). None: the env's objective scores the
            encodable strings now (oracle calls, the diversity filter's memory, as the env would).
        :raises ValueError: if ``scores`` does not have one finite value per input.
        """
        enc = self.encode(smiles)
        given = None
        if scores is not None:
            given = np.asarray(scores, dtype=np.float64).reshape(-1)
            if len(given) != len(smiles):
                raise ValueError(f"scores: {len(given)} values for {len(smiles)} SMILES")
        log_probs = self.prior_log_probs(enc.tokens, enc.lengths)
        n, width = len(enc.smiles), enc.tokens.shape[1] - 1
        rows, cols = np.arange(n), np.arange(width)
        actions = enc.tokens[:, 1:]
        taken = np.take_along_axis(
            log_probs[:, :width], np.where(actions == self.vocab.pad_id, 0, actions)[..., None], axis=2
        )[..., 0]
        taken = np.where(cols[None, :] < enc.lengths[:, None], taken, np.float32(0.0)).astype(np.float32)
        final = given[enc.source] if given is not None else self._score_final(enc.smiles)
        domain = self._prefix_shaping(enc) if self._has_prefix_shaping() else np.zeros((n, width), dtype=np.float64)
        if n:
            domain[rows, enc.lengths - 1] = final
        return ExternalEpisodes(
            enc.smiles,
            enc.source,
            enc.tokens,
            enc.lengths,
            log_probs,
            taken,
            domain,
            np.asarray(final, dtype=np.float64),
            self.c,
            self.prior_weight,
            enc.skipped,
        )

    def _objective(self) -> Objective | None:
        return self.task.objective if self.task is not None else None

    def _has_prefix_shaping(self) -> bool:
        objective = self._objective()
        return bool(objective is not None and objective.has_prefix_shaping)

    def _score_final(self, smiles: list[str]) -> np.ndarray:
        objective = self._objective()
        if objective is None or self.task is None:  # the objective is the task's: both or neither
            raise ValueError(
                "EpisodeEncoder.episodes: no scores given and no env objective to score with "
                "(build the encoder with EpisodeEncoder.from_env, or pass scores)"
            )
        if not smiles:
            return np.zeros(0, dtype=np.float64)
        return self.task.check_domain_rewards(
            objective.score_final(list(smiles)), f"objective {objective.name!r} returned a final score of"
        )

    def _prefix_shaping(self, enc: EncodedSmiles) -> np.ndarray:
        """The env's per-step prefix shaping: asked for non-final steps whose prefix passes the syntactic filter."""
        objective, task = self._objective(), self.task
        assert objective is not None and task is not None  # called only when _has_prefix_shaping()
        n, width = len(enc.smiles), enc.tokens.shape[1] - 1
        tracker = PrefixSyntaxTracker(self.vocab, n)
        completable = np.zeros((n, width), dtype=bool)
        for t in range(width):  # one vectorised update of every row per position, as the env's tracker runs
            completable[:, t] = tracker.step(enc.tokens[:, t + 1])
        ask_rows, ask_cols = np.nonzero(completable & (np.arange(width)[None, :] < enc.lengths[:, None] - 1))
        out = np.zeros((n, width), dtype=np.float64)
        if len(ask_rows):
            prefixes = [
                "".join(self._strings[enc.tokens[r, 1 : c + 2]]) for r, c in zip(ask_rows, ask_cols, strict=True)
            ]
            values = objective.score_prefix(prefixes)
            out[ask_rows, ask_cols] = task.check_domain_rewards(values, "prefix shaping")
        return out


@functools.lru_cache(maxsize=4)
def _load_prior(path: str, mtime_ns: int) -> LSTMPrior:
    return LSTMPrior.load(path)[0]


def load_lstm_prior(path: str | Path) -> LSTMPrior:
    """The prior of a weights file as an :class:`LSTMPrior` in eval mode, loaded once per file version."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no prior weights file at {path}")
    return _load_prior(str(path.resolve()), path.stat().st_mtime_ns)
