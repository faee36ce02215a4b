"""GuacaMol / PMO oracles: target values, hand-computed modifier values, invalid input, env hook."""

import math
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import AllChem, Descriptors

import seqtutor_envs  # noqa: F401
from seqtutor_envs.smiles import guacamol as g
from seqtutor_envs.smiles.guacamol import (
    GUACAMOL_OBJECTIVES,
    Clipped,
    Descriptor,
    Gaussian,
    GuacamolObjective,
    MaxGaussian,
    MinGaussian,
    Similarity,
    fingerprint,
    guacamol_objective,
    parse_formula,
)
from seqtutor_envs.smiles.objectives import Objective, make_objective
from seqtutor_envs.smiles.scoring import MoleculeScorer

ENV_ID = "SeqTutor-SMILES-v0"
FIXTURE = Path(__file__).resolve().parents[1] / "data" / "smiles_fixture.smi"
MANDATORY = (
    "qed",
    "celecoxib_rediscovery",
    "troglitazone_rediscovery",
    "albuterol_similarity",
    "isomers_c9h10n2o2pf2cl",
    "median1",
    "osimertinib_mpo",
    "fexofenadine_mpo",
    "sitagliptin_mpo",
    "valsartan_smarts",
    "deco_hop",
    "scaffold_hop",
)
GARBAGE = ["", "C1CC", "Xx%%%", "C C", "c1cccc1", "CC(C)(C)(C)(C)C", "((", None, 42]
# A molecule with formula C9H10N2O2PF2Cl (checked below with RDKit's formula).
C9H10N2O2PF2CL = "NC(=O)c1cc(Cl)ccc1CC(N)P(F)(F)=O"
VALSARTAN = "CCCCC(=O)N(Cc1ccc(-c2ccccc2-c2nn[nH]n2)cc1)C(C(C)C)C(=O)O"


def _fixture() -> list[str]:
    lines = FIXTURE.read_text().splitlines()
    return [ln.split()[0] for ln in lines if ln.strip() and not ln.startswith("#")]


def _non_canonical(smiles: str) -> str:
    mol = Chem.MolFromSmiles(smiles)
    alt = Chem.MolToSmiles(mol, rootedAtAtom=mol.GetNumAtoms() - 1, canonical=False)
    assert alt != Chem.MolToSmiles(mol)
    return alt


@pytest.fixture(scope="module")
def oracles() -> dict[str, GuacamolObjective]:
    scorer = MoleculeScorer()  # shared, like an env would share it
    return {name: guacamol_objective(name, scorer=scorer) for name in GUACAMOL_OBJECTIVES}


def test_registry_has_every_requested_oracle(oracles):
    assert set(MANDATORY) <= set(GUACAMOL_OBJECTIVES)
    assert {
        "thiothixene_rediscovery",
        "mestranol_similarity",
        "isomers_c11h24",
        "median2",
        "ranolazine_mpo",
        "perindopril_mpo",
        "amlodipine_mpo",
        "zaleplon_mpo",
    } <= set(GUACAMOL_OBJECTIVES)
    for name, obj in oracles.items():
        assert isinstance(obj, Objective) and obj.name == f"guacamol:{name}"
        assert not obj.has_prefix_shaping and obj.invalid_value == 0.0


# ---- targets ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,target",
    [
        ("celecoxib_rediscovery", g.CELECOXIB),
        ("troglitazone_rediscovery", g.TROGLITAZONE),
        ("thiothixene_rediscovery", g.THIOTHIXENE),
        ("albuterol_similarity", g.ALBUTEROL),
        ("mestranol_similarity", g.MESTRANOL),
    ],
)
def test_rediscovery_and_similarity_targets_score_one(oracles, name, target):
    canonical = Chem.MolToSmiles(Chem.MolFromSmiles(target))
    scores = oracles[name].score_final([target, canonical, _non_canonical(target), "CCO"])
    assert scores.dtype == np.float64
    assert scores[:3].tolist() == [1.0, 1.0, 1.0]
    assert 0.0 <= scores[3] < 0.2


def test_similarity_is_clipped_linear_below_threshold(oracles):
    # Octopamine (albuterol without the tert-butyl and the CH2OH): FCFP4 similarity below 0.75, so
    # the score is sim / 0.75; the isopropyl analog of albuterol is above the threshold: 1.0.
    analog = "NCC(O)c1ccc(O)cc1"
    assert oracles["albuterol_similarity"].score_final(["CC(C)NCC(O)c1ccc(O)c(CO)c1"])[0] == 1.0
    fp_a = fingerprint(Chem.MolFromSmiles(analog), "FCFP4")
    fp_t = fingerprint(Chem.MolFromSmiles(g.ALBUTEROL), "FCFP4")
    from rdkit import DataStructs

    sim = DataStructs.TanimotoSimilarity(fp_a, fp_t)
    assert 0.3 < sim < 0.75
    assert oracles["albuterol_similarity"].score_final([analog])[0] == pytest.approx(sim / 0.75, abs=1e-12)


def test_isomer_oracles_score_one_on_their_formula(oracles):
    assert Chem.rdMolDescriptors.CalcMolFormula(Chem.MolFromSmiles(C9H10N2O2PF2CL)) == "C9H10ClF2N2O2P"
    assert oracles["isomers_c9h10n2o2pf2cl"].score_final([C9H10N2O2PF2CL])[0] == 1.0
    c11h24 = ["CCCCCCCCCCC", "CC(CCC)CCCCCC", "CCCCC(CC(C)CC)C"]
    assert oracles["isomers_c11h24"].score_final(c11h24).tolist() == [1.0] * 3
    assert oracles["isomers_c7h8n2o2"].score_final(["Cc1ccc(N)cc1[N+](=O)[O-]"])[0] == 1.0


def test_isomer_value_by_hand(oracles):
    # C11H24O against C11H24: C and H exact (1 each), total atoms 36 vs 35 -> exp(-0.5 (1/2)^2);
    # geometric mean of the three parts -> exp(-1/8)^(1/3) = exp(-1/24).
    score = oracles["isomers_c11h24"].score_final(["CCCCCCCCCCCO"])[0]
    assert score == pytest.approx(math.exp(-1 / 24), rel=1e-12)
    # One C too many for C12H24 (C11H24O has 36 atoms like C12H24): exp(-0.5)^(1/3).
    obj = GuacamolObjective("c12h24", [g.Isomer("C12H24")])
    assert obj.score_final(["CCCCCCCCOCCC"])[0] == pytest.approx(math.exp(-0.5 / 3), rel=1e-12)


def test_osimertinib_terms_by_hand(oracles):
    obj = oracles["osimertinib_mpo"]
    mol = Chem.MolFromSmiles(g.OSIMERTINIB)
    tpsa, logp = Descriptors.TPSA(mol), Descriptors.MolLogP(mol)
    expected = [
        1.0,  # FCFP4 similarity 1 through clip(0.8)
        math.exp(-0.5 * ((1.0 - 0.85) / 0.1) ** 2),  # ECFP6 similarity 1 is above mu = 0.85
        math.exp(-0.5 * ((min(tpsa, 100.0) - 100.0) / 10.0) ** 2),  # 1 only from TPSA 100 up
        math.exp(-0.5 * ((max(logp, 1.0) - 1.0) / 1.0) ** 2),  # 1 only up to logP 1
    ]
    assert tpsa < 100 and logp > 1  # so both descriptor parts are strictly below 1
    terms = obj.term_scores([g.OSIMERTINIB])[0]
    assert terms == pytest.approx(expected, rel=1e-12)
    assert obj.score_final([g.OSIMERTINIB])[0] == pytest.approx(np.prod(expected) ** 0.25, rel=1e-12)


def test_sitagliptin_on_itself_is_tiny_by_design(oracles):
    # Similarity 1 through Gaussian(0, 0.1) = exp(-50); logP, TPSA and formula parts are exactly 1.
    score = oracles["sitagliptin_mpo"].score_final([g.SITAGLIPTIN])[0]
    assert score == pytest.approx(math.exp(-50 / 4), rel=1e-9)


def test_median_and_hop_values(oracles):
    from rdkit import DataStructs

    camphor, menthol = (fingerprint(Chem.MolFromSmiles(s), "ECFP4") for s in (g.CAMPHOR, g.MENTHOL))
    sim = DataStructs.TanimotoSimilarity(camphor, menthol)
    assert oracles["median1"].score_final([g.CAMPHOR])[0] == pytest.approx(math.sqrt(sim), rel=1e-12)
    # The start molecule of both hops: PHCO similarity 1; it has both decorations and the scaffold.
    assert oracles["deco_hop"].score_final([g.DECO_HOP_START])[0] == pytest.approx((1 + 0 + 0 + 1) / 4)
    assert oracles["scaffold_hop"].score_final([g.DECO_HOP_START])[0] == pytest.approx((1 + 1 + 0) / 3)


def test_valsartan_smarts_needs_the_substructure(oracles):
    obj = oracles["valsartan_smarts"]
    terms = obj.term_scores([VALSARTAN, "CCOc1ccccc1"])
    assert terms[0, 0] == 1.0 and terms[1, 0] == 0.0
    scores = obj.score_final([VALSARTAN, "CCOc1ccccc1"])
    assert scores[0] > 0.0 and scores[1] == 0.0


def test_modifiers_by_hand():
    assert Gaussian(2.0, 0.5)(np.array([2.0, 3.0])) == pytest.approx([1.0, math.exp(-2.0)])
    assert MinGaussian(1.0, 1.0)(np.array([-5.0, 1.0, 2.0])) == pytest.approx([1.0, 1.0, math.exp(-0.5)])
    assert MaxGaussian(100.0, 10.0)(np.array([90.0, 100.0, 150.0])) == pytest.approx([math.exp(-0.5), 1.0, 1.0])
    assert Clipped(0.8)(np.array([-0.1, 0.4, 0.8, 0.9])) == pytest.approx([0.0, 0.5, 1.0, 1.0])


@pytest.mark.skipif(not hasattr(AllChem, "GetMorganFingerprint"), reason="legacy fingerprint API removed")
def test_generator_fingerprints_equal_guacamol_legacy_calls():
    """GuacaMol calls AllChem.GetMorganFingerprint / GetAtomPairFingerprint; our generators give the same."""
    legacy = {
        "ECFP4": lambda m: AllChem.GetMorganFingerprint(m, 2),
        "ECFP6": lambda m: AllChem.GetMorganFingerprint(m, 3),
        "FCFP4": lambda m: AllChem.GetMorganFingerprint(m, 2, useFeatures=True),
        "AP": lambda m: AllChem.GetAtomPairFingerprint(m, maxLength=10),
    }
    smiles = [*_fixture()[:60], g.MESTRANOL, g.OSIMERTINIB]
    mols = [m for m in map(Chem.MolFromSmiles, smiles) if m is not None]
    for kind, fn in legacy.items():
        for m in mols:
            assert fingerprint(m, kind).GetNonzeroElements() == fn(m).GetNonzeroElements(), kind


# ---- robustness and batches -------------------------------------------------------------------


@pytest.mark.parametrize("name", GUACAMOL_OBJECTIVES)
def test_invalid_and_garbage_score_zero(oracles, name):
    scores = oracles[name].score_final(GARBAGE)
    assert scores.dtype == np.float64 and scores.tolist() == [0.0] * len(GARBAGE)


def test_scores_in_unit_interval_over_the_fixture(oracles):
    smiles = _fixture()
    for name, obj in oracles.items():
        batch = smiles if "hop" not in name else smiles[::5]  # the pharmacophore fingerprint is slow
        batch = [*batch, VALSARTAN]  # the only molecule here with valsartan_smarts' substructure
        scores = obj.score_final(batch)
        assert scores.shape == (len(batch),) and scores.dtype == np.float64, name
        assert np.all((scores >= 0.0) & (scores <= 1.0)), name
        valid = np.array([obj.scorer.canonical(s) is not None for s in batch])
        assert np.all(scores[~valid] == 0.0) and np.any(scores[valid] > 0.0), name
        # Cached and uncached, batched and one by one: the same numbers.
        assert np.array_equal(obj.score_final(batch), scores), name
        assert obj.score_final(batch[3:4])[0] == scores[3], name
    assert oracles["qed"].scorer.stats["errors"] == 0


def test_a_failing_term_scores_zero_and_is_recorded():
    def broken(mol):
        raise RuntimeError("descriptor exploded")

    scorer = MoleculeScorer()
    terms = [Similarity(g.CELECOXIB, "ECFP4"), Descriptor("boom", broken)]
    obj = GuacamolObjective("broken", terms, scorer=scorer)
    assert obj.score_final(["CCO", "xx"]).tolist() == [0.0, 0.0]
    assert any("descriptor exploded" in e for e in scorer.last_errors)


def test_bad_definitions_fail_clearly():
    with pytest.raises(ValueError, match="not a molecular formula: 'C9h10'"):
        parse_formula("C9h10")
    expected = [("C", 9), ("H", 10), ("N", 2), ("O", 2), ("P", 1), ("F", 2), ("Cl", 1)]
    assert parse_formula("C9H10N2O2PF2Cl") == expected
    with pytest.raises(ValueError, match="unknown fingerprint 'ECFP8'"):
        Similarity("CCO", "ECFP8")
    with pytest.raises(ValueError, match="cannot parse the target SMILES 'C1CC'"):
        Similarity("C1CC", "ECFP4")
    with pytest.raises(ValueError, match="mean must be"):
        GuacamolObjective("x", [Similarity("CCO", "ECFP4")], mean="harmonic")


# ---- hooks ------------------------------------------------------------------------------------


def test_make_objective_builds_oracles_and_rejects_unknown_names():
    scorer = MoleculeScorer()
    obj = make_objective("guacamol:celecoxib_rediscovery", scorer=scorer)
    assert isinstance(obj, GuacamolObjective) and obj.scorer is scorer
    assert obj.score_final([g.CELECOXIB])[0] == 1.0
    assert make_objective("GuacaMol:QED").name == "guacamol:qed"
    listing = r"unknown GuacaMol objective 'nope'.*celecoxib_rediscovery.*scaffold_hop"
    with pytest.raises(ValueError, match=listing):
        make_objective("guacamol:nope")
    with pytest.raises(ValueError, match="guacamol:<name>"):
        make_objective("logd")


def test_env_with_a_guacamol_objective():
    env = gym.make(ENV_ID, objective="guacamol:celecoxib_rediscovery")
    assert env.unwrapped.c == 0.02 and env.unwrapped.task.objective.name == "guacamol:celecoxib_rediscovery"
    canonical = Chem.MolToSmiles(Chem.MolFromSmiles(g.CELECOXIB))
    env.reset(seed=0)
    for a in env.unwrapped.vocab.encode(canonical, add_bos=False, add_end=True):
        _, reward, terminated, _, info = env.step(int(a))
        if terminated:
            break
    assert terminated and info["smiles"] == canonical
    assert info["reward_terms"]["final_score"] == 1.0
    assert reward == pytest.approx(info["prior_log_prob"] + 1.0 / 0.02)
    assert gym.make(ENV_ID, objective="guacamol:qed", c=0.5).unwrapped.c == 0.5
    with pytest.raises(ValueError, match="unknown GuacaMol objective 'nope'"):
        gym.make(ENV_ID, objective="guacamol:nope")
