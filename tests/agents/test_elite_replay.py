"""The episode buffer's elite memory: the best distinct episodes, replayed beside the ring."""

import numpy as np
import pytest
import torch

from seqtutor_agents import GLearning, make_sb3_vec_env
from seqtutor_agents.common.episodes import Episode
from seqtutor_agents.common.safe_load import ModelFileError, load_replay_buffer, save_replay_buffer
from seqtutor_agents.sequence_tutor import EpisodeReplayBuffer

VOCAB = 38


@pytest.fixture(scope="module")
def env():
    return make_sb3_vec_env("SeqTutor-Melody-v0", n_envs=2, seed=0)


def _episode(first_token: int, final_reward: float, length: int = 3) -> Episode:
    tokens = np.array([5, first_token] + [2] * (length - 1))
    log_p = np.log(np.full((length + 1, VOCAB), 1.0 / VOCAB, dtype=np.float32))
    domain = np.zeros(length, dtype=np.float32)
    domain[-1] = final_reward
    return Episode(
        tokens=tokens,
        prior_log_probs=log_p,
        prior_log_prob=log_p[np.arange(length), tokens[1:]],
        domain_rewards=domain,
        prior_weight=1.0,
    )


def _buffer(env, capacity_transitions: int = 320, **options) -> EpisodeReplayBuffer:
    return EpisodeReplayBuffer(capacity_transitions, env.observation_space, env.action_space, device="cpu", **options)


def test_elites_are_the_best_distinct_episodes_seen_even_after_the_ring_forgot_them(env):
    buffer = _buffer(env, elite_size=3, elite_sample=2)  # a ring of 10 episodes of up to 32 steps
    assert buffer.capacity == 10
    for token, reward in [(10, 5.0), (11, 1.0), (12, 9.0), (12, 9.0), (13, 7.0), (14, 0.5), (15, 6.0)]:
        buffer.add_episode(_episode(token, reward))
    for _ in range(20):  # 20 poor episodes overwrite the whole ring twice
        buffer.add_episode(_episode(20, -1.0))
    assert sorted(buffer.elite_returns.tolist()) == [6.0, 7.0, 9.0]  # the repeat of token 12 was not kept twice
    assert sorted(buffer.elite_tokens[:, 1].tolist()) == [12, 13, 15]
    assert (buffer.tokens[:, 1] == 20).all()


def test_minibatches_add_elite_sample_elite_episodes(env):
    model = GLearning("RecurrentQPolicy", env, learning_starts=0)
    buffer = _buffer(env, elite_size=2, elite_sample=2)
    for token in range(10, 16):
        buffer.add_episode(_episode(token, float(token)))
    np.random.seed(0)  # noqa: NPY002  (the buffer samples from numpy's global generator, as SB3's buffers do)
    batch = buffer.td_batch(4, model.q_net, model.q_net_target)
    assert batch.q_taken.shape[0] == 6
    finals = batch.domain_reward[:, 2].tolist()
    assert set(finals[4:]) <= {14.0, 15.0}  # the last two rows come from the elites
    without = _buffer(env)
    without.add_episode(_episode(10, 1.0))
    assert without.td_batch(4, model.q_net, model.q_net_target).q_taken.shape[0] == 4


@pytest.mark.parametrize(
    "options, message",
    [
        ({"elite_size": -1}, "elite_size"),
        ({"elite_size": 1.5}, "elite_size"),
        ({"elite_size": 2, "elite_sample": 3}, "cannot exceed"),
    ],
)
def test_bad_elite_options_are_refused(env, options, message):
    with pytest.raises(ValueError, match=message):
        _buffer(env, **options)


def test_g_learns_with_elite_replay_and_its_buffer_round_trips(env, tmp_path):
    model = GLearning(
        "RecurrentQPolicy",
        env,
        learning_starts=64,
        train_freq=8,
        seed=0,
        replay_buffer_kwargs={"elite_size": 4, "elite_sample": 2},
    )
    model.learn(400)
    buffer = model.replay_buffer
    assert buffer.num_elites() == 4 and model._n_updates > 0
    path = save_replay_buffer(model, tmp_path / "buffer.npz")
    fresh = GLearning("RecurrentQPolicy", env, replay_buffer_kwargs={"elite_size": 4, "elite_sample": 2})
    load_replay_buffer(fresh, path)
    np.testing.assert_array_equal(fresh.replay_buffer.elite_tokens, buffer.elite_tokens)
    np.testing.assert_array_equal(fresh.replay_buffer.elite_returns, buffer.elite_returns)
    other = GLearning("RecurrentQPolicy", env, replay_buffer_kwargs={"elite_size": 8, "elite_sample": 2})
    with pytest.raises(ModelFileError, match="elite"):
        load_replay_buffer(other, path)  # saved with another elite size: said, not silently truncated


def test_a_buffer_file_from_before_the_elite_memory_still_loads(env, tmp_path):
    model = GLearning("RecurrentQPolicy", env, learning_starts=64, seed=0)
    model.learn(200)
    path = save_replay_buffer(model, tmp_path / "buffer.npz")
    with np.load(path) as archive:
        old = {k: archive[k] for k in archive.files if not k.startswith("elite_")}
    np.savez(tmp_path / "old.npz", **old)
    fresh = GLearning("RecurrentQPolicy", env)
    load_replay_buffer(fresh, tmp_path / "old.npz")
    assert fresh.replay_buffer.num_episodes() == model.replay_buffer.num_episodes()
    assert fresh.replay_buffer.num_elites() == 0
    torch.testing.assert_close(torch.as_tensor(fresh.replay_buffer.tokens), torch.as_tensor(model.replay_buffer.tokens))
