"""Scoring-file components: what a scoring file can measure on a molecule, each a raw value per molecule.

Component types are looked up as REINVENT 4 looks them up (case, ``_`` and ``-`` ignored), and where
REINVENT 4 has the same component its name and RDKit function are used:

* descriptors (RDKit): ``QED`` (``QED.qed``, in [0, 1]), ``SAScore`` (Ertl's SA score, RDKit Contrib,
  1 easy .. 10 hard), ``MolecularWeight`` (``Descriptors.MolWt``), ``SlogP`` (alias ``cLogP``:
  ``Crippen.MolLogP``), ``TPSA`` (``Descriptors.TPSA``), ``HBondDonors`` / ``HBondAcceptors``
  (``Lipinski.NumHDonors`` / ``NumHAcceptors``), ``NumRotBond`` (``Lipinski.NumRotatableBonds``),
  ``NumRings`` (``Lipinski.RingCount``), ``NumAromaticRings``, ``NumHeavyAtoms``, ``FormalCharge``
  (``Chem.GetFormalCharge``), ``Csp3`` (alias ``FractionCSP3``: ``Lipinski.FractionCSP3``, in [0, 1]);
* ``TanimotoSimilarity``: Tanimoto similarity to reference molecules (``params.smiles``), the ``max``
  (default) or ``mean`` over them (``params.aggregate``); ``params.fingerprint`` ``ECFP4`` (default),
  ``ECFP6``, ``FCFP4`` or ``FCFP6`` (Morgan radius 2 or 3, FCFP with feature invariants), as
  ``params.bits``-bit vectors (2048) or, with ``params.use_counts = true``, unhashed count vectors;
* ``RequiredSubstructure``: 1 if the molecule matches every SMARTS of ``params.smarts``, else 0;
  ``ForbiddenSubstructure``: 1 if it matches none of them, else 0;
* ``GuacaMol``: a PMO / GuacaMol oracle by name (``params.oracle``, see
  :data:`~seqtutor_envs.smiles.guacamol.GUACAMOL_OBJECTIVES`), in [0, 1];
* filters, which multiply the aggregated score instead of entering the mean (no weight, no transform):
  ``custom_alerts`` (REINVENT 4's: 0 if the molecule matches any SMARTS of ``params.smarts``, else 1) and
  ``FilterCatalog`` (0 if it matches an entry of RDKit's catalogues ``params.catalogs``: ``PAINS``,
  ``BRENK``, ``NIH``, ``ZINC``, ``CHEMBL``..., else 1).

Descriptors whose values do not lie in [0, 1] need a transform (:mod:`.transforms`); a scoring file
without one is refused. Work is shared through :class:`MolView`: one parse per molecule, and where the
scoring function also computes QED, the molecular weight, logP, TPSA and donor count come from QED's
own property calculation (the same RDKit functions on the same atoms, so the same numbers).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
from rdkit import Chem, DataStructs
from rdkit.Chem import QED, Crippen, Descriptors, FilterCatalog, Lipinski, rdFingerprintGenerator

from .guacamol import GUACAMOL_OBJECTIVES, guacamol_objective
from .scoring import load_sascorer, parse_smiles, qed_properties
from .scoring_params import FileContext, KeyPath, Param, at_least, lookup_key


class MolView:
    """One molecule and the RDKit work its components share (QED's properties, fingerprints), computed once.

    :param mol: the molecule (parsed from its canonical SMILES).
    :param share_qed: the scoring function computes QED: descriptors QED also computes are read from it.
    """

    __slots__ = ("_memo", "mol", "share_qed")

    def __init__(self, mol: Chem.Mol, share_qed: bool = False) -> None:
        self.mol = mol
        self.share_qed = share_qed
        self._memo: dict[Any, Any] = {}

    def memo(self, key: Any, compute: Callable[[], Any]) -> Any:
        """``compute()`` the first time ``key`` is asked for, the stored value afterwards."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def qed_properties(self) -> Any:
        return self.memo("qed", lambda: qed_properties(self.mol))

    def from_qed(self, field: str, direct: Callable[[Chem.Mol], float]) -> float:
        """QED's ``field`` when QED is computed anyway and the molecule has no explicit H atom (QED strips
        them, and the sums would then run over other atoms), else ``direct(mol)``."""
        plain = self.memo("plain", lambda: all(a.GetAtomicNum() != 1 for a in self.mol.GetAtoms()))
        if self.share_qed and plain:
            return float(getattr(self.qed_properties(), field))
        return float(direct(self.mol))


class Component:
    """A component type: reads its ``params`` at load, gives one raw value per molecule.

    :cvar role: ``"score"`` (weighted into the mean) or ``"filter"`` (multiplies the score).
    :cvar bounded: raw values lie in [0, 1], so a transform is optional.
    :cvar PARAMS: the accepted ``params`` keys.
    """

    type_name = "component"
    role = "score"
    bounded = False
    PARAMS: ClassVar[dict[str, Param]] = {}

    def __init__(self, params: dict[str, Any], path: KeyPath, ctx: FileContext) -> None:
        self.params = params
        self.setup(path, ctx)

    def setup(self, path: KeyPath, ctx: FileContext) -> None:
        """Check and prepare the parameters (parse SMARTS, reference fingerprints); ``path`` is ``params``'s."""

    def raw(self, view: MolView) -> float:  # pragma: no cover - abstract
        raise NotImplementedError


# ------------------------------------------------------------------------------------------------
# Descriptors
# ------------------------------------------------------------------------------------------------


def _sa_score(mol: Chem.Mol) -> float:
    return float(load_sascorer().calculateScore(mol))


class QEDComponent(Component):
    type_name, bounded = "QED", True

    def raw(self, view: MolView) -> float:
        return float(QED.qed(view.mol, qedProperties=view.qed_properties()))


def _descriptor(
    name: str, fn: Callable[[Chem.Mol], float], bounded: bool = False, qed_field: str | None = None
) -> type[Component]:
    """A component class computing ``fn(mol)`` (or QED's ``qed_field``, shared, when QED is computed)."""

    def raw(self: Component, view: MolView) -> float:
        return view.from_qed(qed_field, fn) if qed_field else float(fn(view.mol))

    return type(name, (Component,), {"type_name": name, "bounded": bounded, "raw": raw})


DESCRIPTORS: dict[str, type[Component]] = {
    cls.type_name: cls
    for cls in (
        QEDComponent,
        _descriptor("SAScore", _sa_score),
        _descriptor("MolecularWeight", Descriptors.MolWt, qed_field="MW"),
        _descriptor("SlogP", Crippen.MolLogP, qed_field="ALOGP"),
        _descriptor("TPSA", Descriptors.TPSA, qed_field="PSA"),
        _descriptor("HBondDonors", Lipinski.NumHDonors, qed_field="HBD"),
        _descriptor("HBondAcceptors", Lipinski.NumHAcceptors),
        _descriptor("NumRotBond", Lipinski.NumRotatableBonds),
        _descriptor("NumRings", Lipinski.RingCount),
        _descriptor("NumAromaticRings", Lipinski.NumAromaticRings),
        _descriptor("NumHeavyAtoms", Lipinski.HeavyAtomCount),
        _descriptor("FormalCharge", Chem.GetFormalCharge),
        _descriptor("Csp3", Lipinski.FractionCSP3, bounded=True),
    )
}


# ------------------------------------------------------------------------------------------------
# Similarity, substructures, oracles
# ------------------------------------------------------------------------------------------------

FINGERPRINTS = {"ECFP4": (2, False), "ECFP6": (3, False), "FCFP4": (2, True), "FCFP6": (3, True)}


def morgan_generator(fingerprint: str, bits: int) -> Any:
    """RDKit's Morgan generator of an ``ECFP<d>`` / ``FCFP<d>`` name (``bits`` is the bit-vector size)."""
    radius, features = FINGERPRINTS[fingerprint]
    invariants = {"atomInvariantsGenerator": rdFingerprintGenerator.GetMorganFeatureAtomInvGen()} if features else {}
    return rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=bits, **invariants)


class TanimotoSimilarity(Component):
    type_name, bounded = "TanimotoSimilarity", True
    PARAMS: ClassVar[dict[str, Param]] = {
        "smiles": Param("strings", doc="reference SMILES"),
        "fingerprint": Param("str", "ECFP4", choices=tuple(FINGERPRINTS)),
        "use_counts": Param("bool", False, doc="unhashed count vectors instead of bit vectors"),
        "bits": Param("int", None, at_least(64), doc="bit-vector size (default 2048)"),
        "aggregate": Param("str", "max", choices=("max", "mean")),
    }

    def setup(self, path: KeyPath, ctx: FileContext) -> None:
        p = self.params
        if p["use_counts"] and p["bits"] is not None:
            raise ctx.error(
                (*path, "bits"), "applies to bit vectors; count vectors (use_counts = true) are unhashed", p["bits"]
            )
        self.generator = morgan_generator(p["fingerprint"], p["bits"] or 2048)
        self.key = (p["fingerprint"], p["use_counts"], p["bits"] or 2048)
        refs = []
        for i, smiles in enumerate(p["smiles"]):
            mol = parse_smiles(smiles)
            if mol is None:
                raise ctx.error(
                    (*path, "smiles", i) if len(p["smiles"]) > 1 else (*path, "smiles"),
                    "RDKit cannot parse this reference SMILES",
                    smiles,
                )
            refs.append(self.fingerprint(mol))
        self.references = refs
        self.reduce = np.max if p["aggregate"] == "max" else np.mean

    def fingerprint(self, mol: Chem.Mol) -> Any:
        return (
            self.generator.GetSparseCountFingerprint(mol)
            if self.params["use_counts"]
            else self.generator.GetFingerprint(mol)
        )

    def raw(self, view: MolView) -> float:
        fp = view.memo(self.key, lambda: self.fingerprint(view.mol))
        return float(self.reduce(DataStructs.BulkTanimotoSimilarity(fp, self.references)))


def parse_smarts_list(params: dict[str, Any], path: KeyPath, ctx: FileContext) -> list[Chem.Mol]:
    """The query molecules of ``params["smarts"]`` (one string or a list), each checked to parse."""
    patterns = params["smarts"]
    queries = []
    for i, smarts in enumerate(patterns):
        query = Chem.MolFromSmarts(smarts)
        if query is None:
            raise ctx.error(
                (*path, "smarts", i) if len(patterns) > 1 else (*path, "smarts"),
                "RDKit cannot parse this SMARTS",
                smarts,
            )
        queries.append(query)
    return queries


class RequiredSubstructure(Component):
    type_name, bounded = "RequiredSubstructure", True
    PARAMS: ClassVar[dict[str, Param]] = {"smarts": Param("strings", doc="SMARTS the molecule must all match")}

    def setup(self, path: KeyPath, ctx: FileContext) -> None:
        self.queries = parse_smarts_list(self.params, path, ctx)

    def raw(self, view: MolView) -> float:
        return float(all(view.mol.HasSubstructMatch(q) for q in self.queries))


class ForbiddenSubstructure(RequiredSubstructure):
    type_name = "ForbiddenSubstructure"
    PARAMS: ClassVar[dict[str, Param]] = {"smarts": Param("strings", doc="SMARTS the molecule must match none of")}

    def raw(self, view: MolView) -> float:
        return float(not any(view.mol.HasSubstructMatch(q) for q in self.queries))


class GuacaMolOracle(Component):
    type_name, bounded = "GuacaMol", True
    PARAMS: ClassVar[dict[str, Param]] = {
        "oracle": Param("str", choices=GUACAMOL_OBJECTIVES, doc="a PMO / GuacaMol oracle name")
    }

    def setup(self, path: KeyPath, ctx: FileContext) -> None:
        self.oracle = guacamol_objective(self.params["oracle"])

    def raw(self, view: MolView) -> float:
        return self.oracle.score_mol(view.mol)


# ------------------------------------------------------------------------------------------------
# Filters
# ------------------------------------------------------------------------------------------------


class CustomAlerts(Component):
    """REINVENT 4's ``custom_alerts``: the SMARTS are matched by one RDKit FilterCatalog call (C++)."""

    type_name, role, bounded = "custom_alerts", "filter", True
    PARAMS: ClassVar[dict[str, Param]] = {
        "smarts": Param("strings", doc="unwanted SMARTS: a molecule matching any scores 0")
    }

    def setup(self, path: KeyPath, ctx: FileContext) -> None:
        parse_smarts_list(self.params, path, ctx)
        catalog = FilterCatalog.FilterCatalog()
        for i, smarts in enumerate(self.params["smarts"]):
            # minCount 1: an entry matches when the pattern occurs at least once, as HasSubstructMatch
            catalog.AddEntry(
                FilterCatalog.FilterCatalogEntry(f"alert {i}", FilterCatalog.SmartsMatcher(f"alert {i}", smarts, 1))
            )
        self.catalog = catalog

    def raw(self, view: MolView) -> float:
        return 0.0 if self.catalog.HasMatch(view.mol) else 1.0


CATALOGS = tuple(FilterCatalog.FilterCatalogParams.FilterCatalogs.names)


class FilterCatalogComponent(CustomAlerts):
    type_name = "FilterCatalog"
    PARAMS: ClassVar[dict[str, Param]] = {
        "catalogs": Param("strings", doc=f"RDKit filter catalogues: {', '.join(CATALOGS)}")
    }

    def setup(self, path: KeyPath, ctx: FileContext) -> None:
        params = FilterCatalog.FilterCatalogParams()
        by_key = {name.lower(): name for name in CATALOGS}
        for i, name in enumerate(self.params["catalogs"]):
            if name.lower() not in by_key:
                key = (*path, "catalogs", i) if len(self.params["catalogs"]) > 1 else (*path, "catalogs")
                raise ctx.error(key, f"unknown RDKit filter catalogue (known: {', '.join(CATALOGS)})", name)
            params.AddCatalog(FilterCatalog.FilterCatalogParams.FilterCatalogs.names[by_key[name.lower()]])
        self.catalog = FilterCatalog.FilterCatalog(params)


COMPONENTS: dict[str, type[Component]] = {
    **DESCRIPTORS,
    **{
        cls.type_name: cls
        for cls in (
            TanimotoSimilarity,
            RequiredSubstructure,
            ForbiddenSubstructure,
            GuacaMolOracle,
            CustomAlerts,
            FilterCatalogComponent,
        )
    },
}
_ALIASES = {"clogp": "SlogP", "fractioncsp3": "Csp3"}
_LOOKUP = {**{lookup_key(name): name for name in COMPONENTS}, **_ALIASES}


def component_class(name: Any) -> type[Component] | None:
    """The component type called ``name`` (REINVENT-style lookup), or None."""
    return COMPONENTS[_LOOKUP[lookup_key(name)]] if isinstance(name, str) and lookup_key(name) in _LOOKUP else None
