"""The SB3 VecEnv adapter over the native batched envs, against SB3's own DummyVecEnv."""

import gymnasium as gym
import numpy as np
import pytest
from sb3_contrib import QRDQN, RecurrentPPO
from stable_baselines3 import A2C, DQN, PPO
from stable_baselines3.common.vec_env import DummyVecEnv

import seqtutor_envs  # noqa: F401
from seqtutor_agents import SeqTutorExtractor, SeqTutorVecEnv, make_sb3_vec_env
from seqtutor_envs.reward import RewardParts


@pytest.mark.parametrize(
    "env_id, kwargs", [("SeqTutor-Melody-v0", {"composition_length": 8}), ("SeqTutor-SMILES-v0", {"max_length": 10})]
)
def test_adapter_matches_dummy_vec_env(env_id, kwargs):
    n = 3
    ours = make_sb3_vec_env(env_id, n_envs=n, seed=4, **kwargs)
    theirs = DummyVecEnv([lambda: gym.make(env_id, **kwargs) for _ in range(n)])
    theirs.seed(4)
    obs_a, obs_b = ours.reset(), theirs.reset()
    rng = np.random.default_rng(0)
    done_seen = 0
    for _ in range(40):
        for key in obs_a:
            assert np.allclose(obs_a[key], obs_b[key], atol=1e-5), key
        actions = rng.integers(0, ours.action_space.n, n)
        obs_a, rew_a, done_a, info_a = ours.step(actions)
        obs_b, rew_b, done_b, info_b = theirs.step(actions)
        assert np.allclose(rew_a, rew_b, atol=1e-5) and np.array_equal(done_a, done_b)
        for i in np.flatnonzero(done_a):
            done_seen += 1
            for key in info_b[i]["terminal_observation"]:
                assert np.allclose(
                    info_a[i]["terminal_observation"][key], info_b[i]["terminal_observation"][key], atol=1e-5
                )
            final_key = "composition" if "composition" in info_b[i] else "smiles"
            assert np.array_equal(np.asarray(info_a[i][final_key]), np.asarray(info_b[i][final_key]))
            assert info_a[i]["episode"]["l"] > 0
        for a, b in zip(info_a, info_b, strict=False):
            assert a["prior_log_prob"] == pytest.approx(b["prior_log_prob"], abs=1e-5)
            assert a["domain_reward"] == pytest.approx(b["domain_reward"], abs=1e-5)
            assert a["TimeLimit.truncated"] == b["TimeLimit.truncated"]
    assert done_seen >= n


def test_adapter_needs_same_step_autoreset():
    native = gym.make_vec("SeqTutor-Melody-v0", num_envs=2)
    with pytest.raises(ValueError, match="same_step"):
        SeqTutorVecEnv(native)


def test_adapter_exposes_env_attributes():
    env = make_sb3_vec_env("SeqTutor-Melody-v0", n_envs=2, c=3.0)
    assert env.get_attr("c") == [3.0, 3.0]
    assert env.get_attr("prior_weight", indices=[1]) == [1.0]
    assert env.env_is_wrapped(gym.Wrapper) == [False, False]


@pytest.mark.parametrize("env_id", ["SeqTutor-Melody-v0", "SeqTutor-SMILES-v0"])
@pytest.mark.parametrize("algo", [PPO, DQN, A2C, QRDQN, RecurrentPPO])
def test_stock_sb3_algorithms_train_on_the_batched_env(env_id, algo):
    env = make_sb3_vec_env(env_id, n_envs=4, seed=0)
    kwargs = {
        PPO: {"n_steps": 16, "batch_size": 32},
        RecurrentPPO: {
            "n_steps": 16,
            "batch_size": 32,
            "n_epochs": 1,
            "policy_kwargs": {"features_extractor_class": SeqTutorExtractor, "lstm_hidden_size": 16, "net_arch": [16]},
        },
        DQN: {"learning_starts": 64},
        QRDQN: {"learning_starts": 64},
    }.get(algo, {})
    policy = "MultiInputLstmPolicy" if algo is RecurrentPPO else "MultiInputPolicy"
    model = algo(policy, env, seed=0, **kwargs)
    model.learn(total_timesteps=256)
    assert model.num_timesteps >= 256
    if algo in (DQN, QRDQN):
        assert model._n_updates > 0
    obs = env.reset()
    actions, _ = model.predict(obs, deterministic=True)
    assert actions.shape == (4,) and np.all((actions >= 0) & (actions < env.action_space.n))


def test_recurrent_ppo_needs_the_extractor_because_of_an_upstream_type_bug():
    """SB3's CombinedExtractor sizes MultiDiscrete inputs as numpy.int64, which nn.LSTM rejects.

    If this starts passing without the extractor, upstream fixed it and SeqTutorExtractor can go.
    """
    env = make_sb3_vec_env("SeqTutor-Melody-v0", n_envs=2, seed=0)
    with pytest.raises(TypeError, match="input_size should be of type int"):
        RecurrentPPO("MultiInputLstmPolicy", env)
    model = RecurrentPPO("MultiInputLstmPolicy", env, policy_kwargs={"features_extractor_class": SeqTutorExtractor})
    assert isinstance(model.policy.features_dim, int)


def test_every_step_info_carries_the_reward_parts():
    env = make_sb3_vec_env("SeqTutor-Melody-v0", n_envs=3, seed=0, c=2.5, prior_weight=0.5)
    env.reset()
    _, rewards, _, infos = env.step(np.array([2, 3, 4]))
    parts = RewardParts.from_infos(infos)
    assert parts.c.tolist() == [2.5] * 3 and parts.prior_weight.tolist() == [0.5] * 3
    assert np.allclose(parts.reward(), rewards, atol=1e-6)  # the adapter returns float32 rewards
