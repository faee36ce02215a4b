"""Transfer learning onto a saved prior: a user's data re-encoded on the prior's vocabulary.

``seqtutor pretrain smiles --init-from PRIOR --data MINE`` fine-tunes PRIOR on MINE. The corpus
loader builds a vocabulary of MINE's own tokens; a prior's weights only mean something on *its*
vocabulary, so :func:`align_to_prior` maps every sequence onto the prior's token ids by token
string (one table lookup per sequence). A sequence holding a token the prior lacks is dropped and
reported, or -- with ``extend=True`` -- the vocabulary grows by those tokens and
:func:`extend_prior` gives the prior a row for each (input embedding copied from the mean of the
others; output row zero with a bias no old token's logit goes below, so the extended prior ranks the
old tokens as before and each new one at most as likely as the least likely old one, at every state).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from .pretrain_config import PretrainInputError
from .prior import LSTMPrior
from .smiles.tokenizer import Vocabulary

SMILES_VOCAB_FORMAT = "seqtutor.smiles.vocabulary/1"


def vocabulary_tokens(vocabulary: Any) -> list[str]:
    """Token strings by id, from a prior's or a corpus's ``metadata["vocabulary"]`` (a dict with
    ``tokens``, as SMILES stores it, or a plain list, as melody does)."""
    tokens = vocabulary.get("tokens") if isinstance(vocabulary, dict) else vocabulary
    if not isinstance(tokens, (list, tuple)) or not all(isinstance(t, str) for t in tokens):
        raise PretrainInputError(f"a vocabulary must be a list of token strings, got {vocabulary!r:.80}")
    return list(tokens)


@dataclass
class Alignment:
    """Training data on a prior's vocabulary (see the module docstring)."""

    train: list[np.ndarray]
    valid: list[np.ndarray]
    vocabulary: Any  # the vocabulary the sequences now use (the prior's, or it extended), as metadata stores it
    missing: dict[str, int] = field(default_factory=dict)  # token the prior lacks -> sequences holding it
    dropped_train: int = 0
    dropped_valid: int = 0
    added: list[str] = field(default_factory=list)  # tokens added to the vocabulary (extend=True)

    def report(self, what: str = "sequences") -> str:
        """One line: what the prior's vocabulary lacked and what was done about it."""
        if not self.missing:
            return "the prior's vocabulary covers every token of the data"
        lacks = ", ".join(f"{t!r} (in {n})" for t, n in sorted(self.missing.items(), key=lambda kv: (-kv[1], kv[0])))
        if self.added:
            return f"the prior's vocabulary lacks {len(self.missing)} token(s): {lacks}; added to the vocabulary"
        return (
            f"the prior's vocabulary lacks {len(self.missing)} token(s): {lacks}; dropped {self.dropped_train} "
            f"training and {self.dropped_valid} validation {what} holding them (--extend-vocab adds the tokens)"
        )


def align_to_prior(
    train: Sequence[np.ndarray],
    valid: Sequence[np.ndarray],
    data_vocabulary: Any,
    prior_vocabulary: Any,
    extend: bool = False,
) -> Alignment:
    """``train`` and ``valid`` (ids of ``data_vocabulary``) as ids of the prior's vocabulary.

    :param extend: add the tokens the prior lacks (SMILES vocabularies) instead of dropping their sequences.
    :raises PretrainInputError: no training or no validation sequence is left, or ``extend`` on a
        vocabulary that cannot grow.
    """
    data_tokens, prior_tokens = vocabulary_tokens(data_vocabulary), vocabulary_tokens(prior_vocabulary)
    missing_ids = [i for i, t in enumerate(data_tokens) if t not in prior_tokens]
    vocabulary = prior_vocabulary
    added: list[str] = []
    if missing_ids and extend:
        vocabulary = _extended_vocabulary(prior_vocabulary, [data_tokens[i] for i in missing_ids])
        added = [data_tokens[i] for i in missing_ids]
    index = {t: i for i, t in enumerate(vocabulary_tokens(vocabulary))}
    table = np.array([index.get(t, -1) for t in data_tokens], dtype=np.int64)
    counts: Counter[str] = Counter()
    kept: dict[str, list[np.ndarray]] = {"train": [], "valid": []}
    for name, sequences in (("train", train), ("valid", valid)):
        for seq in sequences:
            mapped = table[np.asarray(seq, dtype=np.int64)]
            if (mapped < 0).any():
                counts.update({data_tokens[i] for i in np.asarray(seq)[mapped < 0].tolist()})
            else:
                kept[name].append(mapped)
    if extend:  # every sequence was kept; count the ones holding each new token for the report
        for seq in (*train, *valid):
            counts.update({data_tokens[i] for i in set(np.asarray(seq).tolist()) if i in missing_ids})
    alignment = Alignment(
        kept["train"],
        kept["valid"],
        vocabulary,
        dict(counts),
        len(train) - len(kept["train"]),
        len(valid) - len(kept["valid"]),
        added,
    )
    if not alignment.train or not alignment.valid:
        raise PretrainInputError(
            f"--data: {alignment.report()}, which leaves {len(alignment.train)} training and "
            f"{len(alignment.valid)} validation sequences; pass --extend-vocab"
        )
    return alignment


def _extended_vocabulary(prior_vocabulary: Any, new_tokens: list[str]) -> Any:
    if not (isinstance(prior_vocabulary, dict) and prior_vocabulary.get("format") == SMILES_VOCAB_FORMAT):
        raise PretrainInputError("--extend-vocab: only a SMILES vocabulary can grow (this prior's encoding is fixed)")
    old = Vocabulary.from_json(prior_vocabulary)
    return Vocabulary.from_smiles_tokens([*old.smiles_tokens, *new_tokens]).to_json()


def extend_prior(prior: LSTMPrior, old_vocabulary: Any, new_vocabulary: Any) -> LSTMPrior:
    """``prior`` with rows for the tokens of ``new_vocabulary`` it lacks, old rows moved to their new ids.

    Token ids ``< num_outputs`` are outputs, ``< num_inputs`` inputs, in both vocabularies (SMILES:
    END and the tokens are both, BOS is input only, PAD neither).
    """
    old_tokens, new_tokens = vocabulary_tokens(old_vocabulary), vocabulary_tokens(new_vocabulary)
    grow = len(new_tokens) - len(old_tokens)
    config = replace(
        prior.config, num_outputs=prior.config.num_outputs + grow, num_inputs=prior.config.input_vocab + grow
    )
    extended = LSTMPrior(config)
    extended.load_state_dict(
        {
            k: v
            for k, v in prior.state_dict().items()
            if not k.startswith(("head.", "embedding.")) and k != "lstm.weight_ih_l0"
        },
        strict=False,
    )
    old_index = {t: i for i, t in enumerate(old_tokens)}
    rows = [(j, old_index.get(t)) for j, t in enumerate(new_tokens)]
    # Both have an embedding or neither (same embedding_dim); get_parameter: the same tensor as attribute
    # access, typed (nn.Module.__getattr__ is not).
    old_embedding, new_embedding = prior.embedding, extended.embedding
    old_ih, new_ih = prior.lstm.get_parameter("weight_ih_l0"), extended.lstm.get_parameter("weight_ih_l0")
    with torch.no_grad():
        head_w, head_b = prior.head.weight, prior.head.bias
        extended.head.weight.zero_()
        # |h| < 1 (an LSTM's output), so old token i's logit is >= b_i - |w_i|_1 at every state: a new token's
        # constant logit at the least of these never beats an old token's
        extended.head.bias.fill_(float((head_b - head_w.abs().sum(1)).min()))
        if old_embedding is not None and new_embedding is not None:
            new_embedding.weight.copy_(old_embedding.weight.mean(0).expand_as(new_embedding.weight))
            new_ih.copy_(old_ih)
        else:  # one-hot input: the LSTM's input columns are the embedding
            new_ih.copy_(old_ih.mean(1, keepdim=True).expand_as(new_ih))
        for j, i in rows:
            if i is None:
                continue
            if j < config.num_outputs and i < prior.config.num_outputs:
                extended.head.weight[j], extended.head.bias[j] = head_w[i], head_b[i]
            if j < config.input_vocab and i < prior.config.input_vocab:
                if old_embedding is not None and new_embedding is not None:
                    new_embedding.weight[j] = old_embedding.weight[i]
                else:
                    new_ih[:, j] = old_ih[:, i]
    return extended
