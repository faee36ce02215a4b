"""The graph genetic algorithm's operators: crossover and mutation as edits of RDKit molecular graphs.

In the spirit of Jensen's graph-based GA (GB-GA, Chem. Sci. 2019; the operators PMO's Graph GA and
Genetic GFN use), written here as direct edits of a Kekulé ``RWMol`` rather than reaction SMARTS:

* **crossover** cuts each parent in two and joins a piece of one to a piece of the other: either at
  one acyclic single bond (a *chain* cut), or at two ring bonds (a *ring* cut: two bonds of a path
  of four ring atoms, or the two ring bonds of a branching ring atom), the two pieces then closed
  by single or double bonds;
* **mutation** inserts an atom into a bond, changes a bond order, deletes a ring bond, closes a
  ring of 3-6 atoms, deletes an atom (its neighbours rejoined as a chain), changes an element,
  appends an atom, or appends / inserts an aromatic ring (benzene, pyridine, ...).

Every candidate goes through a caller's ``check`` (sanitisation and the GA's size and ring rules,
counted there); an operator returns the first candidate ``check`` accepts, or ``None``. All
randomness comes from the numpy ``Generator`` given; RDKit's calls here draw none.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from rdkit import Chem

BOND_TYPES = {1: Chem.BondType.SINGLE, 2: Chem.BondType.DOUBLE, 3: Chem.BondType.TRIPLE}
#: Probabilities of a single, double and triple bond for an appended or inserted atom (Jensen's).
ORDER_PROBS = (0.60, 0.35, 0.05)
#: Elements an appended atom may be, by the order of its bond (each list drawn uniformly).
APPEND_ELEMENTS = {1: ("C", "N", "O", "F", "S", "Cl", "Br"), 2: ("C", "N", "O"), 3: ("C", "N")}
#: Elements an inserted atom may be, by the order of its first bond.
INSERT_ELEMENTS = {1: ("C", "N", "O", "S"), 2: ("C", "N"), 3: ("C",)}
#: Weights of the elements an atom may change to (Jensen's: carbon and nitrogen a little likelier).
CHANGE_WEIGHTS = {"C": 0.15, "N": 0.15, "O": 0.14, "F": 0.14, "S": 0.14, "Cl": 0.14, "Br": 0.14}
#: Aromatic rings the ring mutations add, as SMILES (those whose elements are allowed are used).
RING_PIECES = ("c1ccccc1", "c1ccncc1", "c1cncnc1", "c1ccsc1", "c1ccoc1", "c1cc[nH]c1")
#: Ring sizes a ring closure makes, and their probabilities (Jensen's: mostly five and six).
RING_SIZES, RING_SIZE_PROBS = (3, 4, 5, 6), (0.05, 0.05, 0.45, 0.45)
#: Each mutation's default weight.
MUTATION_WEIGHTS = {
    "insert_atom": 0.14,
    "change_bond_order": 0.13,
    "delete_ring_bond": 0.13,
    "add_ring": 0.13,
    "delete_atom": 0.13,
    "change_atom": 0.13,
    "append_atom": 0.13,
    "append_aromatic_ring": 0.04,
    "insert_aromatic_ring": 0.04,
}
#: Cut-and-join tries of one crossover, and site tries of one mutation, before it gives up (Jensen's 10).
TRIES = 10

Check = Callable[[Chem.RWMol], "Chem.Mol | None"]
Fragment = tuple[Chem.RWMol, tuple[int, ...]]  # a piece of a parent and its attachment atoms, one per cut bond


def editable(mol: Chem.Mol) -> Chem.RWMol:
    """A Kekulé, editable copy whose hydrogens follow from valence (explicit H counts of neutral atoms dropped).

    :raises Chem.KekulizeException: for a molecule RDKit cannot kekulize.
    """
    rw = Chem.RWMol(mol)
    Chem.Kekulize(rw, clearAromaticFlags=True)
    for atom in rw.GetAtoms():
        if atom.GetFormalCharge() == 0 and atom.GetNumRadicalElectrons() == 0:
            atom.SetNumExplicitHs(0)
            atom.SetNoImplicit(False)
    rw.UpdatePropertyCache(strict=False)
    return rw


def hydrogens(mol: Chem.Mol) -> np.ndarray:
    """Hydrogens on each atom: the free valence a new bond can take (``mol``'s property cache up to date)."""
    return np.fromiter((a.GetTotalNumHs() for a in mol.GetAtoms()), dtype=np.int64, count=mol.GetNumAtoms())


def _pick(rng: np.random.Generator, items: Sequence[Any] | np.ndarray) -> Any:
    return items[int(rng.integers(len(items)))]


# ---------------------------------------------------------------------------------------------- crossover
@dataclass(frozen=True)
class Parent:
    """A parent molecule (Kekulé) and where it can be cut, worked out once (:func:`as_parent`)."""

    mol: Chem.Mol
    chain_bonds: tuple[tuple[int, int], ...]  # acyclic single bonds (a chain cut's sites)
    ring_bonds: tuple[tuple[int, int], ...]  # ring bonds
    ring_neighbours: tuple[tuple[int, ...], ...]  # each atom's neighbours through ring bonds
    branch_atoms: tuple[int, ...]  # ring atoms with two ring neighbours and a third neighbour


def as_parent(mol: Chem.Mol) -> Parent:
    """``mol`` (Kekulé, see :func:`editable`) with its cut sites."""
    chain, ring = [], []
    neighbours: list[list[int]] = [[] for _ in range(mol.GetNumAtoms())]
    for bond in mol.GetBonds():
        a, b = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        if bond.IsInRing():
            ring.append((a, b))
            neighbours[a].append(b)
            neighbours[b].append(a)
        elif bond.GetBondType() == Chem.BondType.SINGLE:
            chain.append((a, b))
    degree = [atom.GetDegree() for atom in mol.GetAtoms()]
    branch = tuple(i for i, n in enumerate(neighbours) if len(n) >= 2 and degree[i] > 2)
    return Parent(mol, tuple(chain), tuple(ring), tuple(map(tuple, neighbours)), branch)


def _split(mol: Chem.Mol, cuts: Sequence[tuple[int, int]]) -> list[Fragment] | None:
    """The two pieces left when the ``cuts`` bonds are removed (None unless exactly two)."""
    broken = Chem.FragmentOnBonds(mol, [mol.GetBondBetweenAtoms(a, b).GetIdx() for a, b in cuts], addDummies=False)
    atoms: list[tuple[int, ...]] = []
    pieces = Chem.GetMolFrags(broken, asMols=True, sanitizeFrags=False, fragsMolAtomMapping=atoms)
    if len(pieces) != 2:
        return None
    out = []
    for piece, originals in zip(pieces, atoms, strict=True):
        index = {old: new for new, old in enumerate(originals)}
        out.append((Chem.RWMol(piece), tuple(index[a] if a in index else index[b] for a, b in cuts)))
    return out


def _join(left: Fragment, right: Fragment, links: Sequence[tuple[int, int, int]]) -> Chem.RWMol | None:
    """The two pieces bonded by ``links`` (left attachment, right attachment, bond order); None if a bond repeats."""
    child = Chem.RWMol(Chem.CombineMols(left[0], right[0]))
    offset = left[0].GetNumAtoms()
    for i, j, order in links:
        a, b = left[1][i], offset + right[1][j]
        if child.GetBondBetweenAtoms(a, b) is not None:
            return None
        child.AddBond(a, b, BOND_TYPES[order])
    return child


def chain_cut(parent: Parent, rng: np.random.Generator) -> list[Fragment] | None:
    """The two pieces of a parent cut at a random acyclic single bond (None if it has none)."""
    if not parent.chain_bonds:
        return None
    return _split(parent.mol, [_pick(rng, parent.chain_bonds)])


def ring_cut(parent: Parent, rng: np.random.Generator) -> list[Fragment] | None:
    """The two pieces of a parent cut at two ring bonds; None if no try of :data:`TRIES` splits it in two.

    Half the tries cut the outer bonds of a path of four ring atoms a0-a1-a2-a3, the others the
    two ring bonds of a ring atom that also has a third neighbour (a ring fusion or substituent).
    """
    if not parent.ring_bonds:
        return None
    around = parent.ring_neighbours
    for _ in range(TRIES):
        if rng.random() < 0.5:
            a1, a2 = _pick(rng, parent.ring_bonds)
            before = [a for a in around[a1] if a != a2]
            after = [a for a in around[a2] if a != a1]
            if not before or not after:
                continue
            a0 = _pick(rng, before)
            after = [a for a in after if a != a0]
            if not after:
                continue
            cuts = [(a0, a1), (a2, _pick(rng, after))]
        else:
            if not parent.branch_atoms:
                continue
            centre = _pick(rng, parent.branch_atoms)
            a0, a2 = rng.choice(around[centre], size=2, replace=False).tolist()
            cuts = [(a0, centre), (centre, a2)]
        pieces = _split(parent.mol, cuts)
        if pieces is not None:
            return pieces
    return None


def crossover_chain(a: Parent, b: Parent, rng: np.random.Generator, check: Check) -> Chem.Mol | None:
    """A piece of ``a`` and a piece of ``b``, each cut at an acyclic single bond, joined by a single bond."""
    for _ in range(TRIES):
        left, right = chain_cut(a, rng), chain_cut(b, rng)
        if left is None or right is None:
            return None
        for k in rng.permutation(4).tolist():
            child = _join(left[k // 2], right[k % 2], [(0, 0, 1)])
            accepted = check(child) if child is not None else None
            if accepted is not None:
                return accepted
    return None


def crossover_ring(a: Parent, b: Parent, rng: np.random.Generator, check: Check) -> Chem.Mol | None:
    """A piece of ``a`` and a piece of ``b``, each cut at two ring bonds, joined by two single or double bonds.

    The candidates (piece of ``a`` x piece of ``b`` x which attachment meets which x bond orders)
    are tried in a random order and the first ``check`` accepts is returned: a uniform draw among
    the acceptable ones.
    """
    for _ in range(TRIES):
        left, right = ring_cut(a, rng), ring_cut(b, rng)
        if left is None or right is None:
            return None
        for k in rng.permutation(32).tolist():
            piece_a, piece_b, crossed, order_1, order_2 = k >> 4, (k >> 3) & 1, (k >> 2) & 1, (k >> 1) & 1, k & 1
            links = [(0, crossed, 1 + order_1), (1, 1 - crossed, 1 + order_2)]
            child = _join(left[piece_a], right[piece_b], links)
            accepted = check(child) if child is not None else None
            if accepted is not None:
                return accepted
    return None


# ---------------------------------------------------------------------------------------------- mutations
def _order_and_element(
    rng: np.random.Generator, table: dict[int, tuple[str, ...]], allowed: frozenset[str]
) -> tuple[int, str] | None:
    order = int(rng.choice(3, p=ORDER_PROBS)) + 1
    elements = [e for e in table[order] if e in allowed]
    return (order, _pick(rng, elements)) if elements else None


def _new_atom(mol: Chem.RWMol, element: str) -> int:
    return mol.AddAtom(Chem.Atom(element))


def insert_atom(
    mol: Chem.RWMol, hs: np.ndarray, rng: np.random.Generator, allowed: frozenset[str]
) -> Chem.RWMol | None:
    """A new atom X put into a random bond a-b: a(order)X-b."""
    choice = _order_and_element(rng, INSERT_ELEMENTS, allowed)
    if choice is None or not mol.GetNumBonds():
        return None
    bond = mol.GetBondWithIdx(int(rng.integers(mol.GetNumBonds())))
    a, b = (bond.GetBeginAtomIdx(), bond.GetEndAtomIdx())[:: 1 if rng.random() < 0.5 else -1]
    out = Chem.RWMol(mol)
    out.RemoveBond(a, b)
    x = _new_atom(out, choice[1])
    out.AddBond(a, x, BOND_TYPES[choice[0]])
    out.AddBond(x, b, BOND_TYPES[1])
    return out


def change_bond_order(
    mol: Chem.RWMol, hs: np.ndarray, rng: np.random.Generator, allowed: frozenset[str]
) -> Chem.RWMol | None:
    """A random bond made single (from double or triple), double (from single or triple) or triple."""
    variant = int(rng.choice(4, p=(0.45, 0.45, 0.05, 0.05)))
    bonds = list(mol.GetBonds())

    def order(b):
        return int(b.GetBondTypeAsDouble())

    def ends(b):
        return b.GetBeginAtomIdx(), b.GetEndAtomIdx()

    if variant == 0:
        sites, new = [b for b in bonds if order(b) > 1], 1
    elif variant == 1:
        sites, new = [b for b in bonds if order(b) == 1 and min(hs[i] for i in ends(b)) >= 1], 2
    elif variant == 2:
        sites, new = [b for b in bonds if order(b) == 3], 2
    else:
        sites = [b for b in bonds if order(b) < 3 and not b.IsInRing() and min(hs[i] for i in ends(b)) >= 3 - order(b)]
        new = 3
    if not sites:
        return None
    out = Chem.RWMol(mol)
    out.GetBondWithIdx(_pick(rng, sites).GetIdx()).SetBondType(BOND_TYPES[new])
    return out


def delete_ring_bond(
    mol: Chem.RWMol, hs: np.ndarray, rng: np.random.Generator, allowed: frozenset[str]
) -> Chem.RWMol | None:
    """A random ring bond removed (opening its ring)."""
    sites = [b for b in mol.GetBonds() if b.IsInRing()]
    if not sites:
        return None
    bond = _pick(rng, sites)
    out = Chem.RWMol(mol)
    out.RemoveBond(bond.GetBeginAtomIdx(), bond.GetEndAtomIdx())
    return out


def add_ring(mol: Chem.RWMol, hs: np.ndarray, rng: np.random.Generator, allowed: frozenset[str]) -> Chem.RWMol | None:
    """A single bond between two acyclic atoms with hydrogens, ``size - 1`` bonds apart: a new ring of ``size``."""
    size = int(rng.choice(RING_SIZES, p=RING_SIZE_PROBS))
    free = np.array([hs[a.GetIdx()] >= 1 and not a.IsInRing() for a in mol.GetAtoms()])
    distance = Chem.GetDistanceMatrix(mol)
    i, j = np.nonzero(np.triu(distance == size - 1) & free[:, None] & free[None, :])
    if not len(i):
        return None
    k = int(rng.integers(len(i)))
    out = Chem.RWMol(mol)
    out.AddBond(int(i[k]), int(j[k]), BOND_TYPES[1])
    return out


def delete_atom(
    mol: Chem.RWMol, hs: np.ndarray, rng: np.random.Generator, allowed: frozenset[str]
) -> Chem.RWMol | None:
    """A random atom removed, its neighbours (if several) rejoined as a chain of single bonds."""
    degree = np.fromiter((a.GetDegree() for a in mol.GetAtoms()), dtype=np.int64, count=mol.GetNumAtoms())
    wanted = int(rng.choice(4, p=(0.25, 0.25, 0.25, 0.25))) + 1
    sites = np.flatnonzero(degree == wanted)
    if not len(sites):
        return None
    atom = int(_pick(rng, sites))
    neighbours = [int(n) for n in rng.permutation([n.GetIdx() for n in mol.GetAtomWithIdx(atom).GetNeighbors()])]
    out = Chem.RWMol(mol)
    for u, v in itertools.pairwise(neighbours):
        if out.GetBondBetweenAtoms(u, v) is None:
            out.AddBond(u, v, BOND_TYPES[1])
    out.RemoveAtom(atom)
    return out


def change_atom(
    mol: Chem.RWMol, hs: np.ndarray, rng: np.random.Generator, allowed: frozenset[str]
) -> Chem.RWMol | None:
    """A random atom of an allowed element changed to another allowed element."""
    targets = [e for e in CHANGE_WEIGHTS if e in allowed]
    sites = [a.GetIdx() for a in mol.GetAtoms() if a.GetSymbol() in allowed and a.GetFormalCharge() == 0]
    if not sites or len(targets) < 2:
        return None
    atom = mol.GetAtomWithIdx(int(_pick(rng, sites)))
    others = [e for e in targets if e != atom.GetSymbol()]
    weights = np.array([CHANGE_WEIGHTS[e] for e in others])
    out = Chem.RWMol(mol)
    out.GetAtomWithIdx(atom.GetIdx()).SetAtomicNum(
        Chem.GetPeriodicTable().GetAtomicNumber(others[int(rng.choice(len(others), p=weights / weights.sum()))])
    )
    return out


def append_atom(
    mol: Chem.RWMol, hs: np.ndarray, rng: np.random.Generator, allowed: frozenset[str]
) -> Chem.RWMol | None:
    """A new atom bonded to a random atom with enough hydrogens for the bond's order."""
    choice = _order_and_element(rng, APPEND_ELEMENTS, allowed)
    if choice is None:
        return None
    sites = np.flatnonzero(hs >= choice[0])
    if not len(sites):
        return None
    out = Chem.RWMol(mol)
    out.AddBond(int(_pick(rng, sites)), _new_atom(out, choice[1]), BOND_TYPES[choice[0]])
    return out


@functools.lru_cache(maxsize=16)
def _ring_pieces(allowed: frozenset[str]) -> tuple[tuple[Chem.RWMol, np.ndarray], ...]:
    """The :data:`RING_PIECES` made of allowed elements, Kekulé, each with its atoms that carry a hydrogen."""
    pieces = (editable(Chem.MolFromSmiles(s)) for s in RING_PIECES)
    return tuple(
        (p, np.flatnonzero(hydrogens(p) >= 1)) for p in pieces if {a.GetSymbol() for a in p.GetAtoms()} <= allowed
    )


def _ring_piece(rng: np.random.Generator, allowed: frozenset[str]) -> tuple[Chem.RWMol, np.ndarray] | None:
    pieces = _ring_pieces(allowed)
    return _pick(rng, pieces) if pieces else None


def append_aromatic_ring(
    mol: Chem.RWMol, hs: np.ndarray, rng: np.random.Generator, allowed: frozenset[str]
) -> Chem.RWMol | None:
    """An aromatic ring bonded by a single bond to a random atom with a hydrogen."""
    piece, sites = _ring_piece(rng, allowed), np.flatnonzero(hs >= 1)
    if piece is None or not len(sites):
        return None
    anchor = int(_pick(rng, piece[1]))
    return _join((mol, (int(_pick(rng, sites)),)), (piece[0], (anchor,)), [(0, 0, 1)])


def insert_aromatic_ring(
    mol: Chem.RWMol, hs: np.ndarray, rng: np.random.Generator, allowed: frozenset[str]
) -> Chem.RWMol | None:
    """An aromatic ring put into a random acyclic single bond a-b (a-ring-b, at two distinct ring atoms)."""
    piece = _ring_piece(rng, allowed)
    bonds = [b for b in mol.GetBonds() if b.GetBondType() == Chem.BondType.SINGLE and not b.IsInRing()]
    if piece is None or not bonds:
        return None
    bond = _pick(rng, bonds)
    p, q = rng.choice(piece[1], size=2, replace=False).tolist()
    out = Chem.RWMol(mol)
    out.RemoveBond(bond.GetBeginAtomIdx(), bond.GetEndAtomIdx())
    return _join((out, (bond.GetBeginAtomIdx(), bond.GetEndAtomIdx())), (piece[0], (p, q)), [(0, 0, 1), (1, 1, 1)])


MUTATIONS = {
    f.__name__: f
    for f in (
        insert_atom,
        change_bond_order,
        delete_ring_bond,
        add_ring,
        delete_atom,
        change_atom,
        append_atom,
        append_aromatic_ring,
        insert_aromatic_ring,
    )
}


def mutate(
    mol: Chem.Mol, rng: np.random.Generator, check: Check, weights: dict[str, float], allowed: frozenset[str]
) -> Chem.Mol | None:
    """One random mutation of ``mol`` that ``check`` accepts.

    None after :data:`TRIES` tries, or if ``mol`` cannot be kekulized.
    """
    try:
        base = editable(mol)
    except Exception:  # RDKit raises several types for a molecule it cannot kekulize
        return None
    hs = hydrogens(base)
    names = list(weights)
    probs = np.array([weights[n] for n in names], dtype=np.float64)
    probs /= probs.sum()
    for _ in range(TRIES):
        candidate = MUTATIONS[names[int(rng.choice(len(names), p=probs))]](base, hs, rng, allowed)
        accepted = check(candidate) if candidate is not None else None
        if accepted is not None:
            return accepted
    return None
