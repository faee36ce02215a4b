"""The base every KL-controlled learner shares: c's one channel, the live c and β, the controller kept across
save/load."""

import dataclasses

import numpy as np
import pytest
import torch
from run_files import edit_model_data

from seqtutor_agents import DAP, DPG, KLPPO, GLearning, PsiLearning, make_sb3_vec_env
from seqtutor_agents.common.episodes import Episode, Episodes
from seqtutor_agents.common.learner import KLControlledLearner
from seqtutor_agents.common.safe_load import load_replay_buffer, save_replay_buffer
from seqtutor_agents.sequence_tutor import TDBatch, TransitionReplayBuffer

MELODY = "SeqTutor-Melody-v0"
SHORT = {"composition_length": 8}
LEARNERS = [
    (PsiLearning, {"learning_starts": 32, "train_freq": 1}),
    (DAP, {"batch_size": 4}),
    (KLPPO, {"batch_size": 4, "minibatch_size": 4, "n_epochs": 1}),
    (DPG, {"batch_size": 4}),
]


def _env(n_envs: int = 4, **kwargs):
    return make_sb3_vec_env(MELODY, n_envs=n_envs, seed=0, **{**SHORT, **kwargs})


def test_c_has_one_channel_the_per_step_env_c_is_gone():
    """The learner reads the env's c once (get_attr); no episode, batch, buffer or memory carries it per step."""
    for record in (Episode, Episodes, TDBatch):
        assert "env_c" not in {f.name for f in dataclasses.fields(record)}, record
    env = _env()
    model = GLearning(
        "RecurrentQPolicy",
        env,
        learning_starts=32,
        train_freq=1,
        seed=0,
        replay_buffer_kwargs={"elite_size": 2, "elite_sample": 1},
    )
    model.learn(96)
    buffer_arrays = set(vars(model.replay_buffer))
    assert model.replay_buffer.num_episodes() > 0 and not {"env_c", "elite_env_c"} & buffer_arrays
    assert "env_c" not in vars(TransitionReplayBuffer(64, env.observation_space, env.action_space, device="cpu"))
    dap = DAP("PriorLSTMPolicy", env, seed=0, batch_size=4, replay_memory=4, replay_sample=2)
    dap.learn(64)
    arrays = dap.checkpoint_arrays()
    assert len(dap.memory) == 4 and "env_c" not in arrays and "prior_weight" in arrays


@pytest.mark.parametrize("buffer_class", ["episode", "transition"])
def test_a_buffer_file_written_with_the_per_step_c_still_loads(tmp_path, buffer_class):
    env = _env()
    model = PsiLearning(
        "RecurrentQPolicy", env, learning_starts=32, train_freq=1, seed=0, replay_buffer_class=buffer_class
    )
    model.learn(96)
    path = save_replay_buffer(model, tmp_path / "buffer.npz")
    with np.load(path, allow_pickle=False) as archive:
        stored = {key: archive[key] for key in archive.files}
    rows = len(stored["lengths"]) if buffer_class == "episode" else len(stored["actions"])
    old = {**stored, "env_c": np.full(rows, 10.0, dtype=np.float32)}  # what earlier releases wrote
    if buffer_class == "episode":
        old["elite_env_c"] = np.zeros(0, dtype=np.float32)
    np.savez(tmp_path / "old.npz", **old)
    fresh = PsiLearning("RecurrentQPolicy", env, seed=1, replay_buffer_class=buffer_class)
    load_replay_buffer(fresh, tmp_path / "old.npz")
    for key, value in stored.items():
        if key != "__meta__":
            np.testing.assert_array_equal(getattr(fresh.replay_buffer, key), value)


def test_a_dap_memory_checkpointed_with_the_per_step_c_restores():
    dap = DAP("PriorLSTMPolicy", _env(), seed=0, batch_size=4, replay_memory=4, replay_sample=2)
    dap.learn(64)
    arrays = dap.checkpoint_arrays()
    other = DAP("PriorLSTMPolicy", _env(), seed=1, batch_size=4, replay_memory=4, replay_sample=2)
    other.restore_checkpoint_arrays({**arrays, "env_c": np.full(4, 10.0)})
    assert other.memory.scores == dap.memory.scores
    assert [e.tokens.tolist() for e in other.memory.episodes] == [e.tokens.tolist() for e in dap.memory.episodes]


@pytest.mark.parametrize("algo, kwargs", LEARNERS)
def test_c_stays_the_users_setting_and_current_c_is_the_live_one(algo, kwargs):
    assert issubclass(algo, KLControlledLearner)
    policy = next(iter(algo.policy_aliases))
    env = _env(c=0.3)
    own = algo(policy, env, c=0.7, seed=0, **kwargs)
    envs = algo(policy, env, seed=0, **kwargs)
    assert (own.c, own.current_c) == (0.7, 0.7) and (envs.c, envs.current_c) == (None, 0.3)
    envs.learn(64)
    assert (envs.c, envs.current_c) == (None, 0.3)


def test_a_model_loaded_without_an_env_takes_the_c_of_the_env_it_is_given(tmp_path):
    DAP("PriorLSTMPolicy", _env(c=0.3), seed=0, batch_size=4).save(tmp_path / "model.zip")
    model = DAP.load(tmp_path / "model.zip")
    assert model.current_c is None  # its c is the env's, and it has none yet
    model.set_env(_env(c=0.4))
    assert model.current_c == 0.4 and model.c is None


def test_a_learner_without_a_kl_controller_refuses_a_target():
    assert DAP.kl_target_adapts is None and KLPPO.kl_target_adapts == "beta"
    assert PsiLearning.kl_target_adapts == DPG.kl_target_adapts == "c"
    with pytest.raises(ValueError, match=r"DAP adapts no KL coefficient: target_kl must be None, got 0.1"):
        DAP("PriorLSTMPolicy", _env(), target_kl=0.1)


def test_an_adapted_c_resumes_after_load_and_so_does_one_saved_by_earlier_releases(tmp_path):
    env = _env(n_envs=8, c=0.05)
    model = DPG("PriorLSTMPolicy", env, seed=0, batch_size=8, learning_rate=3e-3, target_kl=0.01, kl_horizon=500)
    model.learn(1_000)
    reached = model.current_c
    assert reached > 0.05 and model.c is None and model.adapted_c == reached
    model.save(tmp_path / "model.zip")
    loaded = DPG.load(tmp_path / "model.zip", env=env)
    assert loaded.current_c == reached and loaded.c is None and loaded.kl_coef.adaptive

    def as_before(data):  # earlier releases overwrote c with the adapted value and kept nothing else
        data["c"] = data.pop("adapted_c")

    edit_model_data(tmp_path / "model.zip", as_before)
    legacy = DPG.load(tmp_path / "model.zip", env=env)
    assert legacy.current_c == reached and legacy.kl_coef.adaptive


def test_klppo_target_kl_adapts_beta_and_a_resumed_run_goes_on_from_it(tmp_path):
    """β keeps its setting (so a resume's config check passes: it failed when β was overwritten)."""
    from seqtutor_agents.runs.training import TrainConfig, train

    config = TrainConfig(
        out=str(tmp_path / "run"),
        algo="klppo",
        steps=256,
        n_envs=8,
        target_kl=0.01,
        checkpoint_every=128,
        env_kwargs=dict(SHORT),
        algo_kwargs={"batch_size": 8, "minibatch_size": 8, "n_epochs": 1},
    )
    model = train(config, progress=False)
    assert model.beta == 1.0 and model.current_beta != 1.0 and model.adapted_beta == model.current_beta
    assert not model.kl_coef.adaptive  # c is fixed: target_kl means β here
    resumed = train(dataclasses.replace(config, steps=512), resume=True, progress=False)
    assert resumed.num_timesteps == 512 and resumed.beta == 1.0 and resumed.current_beta != model.current_beta


@pytest.mark.parametrize("algo, kwargs", LEARNERS)
def test_the_shared_gradient_step_refuses_a_non_finite_loss(algo, kwargs):
    model = algo(next(iter(algo.policy_aliases)), _env(), seed=0, **kwargs)
    before = [p.detach().clone() for p in model.policy.parameters()]
    with pytest.raises(
        FloatingPointError, match=rf"{algo.__name__}: non-finite loss \(nan\) at update 1 \(env step 0\)"
    ):
        model._gradient_step(torch.tensor(float("nan"), requires_grad=True))
    assert all(torch.equal(a, b) for a, b in zip(before, model.policy.parameters(), strict=False))
