"""The numpy Gobbi 2D pharmacophore fingerprint sets exactly RDKit's bits (GuacaMol's PHCO)."""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem.Pharm2D import Generate, Gobbi_Pharm2D, Utils

from benchmarks.molecule_opt import RDKIT_ORACLES
from seqtutor_envs.smiles import guacamol as g
from seqtutor_envs.smiles import guacamol_terms
from seqtutor_envs.smiles import pharmacophore as ph

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "smiles_fixture.smi"

# Shapes that exercise each rule: one feature, disconnected fragments (no distance), a salt, an atom in
# two families (the OH oxygen is a donor and an acceptor: the same atom-id tuple twice), symmetric
# molecules (ties in the canonical triangle order), features further apart than the last bin edge
# (100 bonds), multi-atom features (rings), charged groups, an unusual atom.
EDGE_CASES = [
    "C",
    "O",
    "CCO",
    "c1ccccc1.CCN",
    "[Na+].[Cl-]",
    "OC(=O)CCN.OC(=O)CCN",
    "OCC(O)CO",
    "NC(CN)(CN)CN",
    "N" + "C" * 105 + "N",
    "N" + "C" * 97 + "N",
    "OC1CC(O)CC(O)C1",
    "c1cc(O)cc(O)c1",
    "C[N+](C)(C)CC(=O)[O-]",
    "OB(O)c1ccccc1",
    "FC(F)(F)c1ccc(cc1)S(=O)(=O)N",
    "C1CC2CCC1CC2",
    "NC(=N)NCCC[C@H](N)C(=O)O",
]


def _fixture_smiles() -> list[str]:
    lines = FIXTURE.read_text().splitlines()
    return [ln.split()[0] for ln in lines if ln.strip() and not ln.startswith("#")]


def _rdkit_bits(mol: Chem.Mol) -> list[int]:
    return list(Generate.Gen2DFingerprint(mol, Gobbi_Pharm2D.factory).GetOnBits())


@pytest.mark.parametrize(
    "source",
    [
        "fixture",
        pytest.param("targets and edge cases", marks=pytest.mark.slow),  # 15 s: every target
    ],
)
def test_bits_equal_rdkits(source):
    if source == "fixture":
        smiles = _fixture_smiles()
    else:
        smiles = [g.DECO_HOP_START, g.MESTRANOL, g.OSIMERTINIB, g.CELECOXIB, g.TROGLITAZONE, *EDGE_CASES]
    mols = [m for m in map(Chem.MolFromSmiles, smiles) if m is not None]
    assert len(mols) >= min(len(smiles), 17) - 5  # the fixture holds a few invalid lines on purpose
    n_bits = 0
    for mol in mols:
        fp = ph.gobbi_2d_fingerprint(mol)
        assert fp.GetNumBits() == Gobbi_Pharm2D.factory.GetSigSize()
        assert list(fp.GetOnBits()) == _rdkit_bits(mol), Chem.MolToSmiles(mol)
        n_bits += fp.GetNumOnBits()
    assert n_bits > 50 * len(mols)  # real fingerprints, not empty ones agreeing


def test_rules_that_empty_the_fingerprint():
    # No feature (methane); the donor and acceptor of one OH are the same atoms, so methanol has no
    # pair; features in two fragments have no path between them (RDKit's distance 1e8 is past the last
    # bin). Joined by two carbons, the two amines have bits.
    for smiles in ("C", "CO", "N.N", "[Na+].[Cl-]"):
        assert ph.gobbi_2d_fingerprint(Chem.MolFromSmiles(smiles)).GetNumOnBits() == 0, smiles
    joined = Chem.MolFromSmiles("NCCN")
    assert ph.gobbi_2d_fingerprint(joined).GetNumOnBits() > 0
    assert list(ph.gobbi_2d_fingerprint(joined).GetOnBits()) == _rdkit_bits(joined)


def test_triangle_order_equals_rdkits_on_every_small_case():
    family_patterns = list(itertools.combinations_with_replacement(range(3), 3))
    cases = [(f, d) for f in family_patterns for d in itertools.product(range(2, 11), repeat=3)]
    fams = np.array([f for f, _ in cases])
    dists = np.array([d for _, d in cases])
    ours = ph._order_triangles(fams, dists)
    for (f, d), row in zip(cases, ours, strict=False):
        assert list(row) == list(Utils.OrderTriangle(list(f), list(d))[1]), (f, d)


def test_a_shape_without_a_bit_is_left_to_rdkit(monkeypatch):
    # Where the factory's numbering has no scaffold for a binned triangle, RDKit's own function decides.
    mol = Chem.MolFromSmiles(g.DECO_HOP_START)
    calls = []
    expected = _rdkit_bits(mol)
    original = Generate.Gen2DFingerprint

    def rdkit(m, factory):
        calls.append(m)
        return original(m, factory)

    monkeypatch.setattr(ph._NUMBERING, "scaffold3", np.full_like(ph._NUMBERING.scaffold3, -1))
    monkeypatch.setattr(ph.Generate, "Gen2DFingerprint", rdkit)
    assert list(ph.gobbi_2d_fingerprint(mol).GetOnBits()) == expected
    assert calls == [mol]


def test_the_hop_oracles_score_with_it(monkeypatch):
    computed = []

    def counted(mol):
        computed.append(Chem.MolToSmiles(mol))
        return ph.gobbi_2d_fingerprint(mol)

    monkeypatch.setattr(guacamol_terms, "gobbi_2d_fingerprint", counted)  # where the oracles' fingerprints are made
    for name in ("deco_hop", "scaffold_hop"):
        oracle = g.guacamol_objective(name)
        assert oracle.score_final([g.OSIMERTINIB])[0] > 0
    assert computed.count(Chem.MolToSmiles(Chem.MolFromSmiles(g.OSIMERTINIB))) == 2


def test_the_speed_benchmark_reports_every_oracle_and_no_mismatch(tmp_path):
    root = Path(__file__).resolve().parents[2]
    out = tmp_path / "oracle_speed.md"
    env = {"TMPDIR": str(tmp_path), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.oracle_speed",
            "--num-envs",
            "16",
            "--steps",
            "60",
            "--repeats",
            "1",
            "--out",
            str(out),
        ],
        cwd=root,
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    text = out.read_text()
    compared = re.search(r"Molecules whose bits differ from RDKit's: \*\*0 of ([\d,]+)\*\*", text)
    assert compared is not None and int(compared.group(1).replace(",", "")) >= 10
    assert all(f"| {name} |" in text for name in RDKIT_ORACLES)
    assert "speed-up over RDKit" in text and "Machine:" in text
