"""Genetic exploration, augmented replay, the scaffold purge and rank-based replay, in the learners that use them.

GA children are oracle calls of the env's own objective (the PMO call log counts them), reach the
learners' replay with the prior's log-probabilities the env reports, and every way a child or a
setting can be bad is handled by rule: counted, or refused by name.
"""

from __future__ import annotations

import csv

import gymnasium as gym
import numpy as np
import pytest
import torch
from ga_parents import PARENTS
from rdkit import Chem

from seqtutor_agents import DAP, DPG, TB, GLearning, make_sb3_vec_env
from seqtutor_agents.common.episodes import Episode
from seqtutor_agents.common.memory import TopKMemory
from seqtutor_agents.common.offpolicy import MoleculeExtras
from seqtutor_agents.policy_gradient import conditional_dpg_weights, dpg_weights
from seqtutor_envs.sampling import rank_probabilities
from seqtutor_envs.smiles.external import EpisodeEncoder
from seqtutor_envs.smiles.objectives import make_objective
from seqtutor_envs.smiles.pmo import OracleLog


def _smiles_env(budget: int = 1_000, n_envs: int = 8, **env_kwargs):
    log = OracleLog(make_objective("qed"), budget=budget)
    env = make_sb3_vec_env("SeqTutor-SMILES-v0", n_envs=n_envs, seed=0, objective=log, **env_kwargs)
    log.reset()  # the env's construction-time check scored three molecules
    return env, log


def _extras(env, **genetic) -> MoleculeExtras:
    extras = MoleculeExtras({"children": 8, "generations": 2, "interval": 1, **genetic}, seed=0)
    extras.bind(env)
    extras.pool = {
        Chem.MolToSmiles(Chem.MolFromSmiles(s)): float(v)
        for s, v in zip(PARENTS, np.linspace(1, 0.1, 10), strict=False)
    }
    extras.since_round = 1
    return extras


def _canonical(smiles: str) -> str | None:
    mol = Chem.MolFromSmiles(smiles)
    return Chem.MolToSmiles(mol) if mol is not None else None


def test_ga_children_are_oracle_calls_and_enter_replay_with_the_envs_prior_log_probs(tmp_path):
    env, log = _smiles_env(budget=10_000)
    log.calls_csv = tmp_path / "calls.csv"
    model = TB(
        "TBPolicy",
        env,
        seed=0,
        batch_size=8,
        gradient_steps=1,
        replay_memory=512,
        replay_sample=4,
        genetic={"children": 4, "generations": 2, "interval": 8, "pool_size": 32},
    )
    agent: set[str] = set()
    original = model._explore

    def explore(episodes):  # what the agent wrote, as the oracle log canonicalises it
        agent.update(c for c in log.scorer.canonical_batch([model.molecules.decode(e.tokens) for e in episodes]) if c)
        return original(episodes)

    model._explore = explore
    model.learn(1_200)
    extras = model.molecules
    children = extras.ga_smiles
    assert extras.counts["ga_rounds"] >= 3 and len(children) == extras.counts["ga_calls"] > 0
    assert children <= set(log.scores) and not children & agent  # new molecules, each one call of the budget
    assert log.calls == len(agent | children)
    remembered = {_canonical(extras.decode(e.tokens)): e for e in model.memory.episodes}
    in_replay = [remembered[c] for c in children if c in remembered]
    assert in_replay and all(e.behaviour_log_prob is None for e in in_replay)
    for episode in in_replay[:3]:  # the prior's log-probabilities as stepping the env with the child's tokens reports
        single = gym.make("SeqTutor-SMILES-v0", objective="qed")
        obs, _ = single.reset(seed=0)
        seen, taken = [obs["prior_log_probs"]], []
        for action in episode.tokens[1:]:
            obs, _, _, _, info = single.step(int(action))
            seen.append(obs["prior_log_probs"])
            taken.append(info["prior_log_prob"])
        np.testing.assert_allclose(episode.prior_log_prob, taken, atol=1e-4, rtol=0)
        np.testing.assert_allclose(episode.prior_log_probs, np.array(seen), atol=1e-4, rtol=0)
        assert info["smiles"] == extras.decode(episode.tokens) and episode.domain_rewards[-1] == pytest.approx(
            log.scores[_canonical(info["smiles"])]
        )
    log.flush()
    with open(log.calls_csv, newline="") as f:
        rows = {r["canonical_smiles"]: r for r in csv.DictReader(f) if r["status"] == "new"}
    for child in children:  # every child's call is in the log with its env step and prior log-likelihood
        assert rows[child]["env_step"] and float(rows[child]["prior_log_likelihood"]) < 0


def test_children_the_prior_cannot_write_or_rdkit_cannot_sanitise_are_counted_and_never_scored():
    env, log = _smiles_env(max_length=24)
    extras = _extras(env, children=10, mutation_rate=0.5)
    encoder = EpisodeEncoder.from_env(env)
    episodes = extras.explore(env_step=0)
    counts = extras.counts
    assert counts["ga_unencodable"] > 0 and counts["ga_unsanitizable"] > 0  # both happen, and are counted
    assert log.calls == len(episodes) == counts["ga_calls"] == counts["ga_children"]  # only the writable were scored
    assert all(encoder.encodable(extras.decode(e.tokens)) and e.length <= 24 for e in episodes)
    assert counts["ga_short_pool"] == 2  # pool_size 1,024 over 10 scored molecules, in each generation: used whole


def test_a_round_past_the_budget_scores_nothing_and_uncalled_children_are_left_out():
    env, log = _smiles_env(budget=20)
    extras = _extras(env, children=15, generations=1)
    log.score_final(PARENTS)  # 10 calls of the agent's
    first = extras.explore(env_step=0)
    assert log.exhausted and len(first) == log.calls - 10 == extras.counts["ga_calls"] == 11
    assert all(_canonical(extras.decode(e.tokens)) in log.scores for e in first)
    assert extras.counts["ga_uncalled"] > 0  # children past call budget + 1 scored 0 unscored: not replayed
    extras.since_round = 1
    assert extras.explore(env_step=1) == [] and extras.counts["ga_rounds_skipped"] == 1 and log.calls == 21


def test_a_budget_smaller_than_one_round_and_unknown_settings_are_refused_by_name():
    env, _ = _smiles_env(budget=10)
    with pytest.raises(
        ValueError,
        match=r"budget=10 oracle calls is smaller than one graph-GA round \(children=8 x "
        r"generations=2 = 16\)",
    ):
        TB("TBPolicy", env, genetic={})
    with pytest.raises(ValueError, match=r"genetic: unknown setting\(s\) \['childs'\]; accepted: interval, pool_size"):
        DAP("PriorLSTMPolicy", env, genetic={"childs": 8})
    with pytest.raises(ValueError, match=r"GraphGAConfig.mutation_rate must be"):
        DPG("PriorLSTMPolicy", env, genetic={"mutation_rate": 2.0})
    melody = make_sb3_vec_env("SeqTutor-Melody-v0", n_envs=2, seed=0)
    with pytest.raises(ValueError, match="they need a SeqTutor-SMILES-v0 env, got MelodyTask"):
        TB("TBPolicy", melody, augment=2)


def test_the_same_seed_breeds_the_same_children():
    env, _ = _smiles_env()
    a, b = _extras(env), _extras(env)
    env2, _ = _smiles_env()
    b.bind(env2)
    assert [e.tokens.tolist() for e in a.explore(0)] == [e.tokens.tolist() for e in b.explore(0)]


def test_rewrites_are_the_same_molecules_with_the_same_rewards_and_cost_no_oracle_call():
    env, log = _smiles_env()
    extras = MoleculeExtras(augment=2, seed=0)
    extras.bind(env)
    encoder = EpisodeEncoder.from_env(env)
    ext = encoder.episodes(PARENTS, scores=np.linspace(1, 0.1, 10))
    episodes = [Episode(**ext.episode(i)) for i in range(len(ext))]
    rewritten = extras.rewrite(episodes)
    assert log.calls == 0 and len(rewritten) == len(episodes) == extras.counts["augment_rewrites"]
    for before, after in zip(episodes, rewritten, strict=False):
        text = extras.decode(after.tokens)
        assert _canonical(text) == _canonical(extras.decode(before.tokens))
        assert after.domain_rewards[-1] == before.domain_rewards[-1] and after.domain_rewards[:-1].sum() == 0
        again = encoder.episodes([text], scores=[0.0])
        np.testing.assert_allclose(after.prior_log_prob, again.prior_log_prob[0, : after.length], atol=1e-5, rtol=0)
    assert (
        sum(extras.decode(a.tokens) != extras.decode(b.tokens) for a, b in zip(episodes, rewritten, strict=False)) >= 8
    )


def test_a_molecule_the_diversity_filter_zeroes_purges_its_scaffold_from_the_memory():
    env, _ = _smiles_env(diversity_filter={"bucket_size": 1, "min_score": 0.0})
    model = DAP("PriorLSTMPolicy", env, seed=0, replay_memory=10, replay_sample=2, augment=1)
    encoder = EpisodeEncoder.from_env(env)
    kept = ["CCc1ccncc1", "CC1CCN(C(=O)c2ccco2)CC1", "CCCO"]
    ext = encoder.episodes(["Cc1ccccc1", "OCCc1ccccc1", *kept], scores=[0.9, 0.8, 0.7, 0.6, 0.5])
    model.memory.add([Episode(**ext.episode(i)) for i in range(len(ext))])
    model._purge(model.memory)
    assert len(model.memory) == 5  # nothing zeroed yet: nothing purged
    env.venv.diversity_filter.filter(["Cc1ccccc1", "CCCc1ccccc1"], np.array([0.9, 0.9]))  # benzene's bucket is full
    model._purge(model.memory)
    assert sorted(model.molecules.decode(e.tokens) for e in model.memory.episodes) == sorted(kept)
    assert model.molecules.counts["augment_purged"] == 2


def test_rank_based_replay_draws_by_rank_in_every_replaying_memory(monkeypatch):
    memory = TopKMemory(10)
    scores = [0.1, 0.9, 0.5, 0.3]
    memory.add(
        [
            Episode(
                np.array([0, i + 1]),
                np.zeros((2, 5), np.float32),
                np.zeros(1, np.float32),
                np.array([s], np.float32),
                1.0,
            )
            for i, s in enumerate(scores)
        ]
    )
    drawn = memory.sample(40_000, np.random.default_rng(0), "rank", coefficient=0.5, replace=True)
    share = np.bincount([int(e.tokens[1]) - 1 for e in drawn], minlength=4) / len(drawn)
    np.testing.assert_allclose(share, rank_probabilities(np.array(scores), 0.5), atol=0.01)
    # the elite memory of G and Ψ: rank-based rows by domain return
    env = make_sb3_vec_env("SeqTutor-Melody-v0", n_envs=4, seed=0, composition_length=8)
    model = GLearning(
        "RecurrentQPolicy",
        env,
        seed=0,
        learning_starts=0,
        replay_buffer_kwargs={
            "elite_size": 4,
            "elite_sample": 2,
            "elite_sampling": "rank",
            "elite_rank_coefficient": 0.5,
        },
    )
    buffer = model.replay_buffer
    buffer.elite_returns[:] = scores
    np.random.seed(0)  # noqa: NPY002  (the buffer samples from numpy's global generator, as SB3's buffers do)
    rows = buffer.elite_rows(40_000)
    np.testing.assert_allclose(
        np.bincount(rows, minlength=4) / len(rows), rank_probabilities(np.array(scores), 0.5), atol=0.01
    )
    # DAP hands its setting to the memory
    dap = DAP(
        "PriorLSTMPolicy",
        env,
        seed=0,
        batch_size=4,
        replay_memory=8,
        replay_sample=2,
        replay_sampling="rank",
        rank_coefficient=0.3,
    )
    asked = []
    original = dap.memory.sample
    monkeypatch.setattr(dap.memory, "sample", lambda *a, **k: asked.append(a[2:]) or original(*a, **k))
    dap.learn(64)
    assert asked and all(a == ("rank", 0.3) for a in asked)


def test_dpg_on_a_set_of_unknown_proposal_matches_pi_star_conditioned_on_the_set():
    log_target = torch.log(torch.tensor([1.0, 3.0, 4.0]))
    log_policy = torch.log(torch.tensor([0.2, 0.2, 0.1]))
    weights = conditional_dpg_weights(log_target, log_policy)
    expected = torch.tensor([1 / 8, 3 / 8, 4 / 8]) - torch.tensor([0.4, 0.4, 0.2])  # π*_S − π_S
    assert weights.tolist() == pytest.approx(expected.tolist())
    assert torch.equal(weights, dpg_weights(log_target, torch.zeros(3), log_policy))


@pytest.mark.parametrize("algo", ["dpg", "g"])
def test_dpg_and_g_learn_from_ga_children_and_a_checkpoint_keeps_the_pool(algo):
    env, log = _smiles_env(budget=10_000)
    genetic = {"children": 4, "generations": 1, "interval": 8, "pool_size": 32}
    if algo == "dpg":
        model = DPG(
            "PriorLSTMPolicy",
            env,
            seed=0,
            batch_size=8,
            replay_memory=32,
            replay_sample=4,
            genetic=genetic,
            augment=1,
            replay_sampling="rank",
        )
    else:
        model = GLearning(
            "RecurrentQPolicy",
            env,
            seed=0,
            learning_starts=0,
            train_freq=8,
            batch_size=8,
            genetic=genetic,
            replay_buffer_kwargs={"elite_size": 16, "elite_sample": 4},
        )
    model.learn(800)
    extras = model.molecules
    assert extras.counts["ga_calls"] == len(extras.ga_smiles) > 0 and extras.ga_smiles <= set(log.scores)
    stored = (
        model.memory.episodes
        if algo == "dpg"
        else [
            Episode(model.replay_buffer.tokens[i, : n + 1], None, None, np.zeros(n), 1.0)
            for i, n in enumerate(model.replay_buffer.lengths[: model.replay_buffer.num_episodes()])
        ]
    )
    assert extras.ga_smiles & {_canonical(extras.decode(e.tokens)) for e in stored}
    if algo == "dpg":
        assert extras.counts["augment_rewrites"] > 0
    arrays = model.checkpoint_arrays()
    other = MoleculeExtras({"children": 4}, seed=0)
    other.restore({k.split("__", 1)[1]: v for k, v in arrays.items() if k.startswith("molecules__")})
    assert other.pool == extras.pool and other.ga_smiles == extras.ga_smiles and other.counts == extras.counts


def test_the_cli_refuses_a_melody_run_with_genetic_by_name(capsys, tmp_path):
    from seqtutor_agents.cli import main

    with pytest.raises(SystemExit) as exc:
        main(
            [
                "train",
                "--algo",
                "tb",
                "--steps",
                "64",
                "--out",
                str(tmp_path / "run"),
                "--no-progress",
                "--algo-kwarg",
                "genetic={}",
            ]
        )
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "Traceback" not in err
    assert [line for line in err.splitlines() if line.startswith("seqtutor: error:")] == [
        "seqtutor: error: bad hyperparameter for tb: genetic and augment rewrite molecules: they need a "
        "SeqTutor-SMILES-v0 env, got MelodyTask"
    ]


def test_a_resumed_tb_run_keeps_its_memory_and_its_scored_pool(tmp_path):
    from seqtutor_agents.runs.config import TrainConfig
    from seqtutor_agents.runs.training import train

    config = TrainConfig(
        out=str(tmp_path / "run"),
        env_id="SeqTutor-SMILES-v0",
        algo="tb",
        steps=400,
        seed=0,
        n_envs=8,
        checkpoint_every=400,
        log_sequences=False,
        env_kwargs={"objective": "qed"},
        algo_kwargs={
            "batch_size": 8,
            "gradient_steps": 1,
            "replay_sample": 4,
            "genetic": {"children": 4, "generations": 1, "interval": 8},
        },
        device="cpu",
    )
    first = train(config, progress=False)
    assert first.molecules.counts["ga_calls"] > 0
    resumed = train(TrainConfig(**{**vars(config), "steps": 800}), resume=True, progress=False)
    assert set(first.molecules.pool) <= set(resumed.molecules.pool)
    assert first.molecules.ga_smiles <= resumed.molecules.ga_smiles
    assert resumed.molecules.counts["ga_rounds"] > first.molecules.counts["ga_rounds"]
    kept = {e.tokens.tobytes() for e in first.memory.episodes}
    assert len(kept & {e.tokens.tobytes() for e in resumed.memory.episodes}) >= len(kept) // 2
