"""External SMILES as env episodes: the arrays equal what stepping the env with their tokens reports."""

import gymnasium as gym
import numpy as np
import pytest

import seqtutor_envs  # noqa: F401
from seqtutor_envs.smiles.env import SmilesEnv, SmilesVectorEnv
from seqtutor_envs.smiles.external import SKIP_REASONS, EpisodeEncoder
from seqtutor_envs.smiles.objectives import make_objective
from seqtutor_envs.smiles.pmo import OracleLog

ENCODABLE = ["CC(=O)Oc1ccccc1C(=O)O", "CCO", "c1ccc2[nH]ccc2c1", "CC(", "", "C" * 23 + "N"]
NOT_ENCODABLE = ["C[Na+]", "CCP", "C C", "C" * 30]


def _step_env(env, actions):
    """Observations before each step, the steps' infos and rewards, and the terminal observation."""
    obs, _ = env.reset(seed=0)
    seen, infos, rewards, done = [obs], [], [], []
    for a in actions:
        obs, reward, terminated, _, info = env.step(int(a))
        seen.append(obs)
        infos.append(info)
        rewards.append(reward)
        done.append(terminated)
    return seen, infos, rewards, done


def _assert_equal_to_env(env, ext, i, atol=1e-4):
    n = int(ext.lengths[i])
    seen, infos, rewards, done = _step_env(env, ext.tokens[i, 1 : n + 1])
    assert done == [False] * (n - 1) + [True]  # the episode ends exactly at its last token
    final = seen[-1]
    assert np.array_equal(final["tokens"][: n + 1], ext.tokens[i, : n + 1]) and final["step"] == n
    assert (final["tokens"][n + 1 :] == env.unwrapped.vocab.pad_id).all()
    assert (ext.tokens[i, n + 1 :] == env.unwrapped.vocab.pad_id).all()
    for t in range(n + 1):  # log p(.|s_t) at every state, the terminal one included
        np.testing.assert_allclose(ext.prior_log_probs[i, t], seen[t]["prior_log_probs"], atol=atol, rtol=0)
    np.testing.assert_allclose(ext.prior_log_prob[i, :n], [info["prior_log_prob"] for info in infos], atol=atol, rtol=0)
    np.testing.assert_array_equal(ext.domain_rewards[i, :n], [info["domain_reward"] for info in infos])
    np.testing.assert_allclose(ext.rewards()[i, :n], rewards, atol=atol, rtol=0)
    assert infos[-1]["smiles"] == ext.smiles[i]
    assert ext.final_scores[i] == infos[-1]["reward_terms"]["final_score"]


def test_episodes_equal_env_stepping_tokens_log_probs_and_reward_parts():
    env = SmilesEnv(objective="qed", max_length=24)
    ext = EpisodeEncoder.from_env(env).episodes(NOT_ENCODABLE[:2] + ENCODABLE + NOT_ENCODABLE[2:])
    assert ext.smiles == ENCODABLE and ext.source.tolist() == list(range(2, 2 + len(ENCODABLE)))
    assert ext.skipped == {"untokenizable": 1, "unknown_token": 2, "too_long": 1}
    # aspirin: 21 tokens + END; "" is END alone; 24 tokens fill max_length: the env ends there, without END
    assert ext.lengths.tolist() == [22, 4, 14, 4, 1, 24]
    assert ext.tokens[5, 24] != env.vocab.end_id and ext.tokens[4, 1] == env.vocab.end_id
    for i in range(len(ext)):
        _assert_equal_to_env(gym.make("SeqTutor-SMILES-v0", objective="qed", max_length=24), ext, i)
    assert ext.prior_log_probs.dtype == np.float32 and ext.prior_log_probs.shape[2] == env.vocab.num_actions
    np.testing.assert_allclose(ext.prior_log_likelihood(), ext.prior_log_prob.sum(axis=1), rtol=1e-6)


def test_prefix_shaping_of_the_paper_objective_matches_the_env_step_by_step():
    smiles = ["CCOc1ccccc1", "CC(C)N", "C1CC"]
    ext = EpisodeEncoder.from_env(SmilesEnv(objective="paper")).episodes(smiles)
    assert (ext.domain_rewards[:, :-1] != 0).any()  # the paper objective pays complete prefixes
    for i in range(len(smiles)):
        _assert_equal_to_env(SmilesEnv(objective="paper"), ext, i)


def test_the_stepper_and_the_lstm_give_the_same_log_probs():
    env = SmilesEnv(objective="qed")
    lstm = EpisodeEncoder.from_env(env).episodes(ENCODABLE)
    stepper = EpisodeEncoder.from_env(env, prior=env.core.stepper).episodes(ENCODABLE)
    np.testing.assert_allclose(lstm.prior_log_probs, stepper.prior_log_probs, atol=1e-4, rtol=0)
    np.testing.assert_array_equal(lstm.tokens, stepper.tokens)


def test_from_env_takes_the_vector_env_and_wrappers_and_refuses_other_envs():
    vec = SmilesVectorEnv(num_envs=2, objective="qed", max_length=40)
    enc = EpisodeEncoder.from_env(vec)
    assert enc.max_length == 40 and enc.c == vec.c
    assert EpisodeEncoder.from_env(gym.make("SeqTutor-SMILES-v0")).max_length == 100
    with pytest.raises(TypeError, match="needs a SeqTutor-SMILES-v0 env"):
        EpisodeEncoder.from_env(gym.make("SeqTutor-Melody-v0"))


def test_new_molecules_are_oracle_calls_and_unencodable_ones_are_never_scored():
    log = OracleLog(make_objective("qed"), budget=100)
    env = SmilesEnv(objective=log)
    log.reset()
    enc = EpisodeEncoder.from_env(env)
    ext = enc.episodes(["CCN", "CCN", "CCP", "c1ccncc1", "C(", "C[Na+]"])
    assert log.calls == 2 and set(log.scores) == {"CCN", "c1ccncc1"}  # unknown-token molecules not called
    assert ext.smiles == ["CCN", "CCN", "c1ccncc1", "C("] and ext.source.tolist() == [0, 1, 3, 4]
    assert ext.final_scores[0] == ext.final_scores[1] == log.scores["CCN"] and ext.final_scores[2] > 0
    assert ext.skipped["unknown_token"] == 2 and ext.final_scores[3] == 0.0  # "C(" is encodable, invalid, 0


def test_given_scores_are_reused_without_scoring():
    log = OracleLog(make_objective("qed"), budget=100)
    env = SmilesEnv(objective=log)
    log.reset()
    ext = EpisodeEncoder.from_env(env).episodes(["OCC", "CCP", "c1ccccc1C"], scores=[0.7, 0.8, 0.9])
    assert log.calls == 0
    np.testing.assert_array_equal(ext.final_scores, [0.7, 0.9])
    assert ext.domain_rewards[0, ext.lengths[0] - 1] == 0.7 and ext.domain_rewards[0, : ext.lengths[0] - 1].sum() == 0
    with pytest.raises(ValueError, match="scores: 2 values for 3 SMILES"):
        EpisodeEncoder.from_env(env).episodes(["OCC", "CCP", "C"], scores=[0.7, 0.8])


def test_episode_fields_and_padded_arrays():
    ext = EpisodeEncoder.from_env(SmilesEnv(objective="qed")).episodes(["CCO", "c1ccccc1O"])
    one = ext.episode(1)
    n = int(ext.lengths[1])
    assert one["tokens"].shape == (n + 1,) and one["prior_log_probs"].shape == (n + 1, ext.prior_log_probs.shape[2])
    assert one["prior_log_prob"].shape == (n,) and one["domain_rewards"].shape == (n,) and "env_c" not in one
    arrays = ext.to_arrays()
    assert set(arrays) == {"lengths", "tokens", "prior_log_probs", "prior_log_prob", "domain_rewards", "prior_weight"}
    assert arrays["tokens"][0, ext.lengths[0] + 1 :].sum() == 0  # padding 0, as the agents' memories pad
    assert (ext.prior_log_probs[0, ext.lengths[0] + 1 :] == 0).all() and (
        ext.prior_log_prob[0, ext.lengths[0] :] == 0
    ).all()
    empty = EpisodeEncoder.from_env(SmilesEnv(objective="qed")).episodes(["P"])
    assert len(empty) == 0 and empty.skipped == dict.fromkeys(SKIP_REASONS, 0) | {"unknown_token": 1}


def test_encodable_matches_the_vocabulary_and_length():
    enc = EpisodeEncoder.from_env(SmilesEnv(objective="qed", max_length=5))
    assert enc.encodable("CCO") and enc.encodable("CCCCC") and not enc.encodable("CCCCCC")
    assert not enc.encodable("CP") and not enc.encodable("C C")
