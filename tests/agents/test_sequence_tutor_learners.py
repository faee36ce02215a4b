"""The learners as SB3 algorithms: learning, save/load, predict with state, logging, errors."""

import numpy as np
import pytest
import torch
from stable_baselines3.common.callbacks import BaseCallback

from seqtutor_agents import GLearning, PriorQLearning, PsiLearning, make_sb3_vec_env
from seqtutor_agents.runs.evaluation import model_policy, run_episodes
from seqtutor_envs.melody import encoding as enc


def _in_key_fraction(model, prior_path: str, c: float) -> float:
    batch = run_episodes(
        "SeqTutor-Melody-v0",
        200,
        model_policy(model, seed=1),
        seed=99,
        env_kwargs={"prior_path": prior_path, "c": c, "composition_length": 16},
    )
    return float(enc.IN_C_MAJOR[batch.finals["composition"]].mean())


def test_psi_learning_raises_the_in_key_fraction(random_prior):
    c = 0.2  # the key rule costs 5 nats per out-of-key note: worth learning fast
    env = make_sb3_vec_env("SeqTutor-Melody-v0", n_envs=16, seed=0, prior_path=random_prior, c=c, composition_length=16)
    model = PsiLearning("RecurrentQPolicy", env, learning_starts=512, train_freq=1, learning_rate=3e-3, seed=0)
    before = _in_key_fraction(model, random_prior, c)
    model.learn(12_000)
    after = _in_key_fraction(model, random_prior, c)
    assert before < 0.75
    assert after > before + 0.1, (before, after)


@pytest.mark.parametrize("algo", [PriorQLearning, PsiLearning, GLearning])
def test_save_load_gives_identical_predictions(tmp_path, algo):
    env = make_sb3_vec_env("SeqTutor-Melody-v0", n_envs=4, seed=0)
    model = algo("RecurrentQPolicy", env, learning_starts=64, train_freq=1, seed=0)
    model.learn(256)
    model.save(tmp_path / "model")
    loaded = algo.load(tmp_path / "model.zip", env=env)
    obs = env.reset()
    state_a = state_b = None
    for _ in range(5):
        a, state_a = model.predict(obs, state=state_a, deterministic=True)
        b, state_b = loaded.predict(obs, state=state_b, deterministic=True)
        assert np.array_equal(a, b)
        assert np.allclose(state_a[0], state_b[0])
        obs, *_ = env.step(a)
    assert loaded.num_timesteps == model.num_timesteps and loaded.gamma == model.gamma
    assert [f.name for f in tmp_path.iterdir()] == ["model.zip"]  # written atomically, no temp files


def test_predict_with_state_equals_the_stateless_prefix_unroll():
    env = make_sb3_vec_env("SeqTutor-Melody-v0", n_envs=3, seed=1)
    model = GLearning("RecurrentQPolicy", env, learning_starts=64, train_freq=1, seed=0)
    model.learn(512)
    obs = env.reset()
    state, starts = None, np.ones(3, dtype=bool)
    for _ in range(32):
        with_state, state = model.predict(obs, state=state, episode_start=starts, deterministic=True)
        stateless, _ = model.predict(obs, state=None, deterministic=True)
        assert np.array_equal(with_state, stateless)
        obs, _, dones, _ = env.step(with_state)
        starts = dones
    assert starts.all()  # a whole 32-step episode was compared


def test_collection_uses_the_same_policy_as_predict():
    """Acting during training carries the LSTM state exactly like predict(state=...)."""
    env = make_sb3_vec_env("SeqTutor-Melody-v0", n_envs=2, seed=3)
    model = PsiLearning("RecurrentQPolicy", env, learning_starts=10_000, seed=0)  # no training: weights fixed
    seen = []

    class Record(BaseCallback):
        def _on_step(self):
            step = self.locals["transition"]  # the collector's arrays of this step
            seen.append((step.obs, step.log_pi.clone()))
            return True

    model.learn(64, callback=Record())
    state = None
    for obs, log_pi in seen[:32]:
        obs_t = {k: torch.as_tensor(v) for k, v in obs.items()}
        with torch.no_grad():
            q_values, state = model.policy.step_q(obs_t, state or model.policy.initial_state(2))
            expected = torch.log_softmax(model.policy.policy_logits(q_values, obs_t["prior_log_probs"].float()), 1)
        assert torch.allclose(log_pi, expected, atol=1e-5)


def test_logger_records_reward_parts_kl_and_loss(tmp_path):
    from stable_baselines3.common.logger import configure

    env = make_sb3_vec_env("SeqTutor-Melody-v0", n_envs=8, seed=0)
    model = PriorQLearning("RecurrentQPolicy", env, learning_starts=256, train_freq=1, seed=0)
    model.set_logger(configure(str(tmp_path), ["csv"]))
    model.learn(1024, log_interval=1)
    header = (tmp_path / "progress.csv").read_text().splitlines()[0].split(",")
    for key in (
        "rollout/domain_reward",
        "rollout/prior_log_prob",
        "rollout/kl_prior",
        "rollout/entropy",
        "train/loss",
        "rollout/ep_rew_mean",
    ):
        assert key in header, key


def test_kl_is_zero_for_g_learning_at_initialisation():
    env = make_sb3_vec_env("SeqTutor-Melody-v0", n_envs=4, seed=0)
    model = GLearning("RecurrentQPolicy", env, learning_starts=10_000, seed=0)
    model.learn(128, log_interval=None)
    assert model._stats.mean("kl_prior") == pytest.approx(0.0, abs=1e-5)
    assert model._stats.mean("entropy") > 0.5  # the prior itself is far from deterministic


def test_egreedy_exploration_anneals():
    env = make_sb3_vec_env("SeqTutor-Melody-v0", n_envs=4, seed=0)
    model = PriorQLearning(
        "RecurrentQPolicy",
        env,
        exploration="egreedy",
        exploration_fraction=0.5,
        exploration_final_eps=0.1,
        learning_starts=10_000,
    )
    model.learn(512)
    assert model.exploration_rate == pytest.approx(0.1)
    assert model.policy.epsilon == pytest.approx(0.1)


def test_bad_arguments_and_spaces():
    import gymnasium as gym

    env = make_sb3_vec_env("SeqTutor-Melody-v0", n_envs=2)
    with pytest.raises(ValueError, match="replay_buffer_class must be one of 'episode', 'transition'"):
        PsiLearning("RecurrentQPolicy", env, replay_buffer_class="prioritised")
    with pytest.raises(ValueError, match="exploration"):
        PsiLearning("RecurrentQPolicy", env, exploration="ucb")
    with pytest.raises(ValueError, match="gamma"):
        PsiLearning("RecurrentQPolicy", env, gamma=1.5)
    with pytest.raises(AssertionError, match="action space"):
        PsiLearning("RecurrentQPolicy", gym.make("Pendulum-v1"))
    with pytest.raises(ValueError, match="seqtutor environment"):
        PsiLearning("RecurrentQPolicy", gym.make("CartPole-v1"))


def test_model_loaded_against_another_vocabulary(tmp_path):
    env = make_sb3_vec_env("SeqTutor-Melody-v0", n_envs=2)
    model = PsiLearning("RecurrentQPolicy", env, learning_starts=10_000)
    model.save(tmp_path / "melody")
    smiles_env = make_sb3_vec_env("SeqTutor-SMILES-v0", n_envs=2)
    with pytest.raises(ValueError, match="spaces do not match"):
        PsiLearning.load(tmp_path / "melody.zip", env=smiles_env)


def test_nan_loss_stops_with_the_step(tmp_path):
    env = make_sb3_vec_env("SeqTutor-Melody-v0", n_envs=4, seed=0)
    model = PsiLearning("RecurrentQPolicy", env, learning_starts=128, train_freq=1, seed=0)
    with torch.no_grad():  # a diverged target network: acting still works, the TD target does not
        model.q_net_target.head.bias[0] = float("nan")
    with pytest.raises(FloatingPointError, match=r"non-finite TD loss .* update 1 \(env step \d+\)"):
        model.learn(1024)
