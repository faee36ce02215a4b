"""Randomised SMILES (same molecule, encodable, seeded) and the selective scaffold purge."""

import numpy as np
from rdkit import Chem

from seqtutor_envs.smiles.augment import randomized_smiles, scaffold_of, scaffold_purge_mask
from seqtutor_envs.smiles.diversity_filter import DiversityFilter
from seqtutor_envs.smiles.env import SmilesEnv
from seqtutor_envs.smiles.external import EpisodeEncoder
from seqtutor_envs.smiles.objectives import make_objective

MOLECULES = [
    "CC(=O)Oc1ccccc1C(=O)O",
    "CCN(CC)C(=O)c1ccccc1",
    "c1ccc2[nH]ccc2c1",
    "O=C(O)CCc1ccc(Cl)cc1",
    "Cc1ccc(S(=O)(=O)N2CCOCC2)cc1",
    "CCO",
]


def _canonical(smiles):
    return Chem.MolToSmiles(Chem.MolFromSmiles(smiles))


def test_randomised_strings_are_the_same_molecules_encodable_and_not_canonical():
    enc = EpisodeEncoder.from_env(SmilesEnv(objective="qed"))
    out = randomized_smiles(MOLECULES, np.random.default_rng(0), accept=enc.encodable)
    assert out.source.tolist() == list(range(len(MOLECULES))) and out.invalid == out.failed == 0
    for text, i in zip(out.smiles, out.source, strict=False):
        assert _canonical(text) == _canonical(MOLECULES[i]) and enc.encodable(text)
    assert all(t != _canonical(m) for t, m in zip(out.smiles, MOLECULES, strict=False)) and out.fallback == 0
    ext = enc.episodes(out.smiles, scores=np.arange(len(out.smiles), dtype=float))  # rewards reused
    assert len(ext) == len(MOLECULES) and ext.final_scores.tolist() == list(range(len(MOLECULES)))


def test_the_generator_fixes_the_strings():
    a = randomized_smiles(MOLECULES, np.random.default_rng(5))
    b = randomized_smiles(MOLECULES, np.random.default_rng(5))
    c = randomized_smiles(MOLECULES, np.random.default_rng(6))
    assert a.smiles == b.smiles and a.smiles != c.smiles


def test_the_predicate_restricts_the_strings_and_every_fallback_is_counted():
    ring_open_first = randomized_smiles(MOLECULES[:3], np.random.default_rng(1), accept=lambda s: s[0] == "c")
    assert all(s[0] == "c" for s in ring_open_first.smiles) and ring_open_first.failed == 0
    only_inputs = randomized_smiles(MOLECULES, np.random.default_rng(1), accept=lambda s: s in MOLECULES)
    assert only_inputs.smiles == MOLECULES  # no accepted random string differs from the canonical one: the inputs
    assert only_inputs.fallback == len(MOLECULES) and only_inputs.failed == 0
    nothing = randomized_smiles([*MOLECULES, "C1CC"], np.random.default_rng(1), accept=lambda s: False)
    assert nothing.smiles == [] and nothing.failed == len(MOLECULES) and nothing.invalid == 1


def test_the_purge_drops_every_entry_of_a_zeroed_scaffold():
    memory = ["Cc1ccccc1", "OCCc1ccccc1", "CCc1ccncc1", "CCCO", "c1ccc(C2CC2)cc1", "C1CC"]
    keep = scaffold_purge_mask(memory, ["CCCCc1ccccc1"])  # benzene's scaffold
    assert keep.tolist() == [False, False, True, True, True, True]
    assert scaffold_purge_mask(memory, []).all()
    assert scaffold_purge_mask(memory, ["CCN"]).tolist() == [True, True, True, False, True, True]  # acyclic: ""
    scaffolds = [scaffold_of(s) for s in memory]
    assert scaffolds[-1] is None and scaffolds[0] == "c1ccccc1"
    np.testing.assert_array_equal(scaffold_purge_mask(memory, ["CCCCc1ccccc1"], scaffolds), keep)


def test_the_diversity_filter_hands_over_the_molecules_it_zeroed_once():
    df = DiversityFilter(make_objective("qed"), bucket_size=1, min_score=0.0)
    smiles = ["Cc1ccccc1", "CCc1ccccc1", "Cc1ccccc1", "CCc1ccncc1"]
    out = df.filter(smiles, np.full(4, 0.9))
    assert out.tolist() == [0.9, 0.0, 0.0, 0.9]  # full bucket, then a repeat
    assert df.take_zeroed() == ["CCc1ccccc1"] and df.take_zeroed() == []
    df.filter(["Cc1ccccc1", "CCCc1ccccc1"], np.full(2, 0.9))
    assert df.take_zeroed(repeats=True) == ["Cc1ccccc1", "CCCc1ccccc1"]
    memory = ["Cc1ccccc1", "CCc1ccncc1"]
    assert scaffold_purge_mask(memory, ["CCCc1ccccc1"]).tolist() == [False, True]
