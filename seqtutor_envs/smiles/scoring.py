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
import multiprocessing
import os
import re
import sys
from collections.abc import Iterable, MutableMapping, Sequence
from types import ModuleType
from typing import Any

import cachetools
import numpy as np
from rdkit import Chem, RDConfig, RDLogger
from rdkit.Chem import QED, Crippen, FilterCatalog, MolSurf, rdMolDescriptors

from ..child_processes import bind_to_parent
from .syntax import syntax_ok
from .tokenizer import try_tokenize

# Every failed parse would print to stderr; an RL run makes millions of them.
RDLogger.DisableLog("rdApp.*")

PROPERTIES: tuple[str, ...] = ("logp", "qed", "sa", "ring_penalty", "plogp")
INVALID_VALUES: dict[str, float] = {"logp": 0.0, "qed": 0.0, "sa": 10.0, "ring_penalty": 0.0, "plogp": -10.0}

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
# QED with its structural alerts matched in one call
# ------------------------------------------------------------------------------------------------

_ALERT_CATALOG: Any = None


def _alert_catalog() -> Any:
    """RDKit's QED structural alerts (``QED.StructuralAlerts``, the same query molecules) as one FilterCatalog."""
    global _ALERT_CATALOG
    if _ALERT_CATALOG is None:
        catalog = FilterCatalog.FilterCatalog()
        for i, alert in enumerate(QED.StructuralAlerts):
            # minCount 1: an entry matches when the alert occurs at least once, as HasSubstructMatch
            matcher = FilterCatalog.SmartsMatcher(f"alert {i}", alert, 1)
            catalog.AddEntry(FilterCatalog.FilterCatalogEntry(f"alert {i}", matcher))
        _ALERT_CATALOG = catalog
    return _ALERT_CATALOG


def qed_properties(mol: Chem.Mol) -> Any:
    """``QED.properties(mol)``, equal field by field, with the structural alerts counted by one catalog call.

    RDKit's function counts the alerts in a Python loop of 116 ``HasSubstructMatch`` calls (about 40 %
    of its time on the prior's molecules); RDKit's FilterCatalog runs the same 116 substructure queries
    in C++ and returns the entries that match, so ``ALERTS`` is the same count. The other seven
    properties are RDKit's expressions, on RDKit's own patterns. A test checks every field against
    ``QED.properties`` (and ``QED.qed`` bit for bit) on the test fixture and alert-rich edge cases;
    ``benchmarks/smiles_env_speed.py`` counts differences on the prior's molecules.
    """
    if mol is None:
        raise ValueError("You need to provide a mol argument.")
    mol = Chem.RemoveHs(mol)
    return QED.QEDproperties(
        MW=rdMolDescriptors._CalcMolWt(mol),
        ALOGP=Crippen.MolLogP(mol),
        HBA=sum(len(mol.GetSubstructMatches(pattern)) for pattern in QED.Acceptors if mol.HasSubstructMatch(pattern)),
        HBD=rdMolDescriptors.CalcNumHBD(mol),
        PSA=MolSurf.TPSA(mol),
        ROTB=rdMolDescriptors.CalcNumRotatableBonds(mol, rdMolDescriptors.NumRotatableBondsOptions.Strict),
        AROM=len(Chem.GetSSSR(Chem.DeleteSubstructs(Chem.Mol(mol), QED.AliphaticRings))),
        ALERTS=len(_alert_catalog().GetMatches(mol)),
    )


def qed(mol: Chem.Mol) -> float:
    """``QED.qed(mol)`` (mean weights), bit for bit, from :func:`qed_properties`."""
    return QED.qed(mol, qedProperties=qed_properties(mol))


# ------------------------------------------------------------------------------------------------
# Batched, cached scorer
# ------------------------------------------------------------------------------------------------


def LRUCache(maxsize: int | None) -> MutableMapping[Any, Any]:
    """A least-recently-used cache of ``maxsize`` entries (cachetools'), or a plain dict when ``maxsize`` is None."""
    return cachetools.LRUCache(maxsize) if maxsize is not None else {}


_NAN4 = (math.nan, math.nan, math.nan, math.nan)
_BASE = ("logp", "qed", "sa", "ring_penalty")  # cached per molecule; plogp is derived
_PLOGP_PARTS = ("logp", "sa", "ring_penalty")  # plogp = logP - SA + ring penalty
_INVALID = object()  # raw-cache marker for a string RDKit rejected


# ------------------------------------------------------------------------------------------------
# Scoring in a worker process (the SMILES env overlaps it with the prior's forward)
# ------------------------------------------------------------------------------------------------

_WORKER_SCORER: MoleculeScorer | None = None
_POOLS: dict[int, Any] = {}


def needed_base(properties: Iterable[str]) -> set[str]:
    """The cached base properties that ``properties`` take (plogp: logP, SA and the ring penalty)."""
    want = set(properties)
    return {k for k in want if k in _BASE} | (set(_PLOGP_PARTS) if "plogp" in want else set())


def _score_in_worker(
    smiles: list[str], need: tuple[str, ...] = _BASE
) -> list[tuple[str, str | None, int, tuple[float, ...] | None]]:
    """``(string, canonical or None, token length, base properties or None)`` of each string (runs in a worker)."""
    global _WORKER_SCORER
    if _WORKER_SCORER is None:
        _WORKER_SCORER = MoleculeScorer(cache_size=10_000)
    scorer = _WORKER_SCORER
    out = []
    for s in smiles:
        mols: dict[str, Chem.Mol] = {}
        canon, length = scorer._lookup_raw(s, mols)
        props = scorer._compute(canon, mols.get(canon), set(need), _NAN4) if canon is not None and need else None
        out.append((s, canon, int(length), props))
    return out


def scoring_pool(workers: int):
    """A process pool of ``workers`` RDKit scorers, shared by every env of this process (created once)."""
    if workers not in _POOLS:
        from concurrent.futures import ProcessPoolExecutor  # 44 ms, only where a pool is made

        # fork where there is one (as torch's DataLoader does): a spawned worker would re-run the user's
        # main script, which breaks every script without an ``if __name__ == "__main__"`` guard. The
        # worker runs RDKit only, never torch, so the parent's torch thread pools do not matter to it.
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        if not _POOLS:
            atexit.register(shutdown_scoring_pools)  # before interpreter teardown, which the pool's threads outlive
        # Each worker dies with this process, however it ends (kill -9 included): see child_processes.
        _POOLS[workers] = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context(method),
            initializer=bind_to_parent,
            initargs=(os.getpid(),),
        )
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
    * property cache: canonical SMILES -> its properties, each computed the first time it is asked
      for (an objective that needs QED alone never pays for SA); the env asks for the objective's
      properties and those its ``info`` reports (by default the same), so a molecule is parsed once.

    Before any RDKit call a string is checked by the syntactic prefix filter, which rejects most
    unfinished SMILES prefixes for a few microseconds.

    :param cache_size: entries of each LRU cache (``None``: unbounded); both caches full at the
        default 500,000 hold about 200 MB.
    """

    def __init__(self, cache_size: int | None = 500_000) -> None:
        self._raw: MutableMapping[Any, Any] = LRUCache(cache_size)
        self._props: MutableMapping[Any, Any] = LRUCache(cache_size)
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
        hit = self._raw.get(s)
        if hit is not None:
            self.stats["raw_hits"] += 1
            cached, length = hit
            return (None if cached is _INVALID else cached), length
        self.stats["raw_misses"] += 1
        toks = try_tokenize(s)
        if toks is not None and not syntax_ok(toks):
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
        if canon is not None and mols is not None and s == canon:
            # The string is its own canonical form, so this parse *is* the canonical parse that
            # _compute would make again: the caller may reuse it (most of a prior's samples are).
            mols[canon] = mol
        self._raw[s] = (_INVALID if canon is None else canon, length)
        return canon, length

    def canonical(self, smiles: Any) -> str | None:
        """Canonical SMILES of one input, or ``None`` if invalid (cached, never raises)."""
        self._drain()
        return self._lookup_raw(smiles)[0]

    def canonical_batch(self, smiles: Iterable[Any]) -> list[str | None]:
        """:meth:`canonical` of each input."""
        self._drain()
        return [self._lookup_raw(s)[0] for s in smiles]

    def canonical_with_mols(self, smiles: Iterable[Any]) -> tuple[list[str | None], dict[str, Chem.Mol]]:
        """:meth:`canonical_batch`, and the molecules parsed on the way of the strings that were canonical
        already (canonical SMILES -> molecule), so that a caller scoring them need not parse them again."""
        self._drain()
        mols: dict[str, Chem.Mol] = {}
        return [self._lookup_raw(s, mols)[0] for s in smiles], mols

    # ---- asynchronous scoring ---------------------------------------------------------------
    def prefetch(self, smiles: Sequence[Any], workers: int = 1, properties: Iterable[str] = PROPERTIES) -> None:
        """Start scoring ``smiles`` in worker processes; the next call that needs them waits for the results.

        Only strings this scorer has not seen are sent; results fill the same caches a direct call
        would, so answers are identical with or without prefetching.

        :param smiles: strings (e.g. the molecules that finish at this env step).
        :param workers: size of the (process-wide, shared) pool; the strings are split among that many workers.
        :param properties: the properties the next call will ask for (only these are computed).
        """
        fresh = [s for s in dict.fromkeys(smiles) if isinstance(s, str) and self._raw.get(s) is None]
        if fresh:
            need = tuple(k for k in _BASE if k in needed_base(properties))
            pool = scoring_pool(workers)
            # One chunk per worker (contiguous, sizes differing by at most one), so that every worker
            # scores a share of this step's molecules: the step waits for the slowest chunk.
            for chunk in np.array_split(np.arange(len(fresh)), min(workers, len(fresh))):
                self._pending.append(pool.submit(_score_in_worker, [fresh[i] for i in chunk], need))

    def _drain(self) -> None:
        """Absorb the results of every pending :meth:`prefetch` into the caches."""
        while self._pending:
            for s, canon, length, props in self._pending.pop(0).result():
                if self._raw.get(s) is None:
                    self._raw[s] = (_INVALID if canon is None else canon, length)
                if canon is not None and props is not None:
                    have = self._props.get(canon)
                    self._props[canon] = (
                        props
                        if have is None
                        else tuple(h if not math.isnan(h) else v for h, v in zip(have, props, strict=True))
                    )

    def mol(self, smiles: Any) -> Chem.Mol | None:
        """A fresh RDKit molecule of the canonical form of ``smiles`` (``None`` if invalid)."""
        canon = self.canonical(smiles)
        return None if canon is None else parse_smiles(canon)

    # ---- properties -------------------------------------------------------------------------
    def _error(self, smiles: str, what: str, exc: BaseException) -> None:
        self.stats["errors"] += 1
        if len(self.last_errors) < 20:
            self.last_errors.append(f"{what} failed on {smiles!r}: {type(exc).__name__}: {exc}")

    def _compute(self, canon: str, mol: Chem.Mol | None, need: set[str], have: tuple[float, ...]) -> tuple[float, ...]:
        """Fill the missing properties in ``need`` of one valid molecule.

        Properties are computed on the molecule parsed from the *canonical* SMILES (``mol``: that
        parse where the caller has it, i.e. the raw string was canonical; None: parsed here), never
        on the one parsed from whichever raw string was seen first: Crippen logP sums atom
        contributions in atom order, so two atom orders of one molecule differ in the last bits,
        and the cache would make a run's figures depend on which spelling came first.
        """
        values = list(have)
        if mol is None:
            mol = parse_smiles(canon)
        if mol is None:  # a canonical SMILES RDKit cannot re-read: rare, but never raise
            self._error(canon, "re-parse of canonical SMILES", ValueError("MolFromSmiles returned None"))
            return tuple(INVALID_VALUES[k] if math.isnan(v) else v for k, v in zip(_BASE, values, strict=True))
        qed_props = None
        if "qed" in need and math.isnan(values[1]):
            try:
                qed_props = qed_properties(mol)
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
        need = needed_base(want)
        idx_need = [i for i, k in enumerate(_BASE) if k in need]

        self._drain()
        n = len(smiles)
        valid = np.zeros(n, dtype=bool)
        length = np.zeros(n, dtype=np.int64)
        base = np.full((n, 4), np.nan)
        mols: dict[str, Chem.Mol] = {}  # canonical strings parsed in this batch: no second parse
        for j, s in enumerate(smiles):
            canon, length[j] = self._lookup_raw(s, mols)
            if canon is None:
                continue
            valid[j] = True
            have = self._props.get(canon)
            if have is None:
                have = _NAN4
            if any(math.isnan(have[i]) for i in idx_need):
                self.stats["prop_misses"] += 1
                have = self._compute(canon, mols.pop(canon, None), need, have)
                self._props[canon] = have
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
