"""Augmented replay's chemistry: randomised SMILES of remembered molecules, and the scaffold purge.

Augmented Memory (Guo & Schwaller 2024; ``mol_opt``'s ``smiles_aug_mem``) re-reads its best
molecules as randomised, non-canonical SMILES for extra updates per oracle call: the same molecule,
another token sequence, the reward reused and the prior's likelihood recomputed (with
:class:`~seqtutor_envs.smiles.external.EpisodeEncoder` ``.episodes(strings, scores=...)``). Its
selective purge (Saturn): a molecule the diversity filter scored 0 removes every memory entry of its
Bemis-Murcko scaffold, so the memory stops pulling the policy back to a chemotype the filter closed.

Randomised SMILES come from RDKit's ``MolToRandomSmilesVect`` with an explicit seed drawn from the
caller's numpy ``Generator`` (RDKit's ``doRandom`` SMILES otherwise draw from a process-global
source), so the same generator gives the same strings.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from rdkit import Chem

from .diversity_filter import murcko_scaffold
from .scoring import parse_smiles

#: Random strings RDKit writes per molecule before one the predicate accepts is given up on.
DEFAULT_ATTEMPTS = 8


@dataclass
class RandomizedSmiles:
    """One randomised SMILES per input that has one the predicate accepts."""

    smiles: list[str]  # the randomised strings
    source: np.ndarray  # (n,) int64: each one's index in the input list
    invalid: int  # inputs RDKit cannot read
    fallback: int  # inputs with no accepted non-canonical random string: the input string itself is used
    failed: int  # inputs with no accepted string at all (neither random nor the input): left out


def randomized_smiles(
    smiles: Sequence[str],
    rng: np.random.Generator,
    accept: Callable[[str], bool] | None = None,
    attempts: int = DEFAULT_ATTEMPTS,
) -> RandomizedSmiles:
    """A randomised non-canonical SMILES of each molecule, restricted to strings ``accept`` takes.

    Stereochemistry is not written (the SMILES prior writes none). For each molecule RDKit writes
    ``attempts`` random strings from one seed drawn from ``rng``; the first that is not the canonical
    SMILES (small molecules often come out canonical) and that ``accept`` takes (e.g.
    :meth:`EpisodeEncoder.encodable`: only tokens of the prior's vocabulary, at most ``max_length`` of
    them -- random atom orders open more rings at once, so may need ring labels the vocabulary lacks)
    is kept; if none is, the input string itself, if accepted (as Augmented Memory falls back), else
    the molecule is left out. Every case is counted.

    :param smiles: the molecules (any valid SMILES).
    :param rng: the numpy generator the seeds come from.
    :param accept: predicate on a candidate string (None: every string).
    :param attempts: random strings tried per molecule (>= 1).
    """
    if isinstance(attempts, bool) or not isinstance(attempts, (int, np.integer)) or attempts < 1:
        raise ValueError(f"attempts must be an integer >= 1, got {attempts!r}")
    seeds = rng.integers(1, 2**31 - 1, size=len(smiles))  # RDKit reads randomSeed=0 as "not seeded"
    out, source = [], []
    invalid = fallback = failed = 0
    for i, (text, seed) in enumerate(zip(smiles, seeds.tolist(), strict=True)):
        mol = parse_smiles(text)
        if mol is None:
            invalid += 1
            continue
        canonical = Chem.MolToSmiles(mol, isomericSmiles=False)
        candidates = Chem.MolToRandomSmilesVect(mol, int(attempts), randomSeed=int(seed), isomericSmiles=False)
        chosen = next((c for c in candidates if c != canonical and (accept is None or accept(c))), None)
        if chosen is None:
            if accept is None or accept(text):
                chosen = text
                fallback += 1
            else:
                failed += 1
                continue
        out.append(chosen)
        source.append(i)
    return RandomizedSmiles(out, np.array(source, dtype=np.int64), invalid, fallback, failed)


def scaffold_of(smiles: str) -> str | None:
    """The Bemis-Murcko scaffold the diversity filter buckets ``smiles`` by (``""`` if acyclic, None if invalid)."""
    mol = parse_smiles(smiles)
    return murcko_scaffold(mol) if mol is not None else None


def scaffold_purge_mask(
    memory_smiles: Sequence[str], zeroed_smiles: Sequence[str], memory_scaffolds: Sequence[str | None] | None = None
) -> np.ndarray:
    """Which memory entries survive the selective purge: those whose scaffold no zeroed molecule has.

    :param memory_smiles: the memory's molecules.
    :param zeroed_smiles: molecules the diversity filter just scored 0 (e.g.
        :meth:`DiversityFilter.take_zeroed <seqtutor_envs.smiles.diversity_filter.DiversityFilter.take_zeroed>`).
    :param memory_scaffolds: the memory's scaffolds if the caller keeps them (saves RDKit work).
    :return: ``(len(memory_smiles),)`` bool, True = keep. An invalid memory entry is kept (it has no
        scaffold to share); so is everything when nothing was zeroed.
    """
    if memory_scaffolds is not None and len(memory_scaffolds) != len(memory_smiles):
        raise ValueError(f"memory_scaffolds: {len(memory_scaffolds)} for {len(memory_smiles)} memory entries")
    purged = {s for s in map(scaffold_of, zeroed_smiles) if s is not None}
    if not purged:
        return np.ones(len(memory_smiles), dtype=bool)
    scaffolds = memory_scaffolds if memory_scaffolds is not None else [scaffold_of(s) for s in memory_smiles]
    return np.fromiter((s is None or s not in purged for s in scaffolds), dtype=bool, count=len(memory_smiles))
