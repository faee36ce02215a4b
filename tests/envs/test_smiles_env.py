"""SeqTutor-SMILES-v0: API, rewards, determinism, vector equivalence, objectives and bad input."""

import re
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import seqtutor_envs  # noqa: F401
from seqtutor_envs.prior import LSTMPrior, PriorConfig
from seqtutor_envs.smiles.env import SmilesEnv, SmilesVectorEnv
from seqtutor_envs.smiles.objectives import ObjectiveError, PaperObjective

ENV_ID = "SeqTutor-SMILES-v0"


def _ids(env, smiles: str) -> list[int]:
    return [int(i) for i in env.unwrapped.vocab.encode(smiles, add_bos=False, add_end=True)]


def _play(env, ids, seed=0):
    obs, _ = env.reset(seed=seed)
    out = []
    for a in ids:
        before = obs
        obs, reward, terminated, _truncated, info = env.step(a)
        out.append((before, obs, reward, terminated, info))
        if terminated:
            break
    return out


def test_registered_and_checkers_pass():
    from gymnasium.utils.env_checker import check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    spec = gym.spec(ENV_ID)
    assert spec.vector_entry_point == "seqtutor_envs.smiles.env:SmilesVectorEnv"
    env = gym.make(ENV_ID)
    assert isinstance(env.unwrapped, SmilesEnv)
    assert env.action_space.n == env.unwrapped.vocab.num_actions
    check_env(gym.make(ENV_ID).unwrapped)
    sb3_check_env(gym.make(ENV_ID).unwrapped)


def test_a_valid_molecule_ends_at_end_with_its_scores():
    env = gym.make(ENV_ID, objective="qed")
    steps = _play(env, _ids(env, "CCOc1ccccc1"))
    *_, (_, _obs, reward, terminated, info) = steps
    assert terminated and info["smiles"] == "CCOc1ccccc1" and info["valid"]
    assert 0.4 < info["qed"] < 0.6 and "logp" not in info and "sa" not in info  # only what the objective reads
    assert info["reward_terms"]["final_score"] == pytest.approx(info["qed"])
    assert reward == pytest.approx(info["prior_log_prob"] + info["qed"] / env.unwrapped.c)
    assert all(s[4]["domain_reward"] == 0 for s in steps[:-1])  # qed pays nothing before the end
    everything = gym.make(ENV_ID, objective="qed", info_properties="all")
    *_, (_, _, _, _, info) = _play(everything, _ids(everything, "CCOc1ccccc1"))
    assert np.isfinite(info["logp"]) and info["ring_penalty"] == 0 and 1 <= info["sa"] <= 10
    oracle = gym.make(ENV_ID, objective="guacamol:zaleplon_mpo")
    *_, (_, _, _, _, info) = _play(oracle, _ids(oracle, "CCOc1ccccc1"))
    assert info["valid"] and not {"qed", "logp", "sa", "plogp"} & set(info)
    scorer = oracle.unwrapped.task.scorer
    assert all(np.isnan(v) for v in scorer._props.get(info["smiles"], (np.nan,)))  # no property computed for it
    with pytest.raises(ValueError, match="info_properties: unknown"):
        gym.make(ENV_ID, info_properties=["weight"])


def test_reward_decomposition_each_step():
    env = gym.make(ENV_ID, objective="plogp", c=0.5, prior_weight=0.3)
    ids = _ids(env, "CC(=O)Nc1ccc(O)cc1")
    obs, _ = env.reset(seed=0)
    for a in ids:
        log_p = float(obs["prior_log_probs"][a])
        obs, reward, terminated, _, info = env.step(a)
        assert info["prior_log_prob"] == pytest.approx(log_p, abs=1e-6)
        assert reward == pytest.approx(0.3 * log_p + info["domain_reward"] / 0.5)
    assert (
        terminated
        and info["valid"]
        and info["plogp"] == pytest.approx(info["logp"] - info["sa"] + info["ring_penalty"])
    )


def test_invalid_molecule_and_max_length():
    env = gym.make(ENV_ID, objective="plogp", max_length=6)
    vocab = env.unwrapped.vocab
    ring = vocab.token_id("1")
    c = vocab.token_id("C")
    steps = _play(env, [c, ring, c, c, c, c, c, c])  # an unclosed ring, cut at 6 tokens
    assert len(steps) == 6
    info = steps[-1][4]
    assert steps[-1][3] and not info["valid"] and info["smiles"] == "C1CCCC"
    assert info["reward_terms"]["final_score"] == -10.0


def test_paper_objective_shapes_valid_prefixes():
    env = gym.make(ENV_ID, objective="paper")
    assert env.unwrapped.c == pytest.approx(1 / 0.35)
    steps = _play(env, _ids(env, "CC(C)O"))
    shaping = [s[4]["reward_terms"]["prefix_shaping"] for s in steps]
    paper = PaperObjective()
    # "C" and "CC" are valid prefixes, "CC(" and "CC(C" are not, "CC(C)" is; the last step ends.
    assert shaping[0] == pytest.approx(paper.score_prefix(["C"])[0])
    assert shaping[1] == pytest.approx(paper.score_prefix(["CC"])[0])
    assert shaping[2] == 0 and shaping[3] == 0
    assert shaping[4] == pytest.approx(paper.score_prefix(["CC(C)"])[0])
    final = steps[-1][4]
    assert final["reward_terms"]["final_score"] == pytest.approx(paper.score_final(["CC(C)O"])[0])
    assert final["reward_terms"]["final_score"] < 600 - 150  # short molecule: -200 length penalty


def test_determinism_and_vector_equals_single():
    n, seed = 3, 5
    rng = np.random.default_rng(0)
    venv = gym.make_vec(ENV_ID, num_envs=n, max_length=12)
    assert isinstance(venv, SmilesVectorEnv)
    singles = [gym.make(ENV_ID, max_length=12) for _ in range(n)]
    vobs, _ = venv.reset(seed=seed)
    sobs = [e.reset(seed=seed + i)[0] for i, e in enumerate(singles)]
    pending = [False] * n
    for _ in range(60):
        # Sample from the prior so that molecules (valid and not) and END both occur.
        actions = np.array([rng.choice(len(p), p=np.exp(p) / np.exp(p).sum()) for p in vobs["prior_log_probs"]])
        vobs, vrew, vterm, _, vinfo = venv.step(actions)
        for i, env in enumerate(singles):
            if pending[i]:
                sobs[i], _ = env.reset()
                r, t, pending[i] = 0.0, False, False
            else:
                sobs[i], r, t, _, info = env.step(int(actions[i]))
                if t:
                    pending[i] = True
                    assert vinfo["smiles"][i] == info["smiles"] and vinfo["valid"][i] == info["valid"]
            assert np.array_equal(vobs["tokens"][i], sobs[i]["tokens"])
            assert vrew[i] == pytest.approx(r, abs=1e-5) and vterm[i] == t


def test_render_modes():
    env = gym.make(ENV_ID, render_mode="ansi")
    _play(env, _ids(env, "c1ccccc1")[:-1])
    assert env.render() == "c1ccccc1"
    env = gym.make(ENV_ID, render_mode="rgb_array")
    _play(env, _ids(env, "c1ccccc1")[:-1])
    image = env.render()
    assert image.dtype == np.uint8 and image.shape[2] == 3
    env.reset()
    env.step(_ids(env, "C(")[1])  # "(": not a molecule, still an image of the same size
    assert env.render().shape == image.shape


def test_user_callable_objective():
    def heavy_atoms(mol):
        return float(mol.GetNumHeavyAtoms())

    env = gym.make(ENV_ID, objective=heavy_atoms, c=1.0)
    info = _play(env, _ids(env, "CCO"))[-1][4]
    assert info["reward_terms"]["final_score"] == 3.0


def test_objective_errors_name_the_objective():
    def broken(mol):
        raise RuntimeError("no model loaded")

    def nan_score(mol):
        return float("nan")

    with pytest.raises(ObjectiveError, match=r"broken.*no model loaded"):
        gym.make(ENV_ID, objective=broken)
    with pytest.raises(ObjectiveError, match="nan_score"):
        gym.make(ENV_ID, objective=nan_score)
    with pytest.raises(ValueError, match=r"unknown objective 'logd'.*paper"):
        gym.make(ENV_ID, objective="logd")


def test_objective_failing_mid_episode_leaves_the_env_usable():
    def picky(mol):
        if mol.GetNumAtoms() == 4:
            raise ValueError("four atoms")
        return 1.0

    env = gym.make(ENV_ID, objective=picky, c=1.0).unwrapped
    ids = _ids(env, "CCCC")
    env.reset(seed=0)
    for a in ids[:-1]:
        env.step(a)
    with pytest.raises(ObjectiveError, match=r"picky.*four atoms"):
        env.step(ids[-1])
    assert env.core.lengths[0] == 4  # the failed END was not written
    obs, _reward, terminated, _, _info = env.step(_ids(env, "O")[0])  # another token still works
    assert obs["step"] == 5 and not terminated


@pytest.mark.parametrize("failure", ["raises", "nan", "not_a_number"])
def test_objective_errors_invalid_scores_the_molecule_as_invalid_and_counts_it(failure):
    def flaky(mol):
        if mol.GetNumAtoms() == 4:
            return {"raises": lambda: 1 / 0, "nan": lambda: float("nan"), "not_a_number": lambda: "high"}[failure]()
        return 1.0

    env = gym.make(ENV_ID, objective=flaky, c=1.0, objective_errors="invalid")
    with pytest.warns(UserWarning, match="flaky.*'CCCC'.*scored as invalid"):
        info = _play(env, _ids(env, "CCCC"))[-1][4]
    assert info["reward_terms"]["final_score"] == 0.0 and info["objective_error"]
    info = _play(env, _ids(env, "CCO"))[-1][4]
    assert info["reward_terms"]["final_score"] == 1.0 and not info["objective_error"]
    objective = env.unwrapped.task.objective
    assert objective.error_count == 1 and "flaky" in objective.errors[0] and "CCCC" in objective.errors[0]
    with pytest.raises(ValueError, match="objective_errors must be one of"):
        gym.make(ENV_ID, objective=flaky, objective_errors="ignore")


def test_objective_errors_invalid_in_the_vector_env_flags_only_the_failing_rows():
    def flaky(mol):
        if mol.GetNumAtoms() == 4:
            raise RuntimeError("no")
        return 1.0

    envs = gym.make_vec(
        ENV_ID, num_envs=2, objective=flaky, c=1.0, objective_errors="invalid", autoreset_mode="same_step"
    )
    envs.reset(seed=0)
    rows = [_ids(envs, "CCCC"), _ids(envs, "C=CC")]  # 4 atoms (fails) and 3 atoms, both 4 tokens
    with pytest.warns(UserWarning):
        for t in range(5):
            _, _, terminated, _, info = envs.step(np.array([rows[0][t], rows[1][t]]))
    assert terminated.all()
    assert info["final_info"]["objective_error"].tolist() == [True, False]
    assert info["final_info"]["reward_terms"]["final_score"].tolist() == [0.0, 1.0]


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="c must be"):
        gym.make(ENV_ID, c=-2)
    with pytest.raises(TypeError, match="got an unexpected keyword argument"):
        gym.make(ENV_ID, temperature=2)
    with pytest.raises(ValueError, match="max_length"):
        gym.make(ENV_ID, max_length=1)
    env = gym.make(ENV_ID)
    with pytest.raises(ValueError, match="invalid action"):
        env.reset(seed=0)
        env.step(env.action_space.n)


def test_vocabulary_mismatch_between_weights_and_env(tmp_path):
    melody_like = LSTMPrior(PriorConfig(num_outputs=38, hidden_size=8)).save(tmp_path / "m.pt", {"domain": "melody"})
    with pytest.raises(ValueError, match="no SMILES vocabulary"):
        gym.make(ENV_ID, prior_path=str(melody_like))
    _, meta = LSTMPrior.load(SmilesEnv().prior_path)
    wrong = LSTMPrior(PriorConfig(num_outputs=10, num_inputs=11, hidden_size=8)).save(tmp_path / "w.pt", meta)
    with pytest.raises(ValueError, match="vocabulary mismatch"):
        gym.make(ENV_ID, prior_path=str(wrong))


def test_scoring_in_a_worker_process_gives_identical_episodes():
    """Overlapping RDKit scoring with the prior (scoring_workers) changes nothing but the speed."""
    from seqtutor_agents.runs.evaluation import run_episodes
    from seqtutor_envs.sampling import prior_policy

    runs = [
        run_episodes(
            "SeqTutor-SMILES-v0",
            64,
            prior_policy(seed=5),
            batch_size=64,
            seed=5,
            env_kwargs={"scoring_workers": workers, "info_properties": "all"},
        )
        for workers in (0, 1, 2)
    ]
    for run in runs[1:]:  # one worker; two workers, each scoring a share of a step's molecules
        assert run.finals["smiles"] == runs[0].finals["smiles"]
        assert np.array_equal(run.domain_returns, runs[0].domain_returns)
        for key in ("qed", "sa", "logp", "valid"):
            assert np.array_equal(run.finals[key], runs[0].finals[key]), key


def test_scoring_workers_is_checked():
    with pytest.raises(ValueError, match="scoring_workers must be an integer >= 0 or 'auto', got -1"):
        gym.make_vec("SeqTutor-SMILES-v0", num_envs=2, scoring_workers=-1)


def test_the_env_speed_benchmark_times_every_worker_setting_and_finds_our_qed_equal(tmp_path):
    root = Path(__file__).resolve().parents[2]
    out = tmp_path / "smiles_env_speed.md"
    env = {"TMPDIR": str(tmp_path), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.smiles_env_speed",
            "--num-envs",
            "16",
            "--steps",
            "60",
            "--repeats",
            "1",
            "--workers",
            "0",
            "2",
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
    compared = re.search(r"differs from RDKit's `QED.qed` on 0 of ([\d,]+) valid molecules", text)
    assert compared is not None and int(compared.group(1).replace(",", "")) >= 10
    for row in (
        "env, scoring_workers=0",
        "env, scoring_workers=2",
        "bare RDKit",
        "bare RDKit, seqtutor's qed",
        "the env's prior forward alone",
    ):
        assert re.search(rf"\| {re.escape(row)} \| [\d.]+ \| [\d,]+ \| [\d.]+ \|", text), row
    assert "Machine:" in text
    rate = re.search(r"over the forward's whole time: ([\d.]+) GFLOP/s\)", text)
    assert rate is not None and float(rate.group(1)) > 0
