"""Every learner takes the envs an SB3 user reaches for, with SB3's callbacks and evaluation; what cannot
be adapted is refused at construction, naming the call that works."""

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.callbacks import CheckpointCallback, EvalCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecMonitor, VecNormalize

from seqtutor_agents import DAP, DPG, KLPPO, GLearning, PriorQLearning, PsiLearning, SeqTutorVecEnv
from seqtutor_agents.common.vec_env import seqtutor_vec_env
from seqtutor_envs.melody.env import MelodyEnv

ENV_ID = "SeqTutor-Melody-v0"
KW = {"composition_length": 8}
LEARNERS = {
    PriorQLearning: ("RecurrentQPolicy", {"learning_starts": 16}),
    PsiLearning: ("RecurrentQPolicy", {"learning_starts": 16}),
    GLearning: ("RecurrentQPolicy", {"learning_starts": 16}),
    DAP: ("PriorLSTMPolicy", {"batch_size": 4}),
    KLPPO: ("PriorLSTMPolicy", {"batch_size": 4}),
    DPG: ("PriorLSTMPolicy", {"batch_size": 4}),
}


@pytest.mark.parametrize("algo", list(LEARNERS))
def test_make_vec_env_with_vec_monitor_callbacks_and_evaluate_policy(tmp_path, algo):
    policy, kwargs = LEARNERS[algo]
    monitored = VecMonitor(make_vec_env(ENV_ID, n_envs=4, seed=0, env_kwargs=KW))
    model = algo(policy, monitored, seed=0, **kwargs)
    assert model.env is monitored and isinstance(monitored.venv, SeqTutorVecEnv) and model.n_envs == 4
    eval_cb = EvalCallback(
        make_vec_env(ENV_ID, n_envs=2, env_kwargs=KW),
        n_eval_episodes=2,
        eval_freq=20,
        log_path=str(tmp_path / "eval"),
        verbose=0,
    )
    ckpt = CheckpointCallback(save_freq=20, save_path=str(tmp_path))
    model.learn(200, callback=[eval_cb, ckpt])
    assert model.num_timesteps >= 200
    assert len(eval_cb.evaluations_results) >= 2 and np.isfinite(eval_cb.evaluations_results).all()
    assert np.all(np.asarray(eval_cb.evaluations_length) == 8)
    assert sorted(p.name for p in tmp_path.glob("rl_model_*_steps.zip"))
    assert algo.load(next(tmp_path.glob("rl_model_*_steps.zip"))).num_timesteps > 0
    # VecMonitor saw the episodes the learner stepped: 200 steps of 8-token melodies in 4 envs
    assert len(model.ep_info_buffer) >= 16 and all(info["l"] == 8 for info in model.ep_info_buffer)
    mean, _ = evaluate_policy(model, model.get_env(), n_eval_episodes=4)
    assert np.isfinite(mean)


@pytest.mark.parametrize("algo", list(LEARNERS))
def test_a_plain_gym_make_env_and_an_env_id(algo):
    policy, kwargs = LEARNERS[algo]
    model = algo(policy, gym.make(ENV_ID, **KW), seed=0, **kwargs)
    assert isinstance(model.env, SeqTutorVecEnv) and model.n_envs == 1
    model.learn(64)
    assert model.num_timesteps >= 64
    assert algo(policy, ENV_ID, seed=0, **kwargs).env.get_attr("prior_path")[0].endswith("melody_prior.pt")


def test_subproc_vec_env_set_env_and_load_with_an_env(tmp_path):
    # the prefixed id imports seqtutor_envs in the worker processes too
    env = make_vec_env(f"seqtutor_envs:{ENV_ID}", n_envs=2, seed=1, env_kwargs=KW, vec_env_cls=SubprocVecEnv)
    try:
        model = DAP("PriorLSTMPolicy", env, seed=0, batch_size=2)
    finally:
        env.close()
    assert isinstance(model.env, SeqTutorVecEnv) and model.n_envs == 2
    model.learn(32)
    model.set_env(DummyVecEnv([lambda: gym.make(ENV_ID, **KW)] * 2))
    assert isinstance(model.env, SeqTutorVecEnv)
    model.learn(32, reset_num_timesteps=False)
    assert model.num_timesteps >= 64
    model.save(tmp_path / "dap")
    loaded = DAP.load(tmp_path / "dap.zip", env=make_vec_env(ENV_ID, n_envs=3, env_kwargs=KW))
    assert isinstance(loaded.env, SeqTutorVecEnv) and loaded.n_envs == 3
    loaded.learn(32)


def test_the_native_env_continues_each_sub_env_s_seeds_and_rng_stream():
    ours = seqtutor_vec_env(make_vec_env(ENV_ID, n_envs=3, seed=7, env_kwargs=KW))
    theirs = make_vec_env(ENV_ID, n_envs=3, seed=7, env_kwargs=KW)
    assert np.array_equal(ours.reset()["tokens"][:, 0], theirs.reset()["tokens"][:, 0])  # make_vec_env's seeds
    used = make_vec_env(ENV_ID, n_envs=3, seed=8, env_kwargs=KW)
    theirs = make_vec_env(ENV_ID, n_envs=3, seed=8, env_kwargs=KW)
    used.reset(), theirs.reset()
    ours = seqtutor_vec_env(used)
    for _ in range(3):  # the primers of the next episodes of each sub-env, drawn as the DummyVecEnv draws them
        assert np.array_equal(ours.reset()["tokens"][:, 0], theirs.reset()["tokens"][:, 0])


@pytest.mark.parametrize(
    "make, message",
    [
        (
            lambda: VecNormalize(make_vec_env(ENV_ID, n_envs=2, env_kwargs=KW), norm_obs=False),
            "VecNormalize around it would",
        ),
        (lambda: gym.make(ENV_ID, max_episode_steps=4, **KW), "max_episode_steps=4"),
        (lambda: gym.wrappers.TransformReward(gym.make(ENV_ID, **KW), lambda r: 2 * r), "wrapped in TransformReward"),
        (lambda: MelodyEnv(**KW), "built directly, without gym.make"),
        (
            lambda: DummyVecEnv([lambda: gym.make(ENV_ID, **KW), lambda: gym.make(ENV_ID, composition_length=9)]),
            "its sub-envs differ",
        ),
    ],
)
@pytest.mark.parametrize("algo", [PsiLearning, KLPPO])
def test_what_cannot_be_adapted_is_refused_at_construction_with_the_call_that_works(algo, make, message):
    with pytest.raises(ValueError, match=message) as err:
        algo(LEARNERS[algo][0], make())
    text = str(err.value)
    assert text.startswith("env: ") and "\n" not in text
    assert "make_sb3_vec_env" in text


def test_a_monitor_file_per_sub_env_is_refused(tmp_path):
    env = make_vec_env(ENV_ID, n_envs=2, env_kwargs=KW, monitor_dir=str(tmp_path))
    with pytest.raises(ValueError, match=r"Monitor writes a file.*VecMonitor\(make_sb3_vec_env\('SeqTutor-Melody-v0'"):
        GLearning("RecurrentQPolicy", env)


def test_g_learning_on_a_plain_smiles_env():
    model = GLearning("RecurrentQPolicy", gym.make("SeqTutor-SMILES-v0", max_length=10), seed=0, learning_starts=8)
    model.learn(48)
    assert model.num_timesteps >= 48 and model.replay_buffer.size() > 0
