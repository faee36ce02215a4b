"""Trajectory balance (``--algo tb``): its loss and log Z's gradient by hand, log Z's own rate, convergence to
π*, save/resume."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from run_files import melody_domain_return
from stable_baselines3.common.logger import configure
from toy_domain import ENV_ID, LENGTH, VOCAB, registered_toy_domain

from seqtutor_agents import TB, make_sb3_vec_env
from seqtutor_agents.common.episodes import Episode, Episodes
from seqtutor_envs.prior import LSTMPrior


def _episode(tokens, rewards, log_probs) -> Episode:
    log_probs = np.array(log_probs, dtype=np.float32)
    taken = log_probs[np.arange(len(tokens) - 1), np.array(tokens[1:])]
    return Episode(
        np.array(tokens), log_probs, taken, np.array(rewards, dtype=np.float32), 1.0, behaviour_log_prob=taken.copy()
    )


def test_the_loss_and_the_gradient_of_log_z_by_hand():
    env = make_sb3_vec_env("SeqTutor-Melody-v0", n_envs=2, seed=0, c=0.5)
    model = TB("TBPolicy", env, seed=0, prior_penalty=0.0, log_z_init=1.5)
    model.policy.log_z.data.fill_(1.5)
    rng = np.random.default_rng(0)
    log_p = np.log(rng.dirichlet(np.ones(38), size=4))
    episodes = [_episode([14, 2, 5, 7], [1.0, 0.0, 2.0], log_p), _episode([20, 3, 0], [0.5, -1.0], log_p[:3])]
    batch = Episodes.stack(episodes)
    with torch.no_grad():
        log_pi, _ = model.policy.unroll(batch.inputs)
    agent = [sum(log_pi[k, t, int(e.tokens[t + 1])].item() for t in range(e.length)) for k, e in enumerate(episodes)]
    prior = [sum(e.prior_log_probs[t, int(e.tokens[t + 1])] for t in range(e.length)) for e in episodes]
    # δ = log Z + log π(x) − log p(x) − S(x)/c, with c = 0.5
    delta = [1.5 + a - p - 2.0 * e.domain_rewards.sum() for a, p, e in zip(agent, prior, episodes, strict=False)]
    loss, residuals, _ = model.tb_loss(batch)
    assert residuals.tolist() == pytest.approx(delta, rel=1e-5)
    assert loss.item() == pytest.approx(np.mean(np.square(delta)), rel=1e-5)
    loss.backward()
    assert model.policy.log_z.grad.item() == pytest.approx(2 * np.mean(delta), rel=1e-5)  # d mean δ² / d log Z
    # Genetic GFN's penalty adds prior_penalty · mean(log π − log p), which does not depend on log Z
    model.prior_penalty = 0.25
    penalised, _, _ = model.tb_loss(batch)
    assert penalised.item() == pytest.approx(
        np.mean(np.square(delta)) + 0.25 * np.mean(np.subtract(agent, prior)), rel=1e-5
    )


def test_log_z_keeps_its_own_learning_rate_and_is_logged(tmp_path):
    env = make_sb3_vec_env("SeqTutor-Melody-v0", n_envs=8, seed=0, c=0.5, composition_length=8)
    model = TB(
        "TBPolicy",
        env,
        seed=0,
        batch_size=8,
        learning_rate=lambda progress: 1e-3 * progress,
        log_z_learning_rate=0.05,
        gradient_steps=2,
        replay_memory=16,
        replay_sample=4,
    )
    model.set_logger(configure(str(tmp_path), ["csv"]))
    model.learn(256)
    groups = model.policy.optimizer.param_groups
    assert groups[1]["params"] == [model.policy.log_z] and groups[1]["lr"] == 0.05
    assert groups[0]["lr"] < 1e-3  # the network follows its schedule
    header = (tmp_path / "progress.csv").read_text().splitlines()[0].split(",")
    assert {"train/log_z", "train/log_z_estimate", "train/kl_prior", "rollout/kl_prior", "train/c"} <= set(header)
    assert model.log_z_ready


def test_log_z_starts_where_the_first_steps_loss_is_least():
    env = make_sb3_vec_env("SeqTutor-Melody-v0", n_envs=2, seed=0, c=0.5)
    rng = np.random.default_rng(0)
    log_p = np.log(rng.dirichlet(np.ones(38), size=4))
    batch = Episodes.stack(
        [_episode([14, 2, 5, 7], [1.0, 0.0, 2.0], log_p), _episode([20, 3, 0], [0.5, -1.0], log_p[:3])]
    )
    model = TB("TBPolicy", env, seed=0)
    model._start_log_z(batch)
    _, delta, _ = model.tb_loss(batch)
    assert delta.mean().item() == pytest.approx(0.0, abs=1e-4)  # d mean δ² / d log Z = 0 there
    given = TB("TBPolicy", env, seed=0, log_z_init=3.0)
    given._start_log_z(batch)
    assert given.policy.log_z.item() == 3.0 and given.log_z_ready


def exact_kl_to_optimum(model, prior_path: str, c: float) -> tuple[float, float]:
    """KL(π_θ ‖ π*) over all 4^6 toy sequences, π* ∝ p(x) exp(#ones / c), and π*'s log-normaliser log Z."""
    prior, _ = LSTMPrior.load(prior_path)
    sequences = np.array(list(itertools.product(range(VOCAB), repeat=LENGTH)))
    inputs = torch.as_tensor(np.concatenate([np.zeros((len(sequences), 1), dtype=np.int64), sequences], 1))
    actions = torch.as_tensor(sequences)[:, :, None]
    with torch.no_grad():
        logits, _ = prior(inputs[:, :-1])
        log_p = torch.log_softmax(logits, -1).gather(2, actions)[:, :, 0].double().sum(1)
        log_pi_steps, _ = model.policy.unroll(inputs)
        log_pi = log_pi_steps.gather(2, actions)[:, :, 0].double().sum(1)
    log_target = log_p + torch.as_tensor((sequences == 1).sum(1), dtype=torch.float64) / c
    log_z = torch.logsumexp(log_target, 0)
    return float((log_pi.exp() * (log_pi - (log_target - log_z))).sum()), float(log_z)


@pytest.mark.slow
def test_on_the_toy_domain_it_converges_toward_pi_star(tmp_path):
    with registered_toy_domain(tmp_path, seed=3) as prior_path:
        env = make_sb3_vec_env(ENV_ID, n_envs=16, seed=0, c=1.0)
        # the round's own samples in the first step, and a uniformly drawn replay: full support
        model = TB(
            "TBPolicy",
            env,
            seed=0,
            batch_size=16,
            learning_rate=1e-2,
            prior_penalty=0.0,
            gradient_steps=2,
            replay_memory=256,
            replay_sample=16,
            replay_sampling="uniform",
            train_on_new=True,
        )
        before, log_z = exact_kl_to_optimum(model, str(prior_path), 1.0)
        model.learn(6_000)
        after, _ = exact_kl_to_optimum(model, str(prior_path), 1.0)
        assert before > 0.3 and after < 0.02 * before, (before, after)  # 0.60 -> 0.001 nats here
        # the learned log Z is π*'s log-normaliser log Σ p(x) exp(#ones / c)
        assert model.policy.log_z.item() == pytest.approx(log_z, abs=0.05)


@pytest.mark.slow
def test_a_short_run_raises_the_melody_domain_return(random_prior):
    env_kwargs = {"prior_path": random_prior, "c": 0.5, "composition_length": 8}

    model = TB(
        "TBPolicy",
        make_sb3_vec_env("SeqTutor-Melody-v0", n_envs=16, seed=0, **env_kwargs),
        seed=0,
        batch_size=16,
        learning_rate=1e-2,
        gradient_steps=2,
        replay_memory=64,
        replay_sample=16,
    )
    before = melody_domain_return(model, env_kwargs)
    model.learn(8_000)
    after = melody_domain_return(model, env_kwargs)
    assert after > before + 5.0  # music-theory return per 8-step composition


def test_save_load_predict_and_a_checkpoint_holds_the_memory(tmp_path):
    env = make_sb3_vec_env("SeqTutor-Melody-v0", n_envs=4, seed=0, composition_length=8)
    model = TB("TBPolicy", env, seed=0, batch_size=4, replay_memory=8, replay_sample=2, gradient_steps=1)
    model.learn(200)
    model.save(tmp_path / "model")
    loaded = TB.load(tmp_path / "model.zip", env=env)
    assert float(loaded.policy.log_z) == float(model.policy.log_z) and loaded.log_z_ready
    assert loaded.policy.optimizer.param_groups[1]["lr"] == model.log_z_learning_rate
    obs = env.reset()
    state, starts = None, np.ones(4, dtype=bool)
    for _ in range(8):
        a, state = model.predict(obs, state=state, episode_start=starts, deterministic=True)
        b, _ = loaded.predict(obs, state=None, deterministic=True)
        assert np.array_equal(a, b)
        obs, _, starts, _ = env.step(a)
    arrays = model.checkpoint_arrays()
    assert len(model.memory) == 8 and arrays["lengths"].shape == (8,)
    loaded.restore_checkpoint_arrays(arrays)
    assert [e.tokens.tolist() for e in loaded.memory.episodes] == [e.tokens.tolist() for e in model.memory.episodes]
    assert loaded.memory.scores == model.memory.scores
