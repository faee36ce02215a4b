"""What GuacaMol/PMO oracles are made of: score modifiers, fingerprints and terms (a raw value + a modifier).

Definitions follow GuacaMol's ``common_scoring_functions.py`` and ``score_modifier.py``; the
oracles that combine these parts, and the differences from upstream, are in
:mod:`seqtutor_envs.smiles.guacamol`, which re-exports every public name defined here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rdkit import Chem, DataStructs
from rdkit.Chem import rdFingerprintGenerator

from .pharmacophore import gobbi_2d_fingerprint
from .scoring import parse_smiles

# ------------------------------------------------------------------------------------------------
# Score modifiers (vectorised over a column of raw values)
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Identity:
    """The raw value unchanged."""

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=np.float64)


@dataclass(frozen=True)
class Gaussian:
    """``exp(-0.5 ((x - mu) / sigma)^2)``: 1 at ``mu``."""

    mu: float
    sigma: float

    def __call__(self, x: np.ndarray) -> np.ndarray:
        z = (np.asarray(x, dtype=np.float64) - self.mu) / self.sigma
        return np.exp(-0.5 * z * z)


@dataclass(frozen=True)
class MinGaussian(Gaussian):
    """1 for ``x <= mu``, the Gaussian's right half above (GuacaMol's ``MinGaussianModifier``)."""

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return super().__call__(np.maximum(x, self.mu))


@dataclass(frozen=True)
class MaxGaussian(Gaussian):
    """1 for ``x >= mu``, the Gaussian's left half below (GuacaMol's ``MaxGaussianModifier``)."""

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return super().__call__(np.minimum(x, self.mu))


@dataclass(frozen=True)
class Clipped:
    """Linear from ``(lower_x, 0)`` to ``(upper_x, 1)``, clipped to ``[0, 1]`` (``ClippedScoreModifier``)."""

    upper_x: float
    lower_x: float = 0.0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        y = (np.asarray(x, dtype=np.float64) - self.lower_x) / (self.upper_x - self.lower_x)
        return np.clip(y, 0.0, 1.0)


Modifier = Callable[[np.ndarray], np.ndarray]

# ------------------------------------------------------------------------------------------------
# Fingerprints
# ------------------------------------------------------------------------------------------------

# Unhashed count fingerprints; ids and counts equal those of AllChem.GetMorganFingerprint(mol, r
# [, useFeatures=True]) and AllChem.GetAtomPairFingerprint(mol, maxLength=10), which GuacaMol uses.
_GENERATORS = {
    "ECFP4": rdFingerprintGenerator.GetMorganGenerator(radius=2),
    "ECFP6": rdFingerprintGenerator.GetMorganGenerator(radius=3),
    "FCFP4": rdFingerprintGenerator.GetMorganGenerator(
        radius=2, atomInvariantsGenerator=rdFingerprintGenerator.GetMorganFeatureAtomInvGen()
    ),
    "AP": rdFingerprintGenerator.GetAtomPairGenerator(maxDistance=10),
}
FINGERPRINTS: tuple[str, ...] = (*_GENERATORS, "PHCO")


def fingerprint(mol: Chem.Mol, kind: str) -> Any:
    """GuacaMol fingerprint ``kind`` (one of :data:`FINGERPRINTS`) of a molecule.

    :param mol: an RDKit molecule.
    :param kind: ``ECFP4``, ``ECFP6``, ``FCFP4``, ``AP`` (sparse count vectors) or ``PHCO`` (Gobbi
        2D pharmacophore, sparse bit vector).
    """
    if kind == "PHCO":
        return gobbi_2d_fingerprint(mol)
    try:
        gen = _GENERATORS[kind]
    except KeyError:
        raise ValueError(f"unknown fingerprint {kind!r}; choose from {FINGERPRINTS}") from None
    return gen.GetSparseCountFingerprint(mol)


class _MolView:
    """One molecule plus what several terms of an oracle share (fingerprints, the H-added copy)."""

    __slots__ = ("_fps", "_with_hs", "mol")

    def __init__(self, mol: Chem.Mol) -> None:
        self.mol = mol
        self._fps: dict[str, Any] = {}
        self._with_hs: Chem.Mol | None = None

    def fingerprint(self, kind: str) -> Any:
        fp = self._fps.get(kind)
        if fp is None:
            fp = self._fps[kind] = fingerprint(self.mol, kind)
        return fp

    def with_hs(self) -> Chem.Mol:
        if self._with_hs is None:
            self._with_hs = Chem.AddHs(self.mol)
        return self._with_hs


# ------------------------------------------------------------------------------------------------
# Terms: raw value of one molecule + modifier
# ------------------------------------------------------------------------------------------------


def _mol_of(smiles: str, what: str) -> Chem.Mol:
    mol = parse_smiles(smiles)
    if mol is None:
        raise ValueError(f"{what}: RDKit cannot parse the target SMILES {smiles!r}")
    return mol


@dataclass(frozen=True)
class Similarity:
    """Tanimoto similarity to a target molecule (its fingerprint is computed once, here).

    :param target: SMILES of the target.
    :param kind: fingerprint, one of :data:`FINGERPRINTS`.
    :param modifier: applied to the similarity.
    """

    target: str
    kind: str
    modifier: Modifier = Identity()
    _target_fp: Any = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_target_fp", fingerprint(_mol_of(self.target, "Similarity"), self.kind))

    @property
    def name(self) -> str:
        return f"sim_{self.kind}"

    def raw(self, view: _MolView) -> float:
        return DataStructs.TanimotoSimilarity(view.fingerprint(self.kind), self._target_fp)


@dataclass(frozen=True)
class Descriptor:
    """An RDKit descriptor of the molecule (without hydrogens) through a modifier.

    :param name: display name.
    :param fn: ``f(mol) -> float``.
    :param modifier: applied to the descriptor.
    """

    name: str
    fn: Callable[[Chem.Mol], float]
    modifier: Modifier = Identity()

    def raw(self, view: _MolView) -> float:
        return float(self.fn(view.mol))


@dataclass(frozen=True)
class Smarts:
    """1 if the molecule matches a SMARTS pattern, else 0 (``inverse``: the other way round).

    :param pattern: the SMARTS.
    :param inverse: reward the absence of the pattern instead.
    """

    pattern: str
    inverse: bool = False
    modifier: Modifier = Identity()
    _query: Chem.Mol = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        query = Chem.MolFromSmarts(self.pattern)
        if query is None:
            raise ValueError(f"invalid SMARTS {self.pattern!r}")
        object.__setattr__(self, "_query", query)

    @property
    def name(self) -> str:
        return ("lacks " if self.inverse else "has ") + self.pattern

    def raw(self, view: _MolView) -> float:
        return float(view.mol.HasSubstructMatch(self._query) != self.inverse)


def parse_formula(formula: str) -> list[tuple[str, int]]:
    """``[(element, count), ...]`` of a molecular formula such as ``"C9H10N2O2PF2Cl"``.

    :raises ValueError: if the string is not a sequence of element symbols and counts.
    """
    parts = re.findall(r"([A-Z][a-z]?)(\d*)", formula)
    if not parts or "".join(e + n for e, n in parts) != formula:
        raise ValueError(f"not a molecular formula: {formula!r}")
    return [(e, int(n) if n else 1) for e, n in parts]


@dataclass(frozen=True)
class Isomer:
    """Closeness to a molecular formula (GuacaMol's ``IsomerScoringFunction``, geometric mean).

    One ``Gaussian(n_element, 1)`` per element of the formula on the molecule's count of that
    element (hydrogens counted after ``AddHs``), one ``Gaussian(n_total, 2)`` on its total number of
    atoms with hydrogens, combined by geometric mean. Elements absent from the formula only count
    through the total.

    :param formula: target formula, e.g. ``"C11H24"``.
    """

    formula: str
    modifier: Modifier = Identity()
    _elements: tuple[tuple[str, int], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_elements", tuple(parse_formula(self.formula)))

    @property
    def name(self) -> str:
        return f"isomer_{self.formula}"

    def raw(self, view: _MolView) -> float:
        with_hs = view.with_hs()
        symbols = [a.GetSymbol() for a in with_hs.GetAtoms()]
        counts = [symbols.count(el) for el, _ in self._elements] + [len(symbols)]
        targets = [n for _, n in self._elements] + [sum(n for _, n in self._elements)]
        sigmas = [1.0] * len(self._elements) + [2.0]
        # Gaussian(mu, sigma)(x) == Gaussian(0, 1)((x - mu) / sigma): all parts in one call.
        parts = Gaussian(0.0, 1.0)((np.array(counts) - np.array(targets)) / np.array(sigmas))
        return float(geometric_mean(parts[None, :])[0])


Term = Similarity | Descriptor | Smarts | Isomer


def geometric_mean(values: np.ndarray) -> np.ndarray:
    """Row-wise ``exp(mean(log x))`` of non-negative values (0 if any value of the row is 0)."""
    with np.errstate(divide="ignore"):
        return np.exp(np.mean(np.log(values), axis=1))
