"""SeqTutor-Melody-v0 as a single Gymnasium env: API, reward, determinism, rendering, bad input."""

import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
import torch

import seqtutor_envs  # noqa: F401
from seqtutor_envs.melody import encoding as enc
from seqtutor_envs.melody.env import MelodyEnv
from seqtutor_envs.melody.rules import RULE_NAMES, score_compositions
from seqtutor_envs.prior import CheckpointError, LSTMPrior, PriorConfig

ENV_ID = "SeqTutor-Melody-v0"


def _rollout(env, seed, actions):
    obs, info = env.reset(seed=seed)
    out = [(obs, 0.0, False, info)]
    for a in actions:
        obs, reward, terminated, truncated, info = env.step(int(a))
        assert not truncated
        out.append((obs, reward, terminated, info))
        if terminated:
            break
    return out


def test_registered_with_both_entry_points():
    spec = gym.spec(ENV_ID)
    assert spec.entry_point == "seqtutor_envs.melody.env:MelodyEnv"
    assert spec.vector_entry_point == "seqtutor_envs.melody.env:MelodyVectorEnv"
    env = gym.make(ENV_ID)
    assert isinstance(env.unwrapped, MelodyEnv)
    assert env.action_space == gym.spaces.Discrete(38)


def test_module_prefixed_id_works_without_import():
    code = (
        "import gymnasium as gym; e = gym.make('seqtutor_envs:SeqTutor-Melody-v0'); print(e.reset(seed=0)[0]['step'])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0"


def test_gymnasium_and_sb3_env_checkers_pass():
    from gymnasium.utils.env_checker import check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    check_env(gym.make(ENV_ID).unwrapped)
    sb3_check_env(gym.make(ENV_ID).unwrapped)


def test_episode_structure_and_observation():
    env = gym.make(ENV_ID)
    obs, info = env.reset(seed=7)
    primer = info["primer"]
    assert enc.IS_PITCH[primer]
    assert obs["step"] == 0 and obs["tokens"][0] == primer and np.all(obs["tokens"][1:] == 38)
    assert np.isclose(np.exp(obs["prior_log_probs"]).sum(), 1.0, atol=1e-4)
    actions = np.random.default_rng(0).integers(0, 38, 32)
    steps = _rollout(env, 7, actions)
    assert len(steps) == 33 and steps[-1][2] and not any(s[2] for s in steps[:-1])
    final_obs, _, _, final_info = steps[-1]
    assert np.array_equal(final_info["composition"], actions)
    assert final_info["primer"] == primer
    assert np.array_equal(final_obs["tokens"], np.concatenate([[primer], actions]))
    assert final_obs["step"] == 32
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)


def test_reward_is_log_prior_plus_music_theory_over_c():
    c, weight = 4.0, 0.5
    env = gym.make(ENV_ID, c=c, prior_weight=weight)
    obs, _ = env.reset(seed=3)
    actions = np.random.default_rng(1).integers(0, 38, 32)
    mt_terms = []
    for a in actions:
        log_probs = obs["prior_log_probs"]
        obs, reward, _terminated, _, info = env.step(int(a))
        assert info["prior_log_prob"] == pytest.approx(float(log_probs[a]), abs=1e-6)
        assert set(info["reward_terms"]) == set(RULE_NAMES)
        assert info["music_theory_reward"] == pytest.approx(sum(info["reward_terms"].values()))
        assert reward == pytest.approx(weight * info["prior_log_prob"] + info["domain_reward"] / c)
        mt_terms.append([info["reward_terms"][name] for name in RULE_NAMES])
    # The env's per-rule terms equal the batch scorer's on the finished composition.
    _, breakdown = score_compositions(actions[None, :])
    assert np.allclose(np.array(mt_terms), breakdown[0])


def test_prior_log_probs_come_from_the_shipped_prior():
    env = gym.make(ENV_ID)
    obs, info = env.reset(seed=0)
    prior, _ = LSTMPrior.load(env.unwrapped.prior_path)
    a = int(np.argmax(obs["prior_log_probs"]))
    obs2, *_ = env.step(a)
    log_probs, _ = prior(torch.tensor([[info["primer"], a]]))
    expected = torch.log_softmax(log_probs[0], -1).numpy()
    assert np.allclose(obs["prior_log_probs"], expected[0], atol=1e-5)
    assert np.allclose(obs2["prior_log_probs"], expected[1], atol=1e-5)


def test_same_seed_same_trajectory_different_seed_different_primer():
    actions = np.random.default_rng(2).integers(0, 38, 32)
    a = _rollout(gym.make(ENV_ID), 11, actions)
    b = _rollout(gym.make(ENV_ID), 11, actions)
    for (oa, ra, _, _), (ob, rb, _, _) in zip(a, b, strict=False):
        assert np.array_equal(oa["tokens"], ob["tokens"]) and ra == rb
        assert np.array_equal(oa["prior_log_probs"], ob["prior_log_probs"])
    primers = {gym.make(ENV_ID).reset(seed=s)[1]["primer"] for s in range(20)}
    assert len(primers) > 5


def test_primer_option_and_composition_length():
    env = gym.make(ENV_ID, composition_length=16)
    obs, info = env.reset(seed=0, options={"primer": enc.TONIC})
    assert info["primer"] == enc.TONIC and obs["tokens"].shape == (17,)
    steps = _rollout(env, 0, np.zeros(16, dtype=int))
    assert len(steps) == 17 and steps[-1][2]
    with pytest.raises(ValueError, match="pitch token"):
        env.reset(options={"primer": enc.NOTE_OFF})


def test_render_modes():
    env = gym.make(ENV_ID, render_mode="ansi")
    env.reset(seed=0, options={"primer": enc.TONIC})
    for a in (enc.TONIC, enc.NO_EVENT, enc.NOTE_OFF, enc.pitch_to_token(67)):
        env.step(a)
    assert env.render() == "[C4] C4 - rest G4"
    env = gym.make(ENV_ID, render_mode="rgb_array")
    env.reset(seed=0)
    first = env.render()
    env.step(enc.TONIC)
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
    assert frame.shape == first.shape and not np.array_equal(frame, first)


@pytest.mark.parametrize("action", [38, -1, 2.5, "C4", [1, 2]])
def test_invalid_actions_are_rejected_without_corrupting_state(action):
    env = gym.make(ENV_ID).unwrapped
    _obs0, _ = env.reset(seed=5)
    with pytest.raises(ValueError, match="action"):
        env.step(action)
    obs1, reward, *_ = env.step(3)
    fresh = gym.make(ENV_ID).unwrapped
    fresh.reset(seed=5)
    obs2, reward2, *_ = fresh.step(3)
    assert np.array_equal(obs1["tokens"], obs2["tokens"]) and reward == reward2


@pytest.mark.parametrize("c", [0, -1.0, float("nan"), float("inf")])
def test_c_must_be_positive(c):
    with pytest.raises(ValueError, match="c must be"):
        gym.make(ENV_ID, c=c)


def test_bad_keywords():
    with pytest.raises(
        TypeError,
        match=r"MelodyEnv.__init__\(\) got an unexpected keyword argument .tempo.; "
        r"SeqTutor-Melody-v0 accepts: c, prior_weight",
    ):
        gym.make(ENV_ID, tempo=120)
    with pytest.raises(ValueError, match="prior_weight"):
        gym.make(ENV_ID, prior_weight=-1)
    with pytest.raises(ValueError, match="composition_length"):
        gym.make(ENV_ID, composition_length=4)
    with pytest.raises(ValueError, match="render_mode"):
        gym.make(ENV_ID, render_mode="text")


def test_missing_corrupt_and_mismatched_weights(tmp_path):
    with pytest.raises(FileNotFoundError, match="no prior weights file"):
        gym.make(ENV_ID, prior_path=str(tmp_path / "missing.pt"))
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x00" * 100)
    with pytest.raises(CheckpointError, match="corrupt"):
        gym.make(ENV_ID, prior_path=str(corrupt))
    other = LSTMPrior(PriorConfig(num_outputs=30, hidden_size=8)).save(tmp_path / "other.pt")
    with pytest.raises(ValueError, match=r"predicts 30 tokens.*38 actions"):
        gym.make(ENV_ID, prior_path=str(other))


def test_stock_ppo_trains_with_no_custom_code(tmp_path):
    from stable_baselines3 import PPO

    env = gym.make(ENV_ID)
    model = PPO("MultiInputPolicy", env, n_steps=64, batch_size=32, n_epochs=1, seed=0, verbose=0)
    model.learn(total_timesteps=128)
    obs, _ = env.reset(seed=0)
    action, _ = model.predict(obs, deterministic=True)
    assert env.action_space.contains(int(action))
