"""SMILES tokenisation and the token vocabulary of the SMILES prior and environment.

Tokens follow the regular expression used by Schwaller et al. (Molecular Transformer), MOSES and
REINVENT: a bracket atom ``[...]`` is one token, so are ``Br``, ``Cl`` and two-digit ring-bond
labels ``%nn``; every other token is one character (organic-subset and aromatic atoms, the
wildcard ``*``, bonds ``- = # $ : / \\``, branches ``( )``, the dot ``.`` and ring digits).
Characters that are not SMILES outside brackets (``+``, ``@``, ``>``, ``~``, ``?``, spaces, ...) and
three-digit ring labels ``%(nnn)`` are rejected with a ``ValueError`` instead of being dropped.

Vocabulary layout (``K`` = number of SMILES tokens + 1)::

    0          END  "$end"  end of sequence; an action (the agent chooses to stop)
    1 .. K-1   SMILES tokens, sorted
    K          BOS  "^bos"  start-of-sequence input, never an action
    K+1        PAD  "_pad"  padding, never a model output

so ``num_actions == K`` and the action space is ``Discrete(K)`` (END plus every SMILES token),
while the prior's input embedding has ``size == K + 2`` rows.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

END_TOKEN = "$end"
BOS_TOKEN = "^bos"
PAD_TOKEN = "_pad"
SPECIAL_TOKENS = (END_TOKEN, BOS_TOKEN, PAD_TOKEN)

VOCAB_FORMAT = "seqtutor.smiles.vocabulary/1"

# Order matters: bracket atoms first, then the two-letter halogens before their one-letter prefixes
# (``Br?`` / ``Cl?`` are greedy), then ``%nn`` before the lone digit.
SMILES_TOKEN_PATTERN = r"(\[[^\[\]]+\]|Br?|Cl?|N|O|S|P|F|I|b|c|n|o|s|p|\*|\(|\)|\.|=|#|-|\$|:|/|\\|%[0-9]{2}|[0-9])"
_TOKEN_RE = re.compile(SMILES_TOKEN_PATTERN)

BOND_TOKENS = frozenset({"-", "=", "#", "$", ":", "/", "\\"})
BRANCH_OPEN, BRANCH_CLOSE, DOT = "(", ")", "."


def is_ring_bond_token(token: str) -> bool:
    """True for a ring-bond label token (``"1"`` or ``"%12"``)."""
    return (len(token) == 1 and token.isdigit()) or (len(token) == 3 and token[0] == "%")


def is_atom_token(token: str) -> bool:
    """True for an atom token (organic subset, aromatic, wildcard or bracket atom)."""
    return token[:1] == "[" or token in _ATOM_TOKENS


_ATOM_TOKENS = frozenset({"B", "Br", "C", "Cl", "N", "O", "S", "P", "F", "I", "b", "c", "n", "o", "s", "p", "*"})


def tokenize(smiles: str) -> list[str]:
    """Split a SMILES string into tokens.

    :param smiles: a SMILES string (no whitespace, no name field).
    :returns: the tokens; ``"".join(tokens) == smiles``.
    :raises ValueError: if some character cannot start a token (the message names the SMILES and
        the 0-based position), so no character is ever dropped silently.
    """
    if not isinstance(smiles, str):
        raise TypeError(f"SMILES must be a str, got {type(smiles).__name__}")
    # One C-level scan: where the tokens cover the string they are exactly what matching token after
    # token from position 0 gives (findall tries each position before moving on); where they do not,
    # some character starts no token, and the loop below finds which for the error message.
    tokens = _TOKEN_RE.findall(smiles)
    if sum(map(len, tokens)) == len(smiles):
        return tokens
    tokens = []
    pos = 0
    n = len(smiles)
    match = _TOKEN_RE.match
    while pos < n:
        m = match(smiles, pos)
        if m is None:
            raise ValueError(
                f"cannot tokenize SMILES {smiles!r}: unexpected character {smiles[pos]!r} at position {pos}"
            )
        tokens.append(m.group(0))
        pos = m.end()
    return tokens


def try_tokenize(smiles: str) -> list[str] | None:
    """:func:`tokenize`, or ``None`` where it would raise (for bulk filtering)."""
    try:
        return tokenize(smiles)
    except (ValueError, TypeError):
        return None


@dataclass(frozen=True)
class Vocabulary:
    """Token vocabulary: ``tokens[i]`` is the string of id ``i`` (layout in the module docstring).

    :param tokens: ``(END, *sorted SMILES tokens, BOS, PAD)``; checked on construction.
    """

    tokens: tuple[str, ...]

    def __post_init__(self) -> None:
        toks = tuple(self.tokens)
        object.__setattr__(self, "tokens", toks)
        if len(toks) < 4 or toks[0] != END_TOKEN or toks[-2] != BOS_TOKEN or toks[-1] != PAD_TOKEN:
            raise ValueError(
                f"vocabulary must be ({END_TOKEN!r}, *smiles_tokens, {BOS_TOKEN!r}, {PAD_TOKEN!r}) "
                f"with at least one SMILES token, got {toks[:3]}...{toks[-2:]}"
            )
        middle = toks[1:-2]
        if list(middle) != sorted(set(middle)):
            raise ValueError("SMILES tokens of a vocabulary must be unique and sorted")
        bad = [t for t in middle if t in SPECIAL_TOKENS or try_tokenize(t) != [t]]
        if bad:
            raise ValueError(f"not single SMILES tokens: {bad}")
        # Cached lookup table; a frozen dataclass needs object.__setattr__.
        object.__setattr__(self, "_index", {t: i for i, t in enumerate(toks)})

    # ---- layout -------------------------------------------------------------------------------
    @property
    def end_id(self) -> int:
        """Id of END (0), the stop action."""
        return 0

    @property
    def num_actions(self) -> int:
        """Size of the action space: END plus every SMILES token (= ``bos_id``)."""
        return len(self.tokens) - 2

    @property
    def bos_id(self) -> int:
        """Id of BOS, the first input of every sequence (never an action)."""
        return len(self.tokens) - 2

    @property
    def pad_id(self) -> int:
        """Id of PAD (never a model output)."""
        return len(self.tokens) - 1

    @property
    def size(self) -> int:
        """Number of ids, specials included (``num_actions + 2``)."""
        return len(self.tokens)

    @property
    def smiles_tokens(self) -> tuple[str, ...]:
        """The SMILES tokens, ids ``1 .. num_actions - 1``."""
        return self.tokens[1:-2]

    def __len__(self) -> int:
        return len(self.tokens)

    def token_id(self, token: str) -> int:
        """Id of ``token``; ``KeyError`` if absent."""
        return self._index[token]  # type: ignore[attr-defined]  # set in __post_init__ (a field would join eq and repr)

    def __contains__(self, token: object) -> bool:
        return token in self._index  # type: ignore[attr-defined]  # set in __post_init__ (a field would join eq and repr)

    # ---- encoding -----------------------------------------------------------------------------
    def encode(self, smiles: str, add_bos: bool = True, add_end: bool = True) -> np.ndarray:
        """Token ids of a SMILES string.

        :param smiles: the SMILES string.
        :param add_bos: prepend BOS.
        :param add_end: append END.
        :returns: int64 array.
        :raises ValueError: if the SMILES cannot be tokenized or holds tokens outside the vocabulary
            (all unknown tokens are named).
        """
        tokens = tokenize(smiles)
        index = self._index  # type: ignore[attr-defined]  # set in __post_init__ (a field would join eq and repr)
        unknown = sorted({t for t in tokens if t not in index or t in SPECIAL_TOKENS})
        if unknown:
            raise ValueError(f"SMILES {smiles!r} has tokens outside the vocabulary: {unknown}")
        ids = [index[t] for t in tokens]
        if add_bos:
            ids.insert(0, self.bos_id)
        if add_end:
            ids.append(self.end_id)
        return np.asarray(ids, dtype=np.int64)

    def encode_batch(
        self, smiles: Sequence[str], add_bos: bool = True, add_end: bool = True, max_len: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Encode several SMILES into one PAD-padded matrix.

        :param smiles: the SMILES strings.
        :param add_bos: prepend BOS to each row.
        :param add_end: append END to each row.
        :param max_len: width of the matrix; ``ValueError`` if a row is longer. Default: longest row.
        :returns: ``(ids[n, width] int64, lengths[n] int64)``.
        """
        rows = [self.encode(s, add_bos=add_bos, add_end=add_end) for s in smiles]
        lengths = np.array([len(r) for r in rows], dtype=np.int64)
        width = int(lengths.max(initial=0)) if max_len is None else int(max_len)
        if len(rows) and lengths.max() > width:
            i = int(lengths.argmax())
            raise ValueError(f"SMILES {smiles[i]!r} needs {lengths[i]} ids, more than max_len={width}")
        out = np.full((len(rows), width), self.pad_id, dtype=np.int64)
        for i, r in enumerate(rows):
            out[i, : len(r)] = r
        return out, lengths

    def decode(self, ids: Iterable[int]) -> str:
        """SMILES string of a sequence of ids: stops at END, skips BOS and PAD.

        :param ids: token ids (any integer iterable, e.g. a numpy row).
        :raises ValueError: for an id outside ``[0, size)``.
        """
        out: list[str] = []
        n = len(self.tokens)
        bos, pad = self.bos_id, self.pad_id
        for i in ids:
            i = int(i)
            if i == 0:
                break
            if i in (bos, pad):
                continue
            if not 0 <= i < n:
                raise ValueError(f"token id {i} is outside the vocabulary (size {n})")
            out.append(self.tokens[i])
        return "".join(out)

    # ---- persistence --------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """Plain dict of str and list: JSON-serialisable and ``torch.load(weights_only=True)``-safe."""
        return {"format": VOCAB_FORMAT, "tokens": list(self.tokens)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | Sequence[str] | str) -> Vocabulary:
        """Inverse of :meth:`to_json`; also accepts the JSON text of it or a bare token list."""
        if isinstance(data, str):
            data = json.loads(data)
        if isinstance(data, Mapping):
            fmt = data.get("format", VOCAB_FORMAT)
            if fmt != VOCAB_FORMAT:
                raise ValueError(f"unsupported vocabulary format {fmt!r} (expected {VOCAB_FORMAT!r})")
            data = data["tokens"]
        return cls(tuple(str(t) for t in data))

    @classmethod
    def from_smiles_tokens(cls, smiles_tokens: Iterable[str]) -> Vocabulary:
        """Vocabulary over the given SMILES tokens (sorted, deduplicated), specials added."""
        return cls((END_TOKEN, *sorted(set(smiles_tokens)), BOS_TOKEN, PAD_TOKEN))

    @classmethod
    def build(cls, smiles: Iterable[str], min_count: int = 1) -> Vocabulary:
        """Vocabulary of the tokens that occur at least ``min_count`` times in ``smiles``.

        :param smiles: SMILES strings; one that cannot be tokenized raises ``ValueError``.
        :param min_count: rarer tokens are left out (molecules holding them then fail to encode).
        """
        counts: Counter[str] = Counter()
        for s in smiles:
            counts.update(tokenize(s))
        kept = [t for t, c in counts.items() if c >= min_count]
        if not kept:
            raise ValueError("no SMILES token reaches min_count; cannot build a vocabulary")
        return cls.from_smiles_tokens(kept)
