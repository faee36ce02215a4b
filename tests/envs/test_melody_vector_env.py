"""The native batched melody VectorEnv: same trajectories as single envs, autoreset modes, errors."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

import seqtutor_envs  # noqa: F401
from seqtutor_envs.melody.env import MelodyVectorEnv

ENV_ID = "SeqTutor-Melody-v0"


def test_make_vec_returns_the_native_env():
    envs = gym.make_vec(ENV_ID, num_envs=3)
    assert isinstance(envs, MelodyVectorEnv) and isinstance(envs, gym.vector.VectorEnv)
    assert envs.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    assert envs.action_space == gym.spaces.MultiDiscrete([38, 38, 38])
    obs, _ = envs.reset(seed=0)
    assert obs["tokens"].shape == (3, 33) and obs["prior_log_probs"].shape == (3, 38)
    assert envs.observation_space.contains(obs)
    same = gym.make_vec(ENV_ID, num_envs=2, autoreset_mode="same_step")
    assert same.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP


@pytest.mark.parametrize("mode", ["next_step", "same_step"])
def test_vector_env_equals_single_envs_across_autoresets(mode):
    n, seed = 4, 100
    venv = gym.make_vec(ENV_ID, num_envs=n, autoreset_mode=mode, composition_length=8)
    singles = [gym.make(ENV_ID, composition_length=8) for _ in range(n)]
    vobs, _ = venv.reset(seed=seed)
    sobs = [env.reset(seed=seed + i)[0] for i, env in enumerate(singles)]
    pending_reset = [False] * n
    rng = np.random.default_rng(0)
    for _ in range(30):  # several episodes of 8 steps, so several autoresets
        actions = rng.integers(0, 38, n)
        vobs, vrew, vterm, vtrunc, vinfo = venv.step(actions)
        for i, env in enumerate(singles):
            if pending_reset[i]:  # next-step mode: this step only resets env i
                sobs[i], _ = env.reset()
                reward, terminated, pending_reset[i] = 0.0, False, False
            else:
                sobs[i], reward, terminated, _, info = env.step(int(actions[i]))
                if terminated:
                    assert vinfo["_composition"][i] and np.array_equal(vinfo["composition"][i], info["composition"])
                    if mode == "same_step":
                        assert np.array_equal(vinfo["final_obs"][i]["tokens"], sobs[i]["tokens"])
                        assert np.array_equal(vinfo["final_info"]["composition"][i], info["composition"])
                        sobs[i], _ = env.reset()
                    else:
                        pending_reset[i] = True
            assert np.array_equal(vobs["tokens"][i], sobs[i]["tokens"])
            assert vobs["step"][i] == sobs[i]["step"]
            assert np.allclose(vobs["prior_log_probs"][i], sobs[i]["prior_log_probs"], atol=1e-5)
            assert vrew[i] == pytest.approx(reward, abs=1e-5)
            assert vterm[i] == terminated and not vtrunc[i]


def test_disabled_autoreset_resets_the_masked_sub_envs_only():
    n = 3
    venv = gym.make_vec(ENV_ID, num_envs=n, autoreset_mode="disabled", composition_length=8)
    singles = [gym.make(ENV_ID, composition_length=8) for _ in range(n)]
    vobs, _ = venv.reset(seed=5)
    sobs = [env.reset(seed=5 + i)[0] for i, env in enumerate(singles)]
    for t in range(8):
        vobs, _, vterm, _, _ = venv.step(np.full(n, 3 + t))
        sobs = [env.step(3 + t)[0] for env in singles]
    assert vterm.all()
    with pytest.raises(RuntimeError, match=r"sub-env\(s\) \[0, 1, 2\] ended.*reset_mask"):
        venv.step(np.zeros(n, dtype=np.int64))
    mask = np.array([False, True, False])
    vobs, _ = venv.reset(options={"reset_mask": mask})
    sobs[1], _ = singles[1].reset()  # the new primer continues sub-env 1's stream, as a single env's
    for i in range(n):
        assert np.array_equal(vobs["tokens"][i], sobs[i]["tokens"])  # the others keep their finished episode
    with pytest.raises(RuntimeError, match=r"sub-env\(s\) \[0, 2\] ended"):
        venv.step(np.zeros(n, dtype=np.int64))
    venv.reset(options={"reset_mask": ~mask})
    _, _, vterm, _, info = venv.step(np.full(n, 7))
    assert not vterm.any() and info["_prior_log_prob"].all()
    with pytest.raises(ValueError, match=r"options\['reset_mask'\] must be a numpy bool array of shape \(3,\)"):
        venv.reset(options={"reset_mask": [True, False, True]})
    with pytest.raises(ValueError, match=r"reset_mask.*needs autoreset_mode='disabled'"):
        gym.make_vec(ENV_ID, num_envs=2).reset(options={"reset_mask": np.ones(2, dtype=bool)})


def test_infos_are_batched_with_masks():
    envs = gym.make_vec(ENV_ID, num_envs=5)
    envs.reset(seed=1)
    _, rewards, _, _, info = envs.step(np.full(5, 14))
    assert info["prior_log_prob"].shape == (5,) and info["_prior_log_prob"].all()
    assert set(info["reward_terms"]) >= {"key", "tonic", "leap"}
    assert np.allclose(rewards, info["prior_log_prob"] + info["music_theory_reward"] / envs.c)
    assert "composition" not in info


def test_same_seed_same_batch():
    a, b = gym.make_vec(ENV_ID, num_envs=6), gym.make_vec(ENV_ID, num_envs=6)
    oa, _ = a.reset(seed=9)
    ob, _ = b.reset(seed=9)
    assert np.array_equal(oa["tokens"], ob["tokens"])
    oc, _ = a.reset(seed=10)
    # Sub-env i of seed s draws from seed s + i, so seed 10 shifts the batch of seed 9 by one.
    assert np.array_equal(oc["tokens"][:5, 0], ob["tokens"][1:, 0])


def test_bad_inputs_leave_the_batch_untouched():
    envs = gym.make_vec(ENV_ID, num_envs=3)
    _obs, _ = envs.reset(seed=0)
    with pytest.raises(ValueError, match="shape"):
        envs.step(np.zeros(2, dtype=int))
    with pytest.raises(ValueError, match="invalid action 40"):
        envs.step(np.array([1, 40, 2]))
    after, *_ = envs.step(np.array([1, 2, 3]))
    assert np.array_equal(after["tokens"][:, 1], [1, 2, 3])
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match=f"num_envs must be a positive integer, got {bad!r}"):
            gym.make_vec(ENV_ID, num_envs=bad)
    with pytest.raises(ValueError, match="num_envs must be a positive integer, got -1"):
        gym.make_vec("SeqTutor-SMILES-v0", num_envs=-1)
    with pytest.raises(ValueError, match="autoreset_mode"):
        gym.make_vec(ENV_ID, num_envs=2, autoreset_mode="sometimes")
    with pytest.raises(TypeError, match="got an unexpected keyword argument"):
        gym.make_vec(ENV_ID, num_envs=2, colour="red")


def test_render_ansi_for_all_envs():
    envs = gym.make_vec(ENV_ID, num_envs=2, render_mode="ansi")
    envs.reset(seed=0)
    envs.step(np.array([14, 1]))
    assert envs.render() == ("C4", "rest")
