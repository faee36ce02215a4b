"""RDKit's Gobbi 2D pharmacophore fingerprint, bit for bit, computed with numpy.

GuacaMol's ``PHCO`` fingerprint (``deco_hop``, ``scaffold_hop``) is
``Generate.Gen2DFingerprint(mol, Gobbi_Pharm2D.factory)``, which RDKit implements in Python: it
enumerates every 2- and 3-feature combination in nested loops, ~20 ms a molecule on this machine --
most of a ``scaffold_hop`` PMO run. The bits it sets depend only on

* the molecule's pharmacophore features (family, atom ids), found by RDKit's feature factory;
* the topological distance between two features: the shortest path between any of their atoms,
  kept when ``2 <= d < 100`` (the factory's first and last bin edges) and the two features are not
  the same atoms (RDKit drops a combination that names the same atom-id tuple twice);
* for a triple, RDKit's canonical order of the triangle (``Utils.OrderTriangle``) and its bin
  scaffold; for a pair, its bin.

:func:`gobbi_2d_fingerprint` computes the same set of bits from the same parts, over all pairs and
triples at once, with the bit numbering read from RDKit's own factory (start offsets, scaffolds,
``Utils.CountUpTo``). Where the numbering has no entry (a binned triangle RDKit's factory pruned, for
which RDKit raises), it hands the molecule to RDKit's function, so the result (or the error) is always
RDKit's. ``tests/test_pharmacophore.py`` checks the bits against RDKit's on the prior's molecules.
"""

from __future__ import annotations

import itertools
from functools import lru_cache

import numpy as np
from rdkit import Chem, DataStructs
from rdkit.Chem.Pharm2D import Generate, Gobbi_Pharm2D, Utils

_FACTORY = Gobbi_Pharm2D.factory


class _Numbering:
    """The factory's bit numbering as lookup tables (built once from RDKit's own functions)."""

    def __init__(self, factory) -> None:
        if not factory.shortestPathsOnly or factory.useCounts or factory.includeBondOrder:
            raise ValueError("only a shortest-path, bit (not count) pharmacophore factory is supported")
        if (factory.minPointCount, factory.maxPointCount) != (2, 3):
            raise ValueError("only 2- and 3-point pharmacophores are supported")
        self.families = factory.GetFeatFamilies()
        n = len(self.families)
        bins = factory.GetBins()
        self.min_dist, self.max_dist = bins[0][0], bins[-1][1]
        # Bin of every integer distance in [min_dist, max_dist): bins are half-open [low, high).
        self.bin_of = np.full(self.max_dist, -1, dtype=np.int64)
        for b, (low, high) in enumerate(bins):
            self.bin_of[low:high] = b
        self.size = factory.GetSigSize()
        self.start2, self.start3 = factory._starts[2], factory._starts[3]
        scaffolds2, scaffolds3 = factory._scaffolds[1], factory._scaffolds[3]
        self.n_scaffolds2, self.n_scaffolds3 = len(scaffolds2), len(scaffolds3)
        n_bins = len(bins)
        self.scaffold2 = np.full(n_bins, -1, dtype=np.int64)
        for idx, (b,) in enumerate(scaffolds2):
            self.scaffold2[b] = idx
        self.scaffold3 = np.full((n_bins, n_bins, n_bins), -1, dtype=np.int64)
        for idx, (b0, b1, b2) in enumerate(scaffolds3):
            self.scaffold3[b0, b1, b2] = idx
        self.count2 = np.zeros((n, n), dtype=np.int64)
        for a, b in Utils.GetIndexCombinations(n, 2):
            self.count2[a, b] = Utils.CountUpTo(n, 2, [a, b])
        self.count3 = np.zeros((n, n, n), dtype=np.int64)
        for a, b, c in Utils.GetIndexCombinations(n, 3):
            self.count3[a, b, c] = Utils.CountUpTo(n, 3, [a, b, c])


_NUMBERING = _Numbering(_FACTORY)

# Utils.OrderTriangle's distance permutations, by case (see _order_triangles).
_TRIANGLE_ORDERS = np.array(
    [
        (0, 1, 2),  # 0: no reordering
        (1, 0, 2),  # 1
        (0, 2, 1),  # 2
        (2, 0, 1),  # 3
        (1, 2, 0),  # 4
        (2, 1, 0),  # 5
    ],
    dtype=np.int64,
)


@lru_cache(maxsize=64)
def _triples(n: int) -> np.ndarray:
    """All ``i < j < k`` index triples of ``n`` items, ``(m, 3)``."""
    return np.array(list(itertools.combinations(range(n), 3)), dtype=np.int64).reshape(-1, 3)


def _order_triangles(fams: np.ndarray, dists: np.ndarray) -> np.ndarray:
    """``Utils.OrderTriangle`` for many triangles: the distances in RDKit's canonical order.

    :param fams: ``(m, 3)`` family indices of each triangle's points, non-decreasing along a row (the
        order ``Gen2DFingerprint`` visits them in: RDKit's index combinations are sorted), so at most
        the first two or the last two are equal unless all three are.
    :param dists: ``(m, 3)`` distances ``(d01, d02, d12)``.
    """
    d0, d1, d2 = dists[:, 0], dists[:, 1], dists[:, 2]
    same01, same12 = fams[:, 0] == fams[:, 1], fams[:, 1] == fams[:, 2]
    all_same = same01 & same12
    sums = np.stack([d0 + d1, d0 + d2, d1 + d2], axis=1)
    top = sums.max(axis=1)
    # One family: the pair of sides with the largest sum first (first such in RDKit's order), then
    # the larger of those two sides first.
    one_family = np.where(
        sums[:, 0] == top,
        np.where(d0 > d1, 0, 1),
        np.where(sums[:, 1] == top, np.where(d0 > d2, 2, 3), np.where(d1 > d2, 4, 5)),
    )
    # Two families: the equal pair's order set by the larger of their sides to the third point.
    two_families = np.where(same01, np.where(d1 > d2, 0, 2), np.where(d0 > d1, 0, 1))
    case = np.where(all_same, one_family, np.where(same01 | same12, two_families, 0))
    return np.take_along_axis(dists, _TRIANGLE_ORDERS[case], axis=1)


def _features(mol: Chem.Mol) -> tuple[np.ndarray, list[tuple[int, ...]]]:
    """Distinct ``(family, atom ids)`` features, sorted as RDKit's combinations visit them."""
    # One search per family, as RDKit's SigFactory.GetMolFeats does (3x faster than one search for all).
    find = _FACTORY.featFactory.GetFeaturesForMol
    ordered = sorted(
        {
            (fam, tuple(feat.GetAtomIds()))
            for fam, family in enumerate(_NUMBERING.families)
            for feat in find(mol, includeOnly=family)
        }
    )
    return np.array([f for f, _ in ordered], dtype=np.int64), [atoms for _, atoms in ordered]


def gobbi_2d_fingerprint(mol: Chem.Mol) -> DataStructs.SparseBitVect:
    """``Generate.Gen2DFingerprint(mol, Gobbi_Pharm2D.factory)``, bit for bit (see the module docstring).

    :param mol: an RDKit molecule.
    """
    numbering = _NUMBERING
    fams, atoms = _features(mol)
    fp = DataStructs.SparseBitVect(numbering.size)
    n = len(atoms)
    if n < 2:
        return fp
    # Feature-to-feature distance: the shortest path between any of their atoms.
    dmat = Chem.GetDistanceMatrix(mol, False)
    flat = np.fromiter(itertools.chain.from_iterable(atoms), dtype=np.int64)
    starts = np.cumsum([0] + [len(a) for a in atoms[:-1]])
    near = np.minimum.reduceat(dmat[np.ix_(flat, flat)], starts, axis=0)
    dist = np.minimum.reduceat(near, starts, axis=1)
    # RDKit skips a combination naming the same atom-id tuple twice (two families matching the same
    # atoms) and one with a distance outside [first bin's low edge, last bin's high edge).
    ids = {a: i for i, a in enumerate(dict.fromkeys(atoms))}
    key = np.array([ids[a] for a in atoms])
    ok = (key[:, None] != key[None, :]) & (dist >= numbering.min_dist) & (dist < numbering.max_dist)
    dist_bins = numbering.bin_of[np.where(ok, dist, numbering.min_dist).astype(np.int64)]

    # Pairs: i < j in the sorted order, so the families are non-decreasing as RDKit numbers them.
    i, j = np.nonzero(np.triu(ok, 1))
    pair_scaffold = numbering.scaffold2[dist_bins[i, j]]
    bits = [numbering.start2 + numbering.count2[fams[i], fams[j]] * numbering.n_scaffolds2 + pair_scaffold]

    # Triples: every pair of the three kept; the triangle's sides put in RDKit's canonical order.
    tri = _triples(n)
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    keep = ok[a, b] & ok[a, c] & ok[b, c]
    a, b, c = a[keep], b[keep], c[keep]
    tri_fams = np.stack([fams[a], fams[b], fams[c]], axis=1)
    ordered = _order_triangles(tri_fams, np.stack([dist[a, b], dist[a, c], dist[b, c]], axis=1))
    binned = numbering.bin_of[ordered.astype(np.int64)]
    scaffold = numbering.scaffold3[binned[:, 0], binned[:, 1], binned[:, 2]]
    if (scaffold < 0).any() or (pair_scaffold < 0).any():
        # A binned shape RDKit's factory has no bit for (RDKit raises there): RDKit's own result.
        return Generate.Gen2DFingerprint(mol, _FACTORY)
    bits.append(
        numbering.start3
        + numbering.count3[tri_fams[:, 0], tri_fams[:, 1], tri_fams[:, 2]] * numbering.n_scaffolds3
        + scaffold
    )
    fp.SetBitsFromList(np.unique(np.concatenate(bits)).tolist())
    return fp
