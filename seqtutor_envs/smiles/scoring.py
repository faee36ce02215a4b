"""Molecule scores (RDKit), the domain rewards of the SMILES environment, and a SMILES prefix filter.

Property definitions (all on the RDKit molecule of the SMILES, no hydrogens added):

* ``logp``: Wildman-Crippen logP, ``Crippen.MolLogP``.
* ``qed``: ``QED.qed`` (Bickerton et al. 2012, mean weights), in ``(0, 1)``; higher is more drug-like.
* ``sa``: synthetic accessibility (Ertl & Schuffenhauer 2009; RDKit Contrib ``sascorer``), in
  ``[1, 10]``; **higher is harder** to make.
* ``ring_penalty``: ``-(L - 6)`` where ``L`` is the size of the largest ring of RDKit's ring
  perception (``GetRingInfo().AtomRings()``) if ``L > 6``, else 0. **Always <= 0.**
* ``plogp``: penalised logP = ``logp - sa + ring_penalty`` (Gomez-Bombarelli/Kusner/JT-VAE's
  "logP - SA - cycle"; unnormalised). Since ``ring_penalty <= 0``, adding it is the usual
  subtraction of the cycle size excess.

Invalid input (unparsable, empty, non-string, anything RDKit raises on) is never an exception:
it gets ``valid = False`` and the finite values of :data:`INVALID_VALUES`, chosen so that
``plogp == logp - sa + ring_penalty`` also holds for them (``0 - 10 + 0 = -10``).
"""

from __future__ import annotations

import atexit
import importlib
import math
import os
import re
import sys
import warnings
from collections import OrderedDict
from types import ModuleType
from typing import Any, Callable, Iterable, Sequence

import numpy as np
from rdkit import Chem, RDConfig, RDLogger
from rdkit.Chem import QED, Crippen

from .tokenizer import BOND_TOKENS, Vocabulary, is_atom_token, is_ring_bond_token, try_tokenize

# Every failed parse would print to stderr; an RL run makes millions of them.
RDLogger.DisableLog("rdApp.*")

PROPERTIES: tuple[str, ...] = ("logp", "qed", "sa", "ring_penalty", "plogp")
INVALID_VALUES: dict[str, float] = {"logp": 0.0, "qed": 0.0, "sa": 10.0, "ring_penalty": 0.0, "plogp": -10.0}

# ---- paper preset constants (Jaques et al. 2017, the authors' SMILES code: smiles_tutor.py and
# the reward_values of rl_tutor_train.py) ----------------------------------------------------------
PAPER_REWARD_SCALER = 0.35
"""The paper's ``reward_scaler``: the domain reward is multiplied by it, i.e. ``1/c``. An env
using the per-step reward ``log p_prior(a|s) + r_domain / c`` reproduces the authors with
``c = PAPER_C``."""
PAPER_C = 1.0 / PAPER_REWARD_SCALER
PAPER_WEIGHTS = {"logp": 3.0, "ring_penalty": 5.0, "qed": 40.0, "sa": -2.0}
PAPER_VALID_PREFIX_BONUS = 5.0
PAPER_END_VALID_BONUS = 600.0
PAPER_SHORT_BELOW = 19  # training_data_min of the authors' ZINC set
PAPER_SHORT_PENALTY = -200.0
PAPER_SHORTISH_BELOW = 45.82 - 2 * 9.37  # mean - 2 std of the authors' ZINC lengths = 27.08
PAPER_SHORTISH_PENALTY = -25.0


# ------------------------------------------------------------------------------------------------
# SA score import
# ------------------------------------------------------------------------------------------------

_SASCORER: ModuleType | None = None


def load_sascorer() -> ModuleType:
    """RDKit Contrib's ``sascorer`` module (imported once, fragment table loaded once).

    :raises ImportError: if this RDKit build ships without ``Contrib/SA_Score``.
    """
    global _SASCORER
    if _SASCORER is not None:
        return _SASCORER
    mod: ModuleType | None = None
    try:  # some builds make Contrib importable as a package
        mod = importlib.import_module("rdkit.Contrib.SA_Score.sascorer")
    except Exception:
        path = os.path.join(RDConfig.RDContribDir, "SA_Score")
        if not os.path.isfile(os.path.join(path, "sascorer.py")):
            raise ImportError(
                f"RDKit's SA score (Contrib/SA_Score/sascorer.py) is missing: looked in {path}. "
                "Install an RDKit wheel or conda build that ships the Contrib folder (pip's `rdkit` does)."
            ) from None
        if path not in sys.path:
            sys.path.append(path)
        mod = importlib.import_module("sascorer")
    if getattr(mod, "_fscores", None) is None:
        mod.readFragmentScores()  # load the 4 MB table now rather than inside the first RL step
    _SASCORER = mod
    return mod


# ------------------------------------------------------------------------------------------------
# Single-molecule helpers
# ------------------------------------------------------------------------------------------------


def largest_ring_size(mol: Chem.Mol) -> int:
    """Atoms in the largest ring of RDKit's ring perception (0 without rings)."""
    rings = mol.GetRingInfo().AtomRings()
    return max((len(r) for r in rings), default=0)


def ring_penalty(mol: Chem.Mol) -> float:
    """``-(largest ring size - 6)`` if the largest ring has more than 6 atoms, else 0 (always <= 0)."""
    size = largest_ring_size(mol)
    return -float(size - 6) if size > 6 else 0.0


_WHITESPACE = re.compile(r"\s")


def parse_smiles(smiles: Any) -> Chem.Mol | None:
    """RDKit molecule of a SMILES string, or ``None`` if invalid, empty or not a string (never raises).

    A string holding whitespace is invalid: RDKit would silently read what follows the first
    blank as a molecule name (``"CC O"`` would be ethane).
    """
    if not isinstance(smiles, str) or not smiles or _WHITESPACE.search(smiles):
        return None
    try:
        mol = Chem.MolFromSmiles(smiles)
    except Exception:
        return None
    if mol is None or mol.GetNumAtoms() == 0:
        return None
    return mol


# ------------------------------------------------------------------------------------------------
# Syntactic prefix filter
# ------------------------------------------------------------------------------------------------


def _syntax_ok(tokens: Sequence[str]) -> bool:
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
        return _syntax_ok(toks)
    return _syntax_ok(list(smiles_or_tokens))


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


# ------------------------------------------------------------------------------------------------
# Batched, cached scorer
# ------------------------------------------------------------------------------------------------


class _LRU(OrderedDict):
    """Dict with least-recently-used eviction beyond ``maxsize`` entries (``None``: unbounded)."""

    def __init__(self, maxsize: int | None) -> None:
        super().__init__()
        self.maxsize = maxsize

    def lookup(self, key: Any, default: Any = None) -> Any:
        try:
            value = self[key]
        except KeyError:
            return default
        self.move_to_end(key)
        return value

    def store(self, key: Any, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        if self.maxsize is not None and len(self) > self.maxsize:
            self.popitem(last=False)


_NAN4 = (math.nan, math.nan, math.nan, math.nan)
_BASE = ("logp", "qed", "sa", "ring_penalty")  # cached per molecule; plogp is derived
_INVALID = object()  # raw-cache marker for a string RDKit rejected


# ------------------------------------------------------------------------------------------------
# Scoring in a worker process (the SMILES env overlaps it with the prior's forward)
# ------------------------------------------------------------------------------------------------

_WORKER_SCORER: "MoleculeScorer | None" = None
_POOLS: dict[int, Any] = {}


def _score_in_worker(smiles: list[str]) -> list[tuple[str, str | None, int, tuple[float, ...] | None]]:
    """``(string, canonical or None, token length, base properties or None)`` of each string (runs in a worker)."""
    global _WORKER_SCORER
    if _WORKER_SCORER is None:
        _WORKER_SCORER = MoleculeScorer(cache_size=10_000)
    scorer = _WORKER_SCORER
    out = []
    for s in smiles:
        mols: dict[str, Chem.Mol] = {}
        canon, length = scorer._lookup_raw(s, mols)
        props = scorer._compute(canon, mols.get(canon), set(_BASE), _NAN4) if canon is not None else None
        out.append((s, canon, int(length), props))
    return out


def scoring_pool(workers: int):
    """A process pool of ``workers`` RDKit scorers, shared by every env of this process (created once)."""
    if workers not in _POOLS:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # fork where there is one (as torch's DataLoader does): a spawned worker would re-run the user's
        # main script, which breaks every script without an ``if __name__ == "__main__"`` guard. The
        # worker runs RDKit only, never torch, so the parent's torch thread pools do not matter to it.
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        if not _POOLS:
            atexit.register(shutdown_scoring_pools)  # before interpreter teardown, which the pool's threads outlive
        _POOLS[workers] = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(method))
    return _POOLS[workers]


def shutdown_scoring_pools() -> None:
    """Stop the scoring workers (at exit, or to free the processes early)."""
    while _POOLS:
        _, pool = _POOLS.popitem()
        pool.shutdown(wait=True, cancel_futures=True)


class MoleculeScorer:
    """Batched molecule properties with two caches.

    * raw cache: input string -> canonical SMILES (or "invalid") and token length, so a repeated
      string costs one dict lookup, not a parse;
    * property cache: canonical SMILES -> its properties. A molecule seen for the first time gets
      all four base properties at once, whatever was asked: in the env an episode's end asks for the
      objective's property and then for every property (``info``), and one pass needs one parse and
      one Crippen logP (QED computes it too) instead of two of each.

    Before any RDKit call a string is checked by the syntactic prefix filter, which rejects most
    unfinished SMILES prefixes for a few microseconds.

    :param cache_size: entries of each LRU cache (``None``: unbounded); both caches full at the
        default 500,000 hold about 200 MB.
    """

    def __init__(self, cache_size: int | None = 500_000) -> None:
        self._raw: _LRU = _LRU(cache_size)
        self._props: _LRU = _LRU(cache_size)
        self._pending: list[Any] = []  # futures of prefetch() not yet absorbed
        self.stats: dict[str, int] = dict.fromkeys(
            ("raw_hits", "raw_misses", "syntax_rejects", "parses", "prop_hits", "prop_misses", "errors"), 0
        )
        self.last_errors: list[str] = []  # a few recent descriptor errors, for diagnosis

    # ---- canonicalisation -------------------------------------------------------------------
    def _lookup_raw(self, s: Any, mols: dict[str, Chem.Mol] | None = None) -> tuple[str | None, int]:
        """(canonical SMILES or None, token length) of one input, via the raw cache."""
        if not isinstance(s, str):
            return None, 0
        hit = self._raw.lookup(s)
        if hit is not None:
            self.stats["raw_hits"] += 1
            canon, length = hit
            return (None if canon is _INVALID else canon), length
        self.stats["raw_misses"] += 1
        toks = try_tokenize(s)
        if toks is not None and not _syntax_ok(toks):
            # Certainly invalid and cheap to re-derive: not cached, so junk prefixes cannot evict
            # molecules from the cache.
            self.stats["syntax_rejects"] += 1
            return None, len(toks)
        length = len(toks) if toks is not None else len(s)
        self.stats["parses"] += 1
        mol = parse_smiles(s)
        canon: str | None = None
        if mol is not None:
            try:
                canon = Chem.MolToSmiles(mol)
            except Exception as exc:
                self._error(s, "MolToSmiles", exc)
        if canon is not None and mols is not None:
            mols[canon] = mol
        self._raw.store(s, (_INVALID if canon is None else canon, length))
        return canon, length

    def canonical(self, smiles: Any) -> str | None:
        """Canonical SMILES of one input, or ``None`` if invalid (cached, never raises)."""
        self._drain()
        return self._lookup_raw(smiles)[0]

    def canonical_batch(self, smiles: Iterable[Any]) -> list[str | None]:
        """:meth:`canonical` of each input."""
        self._drain()
        return [self._lookup_raw(s)[0] for s in smiles]

    # ---- asynchronous scoring ---------------------------------------------------------------
    def prefetch(self, smiles: Sequence[Any], workers: int = 1) -> None:
        """Start scoring ``smiles`` in a worker process; the next call that needs them waits for the results.

        Only strings this scorer has not seen are sent; results fill the same caches a direct call
        would, so answers are identical with or without prefetching.

        :param smiles: strings (e.g. the molecules that finish at this env step).
        :param workers: size of the (process-wide, shared) pool.
        """
        fresh = [s for s in dict.fromkeys(smiles) if isinstance(s, str) and self._raw.lookup(s) is None]
        if fresh:
            self._pending.append(scoring_pool(workers).submit(_score_in_worker, fresh))

    def _drain(self) -> None:
        """Absorb the results of every pending :meth:`prefetch` into the caches."""
        while self._pending:
            for s, canon, length, props in self._pending.pop(0).result():
                if self._raw.lookup(s) is None:
                    self._raw.store(s, (_INVALID if canon is None else canon, length))
                if canon is not None and props is not None and self._props.lookup(canon) is None:
                    self._props.store(canon, props)

    def mol(self, smiles: Any) -> Chem.Mol | None:
        """A fresh RDKit molecule of the canonical form of ``smiles`` (``None`` if invalid)."""
        canon = self.canonical(smiles)
        return None if canon is None else parse_smiles(canon)

    # ---- properties -------------------------------------------------------------------------
    def _error(self, smiles: str, what: str, exc: BaseException) -> None:
        self.stats["errors"] += 1
        if len(self.last_errors) < 20:
            self.last_errors.append(f"{what} failed on {smiles!r}: {type(exc).__name__}: {exc}")

    def _compute(
        self, canon: str, mol: Chem.Mol | None, need: set[str], have: tuple[float, ...]
    ) -> tuple[float, ...]:
        """Fill the missing properties in ``need`` of one valid molecule."""
        values = list(have)
        if mol is None:
            mol = parse_smiles(canon)
        if mol is None:  # a canonical SMILES RDKit cannot re-read: rare, but never raise
            self._error(canon, "re-parse of canonical SMILES", ValueError("MolFromSmiles returned None"))
            return tuple(INVALID_VALUES[k] if math.isnan(v) else v for k, v in zip(_BASE, values))
        qed_props = None
        if "qed" in need and math.isnan(values[1]):
            try:
                qed_props = QED.properties(mol)
                values[1] = float(QED.qed(mol, qedProperties=qed_props))
            except Exception as exc:
                self._error(canon, "QED", exc)
                values[1] = INVALID_VALUES["qed"]
        if "logp" in need and math.isnan(values[0]):
            try:
                # QED's ALOGP is Crippen logP of the H-stripped molecule: identical unless the
                # molecule holds explicit hydrogen atoms, so reuse it (saves ~0.4 ms) only then.
                if qed_props is not None and all(a.GetAtomicNum() != 1 for a in mol.GetAtoms()):
                    values[0] = float(qed_props.ALOGP)
                else:
                    values[0] = float(Crippen.MolLogP(mol))
            except Exception as exc:
                self._error(canon, "MolLogP", exc)
                values[0] = INVALID_VALUES["logp"]
        if "sa" in need and math.isnan(values[2]):
            try:
                sa = load_sascorer().calculateScore(mol)
                values[2] = float(sa) if sa is not None else INVALID_VALUES["sa"]
            except Exception as exc:
                self._error(canon, "SA score", exc)
                values[2] = INVALID_VALUES["sa"]
        if "ring_penalty" in need and math.isnan(values[3]):
            try:
                values[3] = ring_penalty(mol)
            except Exception as exc:
                self._error(canon, "ring perception", exc)
                values[3] = INVALID_VALUES["ring_penalty"]
        for i, v in enumerate(values):  # descriptors of absurd molecules can overflow
            if not math.isnan(v) and not math.isfinite(v):
                values[i] = INVALID_VALUES[_BASE[i]]
        return tuple(values)

    def score(self, smiles: Sequence[Any], properties: Iterable[str] = PROPERTIES) -> dict[str, np.ndarray]:
        """Properties of a batch of SMILES (any strings; never raises on bad input).

        :param smiles: SMILES strings (raw, not necessarily canonical; duplicates are fine).
        :param properties: subset of :data:`PROPERTIES` to compute (the rest are returned as NaN).
        :returns: ``valid`` (bool), ``length`` (int64, SMILES tokens of the raw string; characters
            if it cannot be tokenized), and one float64 array per property in :data:`PROPERTIES`;
            invalid entries hold :data:`INVALID_VALUES`.
        """
        want = set(properties)
        unknown = want - set(PROPERTIES)
        if unknown:
            raise ValueError(f"unknown properties {sorted(unknown)}; choose from {PROPERTIES}")
        need = set(_BASE)  # computed together (see the class docstring)
        idx_need = list(range(len(_BASE)))

        self._drain()
        n = len(smiles)
        valid = np.zeros(n, dtype=bool)
        length = np.zeros(n, dtype=np.int64)
        base = np.full((n, 4), np.nan)
        mols: dict[str, Chem.Mol] = {}  # molecules parsed in this batch, to avoid a second parse
        for j, s in enumerate(smiles):
            canon, length[j] = self._lookup_raw(s, mols)
            if canon is None:
                continue
            valid[j] = True
            have = self._props.lookup(canon)
            if have is None:
                have = _NAN4
            if any(math.isnan(have[i]) for i in idx_need):
                self.stats["prop_misses"] += 1
                have = self._compute(canon, mols.get(canon), need, have)
                self._props.store(canon, have)
            else:
                self.stats["prop_hits"] += 1
            base[j] = have

        out: dict[str, np.ndarray] = {"valid": valid, "length": length}
        for i, k in enumerate(_BASE):
            out[k] = np.where(valid, base[:, i], INVALID_VALUES[k]) if k in want else np.full(n, np.nan)
        if "plogp" in want:
            plogp = base[:, 0] - base[:, 2] + base[:, 3]
            out["plogp"] = np.where(valid, plogp, INVALID_VALUES["plogp"])
        else:
            out["plogp"] = np.full(n, np.nan)
        return out

    def cache_info(self) -> dict[str, int]:
        """Counters (hits, misses, parses, syntax rejects, errors) and current cache sizes."""
        return {**self.stats, "raw_cache_size": len(self._raw), "prop_cache_size": len(self._props)}

    def clear_cache(self) -> None:
        """Empty both caches and reset the counters."""
        self._raw.clear()
        self._props.clear()
        for k in self.stats:
            self.stats[k] = 0
        self.last_errors.clear()


# ------------------------------------------------------------------------------------------------
# Objectives (domain rewards)
# ------------------------------------------------------------------------------------------------


class ObjectiveError(ValueError):
    """A user objective raised or returned a non-finite value (names the objective and SMILES)."""


class Objective:
    """A domain reward over SMILES strings.

    * :meth:`score_final`: the domain reward of the step that ends an episode, given the final
      SMILES (END excluded);
    * :meth:`score_prefix`: the per-step shaping reward of a non-final step, given the prefix
      generated so far *including* that step's token (zeros unless :attr:`has_prefix_shaping`).

    Both take a batch and return float64 arrays; both accept any string, invalid ones included.
    """

    name: str = "objective"
    has_prefix_shaping: bool = False
    invalid_value: float = 0.0

    def __init__(self, scorer: MoleculeScorer | None = None) -> None:
        self.scorer = scorer if scorer is not None else MoleculeScorer()

    def score_final(self, smiles: Sequence[str]) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def score_prefix(self, smiles: Sequence[str]) -> np.ndarray:
        """Shaping reward of unfinished prefixes: zeros for objectives without shaping."""
        return np.zeros(len(smiles), dtype=np.float64)

    def __call__(self, smiles: Sequence[str]) -> np.ndarray:
        return self.score_final(smiles)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def paper_length_penalty(length: np.ndarray | int) -> np.ndarray:
    """The authors' length penalty: -200 below 19, -25 below 27.08 (i.e. 19..27), else 0.

    :param length: SMILES length(s), END excluded (characters by default, see :class:`PaperObjective`).
    """
    n = np.asarray(length, dtype=np.float64)
    shortish = np.where(n < PAPER_SHORTISH_BELOW, PAPER_SHORTISH_PENALTY, 0.0)
    return np.where(n < PAPER_SHORT_BELOW, PAPER_SHORT_PENALTY, shortish)


class PaperObjective(Objective):
    """The molecule reward of Sequence Tutor's SMILES code (``SmilesTutor.collect_domain_reward``).

    ``score(m) = 3 logP + 5 ring_penalty + 40 QED - 2 SA``

    * non-final step, prefix valid: ``5 + score(prefix)``; prefix invalid: 0;
    * final step, valid: ``score + length_penalty + 600``; invalid: ``length_penalty``.

    Differences from the authors' code, on purpose: (1) the authors scored the prefix *before*
    the current token (one step late: prefixes of length 0..T-1 of a T-token molecule, so the
    complete molecule never earned the prefix bonus); here the env passes the prefix including the
    current token (lengths 1..T). To replicate them exactly, pass the previous prefix instead.
    (2) Their ring penalty used networkx's cycle basis, here RDKit's ring perception (equal on
    ordinary molecules). (3) Their length limit (120 tokens) also counted as an end: that is the
    environment's call, which should then use ``score_final`` on the truncated string.
    (4) ``any_invalid_penalty`` (-5) and ``repeated_C_penalty`` (-150) existed in their reward
    values but were not used by this reward, so they are absent here.

    Length unit: the authors' model was character-level (35 characters), and the thresholds 19 and
    27.08 (= 45.82 - 2 x 9.37) are character statistics of their ZINC set, so by default the
    length is ``len(smiles)`` in characters, END excluded. ``length_unit="tokens"`` counts regex
    tokens instead (``Cl``, ``[nH]`` count once); on MOSES the two differ little (mean 35.9 chars,
    35.4 tokens).

    The env should weight this reward with ``1/c = PAPER_REWARD_SCALER = 0.35``.

    :param scorer: shared :class:`MoleculeScorer` (a fresh one if ``None``).
    :param length_unit: ``"chars"`` (default) or ``"tokens"``.
    """

    name = "paper"
    has_prefix_shaping = True
    invalid_value = 0.0  # plus the length penalty, at the end

    def __init__(self, scorer: MoleculeScorer | None = None, length_unit: str = "chars") -> None:
        super().__init__(scorer)
        if length_unit not in ("chars", "tokens"):
            raise ValueError(f"length_unit must be 'chars' or 'tokens', got {length_unit!r}")
        self.length_unit = length_unit

    def molecule_score(self, smiles: Sequence[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """``(score, scorer output)``; score is 0 for invalid molecules."""
        s = self.scorer.score(smiles, ("logp", "qed", "sa", "ring_penalty"))
        w = PAPER_WEIGHTS
        score = sum(w[k] * s[k] for k in ("logp", "ring_penalty", "qed", "sa"))
        return np.where(s["valid"], score, 0.0), s

    def _lengths(self, smiles: Sequence[str], scored: dict[str, np.ndarray]) -> np.ndarray:
        if self.length_unit == "tokens":
            return scored["length"]
        return np.array([len(x) if isinstance(x, str) else 0 for x in smiles], dtype=np.int64)

    def score_final(self, smiles: Sequence[str]) -> np.ndarray:
        score, s = self.molecule_score(smiles)
        penalty = paper_length_penalty(self._lengths(smiles, s))
        return np.where(s["valid"], score + penalty + PAPER_END_VALID_BONUS, penalty)

    def score_prefix(self, smiles: Sequence[str]) -> np.ndarray:
        score, s = self.molecule_score(smiles)
        return np.where(s["valid"], PAPER_VALID_PREFIX_BONUS + score, 0.0)


class PropertyObjective(Objective):
    """One scorer property of the final molecule, ``invalid_value`` for an invalid one.

    :param prop: a name in :data:`PROPERTIES`.
    :param invalid_value: reward of an invalid final SMILES.
    """

    def __init__(
        self, prop: str, invalid_value: float, scorer: MoleculeScorer | None = None, name: str | None = None
    ) -> None:
        super().__init__(scorer)
        if prop not in PROPERTIES:
            raise ValueError(f"unknown property {prop!r}; choose from {PROPERTIES}")
        self.prop = prop
        self.invalid_value = float(invalid_value)
        self.name = name or prop

    def score_final(self, smiles: Sequence[str]) -> np.ndarray:
        s = self.scorer.score(smiles, (self.prop,))
        return np.where(s["valid"], s[self.prop], self.invalid_value)


class CallableObjective(Objective):
    """A user function ``f(mol) -> float`` of the RDKit molecule of the final SMILES.

    ``f`` is called once per canonical molecule (results are cached) and never for an invalid
    SMILES, which gets ``invalid_value``. If ``f`` raises or returns NaN/inf or a non-number, what
    happens is ``on_error``'s choice: ``"raise"`` (default) raises :class:`ObjectiveError` naming
    the objective, the SMILES and the cause; ``"invalid"`` scores that molecule as invalid
    (``invalid_value``), counts it in :attr:`error_count`, keeps the first messages in
    :attr:`errors`, marks it in :attr:`last_errors` and warns once.

    :param fn: the function.
    :param invalid_value: reward of an invalid final SMILES.
    :param name: display name (default ``fn.__name__``).
    :param cache_size: entries of the per-molecule value cache.
    :param on_error: ``"raise"`` or ``"invalid"``.
    """

    ON_ERROR = ("raise", "invalid")
    KEPT_ERRORS = 10

    def __init__(
        self,
        fn: Callable[[Chem.Mol], float],
        invalid_value: float = 0.0,
        scorer: MoleculeScorer | None = None,
        name: str | None = None,
        cache_size: int | None = 500_000,
        on_error: str = "raise",
    ) -> None:
        super().__init__(scorer)
        if not callable(fn):
            raise TypeError(f"objective must be callable, got {fn!r}")
        if on_error not in self.ON_ERROR:
            raise ValueError(f"objective_errors must be one of {self.ON_ERROR}, got {on_error!r}")
        self.fn = fn
        self.invalid_value = float(invalid_value)
        self.name = name or getattr(fn, "__name__", None) or repr(fn)
        self.on_error = on_error
        self.error_count = 0
        self.errors: list[str] = []
        self.last_errors = np.zeros(0, dtype=bool)
        self._cache: _LRU = _LRU(cache_size)

    def score_final(self, smiles: Sequence[str]) -> np.ndarray:
        out = np.full(len(smiles), self.invalid_value, dtype=np.float64)
        failed = np.zeros(len(smiles), dtype=bool)
        for j, s in enumerate(smiles):
            canon = self.scorer.canonical(s)
            if canon is None:
                continue
            v = self._cache.lookup(canon)
            if v is None:
                try:
                    v = self._evaluate(s, canon)
                except ObjectiveError as exc:
                    if self.on_error == "raise":
                        raise
                    failed[j] = True
                    self._count(str(exc))
                    continue
                self._cache.store(canon, v)
            out[j] = v
        self.last_errors = failed
        return out

    def _count(self, message: str) -> None:
        if self.error_count == 0:
            warnings.warn(f"{message}; scored as invalid ({self.invalid_value:g}) and counted, as "
                          "objective_errors='invalid' asks (later errors are counted silently)", stacklevel=4)
        self.error_count += 1
        if len(self.errors) < self.KEPT_ERRORS:
            self.errors.append(message)

    def _evaluate(self, raw: str, canon: str) -> float:
        mol = parse_smiles(canon)
        where = f"objective {self.name!r} on SMILES {raw!r}"
        if canon != raw:
            where += f" (canonical {canon!r})"
        if mol is None:
            raise ObjectiveError(f"{where}: RDKit cannot re-read the canonical SMILES")
        try:
            v = self.fn(mol)
        except Exception as exc:
            raise ObjectiveError(f"{where} raised {type(exc).__name__}: {exc}") from exc
        try:
            fv = float(v)
        except (TypeError, ValueError) as exc:
            raise ObjectiveError(f"{where} returned {v!r}, which is not a number") from exc
        if not math.isfinite(fv):
            raise ObjectiveError(f"{where} returned {fv}, not a finite number")
        return fv


OBJECTIVE_PRESETS = ("paper", "qed", "plogp")
GUACAMOL_PREFIX = "guacamol:"
"""``make_objective("guacamol:<name>")`` builds a GuacaMol/PMO oracle (:mod:`.guacamol`)."""


def make_objective(
    name_or_callable: str | Callable[[Chem.Mol], float] | Objective,
    scorer: MoleculeScorer | None = None,
    **kwargs: Any,
) -> Objective:
    """Build a domain objective.

    :param name_or_callable: ``"paper"`` (:class:`PaperObjective`), ``"qed"`` (QED, 0 if
        invalid), ``"plogp"`` (penalised logP, -10 if invalid), ``"guacamol:<name>"`` (a GuacaMol/PMO
        oracle in ``[0, 1]``, 0 if invalid; names in :data:`.guacamol.GUACAMOL_OBJECTIVES`), a
        callable ``f(mol) -> float`` (:class:`CallableObjective`), or an :class:`Objective`
        (returned as is).
    :param scorer: a shared :class:`MoleculeScorer` (its caches then serve several objectives).
    :param kwargs: passed to the objective's constructor (e.g. ``invalid_value``, ``length_unit``).
    :raises ValueError: for an unknown preset or oracle name (the message lists the valid ones).
    """
    if isinstance(name_or_callable, Objective):
        return name_or_callable
    if isinstance(name_or_callable, str):
        key = name_or_callable.strip().lower()
        if key == "paper":
            return PaperObjective(scorer=scorer, **kwargs)
        if key == "qed":
            kwargs.setdefault("invalid_value", INVALID_VALUES["qed"])  # 0: the infimum of QED (valid ones are > 0)
            return PropertyObjective("qed", scorer=scorer, **kwargs)
        if key == "plogp":
            # -10: below every molecule of a 20k sample of the MOSES test set (min -7.9, 0.1 % quantile
            # -4.6); valid molecules with big macrocycles can still score lower (each ring atom beyond 6 costs 1).
            kwargs.setdefault("invalid_value", INVALID_VALUES["plogp"])
            return PropertyObjective("plogp", scorer=scorer, **kwargs)
        if key.startswith(GUACAMOL_PREFIX):
            from .guacamol import guacamol_objective  # imported here: it imports this module

            return guacamol_objective(key[len(GUACAMOL_PREFIX):], scorer=scorer, **kwargs)
        raise ValueError(
            f"unknown objective {name_or_callable!r}; valid names: {', '.join(OBJECTIVE_PRESETS)}, "
            f"'{GUACAMOL_PREFIX}<name>' (GuacaMol/PMO oracles), or pass a callable f(mol) -> float"
        )
    if callable(name_or_callable):
        return CallableObjective(name_or_callable, scorer=scorer, **kwargs)
    raise TypeError(
        f"objective must be a preset name, a callable or an Objective, got {type(name_or_callable).__name__}"
    )
