"""Distribution metrics of generated SMILES and the markdown table."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from rdkit import Chem, DataStructs
from rdkit.Chem import Crippen, rdFingerprintGenerator

from seqtutor_envs.smiles.corpus import read_smiles_file
from seqtutor_envs.smiles.metrics import (
    MOSES_REFERENCE,
    format_metrics_table,
    internal_diversity,
    molecule_metrics,
)

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "smiles_fixture.smi"

# 10 strings: 8 valid (one invalid "C(((" and one empty string), of which "CCO"/"OCC" and the two
# benzene spellings are duplicates -> 6 distinct; reference holds ethanol (as "OCC") and benzene.
GENERATED = ["CCO", "OCC", "c1ccccc1", "C1=CC=CC=C1", "C(((", "", "CCN", "CC(=O)O", "c1ccncc1", "CCCl"]
REFERENCE = ["OCC", "c1ccccc1", "not a smiles"]


def test_metrics_on_known_set() -> None:
    m = molecule_metrics(GENERATED, reference=REFERENCE)
    assert (m["n"], m["n_valid"], m["n_unique"]) == (10, 8, 6)
    assert m["valid"] == pytest.approx(0.8)
    assert m["unique"] == pytest.approx(6 / 8)
    assert m["novel"] == pytest.approx(4 / 6)  # CCN, CC(=O)O, pyridine, CCCl
    valid = [s for s in GENERATED if s not in ("C(((", "")]
    assert m["logp"] == pytest.approx(np.mean([Crippen.MolLogP(Chem.MolFromSmiles(s)) for s in valid]))
    assert m["length"] == pytest.approx(np.mean([3, 3, 8, 11, 3, 7, 8, 3]))
    assert m["ring_penalty"] == 0.0 and 0 < m["qed"] < 1 and 1 <= m["sa"] <= 10
    assert m["intdiv_n"] == 6 and 0 < m["intdiv"] < 1


def test_no_reference_and_no_valid() -> None:
    m = molecule_metrics(["CCO", "CCO"])
    assert math.isnan(m["novel"]) and m["unique"] == 0.5 and math.isnan(m["intdiv"])  # one distinct molecule
    empty = molecule_metrics(["C(((", "xyz"], reference=["CCO"])
    assert empty["valid"] == 0.0 and math.isnan(empty["unique"]) and math.isnan(empty["logp"])
    assert math.isnan(molecule_metrics([])["valid"])


def test_reference_is_canonical_flag() -> None:
    # "OCC" is not canonical: with the flag it is taken literally, so ethanol counts as novel.
    assert molecule_metrics(["CCO"], reference=["OCC"])["novel"] == 0.0
    assert molecule_metrics(["CCO"], reference=["OCC"], reference_is_canonical=True)["novel"] == 1.0


def test_internal_diversity_exact() -> None:
    smiles = ["CCO", "c1ccccc1", "CCN"]
    for bits in (1024, 2048):
        gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=bits)
        fps = [gen.GetFingerprint(Chem.MolFromSmiles(s)) for s in smiles]
        sims = [DataStructs.TanimotoSimilarity(fps[i], fps[j]) for i in range(3) for j in range(i + 1, 3)]
        value, n = internal_diversity(smiles, n_bits=bits)
        assert n == 3 and value == pytest.approx(1 - np.mean(sims), abs=1e-12)


def test_internal_diversity_blocks_match_rdkit_bulk() -> None:
    smiles = read_smiles_file(FIXTURE)[:120]
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=1024)
    fps = [gen.GetFingerprint(Chem.MolFromSmiles(s)) for s in smiles]
    sims = [s for i in range(len(fps) - 1) for s in DataStructs.BulkTanimotoSimilarity(fps[i], fps[i + 1 :])]
    value, _ = internal_diversity(smiles, block=7)  # uneven blocks exercise the triangle bookkeeping
    assert value == pytest.approx(1 - np.mean(sims), abs=1e-9)
    assert internal_diversity(["CCO", "CCO"])[0] == pytest.approx(0.0)


def test_internal_diversity_subsample_is_seeded() -> None:
    smiles = read_smiles_file(FIXTURE)[:200]
    full, n_full = internal_diversity(smiles)
    a, n_a = internal_diversity(smiles, sample=50, seed=1)
    b, _ = internal_diversity(smiles, sample=50, seed=1)
    assert n_full == 200 and n_a == 50 and a == b
    assert 0.8 < full < 0.95 and abs(a - full) < 0.05  # drug-like MOSES molecules: IntDiv ~0.86-0.88


def test_format_metrics_table() -> None:
    m = molecule_metrics(GENERATED, reference=REFERENCE)
    table = format_metrics_table({"prior": m, "tuned": {**m, "valid": 0.5}})
    lines = table.splitlines()
    assert lines[0] == "| metric | prior | tuned | MOSES CharRNN |"
    assert "| valid | 0.800 | 0.500 | 0.975 |" in lines
    assert "| IntDiv | " in table and "0.856" in table and "| logP |" in table
    assert "| novel (of unique valid) | 0.667 | 0.667 | 0.842 |" in lines
    no_ref = format_metrics_table({"prior": m}, reference_columns=None)
    assert "MOSES" not in no_ref and no_ref.splitlines()[0] == "| metric | prior |"
    expected = {"valid": 0.975, "unique": 0.999, "novel": 0.842, "intdiv": 0.856}
    assert MOSES_REFERENCE["MOSES CharRNN"] == expected


def test_invalid_reasons_name_each_failure():
    from seqtutor_envs.smiles.metrics import invalid_reasons

    counts = invalid_reasons(["CCO", "c1ccccc1", "C1CC", "CC(", "", "c1cccc1", "C(C)(C)(C)(C)C", "FC(F)(F)(F)F"])
    # Two valid strings are not counted; an unclosed ring, an open branch and an empty string do not
    # parse; a five-membered all-carbon aromatic ring has no Kekulé form; two carbons exceed valence 4.
    assert counts == {"syntax": 3, "kekulization": 1, "valence": 2, "other": 0}
