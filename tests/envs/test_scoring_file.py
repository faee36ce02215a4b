"""Scoring files: each component against RDKit computed directly, each transform against its formula, the
aggregation, a file equal to a preset, and the env's info."""

import json
import math
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from rdkit import Chem, DataStructs
from rdkit.Chem import QED, Crippen, Descriptors, FilterCatalog, Lipinski, rdFingerprintGenerator

import seqtutor_envs  # noqa: F401
from seqtutor_envs.smiles.corpus import read_smiles_file
from seqtutor_envs.smiles.guacamol import guacamol_objective
from seqtutor_envs.smiles.scoring import load_sascorer
from seqtutor_envs.smiles.scoring_file import load_scoring_file
from seqtutor_envs.smiles.transforms import TRANSFORMS

ENV_ID = "SeqTutor-SMILES-v0"
ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "data" / "smiles_fixture.smi"
EXAMPLES = ROOT / "examples" / "scoring"
# The fixture's molecules, and a few with explicit hydrogens, charges and a macrocycle.
EXTRA = ["[H]OC([H])([H])C", "C[N+](C)(C)CC(=O)[O-]", "C1CCCCCCCCCCC1", "c1ccc2ccccc2c1", "O=C(O)CCS", "CCS(=O)(=O)N"]


def _molecules() -> list[str]:
    canon = [Chem.MolToSmiles(m) for m in (Chem.MolFromSmiles(s) for s in read_smiles_file(FIXTURE) + EXTRA) if m]
    return list(dict.fromkeys(canon))


def _file(tmp_path: Path, body: str, name: str = "scoring.toml") -> Path:
    path = tmp_path / name
    path.write_text(body)
    return path


def _one(component: str, endpoint: str = "", params: str = "") -> str:
    """A scoring file with one component (``endpoint`` lines go into its endpoint table)."""
    return (
        f'[scoring]\ntype = "arithmetic_mean"\n[[scoring.component]]\n[scoring.component.{component}]\n'
        f"{params}[[scoring.component.{component}.endpoint]]\n{endpoint}\n"
    )


IDENTITY = 'transform.type = "linear_ramp"\ntransform.low = 0.0\ntransform.high = 1.0\n'  # clips to [0, 1]

DESCRIPTORS = {  # component -> RDKit function on the molecule of the canonical SMILES
    "QED": QED.qed,
    "SAScore": lambda m: load_sascorer().calculateScore(m),
    "MolecularWeight": Descriptors.MolWt,
    "SlogP": Crippen.MolLogP,
    "TPSA": Descriptors.TPSA,
    "HBondDonors": Lipinski.NumHDonors,
    "HBondAcceptors": Lipinski.NumHAcceptors,
    "NumRotBond": Lipinski.NumRotatableBonds,
    "NumRings": Lipinski.RingCount,
    "NumAromaticRings": Lipinski.NumAromaticRings,
    "NumHeavyAtoms": Lipinski.HeavyAtomCount,
    "FormalCharge": Chem.GetFormalCharge,
    "Csp3": Lipinski.FractionCSP3,
}


@pytest.mark.parametrize("component", sorted(DESCRIPTORS))
def test_each_descriptor_is_rdkit_computed_directly(tmp_path, component):
    smiles = _molecules()
    fn = load_scoring_file(_file(tmp_path, _one(component, IDENTITY)))
    table = fn.evaluate(smiles)
    expected = np.array([float(DESCRIPTORS[component](Chem.MolFromSmiles(s))) for s in smiles])
    np.testing.assert_array_equal(table.raw[:, 0], expected)  # bit for bit
    np.testing.assert_array_equal(table.transformed[:, 0], np.clip(expected, 0, 1))


def test_descriptors_shared_with_qed_equal_rdkit_bit_for_bit(tmp_path):
    """MW, logP, TPSA and donors come from QED's own property calculation when QED is scored too."""
    parts = "".join(
        _one(c, f'name = "{c}"\n' + (IDENTITY if c != "QED" else "")).split("\n", 2)[2]
        for c in ("QED", "MolecularWeight", "SlogP", "TPSA", "HBondDonors")
    )
    fn = load_scoring_file(_file(tmp_path, "[scoring]\n" + parts))
    smiles = _molecules()
    table = fn.evaluate(smiles)
    for j, name in enumerate(fn.names):
        expected = [float(DESCRIPTORS[name](Chem.MolFromSmiles(s))) for s in smiles]
        np.testing.assert_array_equal(table.raw[:, j], expected, err_msg=name)


@pytest.mark.parametrize("fingerprint,radius,features", [("ECFP4", 2, False), ("FCFP4", 2, True), ("ECFP6", 3, False)])
@pytest.mark.parametrize("counts", [False, True])
@pytest.mark.parametrize("aggregate", ["max", "mean"])
def test_tanimoto_similarity_is_rdkit_computed_directly(tmp_path, fingerprint, radius, features, counts, aggregate):
    refs = ["CC(=O)Oc1ccccc1C(=O)O", "Cc1ccc(-c2cc(C(F)(F)F)nn2-c2ccc(S(N)(=O)=O)cc2)cc1"]
    params = (
        f'params.smiles = {json.dumps(refs)}\nparams.fingerprint = "{fingerprint}"\n'
        f'params.use_counts = {str(counts).lower()}\nparams.aggregate = "{aggregate}"\n'
    )
    fn = load_scoring_file(_file(tmp_path, _one("TanimotoSimilarity", params)))
    smiles = _molecules()
    invariants = {"atomInvariantsGenerator": rdFingerprintGenerator.GetMorganFeatureAtomInvGen()} if features else {}
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=2048, **invariants)
    fp = gen.GetSparseCountFingerprint if counts else gen.GetFingerprint
    ref_fps = [fp(Chem.MolFromSmiles(r)) for r in refs]
    reduce = max if aggregate == "max" else (lambda v: sum(v) / len(v))
    expected = [reduce([DataStructs.TanimotoSimilarity(fp(Chem.MolFromSmiles(s)), r) for r in ref_fps]) for s in smiles]
    np.testing.assert_allclose(fn.evaluate(smiles).raw[:, 0], expected, rtol=0, atol=1e-15)
    assert fn.evaluate(refs).raw[:, 0].tolist() == [1.0, 1.0] if aggregate == "max" else True


def test_substructures_alerts_and_catalogues_are_rdkit_computed_directly(tmp_path):
    smarts = ["c1ccccc1", "[NX3;H2]"]
    alerts = ["[#8][#8]", "C(=[O,S])[O,S]", "[*;r8]"]
    body = "[scoring]\n" + "".join(
        _one(kind, f'name = "{kind}"\n' + params).split("\n", 2)[2]
        for kind, params in (
            ("RequiredSubstructure", f"params.smarts = {json.dumps(smarts)}\n"),
            ("ForbiddenSubstructure", f"params.smarts = {json.dumps(smarts)}\n"),
            ("custom_alerts", f"params.smarts = {json.dumps(alerts)}\n"),
            ("FilterCatalog", 'params.catalogs = ["PAINS", "brenk", "NIH"]\n'),
        )
    )
    fn = load_scoring_file(_file(tmp_path, body))
    smiles = _molecules()
    raw = fn.evaluate(smiles).raw
    queries, alert_queries = [Chem.MolFromSmarts(s) for s in smarts], [Chem.MolFromSmarts(s) for s in alerts]
    params = FilterCatalog.FilterCatalogParams()
    for name in ("PAINS", "BRENK", "NIH"):
        params.AddCatalog(getattr(FilterCatalog.FilterCatalogParams.FilterCatalogs, name))
    catalog = FilterCatalog.FilterCatalog(params)
    mols = [Chem.MolFromSmiles(s) for s in smiles]
    np.testing.assert_array_equal(raw[:, 0], [all(m.HasSubstructMatch(q) for q in queries) for m in mols])
    np.testing.assert_array_equal(raw[:, 1], [not any(m.HasSubstructMatch(q) for q in queries) for m in mols])
    np.testing.assert_array_equal(raw[:, 2], [not any(m.HasSubstructMatch(q) for q in alert_queries) for m in mols])
    np.testing.assert_array_equal(raw[:, 3], [not catalog.HasMatch(m) for m in mols])
    assert 0 < raw[:, 2].sum() < len(smiles) and 0 < raw[:, 3].sum() < len(smiles)  # the fixture has both kinds


def test_guacamol_oracle_component_equals_the_oracle(tmp_path):
    fn = load_scoring_file(_file(tmp_path, _one("GuacaMol", 'params.oracle = "celecoxib_rediscovery"\n')))
    smiles = _molecules()
    np.testing.assert_array_equal(
        fn.evaluate(smiles).raw[:, 0], guacamol_objective("celecoxib_rediscovery").score_final(smiles)
    )


def _sig(z: float) -> float:
    return 1.0 / (1.0 + 10.0 ** (-z))


TRANSFORM_CASES = {  # name -> (parameters, the formula of REINVENT 4's documentation, scalar by scalar)
    "sigmoid": ({"low": 200.0, "high": 500.0, "k": 0.5}, lambda x: _sig(10 * 0.5 * (x - 350.0) / 300.0)),
    "reverse_sigmoid": ({"low": 1.0, "high": 3.0, "k": 0.5}, lambda x: 1 - _sig(10 * 0.5 * (x - 2.0) / 2.0)),
    "double_sigmoid": (
        {"low": 200.0, "high": 500.0, "coef_div": 500.0, "coef_si": 20.0, "coef_se": 20.0},
        lambda x: _sig(20 / 500 * (x - 200)) if x < 350 else 1 - _sig(20 / 500 * (x - 500)),
    ),
    "step": ({"low": 2.0, "high": 4.0}, lambda x: float(2 <= x <= 4)),
    "left_step": ({"low": 2.0}, lambda x: float(x <= 2)),
    "right_step": ({"high": 2.0}, lambda x: float(x >= 2)),
    "linear_ramp": ({"low": 1.0, "high": 5.0}, lambda x: min(max((x - 1) / 4, 0.0), 1.0)),
    "value_mapping": (
        {"mapping": {"0": 0.0, "1": 0.5, "2": 1.0}, "default": 0.25},
        lambda x: {0.0: 0.0, 1.0: 0.5, 2.0: 1.0}.get(x, 0.25),
    ),
}


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_each_transform_follows_its_formula(tmp_path, name):
    params, formula = TRANSFORM_CASES[name]
    x = np.concatenate([np.linspace(-50, 900, 400), [0, 1, 2, 3, 4, 5, 200, 350, 500, np.nan]])
    table = {"type": name, **params}
    body = {"scoring": {"component": [{"MolecularWeight": {"endpoint": [{"transform": table}]}}]}}
    fn = load_scoring_file(_file(tmp_path, json.dumps(body), "scoring.json"))
    y = fn.components[0].transform(x)
    expected = [math.nan if math.isnan(v) else formula(v) for v in x]
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-15)
    assert np.all((y[:-1] >= 0) & (y[:-1] <= 1)) and np.isnan(y[-1])


def test_reinvent_transform_landmarks():
    """Where REINVENT 4's curves pass 0.5 and saturate: the midpoint of a sigmoid, both edges of a double sigmoid."""
    sig = TRANSFORMS["sigmoid"][0](low=0.0, high=1.0, k=0.5)
    double = TRANSFORMS["double_sigmoid"][0](low=200.0, high=500.0, coef_div=500.0, coef_si=20.0, coef_se=20.0)
    np.testing.assert_allclose(sig(np.array([0.5])), [0.5])
    np.testing.assert_allclose(double(np.array([200.0, 350.0, 500.0])), [0.5, 1 - 1 / (1 + 10**6), 0.5], rtol=1e-12)
    hard = TRANSFORMS["sigmoid"][0](low=2.0, high=2.0, k=0.5)  # low == high: a step at low
    assert hard(np.array([1.9, 2.0, 2.1])).tolist() == [0.0, 0.0, 1.0]


def test_aggregation_weights_filters_and_invalid(tmp_path):
    fn = load_scoring_file(EXAMPLES / "reinvent_example.toml")
    smiles = [*_molecules(), "not a smiles", ""]
    table = fn.evaluate(smiles)
    names = list(fn.names)
    t = {n: table.transformed[:, names.index(n)] for n in names}
    expected = np.prod([np.maximum(t[n], 1e-8) ** (1 / 3) for n in ("QED", "MW", "TPSA")], axis=0) * t["Alerts"]
    valid = table.valid
    np.testing.assert_allclose(table.score[valid], expected[valid], rtol=1e-12)
    assert table.score[~valid].tolist() == [0.0, 0.0] and np.isnan(table.raw[~valid]).all()
    assert ((table.score == 0) == (~valid | (t["Alerts"] == 0))).all()  # alerts are a filter, not a mean part
    arith = load_scoring_file(
        _file(tmp_path, (EXAMPLES / "qed_mw.toml").read_text().replace('"geometric_mean"', '"arithmetic_mean"'))
    )
    a = arith.evaluate(smiles)
    np.testing.assert_allclose(
        a.score[valid], (0.6 * a.transformed[valid, 0] + 0.4 * a.transformed[valid, 1]), rtol=1e-12
    )


def test_a_nan_component_is_left_out_of_the_mean(tmp_path):
    """A value mapping without an entry gives NaN: the molecule's mean is taken over the other components."""
    body = (
        _one("QED", "weight = 2.0\n") + "[[scoring.component]]\n[scoring.component.NumRings]\n"
        '[[scoring.component.NumRings.endpoint]]\nweight = 1.0\ntransform.type = "value_mapping"\n'
        'transform.mapping = {"1" = 1.0}\n'
    )
    fn = load_scoring_file(_file(tmp_path, body))
    table = fn.evaluate(["c1ccccc1CC", "c1ccc2ccccc2c1"])  # one ring (mapped), two rings (not)
    q = table.raw[:, 0]
    np.testing.assert_allclose(table.score, [(2 * q[0] + 1.0) / 3, q[1]], rtol=1e-12)
    assert np.isnan(table.transformed[1, 1])


def test_a_scoring_file_equal_to_the_qed_preset_gives_identical_rewards(tmp_path):
    path = _file(tmp_path, _one("QED").replace('type = "arithmetic_mean"', 'type = "geometric_mean"'))
    rewards = {}
    for objective in ("qed", f"file:{path}"):
        envs = gym.make_vec(ENV_ID, num_envs=16, objective=objective, max_length=40)
        obs, _ = envs.reset(seed=3)
        rng = np.random.default_rng(3)
        out = []
        for _ in range(120):
            logits = obs["prior_log_probs"].astype(np.float64)
            action = (rng.random(logits.shape) ** (1 / np.exp(logits))).argmax(1)
            obs, reward, *_ = envs.step(action)
            out.append(reward)
        rewards[objective] = np.array(out)
        assert envs.unwrapped.c == 0.02
        envs.close()
    assert (rewards["qed"] != 0).sum() > 30  # molecules finished and scored
    np.testing.assert_array_equal(rewards["qed"], rewards[f"file:{path}"])


def test_env_info_reports_every_component_raw_and_transformed():
    env = gym.make(ENV_ID, objective=f"file:{EXAMPLES / 'qed_mw.toml'}")
    env.reset(seed=0)
    for a in env.unwrapped.vocab.encode("CCOc1ccc(CC(=O)N)cc1", add_bos=False, add_end=True):
        *_, terminated, _, info = env.step(int(a))
    assert terminated
    mol = Chem.MolFromSmiles(Chem.MolToSmiles(Chem.MolFromSmiles("CCOc1ccc(CC(=O)N)cc1")))
    assert info["components_raw"]["MW"] == Descriptors.MolWt(mol) and isinstance(
        info["components_raw"]["MW"], np.float64
    )
    assert info["components"]["QED"] == info["components_raw"]["QED"] == QED.qed(mol)
    mw = info["components"]["MW"]
    expected = (QED.qed(mol) ** 0.6) * (mw**0.4)
    assert info["score"] == pytest.approx(expected, rel=1e-12) and info["domain_reward"] == info["score"]
    venv = gym.make_vec(ENV_ID, num_envs=3, objective=f"file:{EXAMPLES / 'qed_mw.toml'}", max_length=4)
    venv.reset(seed=0)
    for _ in range(4):
        _, _, terminated, _, infos = venv.step(np.array([1, 1, 1]))
    assert terminated.all() and infos["components"]["MW"].shape == (3,) and infos["_components"].all()
    assert infos["components_raw"]["QED"].dtype == np.float64


def test_scoring_stage_starts_a_staged_file_in_that_stage():
    staged = f"file:{EXAMPLES / 'staged.toml'}"
    env = gym.make(ENV_ID, objective=staged, scoring_stage=2)
    assert env.unwrapped.stages.stage == 2 and env.unwrapped.stages.current.name.startswith("drug-like, 300")
    with pytest.raises(ValueError, match="scoring_stage must be a stage number from 1 to 2, got 3"):
        gym.make(ENV_ID, objective=staged, scoring_stage=3)
    with pytest.raises(ValueError, match="applies to a scoring file with \\[\\[stage\\]\\] tables"):
        gym.make(ENV_ID, objective="qed", scoring_stage=1)
    assert gym.make(ENV_ID, objective=f"file:{EXAMPLES / 'qed_mw.toml'}").unwrapped.stages is None
