"""REINVENT's ``IdenticalMurckoScaffold`` diversity filter as an :class:`Objective` wrapper.

REINVENT (Blaschke et al. 2020; ``reinvent_scoring/scoring/diversity_filters/reinvent_core``) keeps a
memory of the good molecules it generated, grouped into buckets by Bemis-Murcko scaffold, and stops
rewarding a scaffold once its bucket is full, which pushes the agent to other chemotypes. Our own
implementation of its rules, applied to each final molecule in order:

1. the molecule's identity is its canonical SMILES without stereo (REINVENT: non-isomeric
   ``MolToSmiles``); its scaffold is ``MurckoScaffold.GetScaffoldForMol`` written as non-isomeric
   SMILES (not the generic scaffold: atom and bond types are kept; an acyclic molecule has the empty
   scaffold ``""``, one bucket for all of them);
2. a molecule already in the memory scores 0 (``penalize_repeats``, REINVENT's behaviour);
3. if its score is ``>= min_score`` it enters the memory (once) and its scaffold's bucket counts it;
4. if the bucket then holds more than ``bucket_size`` molecules it scores 0: the first
   ``bucket_size`` molecules of a scaffold keep their score, every later one scores 0.

Invalid molecules keep the wrapped objective's score and never enter the memory. Molecules below
``min_score`` pass unchanged and are not counted. Defaults are REINVENT's
(``DiversityFilterParameters``: ``minscore=0.4``, ``bucket_size=25``). The penalised score is 0, as
in REINVENT, which assumes rewards in ``[0, 1]``: with an objective that can be negative (``plogp``,
``paper``) a penalised molecule may earn *more* than before, so use it with ``[0, 1]`` objectives
(``qed``, ``guacamol:*``).

Difference from REINVENT: it parses SMILES unsanitised for the identity, so a Kekulé and an aromatic
string of the same molecule are two entries there; here both map to one canonical SMILES.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any

import numpy as np
from rdkit import Chem
from rdkit.Chem.Scaffolds import MurckoScaffold

from .objective import Objective
from .scoring import LRUCache

DEFAULT_BUCKET_SIZE = 25
DEFAULT_MIN_SCORE = 0.4
#: Zeroed molecules :meth:`DiversityFilter.take_zeroed` can return (the most recent ones).
ZEROED_KEPT = 10_000


def murcko_scaffold(mol: Chem.Mol) -> str:
    """Non-isomeric SMILES of the Bemis-Murcko scaffold of a molecule (``""`` if acyclic or on error)."""
    try:
        return Chem.MolToSmiles(MurckoScaffold.GetScaffoldForMol(mol), isomericSmiles=False)
    except Exception:  # REINVENT maps a failing scaffold to "" as well
        return ""


class DiversityFilter(Objective):
    """Zero the final score of molecules whose Murcko scaffold bucket is full (REINVENT's rules).

    The memory persists across episodes and batches until :meth:`reset`. A batch is processed in
    order, so repeats and shared scaffolds within one batch fill the buckets as if scored one by one.
    Prefix shaping (``score_prefix``) is the wrapped objective's, unfiltered.

    :param objective: the wrapped objective.
    :param bucket_size: molecules per scaffold that keep their score (REINVENT's ``bucket_size``).
    :param min_score: score from which a molecule is remembered and counted (REINVENT's ``minscore``).
    :param penalize_repeats: score 0 for a molecule already in the memory (REINVENT does).
    :param cache_size: entries of the canonical SMILES -> (identity, scaffold) cache.
    """

    def __init__(
        self,
        objective: Objective,
        bucket_size: int = DEFAULT_BUCKET_SIZE,
        min_score: float = DEFAULT_MIN_SCORE,
        penalize_repeats: bool = True,
        cache_size: int | None = 100_000,
    ) -> None:
        if not isinstance(objective, Objective):
            raise TypeError(f"DiversityFilter wraps an Objective, got {type(objective).__name__}")
        if isinstance(bucket_size, bool) or not isinstance(bucket_size, (int, np.integer)) or bucket_size < 1:
            raise ValueError(f"bucket_size must be a positive integer, got {bucket_size!r}")
        number = isinstance(min_score, (int, float)) and not isinstance(min_score, bool)
        if not number or not math.isfinite(min_score):
            raise ValueError(f"min_score must be a finite number, got {min_score!r}")
        super().__init__(objective.scorer)
        self.objective = objective
        self.bucket_size = int(bucket_size)
        self.min_score = float(min_score)
        self.penalize_repeats = bool(penalize_repeats)
        self.name = f"{objective.name}+diversity_filter"
        self.has_prefix_shaping = objective.has_prefix_shaping
        self.invalid_value = objective.invalid_value
        self._identity: MutableMapping[Any, Any] = LRUCache(cache_size)
        self.reset()

    def reset(self) -> None:
        """Empty the memory and the counters (the identity cache is kept: it is pure)."""
        self._memory: dict[str, str] = {}  # molecule identity -> scaffold
        self._buckets: Counter[str] = Counter()
        self.num_penalised_full = 0
        self.num_penalised_repeats = 0
        self._zeroed: deque[tuple[str, bool]] = deque(maxlen=ZEROED_KEPT)  # (identity, was a repeat) since take_zeroed

    def take_zeroed(self, repeats: bool = False) -> list[str]:
        """The molecules whose non-zero score the filter set to 0 since the last call, then forgets them.

        For the selective memory purge (:func:`seqtutor_envs.smiles.augment.scaffold_purge_mask`): a
        replay memory drops every entry of these molecules' scaffolds. Each is its identity (the
        non-isomeric canonical SMILES), in the order zeroed; at most the last :data:`ZEROED_KEPT`.

        :param repeats: also return molecules zeroed only for being a repeat of a remembered one
            (default: only those zeroed because their scaffold's bucket was full).
        """
        out = [key for key, repeat in self._zeroed if repeats or not repeat]
        self._zeroed.clear()
        return out

    # ---- counts ----------------------------------------------------------------------------------
    @property
    def num_scaffolds(self) -> int:
        """Distinct scaffolds in the memory."""
        return len(self._buckets)

    @property
    def num_molecules(self) -> int:
        """Distinct molecules in the memory."""
        return len(self._memory)

    @property
    def num_penalised(self) -> int:
        """Final molecules whose non-zero score the filter set to 0 (full bucket or repeat)."""
        return self.num_penalised_full + self.num_penalised_repeats

    @property
    def num_full_buckets(self) -> int:
        """Scaffolds holding at least ``bucket_size`` molecules (later ones score 0)."""
        return sum(1 for n in self._buckets.values() if n >= self.bucket_size)

    def scaffold_counts(self) -> dict[str, int]:
        """Molecules remembered per scaffold SMILES (a copy)."""
        return dict(self._buckets)

    def stats(self) -> dict[str, int]:
        """All counters in one dict (for logging)."""
        return {
            "scaffolds": self.num_scaffolds,
            "molecules": self.num_molecules,
            "full_buckets": self.num_full_buckets,
            "penalised": self.num_penalised,
            "penalised_full_bucket": self.num_penalised_full,
            "penalised_repeat": self.num_penalised_repeats,
        }

    # ---- scoring ---------------------------------------------------------------------------------
    def _identify(self, canon: str) -> tuple[str, str] | None:
        """(identity, scaffold) of a valid canonical SMILES, cached; ``None`` if RDKit fails."""
        hit = self._identity.get(canon)
        if hit is not None:
            return hit
        mol = Chem.MolFromSmiles(canon)
        if mol is None:
            return None
        out = (Chem.MolToSmiles(mol, isomericSmiles=False), murcko_scaffold(mol))
        self._identity[canon] = out
        return out

    def filter(self, smiles: Sequence[str], scores: np.ndarray) -> np.ndarray:
        """Apply the filter to given scores of final molecules (updates the memory, in order).

        :param smiles: final SMILES strings.
        :param scores: their scores under the wrapped objective.
        :returns: the filtered scores (a new float64 array).
        """
        out = np.array(scores, dtype=np.float64, copy=True)
        if out.shape != (len(smiles),):
            raise ValueError(f"expected {len(smiles)} scores, got shape {out.shape}")
        for j, canon in enumerate(self.scorer.canonical_batch(smiles)):
            if canon is None:
                continue  # invalid: keeps the objective's invalid value, never remembered
            ident = self._identify(canon)
            if ident is None:
                continue
            key, scaffold = ident
            score = out[j]
            if self.penalize_repeats and key in self._memory:
                if score != 0.0:
                    self.num_penalised_repeats += 1
                    self._zeroed.append((key, True))
                out[j] = 0.0
                continue  # REINVENT: a repeat (score now 0) is not added again
            if score >= self.min_score:
                if key not in self._memory:
                    self._memory[key] = scaffold
                    self._buckets[scaffold] += 1
                if self._buckets[scaffold] > self.bucket_size:
                    if score != 0.0:
                        self.num_penalised_full += 1
                        self._zeroed.append((key, False))
                    out[j] = 0.0
        return out

    def score_final(self, smiles: Sequence[str]) -> np.ndarray:
        """The wrapped objective's final scores, filtered (updates the memory)."""
        return self.filter(smiles, self.objective.score_final(smiles))

    def score_prefix(self, smiles: Sequence[str]) -> np.ndarray:
        """The wrapped objective's prefix shaping, unfiltered (the filter acts on final molecules)."""
        return self.objective.score_prefix(smiles)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.objective!r}, bucket_size={self.bucket_size}, "
            f"min_score={self.min_score}, penalize_repeats={self.penalize_repeats})"
        )


DIVERSITY_FILTER_KWARGS = ("bucket_size", "min_score", "penalize_repeats", "cache_size")


def apply_diversity_filter(objective: Objective, spec: bool | Mapping[str, Any] | None) -> Objective:
    """The env's ``diversity_filter`` argument applied to an objective.

    :param objective: the objective to wrap.
    :param spec: ``None``/``False`` (no filter: ``objective`` itself), ``True`` (REINVENT's defaults)
        or a dict of :class:`DiversityFilter` keyword arguments.
    :raises TypeError: for another type or an unknown key (named in the message).
    """
    if spec is None or (isinstance(spec, (bool, np.bool_)) and not spec):
        return objective
    if isinstance(spec, (bool, np.bool_)):
        return DiversityFilter(objective)
    if isinstance(spec, Mapping):
        unknown = sorted(set(spec) - set(DIVERSITY_FILTER_KWARGS))
        if unknown:
            accepted = ", ".join(DIVERSITY_FILTER_KWARGS)
            raise TypeError(f"unknown diversity_filter option(s) {unknown}; accepted: {accepted}")
        return DiversityFilter(objective, **spec)
    raise TypeError(f"diversity_filter must be None, False, True or a dict of DiversityFilter arguments, got {spec!r}")
