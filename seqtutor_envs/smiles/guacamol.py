"""Goal-directed molecule objectives of GuacaMol (Brown et al. 2019) as used by PMO (Gao et al. 2022).

Our own implementation, on RDKit alone, of the published scoring definitions (GuacaMol's
``standard_benchmarks.py``, ``common_scoring_functions.py``, ``score_modifier.py``; PMO calls the same
definitions through TDC's ``oracle.py``). Every oracle maps a SMILES to ``[0, 1]``.

Building blocks: ``sim(fp, target)`` is the Tanimoto similarity of *count* fingerprints (``ECFP4``
/``ECFP6``: unhashed Morgan counts, radius 2/3; ``FCFP4``: the same with feature invariants; ``AP``:
atom-pair counts, max distance 10) or of the Gobbi 2D pharmacophore bit fingerprint (``PHCO``).
Modifiers: ``gauss(mu, s) = exp(-(x - mu)^2 / (2 s^2))``; ``min_gauss`` is 1 for ``x <= mu`` (lower is
fine), ``max_gauss`` is 1 for ``x >= mu``; ``clip(u) = min(max(x / u, 0), 1)``. ``isomer(F)``: for each
element of formula ``F`` ``gauss(count, n_el, 1)`` (H counted after adding hydrogens) and
``gauss(total atoms with H, n_F, 2)``, combined by geometric mean. ``gmean``/``amean``: geometric /
arithmetic mean of the parts. logP is Crippen's, TPSA without S and P, Bertz is ``BertzCT``.

* ``qed``: QED (``QED.qed``, bit for bit; alerts matched by one FilterCatalog call, see ``scoring.qed``).
* ``celecoxib_rediscovery``, ``troglitazone_rediscovery``, ``thiothixene_rediscovery``:
  ``sim(ECFP4, drug)``.
* ``albuterol_similarity``: ``clip(0.75)`` of ``sim(FCFP4, albuterol)``.
* ``mestranol_similarity``: ``clip(0.75)`` of ``sim(AP, mestranol)``.
* ``isomers_c9h10n2o2pf2cl``, ``isomers_c11h24``, ``isomers_c7h8n2o2``: ``isomer(formula)``.
* ``median1``: ``gmean(sim(ECFP4, camphor), sim(ECFP4, menthol))``.
* ``median2``: ``gmean(sim(ECFP6, tadalafil), sim(ECFP6, sildenafil))``.
* ``osimertinib_mpo``: ``gmean(clip(0.8)(sim FCFP4), min_gauss(0.85, 0.1)(sim ECFP6),
  max_gauss(100, 10)(TPSA), min_gauss(1, 1)(logP))`` against osimertinib.
* ``fexofenadine_mpo``: ``gmean(clip(0.8)(sim AP), max_gauss(90, 10)(TPSA), min_gauss(4, 1)(logP))``.
* ``ranolazine_mpo``: ``gmean(clip(0.7)(sim AP), max_gauss(7, 1)(logP), gauss(1, 1)(F atoms),
  max_gauss(95, 20)(TPSA))``.
* ``perindopril_mpo``: ``gmean(sim(ECFP4, perindopril), gauss(2, 0.5)(aromatic rings))``.
* ``amlodipine_mpo``: ``gmean(sim(ECFP4, amlodipine), gauss(3, 0.5)(rings))``.
* ``sitagliptin_mpo``: ``gmean(gauss(0, 0.1)(sim ECFP4), gauss(logP_sita, 0.2)(logP),
  gauss(TPSA_sita, 5)(TPSA), isomer(C16H15F6N5O))``: a different molecule with sitagliptin's formula
  and properties.
* ``zaleplon_mpo``: ``gmean(sim(ECFP4, zaleplon), isomer(C19H17N3O2))``.
* ``valsartan_smarts``: ``gmean(has valsartan SMARTS, gauss(logP_sita, 0.2)(logP), gauss(TPSA_sita,
  5)(TPSA), gauss(Bertz_sita, 30)(Bertz))``.
* ``deco_hop``: ``amean(clip(0.85)(sim PHCO), lacks CS([#6])(=O)=O, lacks the aminobenzothiazole,
  has the quinazoline scaffold SMARTS)``.
* ``scaffold_hop``: ``amean(clip(0.75)(sim PHCO), has the decoration SMARTS, lacks the scaffold)``.

The targets' logP/TPSA/Bertz are computed with the installed RDKit at construction, as upstream does.

**Invalid SMILES score 0** (PMO's value; GuacaMol's scoring functions return -1), as does a molecule
on which RDKit raises inside a term (recorded in the scorer's ``last_errors``).

Deliberate differences from upstream, none changing the score of an ordinary molecule:

* Scores are computed on the molecule of the canonical SMILES (cached by canonical SMILES), not on
  the raw string: a round trip through canonical SMILES keeps the molecular graph.
* Fingerprints come from ``rdFingerprintGenerator`` (``GetSparseCountFingerprint``) instead of the
  deprecated ``AllChem.GetMorganFingerprint``/``GetAtomPairFingerprint``; under RDKit 2026.09 both
  give identical sparse ids and counts (checked on the test fixture and the targets). ``PHCO``,
  ``Pharm2D.Generate.Gen2DFingerprint`` with ``Gobbi_Pharm2D.factory`` upstream (pure Python, no
  generator), is :func:`~seqtutor_envs.smiles.pharmacophore.gobbi_2d_fingerprint`: the same bits
  (no difference on the test fixture, the targets, 1,192 of the prior's molecules and 4,008 from PMO
  runs), 7.5-12.7x faster (``benchmarks/results/oracle_speed.md``).
* Geometric means are ``exp(mean(log x))`` (SciPy's ``gmean``, as in PMO); GuacaMol's
  ``prod(x) ** (1/n)`` is the same number but can underflow to 0 for tiny parts.
* Scores are clipped to ``[0, 1]`` and NaN becomes 0 (upstream parts already lie in ``[0, 1]``).
* The isomer parts follow GuacaMol's ``IsomerScoringFunction`` (H counted on ``AddHs``, total atoms
  of the H-added molecule); TDC's rewrite counts the total from ``CalcMolFormula``, equal on every
  molecule without dummy atoms.
* String whitespace makes a SMILES invalid (:func:`~seqtutor_envs.smiles.scoring.parse_smiles`).

Not included: ``aripiprazole_similarity`` (GuacaMol v2 uses ECFP4, TDC FCFP4: no single definition),
the v1/trivial-suite tasks (logP/TPSA targets, CNS MPO, cobimetinib, physchem, pioglitazone) and PMO's
model-based oracles (DRD2, GSK3B, JNK3).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from rdkit import Chem
from rdkit.Chem import Descriptors, rdMolDescriptors

from .guacamol_terms import (  # noqa: F401  (re-exported: this module is the oracles' public path)
    FINGERPRINTS,
    Clipped,
    Descriptor,
    Gaussian,
    Identity,
    Isomer,
    MaxGaussian,
    MinGaussian,
    Modifier,
    Similarity,
    Smarts,
    Term,
    _mol_of,
    _MolView,
    fingerprint,
    geometric_mean,
    parse_formula,
)
from .objective import CombinedObjective
from .scoring import MoleculeScorer, parse_smiles, qed

GUACAMOL_PREFIX = "guacamol:"
"""``make_objective("guacamol:<name>")`` builds a GuacaMol/PMO oracle."""

GUACAMOL_INVALID_VALUE = 0.0
"""Score of an invalid SMILES (PMO's convention)."""

# ------------------------------------------------------------------------------------------------
# Descriptors as GuacaMol defines them (guacamol/utils/descriptors.py)
# ------------------------------------------------------------------------------------------------


def _count_fluorine(mol: Chem.Mol) -> float:
    return float(sum(1 for a in mol.GetAtoms() if a.GetAtomicNum() == 9))


_LOGP = Descriptors.MolLogP  # Crippen
_TPSA = Descriptors.TPSA  # without S and P contributions
_BERTZ = Descriptors.BertzCT


# ------------------------------------------------------------------------------------------------
# The objective
# ------------------------------------------------------------------------------------------------


class GuacamolObjective(CombinedObjective):
    """A GuacaMol/PMO oracle: terms through their modifiers, combined by an arithmetic or geometric mean.

    Scores lie in ``[0, 1]``; an invalid SMILES scores :data:`GUACAMOL_INVALID_VALUE` (0). Final
    scores are cached by canonical SMILES; a batch parses each distinct new molecule once and
    computes each fingerprint once per molecule even when several terms use it.

    :param name: display name (``"guacamol:<oracle>"`` for the built-in ones).
    :param terms: the parts (:class:`Similarity`, :class:`Descriptor`, :class:`Smarts`,
        :class:`Isomer`).
    :param mean: ``"arithmetic"`` or ``"geometric"``.
    :param scorer: shared :class:`MoleculeScorer` (canonicalisation cache); a fresh one if ``None``.
    :param cache_size: entries of the score cache (``None``: unbounded).
    """

    invalid_value = GUACAMOL_INVALID_VALUE
    part = "term"

    def __init__(
        self,
        name: str,
        terms: Sequence[Term],
        mean: str = "geometric",
        scorer: MoleculeScorer | None = None,
        cache_size: int | None = 500_000,
    ) -> None:
        super().__init__(name, terms, mean, ("arithmetic", "geometric"), scorer, cache_size)
        self.terms = tuple(terms)

    @property
    def term_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.terms)

    # ---- computation ---------------------------------------------------------------------------
    def _raw(self, canon: Sequence[str]) -> np.ndarray:
        """``[n, terms]`` raw values of canonical SMILES; a row of NaN where RDKit failed."""
        raw = np.full((len(canon), len(self.terms)), np.nan)
        for i, s in enumerate(canon):
            mol = parse_smiles(s)
            if mol is None:
                self.scorer._error(s, f"{self.name}: re-parse", ValueError("MolFromSmiles returned None"))
                continue
            view = _MolView(mol)
            try:
                raw[i] = [t.raw(view) for t in self.terms]
            except Exception as exc:  # never raise on a molecule: it scores 0, and the error is kept
                self.scorer._error(s, self.name, exc)
        return raw

    def _modified(self, raw: np.ndarray) -> np.ndarray:
        """Each column through its term's modifier (one numpy call per term)."""
        out = np.empty_like(raw)
        for j, t in enumerate(self.terms):
            out[:, j] = t.modifier(raw[:, j])
        return out

    def _combine(self, parts: np.ndarray) -> np.ndarray:
        score = np.mean(parts, axis=1) if self.mean == "arithmetic" else geometric_mean(parts)
        # A NaN (RDKit failure) scores like an invalid molecule; float rounding never leaves [0, 1].
        return np.clip(np.where(np.isfinite(score), score, self.invalid_value), 0.0, 1.0)

    # ---- public API ----------------------------------------------------------------------------
    def score_mol(self, mol: Chem.Mol) -> float:
        """The oracle's score of one RDKit molecule (uncached; a term RDKit fails on raises, as RDKit did).

        Scoring files call this on the molecule they parsed once (:mod:`.components`).
        """
        view = _MolView(mol)
        raw = np.array([[t.raw(view) for t in self.terms]], dtype=np.float64)
        return float(self._combine(self._modified(raw))[0])

    def term_scores(self, smiles: Sequence[str]) -> np.ndarray:
        """``[n, len(terms)]`` modified term values (uncached; rows of invalid molecules are NaN).

        :param smiles: SMILES strings (any strings).
        """
        canon = self.scorer.canonical_batch(smiles)
        valid = [(j, c) for j, c in enumerate(canon) if c is not None]
        out = np.full((len(canon), len(self.terms)), np.nan)
        if valid:
            out[[j for j, _ in valid]] = self._modified(self._raw([c for _, c in valid]))
        return out

    def score_final(self, smiles: Sequence[str]) -> np.ndarray:
        """Oracle score of each SMILES, float64 in ``[0, 1]`` (0 if invalid; never raises).

        :param smiles: final SMILES strings (any strings, duplicates fine).
        """
        canon = self.scorer.canonical_batch(smiles)
        values: dict[str, float] = {}
        missing: list[str] = []
        for c in canon:
            if c is None or c in values:
                continue
            hit = self._cache.get(c)
            if hit is None:
                values[c] = math.nan  # placeholder: computed below, once
                missing.append(c)
            else:
                values[c] = hit
        if missing:
            scores = self._combine(self._modified(self._raw(missing)))
            for c, v in zip(missing, scores.tolist(), strict=True):
                values[c] = v
                self._cache[c] = v
        return np.array([self.invalid_value if c is None else values[c] for c in canon], dtype=np.float64)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, mean={self.mean!r}, terms={self.term_names})"


# ------------------------------------------------------------------------------------------------
# The oracles (constants from GuacaMol's standard_benchmarks.py, goal_directed_suite_v2; PMO/TDC)
# ------------------------------------------------------------------------------------------------

CELECOXIB = "CC1=CC=C(C=C1)C1=CC(=NN1C1=CC=C(C=C1)S(N)(=O)=O)C(F)(F)F"
TROGLITAZONE = "Cc1c(C)c2OC(C)(COc3ccc(CC4SC(=O)NC4=O)cc3)CCc2c(C)c1O"
THIOTHIXENE = "CN(C)S(=O)(=O)c1ccc2Sc3ccccc3C(=CCCN4CCN(C)CC4)c2c1"
ALBUTEROL = "CC(C)(C)NCC(O)c1ccc(O)c(CO)c1"
MESTRANOL = "COc1ccc2[C@H]3CC[C@@]4(C)[C@@H](CC[C@@]4(O)C#C)[C@@H]3CCc2c1"
CAMPHOR = "CC1(C)C2CCC1(C)C(=O)C2"
MENTHOL = "CC(C)C1CCC(C)CC1O"
TADALAFIL = "O=C1N(CC(N2C1CC3=C(C2C4=CC5=C(OCO5)C=C4)NC6=C3C=CC=C6)=O)C"
SILDENAFIL = "CCCC1=NN(C2=C1N=C(NC2=O)C3=C(C=CC(=C3)S(=O)(=O)N4CCN(CC4)C)OCC)C"
OSIMERTINIB = "COc1cc(N(C)CCN(C)C)c(NC(=O)C=C)cc1Nc2nccc(n2)c3cn(C)c4ccccc34"
FEXOFENADINE = "CC(C)(C(=O)O)c1ccc(cc1)C(O)CCCN2CCC(CC2)C(O)(c3ccccc3)c4ccccc4"
RANOLAZINE = "COc1ccccc1OCC(O)CN2CCN(CC(=O)Nc3c(C)cccc3C)CC2"
PERINDOPRIL = "O=C(OCC)C(NC(C(=O)N1C(C(=O)O)CC2CCCCC12)C)CCC"
AMLODIPINE = r"Clc1ccccc1C2C(=C(/N/C(=C2/C(=O)OCC)COCCN)C)\C(=O)OC"
SITAGLIPTIN = "Fc1cc(c(F)cc1F)CC(N)CC(=O)N3Cc2nnc(n2CC3)C(F)(F)F"
# valsartan_smarts takes its property targets from another SMILES of sitagliptin (same molecule).
SITAGLIPTIN_VALSARTAN = "NC(CC(=O)N1CCn2c(nnc2C(F)(F)F)C1)Cc1cc(F)c(F)cc1F"
ZALEPLON = "O=C(C)N(CC)C1=CC=CC(C2=CC=NC3=C(C=NN23)C#N)=C1"
VALSARTAN_SMARTS = "CN(C=O)Cc1ccc(c2ccccc2)cc1"
DECO_HOP_START = "CCCOc1cc2ncnc(Nc3ccc4ncsc4c3)c2cc1S(=O)(=O)C(C)(C)C"
QUINAZOLINE_SCAFFOLD = "[#7]-c1n[c;h1]nc2[c;h1]c(-[#8])[c;h0][c;h1]c12"


def _formula_oracle(formula: str) -> tuple[list[Term], str]:
    return [Isomer(formula)], "geometric"


def _sitagliptin_mpo() -> tuple[list[Term], str]:
    sita = _mol_of(SITAGLIPTIN, "sitagliptin_mpo")
    return [
        Similarity(SITAGLIPTIN, "ECFP4", Gaussian(0.0, 0.1)),
        Descriptor("logp", _LOGP, Gaussian(_LOGP(sita), 0.2)),
        Descriptor("tpsa", _TPSA, Gaussian(_TPSA(sita), 5.0)),
        Isomer("C16H15F6N5O"),
    ], "geometric"


def _valsartan_smarts() -> tuple[list[Term], str]:
    sita = _mol_of(SITAGLIPTIN_VALSARTAN, "valsartan_smarts")
    return [
        Smarts(VALSARTAN_SMARTS),
        Descriptor("logp", _LOGP, Gaussian(_LOGP(sita), 0.2)),
        Descriptor("tpsa", _TPSA, Gaussian(_TPSA(sita), 5.0)),
        Descriptor("bertz", _BERTZ, Gaussian(_BERTZ(sita), 30.0)),
    ], "geometric"


_ORACLES: dict[str, Callable[[], tuple[list[Term], str]]] = {
    "qed": lambda: ([Descriptor("qed", qed)], "arithmetic"),
    # GuacaMol's rediscovery has ClippedScoreModifier(upper_x=1.0), the identity on [0, 1].
    "celecoxib_rediscovery": lambda: ([Similarity(CELECOXIB, "ECFP4")], "arithmetic"),
    "troglitazone_rediscovery": lambda: ([Similarity(TROGLITAZONE, "ECFP4")], "arithmetic"),
    "thiothixene_rediscovery": lambda: ([Similarity(THIOTHIXENE, "ECFP4")], "arithmetic"),
    "albuterol_similarity": lambda: ([Similarity(ALBUTEROL, "FCFP4", Clipped(0.75))], "arithmetic"),
    "mestranol_similarity": lambda: ([Similarity(MESTRANOL, "AP", Clipped(0.75))], "arithmetic"),
    "isomers_c9h10n2o2pf2cl": lambda: _formula_oracle("C9H10N2O2PF2Cl"),
    "isomers_c11h24": lambda: _formula_oracle("C11H24"),
    "isomers_c7h8n2o2": lambda: _formula_oracle("C7H8N2O2"),
    "median1": lambda: ([Similarity(CAMPHOR, "ECFP4"), Similarity(MENTHOL, "ECFP4")], "geometric"),
    "median2": lambda: ([Similarity(TADALAFIL, "ECFP6"), Similarity(SILDENAFIL, "ECFP6")], "geometric"),
    "osimertinib_mpo": lambda: (
        [
            Similarity(OSIMERTINIB, "FCFP4", Clipped(0.8)),
            Similarity(OSIMERTINIB, "ECFP6", MinGaussian(0.85, 0.1)),
            Descriptor("tpsa", _TPSA, MaxGaussian(100.0, 10.0)),
            Descriptor("logp", _LOGP, MinGaussian(1.0, 1.0)),
        ],
        "geometric",
    ),
    "fexofenadine_mpo": lambda: (
        [
            Similarity(FEXOFENADINE, "AP", Clipped(0.8)),
            Descriptor("tpsa", _TPSA, MaxGaussian(90.0, 10.0)),
            Descriptor("logp", _LOGP, MinGaussian(4.0, 1.0)),
        ],
        "geometric",
    ),
    "ranolazine_mpo": lambda: (
        [
            Similarity(RANOLAZINE, "AP", Clipped(0.7)),
            Descriptor("logp", _LOGP, MaxGaussian(7.0, 1.0)),
            Descriptor("fluorine", _count_fluorine, Gaussian(1.0, 1.0)),
            Descriptor("tpsa", _TPSA, MaxGaussian(95.0, 20.0)),
        ],
        "geometric",
    ),
    "perindopril_mpo": lambda: (
        [
            Similarity(PERINDOPRIL, "ECFP4"),
            Descriptor("aromatic_rings", rdMolDescriptors.CalcNumAromaticRings, Gaussian(2.0, 0.5)),
        ],
        "geometric",
    ),
    "amlodipine_mpo": lambda: (
        [
            Similarity(AMLODIPINE, "ECFP4"),
            Descriptor("rings", rdMolDescriptors.CalcNumRings, Gaussian(3.0, 0.5)),
        ],
        "geometric",
    ),
    "sitagliptin_mpo": _sitagliptin_mpo,
    "zaleplon_mpo": lambda: ([Similarity(ZALEPLON, "ECFP4"), Isomer("C19H17N3O2")], "geometric"),
    "valsartan_smarts": _valsartan_smarts,
    "deco_hop": lambda: (
        [
            Similarity(DECO_HOP_START, "PHCO", Clipped(0.85)),
            Smarts("CS([#6])(=O)=O", inverse=True),
            Smarts("[#7]-c1ccc2ncsc2c1", inverse=True),
            Smarts(QUINAZOLINE_SCAFFOLD),
        ],
        "arithmetic",
    ),
    "scaffold_hop": lambda: (
        [
            Similarity(DECO_HOP_START, "PHCO", Clipped(0.75)),
            Smarts("[#6]-[#6]-[#6]-[#8]-[#6]~[#6]~[#6]~[#6]~[#6]-[#7]-c1ccc2ncsc2c1"),
            Smarts(QUINAZOLINE_SCAFFOLD, inverse=True),
        ],
        "arithmetic",
    ),
}

GUACAMOL_OBJECTIVES: tuple[str, ...] = tuple(_ORACLES)
"""Names of the oracles (PMO's names); use them as ``objective="guacamol:<name>"``."""


def guacamol_objective(
    name: str, scorer: MoleculeScorer | None = None, cache_size: int | None = 500_000
) -> GuacamolObjective:
    """Build the oracle ``name`` (one of :data:`GUACAMOL_OBJECTIVES`; a ``"guacamol:"`` prefix is allowed).

    :param name: oracle name, case-insensitive.
    :param scorer: shared :class:`MoleculeScorer` (canonical SMILES cache).
    :param cache_size: entries of the oracle's score cache.
    :raises ValueError: for an unknown name (the message lists the valid ones).
    """
    if not isinstance(name, str):
        raise TypeError(f"oracle name must be a string, got {type(name).__name__}")
    key = name.strip().lower().removeprefix(GUACAMOL_PREFIX)
    if key not in _ORACLES:
        raise ValueError(
            f"unknown GuacaMol objective {name!r}; valid names (as objective='guacamol:<name>'): "
            f"{', '.join(GUACAMOL_OBJECTIVES)}"
        )
    terms, mean = _ORACLES[key]()
    return GuacamolObjective(GUACAMOL_PREFIX + key, terms, mean, scorer=scorer, cache_size=cache_size)
