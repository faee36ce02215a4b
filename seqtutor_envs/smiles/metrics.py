"""Distribution metrics of generated SMILES (validity, uniqueness, novelty, diversity, properties).

Definitions (all fractions in ``[0, 1]``, not percentages):

* ``valid``: fraction of the generated strings RDKit parses into a non-empty molecule;
* ``unique``: distinct canonical SMILES / valid molecules (MOSES reports unique@10k: the same ratio
  over the first 10,000 valid molecules);
* ``novel``: distinct valid canonical SMILES absent from the reference set / distinct valid ones
  (MOSES: novelty against its training set); NaN without a reference;
* ``intdiv``: 1 - mean Tanimoto similarity over distinct pairs of distinct valid molecules
  (Morgan bit fingerprints, radius 2, 1024 bits by default as in MOSES: with 2048 bits fewer bit
  collisions raise IntDiv of the MOSES test set from 0.857 to 0.865, which would not compare with
  the published 0.856). MOSES' IntDiv averages over all ordered pairs including each molecule
  with itself, i.e. ``(1 - 1/n)`` times this value: 0.9999x for its 10k-30k samples, negligible;
* ``logp``, ``qed``, ``sa``, ``ring_penalty``, ``plogp``, ``length`` (SMILES tokens of the
  string as generated): means over the valid molecules, duplicates included, as in the paper's
  table of generated molecules.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from rdkit import Chem
from rdkit.Chem import rdFingerprintGenerator

from .scoring import MoleculeScorer, parse_smiles

# Published figures (reference: docs of the field, see shared/reference/sequence-tutor.md §6).
MOSES_REFERENCE: dict[str, dict[str, float]] = {
    "MOSES CharRNN": {"valid": 0.975, "unique": 0.999, "novel": 0.842, "intdiv": 0.856},
}
"""MOSES CharRNN (3x768 LSTM; Polykovskiy et al. 2020): valid, unique@10k, novelty vs the MOSES
train set, IntDiv (Morgan r=2, 1024 bits). FCD/Test was 0.073 (not computed here)."""
GUACAMOL_REFERENCE: dict[str, dict[str, float]] = {
    "GuacaMol SMILES LSTM": {"valid": 0.959, "unique": 1.000, "novel": 0.912},
}

_ROWS: tuple[tuple[str, str, str], ...] = (
    ("n", "molecules generated", "{:.0f}"),
    ("valid", "valid", "{:.3f}"),
    ("unique", "unique (of valid)", "{:.3f}"),
    ("novel", "novel (of unique valid)", "{:.3f}"),
    ("intdiv", "IntDiv", "{:.3f}"),
    ("logp", "logP", "{:.2f}"),
    ("qed", "QED", "{:.3f}"),
    ("sa", "SA (lower = easier)", "{:.2f}"),
    ("ring_penalty", "ring penalty", "{:.3f}"),
    ("plogp", "penalised logP", "{:.2f}"),
    ("length", "length (tokens)", "{:.1f}"),
)


def internal_diversity(
    smiles: Sequence[str],
    fingerprint_radius: int = 2,
    n_bits: int = 1024,
    sample: int | None = None,
    seed: int = 0,
    block: int = 1024,
) -> tuple[float, int]:
    """1 - mean pairwise Tanimoto similarity of the given (valid, distinct) molecules.

    :param smiles: valid SMILES, ideally distinct.
    :param fingerprint_radius: Morgan radius.
    :param n_bits: fingerprint size.
    :param sample: if more molecules than this, use a seeded random subset of this size (the cost
        is quadratic: 10,000 molecules take about 5 s on 2 CPU cores).
    :param seed: seed of the subset.
    :param block: rows per matrix-product block (memory ~ ``30 * block * n`` bytes).
    :returns: ``(intdiv, molecules used)``; NaN with fewer than two molecules.
    """
    items = list(smiles)
    if sample is not None and len(items) > sample:
        items = random.Random(seed).sample(items, int(sample))
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=fingerprint_radius, fpSize=n_bits)
    rows = []
    for s in items:
        mol = parse_smiles(s)
        if mol is not None:
            rows.append(gen.GetFingerprintAsNumPy(mol))
    n = len(rows)
    if n < 2:
        return math.nan, n
    # Tanimoto of bit vectors via a float32 matrix product (exact: counts <= n_bits < 2**24). BLAS
    # makes this ~2x faster than RDKit's BulkTanimotoSimilarity row loop; blocks bound the memory.
    x = np.stack(rows).astype(np.float32)
    counts = x.sum(axis=1, dtype=np.float64)
    total = 0.0
    for a in range(0, n, block):
        inter = (x[a : a + block] @ x[a:].T).astype(np.float64)  # float64 division: exact ratios
        union = counts[a : a + block, None] + counts[None, a:] - inter
        # two empty fingerprints count as identical (similarity 1), as in MOSES
        sim = np.divide(inter, union, out=np.ones_like(inter), where=union > 0)
        b = inter.shape[0]
        sim[:, :b] = np.triu(sim[:, :b], k=1)  # pairs i < j only
        total += float(sim.sum(dtype=np.float64))
    return 1.0 - total / (n * (n - 1) / 2), n


def molecule_metrics(
    smiles: Sequence[str],
    reference: Iterable[str] | None = None,
    fingerprint_radius: int = 2,
    n_bits: int = 1024,
    diversity_sample: int | None = None,
    seed: int = 0,
    reference_is_canonical: bool = False,
    scorer: MoleculeScorer | None = None,
) -> dict[str, Any]:
    """Metrics of a set of generated SMILES (definitions in the module docstring).

    :param smiles: the generated strings (invalid ones included: they count against ``valid``).
    :param reference: training SMILES for novelty (``None``: ``novel`` is NaN).
    :param fingerprint_radius: Morgan radius for IntDiv.
    :param n_bits: Morgan fingerprint size for IntDiv (1024 as MOSES; see the module docstring).
    :param diversity_sample: cap on the molecules IntDiv uses (seeded subsample; the result's
        ``intdiv_n`` says how many were used).
    :param seed: seed of that subsample.
    :param reference_is_canonical: skip canonicalising ``reference`` (e.g. ``SmilesCorpus.smiles``,
        already RDKit-canonical): canonicalising all 1.6M MOSES SMILES takes minutes.
    :param scorer: a :class:`MoleculeScorer` whose caches to use (a fresh one if ``None``).
    :returns: ``n, n_valid, n_unique, valid, unique, novel, intdiv, intdiv_n`` and the property
        means ``logp, qed, sa, ring_penalty, plogp, length``.
    """
    sc = scorer if scorer is not None else MoleculeScorer(cache_size=None)
    items = list(smiles)
    n = len(items)
    props = sc.score(items)
    valid = props["valid"]
    canon = [c for c in sc.canonical_batch(items) if c is not None]
    distinct = list(dict.fromkeys(canon))  # first-occurrence order, so subsampling is reproducible
    n_valid, n_unique = int(valid.sum()), len(distinct)

    novel = math.nan
    if reference is not None and n_unique:
        if reference_is_canonical:
            ref = set(reference)
        else:
            ref = {c for c in (sc.canonical(s) for s in reference) if c is not None}
        novel = sum(1 for c in distinct if c not in ref) / n_unique

    intdiv, intdiv_n = internal_diversity(distinct, fingerprint_radius, n_bits, diversity_sample, seed)

    out: dict[str, Any] = {
        "n": n,
        "n_valid": n_valid,
        "n_unique": n_unique,
        "valid": n_valid / n if n else math.nan,
        "unique": n_unique / n_valid if n_valid else math.nan,
        "novel": novel,
        "intdiv": intdiv,
        "intdiv_n": intdiv_n,
    }
    for k in ("logp", "qed", "sa", "ring_penalty", "plogp"):
        out[k] = float(props[k][valid].mean()) if n_valid else math.nan
    out["length"] = float(props["length"][valid].mean()) if n_valid else math.nan
    return out


def _cell(value: Any, fmt: str) -> str:
    if value is None:
        return "–"
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    return "–" if math.isnan(v) else fmt.format(v)


def format_metrics_table(
    columns: Mapping[str, Mapping[str, Any]],
    reference_columns: Mapping[str, Mapping[str, Any]] | None = MOSES_REFERENCE,
) -> str:
    """Markdown table: one row per metric, one column per model plus the reference columns.

    :param columns: ``{column name: molecule_metrics(...) result}``.
    :param reference_columns: published figures to print beside them (``None``: none); metrics a
        reference did not report show as "–".
    """
    cols = {**dict(columns), **dict(reference_columns or {})}
    names = list(cols)
    lines = ["| metric | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for key, label, fmt in _ROWS:
        if not any(key in c for c in cols.values()):
            continue
        lines.append(f"| {label} | " + " | ".join(_cell(cols[c].get(key), fmt) for c in names) + " |")
    notes = []
    if reference_columns:
        notes.append(
            "Reference columns are published figures (MOSES: unique@10k, novelty vs the MOSES train set, "
            "IntDiv with 1024-bit Morgan fingerprints), not rerun here."
        )
    samples = {c: cols[c].get("intdiv_n") for c in columns if cols[c].get("intdiv_n") is not None}
    subsampled = [f"{c}: {k}" for c, k in samples.items() if k < cols[c].get("n_unique", k)]
    if subsampled:
        notes.append("IntDiv on a seeded subsample (" + ", ".join(subsampled) + " molecules).")
    return "\n".join(lines) + ("\n\n" + "\n".join(notes) if notes else "") + "\n"


#: Why a SMILES string is invalid, in the order they are checked.
INVALID_REASONS = ("syntax", "kekulization", "valence", "other")


def invalid_reasons(smiles: Iterable[str]) -> dict[str, int]:
    """Count why the invalid strings among ``smiles`` fail RDKit (valid ones are not counted).

    ``syntax``: the string does not parse (unclosed ring bond or branch, bad token order);
    ``kekulization``: it parses but its aromatic atoms admit no Kekulé structure; ``valence``: an
    atom has more bonds than its valence allows; ``other``: any other sanitisation failure.
    """
    counts = dict.fromkeys(INVALID_REASONS, 0)
    for s in smiles:
        if parse_smiles(s) is not None:
            continue
        mol = Chem.MolFromSmiles(s, sanitize=False) if isinstance(s, str) and s else None
        if mol is None:
            counts["syntax"] += 1
            continue
        problems = [p.GetType() for p in Chem.DetectChemistryProblems(mol)]
        if any("Kekulize" in p for p in problems):
            counts["kekulization"] += 1
        elif any("Valence" in p for p in problems):
            counts["valence"] += 1
        else:
            counts["other"] += 1
    return counts
