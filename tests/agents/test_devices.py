"""Every learner on every device: collection, training, predict, evaluation and save/load keep tensors on the
model's device.

CUDA cases run where a GPU is present and are skipped otherwise (see ``tests/conftest.py``).
"""

import numpy as np
import pytest
import torch

from seqtutor_agents import GLearning, PriorQLearning, PsiLearning, make_sb3_vec_env
from seqtutor_agents.runs.evaluation import model_policy, run_episodes


@pytest.mark.parametrize("algo", [PriorQLearning, PsiLearning, GLearning])
@pytest.mark.parametrize("replay", ["episode", "transition"])
def test_learner_trains_predicts_and_reloads_on_device(tmp_path, device, algo, replay):
    env = make_sb3_vec_env("SeqTutor-Melody-v0", n_envs=4, seed=0, composition_length=8)
    model = algo(
        "RecurrentQPolicy",
        env,
        learning_starts=32,
        train_freq=1,
        batch_size=4,
        seed=0,
        device=device,
        replay_buffer_class=replay,
    )
    model.learn(160)  # several episode ends: the LSTM state is reset on device
    assert model._n_updates > 0
    assert all(p.device.type == torch.device(device).type for p in model.policy.parameters())
    assert model._rollout.state[0].device.type == torch.device(device).type  # the collector's LSTM state
    obs = env.reset()
    actions, state = model.predict(obs, state=None, deterministic=True)
    again, _ = model.predict(obs, state=state, episode_start=np.ones(4, dtype=bool), deterministic=True)
    assert actions.shape == (4,) and np.array_equal(actions, again)
    batch = run_episodes(
        "SeqTutor-Melody-v0", 6, model_policy(model, seed=0), seed=1, env_kwargs={"composition_length": 8}
    )
    assert batch.kl_per_step is not None and np.isfinite(batch.kl_per_step)
    model.save(tmp_path / "model")
    loaded = algo.load(tmp_path / "model.zip", env=env, device=device)
    assert next(loaded.policy.parameters()).device.type == torch.device(device).type
    assert np.array_equal(loaded.predict(obs, deterministic=True)[0], actions)
