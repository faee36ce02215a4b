"""A cheap syntactic filter for SMILES prefixes: most unfinished prefixes are rejected before RDKit sees them.

:func:`syntax_ok` checks necessary conditions on a token list; :class:`PrefixSyntaxTracker` keeps
the same facts incrementally for a batch of token-id sequences (the SMILES env's hot path).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .tokenizer import BOND_TOKENS, Vocabulary, is_atom_token, is_ring_bond_token, try_tokenize

# ------------------------------------------------------------------------------------------------
# Syntactic prefix filter
# ------------------------------------------------------------------------------------------------


def syntax_ok(tokens: Sequence[str]) -> bool:
    """Necessary syntactic conditions for RDKit to accept a SMILES made of ``tokens``."""
    if not tokens or not is_atom_token(tokens[0]):
        return False
    depth = 0
    open_rings: set[str] = set()
    for t in tokens:
        if t == "(":
            depth += 1
        elif t == ")":
            depth -= 1
            if depth < 0:
                return False
        elif is_ring_bond_token(t):
            # A label closes the ring it opened and may then be reused (C1CC1C1CC1).
            open_rings ^= {t}
    last = tokens[-1]
    return depth == 0 and not open_rings and last not in BOND_TOKENS and last not in ("(", ".")


def could_be_complete_smiles(smiles_or_tokens: str | Sequence[str]) -> bool:
    """Cheap syntactic test (no RDKit) that a SMILES or token prefix could parse as it stands.

    ``False`` means RDKit would certainly reject it: empty, not starting with an atom, unbalanced
    parentheses, a ring-bond label left open, or ending in a bond symbol, ``(`` or ``.``.
    ``True`` only means "worth asking RDKit". Bracket atoms are single tokens, so an unclosed
    ``[`` makes a string untokenizable; a string :func:`tokenize` rejects gives ``False``.

    :param smiles_or_tokens: a SMILES string or its token list.
    """
    if isinstance(smiles_or_tokens, str):
        toks = try_tokenize(smiles_or_tokens)
        if toks is None:
            return False
        return syntax_ok(toks)
    return syntax_ok(list(smiles_or_tokens))


class PrefixSyntaxTracker:
    """Incremental :func:`could_be_complete_smiles` for ``n`` token-id prefixes at once (vector envs).

    Each :meth:`step` appends one id to every row in O(1) numpy work; BOS and PAD are ignored, and
    a row stops changing after END. Per-id behaviour comes from lookup tables built from the
    vocabulary.

    :param vocab: the vocabulary of the ids.
    :param n: number of prefixes (environments).
    """

    def __init__(self, vocab: Vocabulary, n: int) -> None:
        self.vocab = vocab
        self.n = int(n)
        size = vocab.size
        toks = vocab.tokens
        self._delta = np.zeros(size, dtype=np.int32)
        self._ring_slot = np.full(size, -1, dtype=np.int64)
        self._bad_end = np.zeros(size, dtype=bool)
        self._is_atom = np.zeros(size, dtype=bool)
        self._noop = np.zeros(size, dtype=bool)
        ring_labels = [i for i in range(1, vocab.num_actions) if is_ring_bond_token(toks[i])]
        for slot, i in enumerate(ring_labels):
            self._ring_slot[i] = slot
        for i in range(1, vocab.num_actions):
            t = toks[i]
            self._delta[i] = 1 if t == "(" else (-1 if t == ")" else 0)
            self._bad_end[i] = t in BOND_TOKENS or t in ("(", ".")
            self._is_atom[i] = is_atom_token(t)
        self._noop[vocab.bos_id] = self._noop[vocab.pad_id] = True
        self._n_rings = max(len(ring_labels), 1)
        self.reset()

    def reset(self, rows: np.ndarray | Sequence[int] | None = None) -> None:
        """Empty the given rows (index array or boolean mask; all rows if ``None``)."""
        if rows is None:
            self.length = np.zeros(self.n, dtype=np.int64)
            self.depth = np.zeros(self.n, dtype=np.int32)
            self.broken = np.zeros(self.n, dtype=bool)
            self.ended = np.zeros(self.n, dtype=bool)
            self.last_bad = np.zeros(self.n, dtype=bool)
            self.ring_open = np.zeros((self.n, self._n_rings), dtype=bool)
            self.open_count = np.zeros(self.n, dtype=np.int32)
            return
        r = np.asarray(rows)
        self.length[r] = 0
        self.depth[r] = 0
        self.broken[r] = False
        self.ended[r] = False
        self.last_bad[r] = False
        self.ring_open[r] = False
        self.open_count[r] = 0

    def step(self, ids: np.ndarray | Sequence[int]) -> np.ndarray:
        """Append ``ids[i]`` to row ``i``; returns :meth:`could_be_complete` after the step."""
        a = np.asarray(ids, dtype=np.int64)
        if a.shape != (self.n,):
            raise ValueError(f"expected {self.n} ids, got shape {a.shape}")
        if a.size and (a.min() < 0 or a.max() >= self.vocab.size):
            raise ValueError(f"token ids must be in [0, {self.vocab.size})")
        live = ~self.ended & ~self._noop[a]
        is_end = live & (a == self.vocab.end_id)
        self.ended |= is_end
        live &= ~is_end
        first = live & (self.length == 0)
        self.broken |= first & ~self._is_atom[a]
        self.depth += np.where(live, self._delta[a], 0)
        self.broken |= self.depth < 0
        slot = self._ring_slot[a]
        ring = live & (slot >= 0)
        if ring.any():
            rows = np.nonzero(ring)[0]
            cols = slot[rows]
            was_open = self.ring_open[rows, cols]
            self.ring_open[rows, cols] = ~was_open
            self.open_count[rows] += np.where(was_open, -1, 1).astype(np.int32)
        self.last_bad = np.where(live, self._bad_end[a], self.last_bad)
        self.length += live
        return self.could_be_complete()

    def could_be_complete(self) -> np.ndarray:
        """Boolean per row: the prefix so far (END excluded) passes the syntactic filter."""
        return (self.length > 0) & ~self.broken & (self.depth == 0) & (self.open_count == 0) & ~self.last_bad


def could_be_complete_ids(ids: np.ndarray, vocab: Vocabulary) -> np.ndarray:
    """:func:`could_be_complete_smiles` for each row of a 2-D id matrix (BOS/PAD ignored, stops at END).

    :param ids: ``[n, T]`` integer token ids.
    :param vocab: their vocabulary.
    """
    ids = np.asarray(ids, dtype=np.int64)
    if ids.ndim != 2:
        raise ValueError(f"expected a 2-D id matrix, got shape {ids.shape}")
    tracker = PrefixSyntaxTracker(vocab, ids.shape[0])
    for t in range(ids.shape[1]):
        tracker.step(ids[:, t])
    return tracker.could_be_complete()
