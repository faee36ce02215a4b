"""REINVENT's augmented likelihood (DAP), KL-PPO and DPG: losses by hand, the β controller, save/load, predict,
learning."""

import math

import numpy as np
import pytest
import torch
from run_files import melody_domain_return

from seqtutor_agents import DAP, DPG, KLPPO, make_sb3_vec_env
from seqtutor_agents.common.episodes import Episode, Episodes
from seqtutor_agents.policy_gradient import (
    TopKMemory,
    augmented_likelihood_loss,
    dpg_weights,
    gae,
    kl_penalty,
)
from seqtutor_envs.reward import compose


def test_augmented_likelihood_loss_by_hand():
    # (w log p_prior(x) + S(x) / c - log pi(x))^2 = (-2 + 1 / 0.5 + 3)^2 = 9
    augmented = compose(torch.tensor([-2.0]), torch.tensor([1.0]), 0.5, 1.0)
    loss = augmented_likelihood_loss(torch.tensor([-3.0]), augmented)
    assert augmented.item() == pytest.approx(0.0) and loss.item() == pytest.approx(9.0)


def _episode(tokens, rewards, log_probs, w=1.0) -> Episode:
    log_probs = np.array(log_probs, dtype=np.float32)
    taken = log_probs[np.arange(len(tokens) - 1), np.array(tokens[1:])]  # log p(a_t|s_t), as the env reports it
    return Episode(np.array(tokens), log_probs, taken, np.array(rewards, dtype=np.float32), w)


def test_dap_update_minimises_the_loss_it_reports_on_a_hand_built_batch():
    env = make_sb3_vec_env("SeqTutor-Melody-v0", n_envs=2, seed=0, c=0.5)
    model = DAP("PriorLSTMPolicy", env, seed=0, learning_rate=1e-3)
    rng = np.random.default_rng(0)
    log_p = np.log(rng.dirichlet(np.ones(38), size=4))
    episodes = [_episode([14, 2, 5, 7], [1.0, 0.0, 2.0], log_p), _episode([20, 3, 0], [0.5, -1.0], log_p[:3])]
    batch = Episodes.stack(episodes)
    with torch.no_grad():
        log_pi, _ = model.policy.unroll(batch.inputs)
    agent = [sum(log_pi[k, t, int(e.tokens[t + 1])].item() for t in range(e.length)) for k, e in enumerate(episodes)]
    prior = [sum(e.prior_log_probs[t, int(e.tokens[t + 1])] for t in range(e.length)) for e in episodes]
    expected = np.mean(
        [(p + 2.0 * e.domain_rewards.sum() - a) ** 2 for p, a, e in zip(prior, agent, episodes, strict=False)]
    )
    model.set_logger(__import__("stable_baselines3.common.logger", fromlist=["configure"]).configure(None, []))
    model.train(episodes)
    assert model.logger.name_to_value["train/loss"] == pytest.approx(expected, rel=1e-5)
    with torch.no_grad():
        log_pi_after, _ = model.policy.unroll(batch.inputs)
    agent_after = [
        sum(log_pi_after[k, t, int(e.tokens[t + 1])].item() for t in range(e.length)) for k, e in enumerate(episodes)
    ]
    after = np.mean(
        [(p + 2.0 * e.domain_rewards.sum() - a) ** 2 for p, a, e in zip(prior, agent_after, episodes, strict=False)]
    )
    assert after < expected  # one Adam step moved log pi(x) toward the augmented likelihood


def test_top_k_memory_keeps_the_best_distinct_episodes():
    memory = TopKMemory(2)
    log_p = np.zeros((3, 38), dtype=np.float32)
    memory.add(
        [
            _episode([1, 2, 3], [1.0, 0.0], log_p),
            _episode([1, 2, 4], [5.0, 0.0], log_p),
            _episode([1, 2, 3], [1.0, 0.0], log_p),
            _episode([1, 2, 5], [3.0, 0.0], log_p),
        ]
    )
    assert memory.scores == [5.0, 3.0] and len(memory) == 2
    assert len(memory.sample(5, np.random.default_rng(0))) == 2


def test_top_k_memory_breaks_ties_by_age_as_reinvent_does():
    # REINVENT's Experience sorts stably, best first: among equal scores the earlier sequence stays ahead,
    # on every machine (numpy's default argsort orders ties by whatever its CPU's SIMD sort does).
    log_p = np.zeros((3, 38), dtype=np.float32)
    memory = TopKMemory(3)
    memory.add([_episode([1, 2, k], [1.0, 0.0], log_p) for k in range(3, 13)])  # ten distinct, all tied
    assert [int(e.tokens[2]) for e in memory.episodes] == [3, 4, 5]
    memory.add([_episode([1, 3, 3], [1.0, 0.0], log_p), _episode([1, 3, 4], [2.0, 0.0], log_p)])
    assert [int(e.tokens[2]) for e in memory.episodes] == [4, 3, 4] and memory.scores == [2.0, 1.0, 1.0]
    assert [int(e.tokens[1]) for e in memory.episodes] == [3, 2, 2]  # the new tie went after the older ones


def test_gae_by_hand():
    rewards = torch.tensor([[1.0, 2.0, 3.0]])
    values = torch.tensor([[0.5, 1.0, 1.5]])
    mask = torch.tensor([[1.0, 1.0, 0.0]])  # a 2-step episode in a width-3 batch
    advantages, returns = gae(rewards, values, mask, gamma=0.9, lam=0.5)
    delta1 = 2.0 - 1.0  # last real step: no bootstrap
    delta0 = 1.0 + 0.9 * 1.0 - 0.5
    assert advantages[0].tolist() == pytest.approx([delta0 + 0.9 * 0.5 * delta1, delta1, 0.0])
    assert returns[0].tolist() == pytest.approx([delta0 + 0.45 * delta1 + 0.5, delta1 + 1.0, 0.0])


def test_kl_penalties_by_hand():
    log_pi = torch.log(torch.tensor([[[0.5, 0.5]]]))
    log_p = torch.log(torch.tensor([[[0.25, 0.75]]]))
    actions = torch.tensor([[0]])
    exact = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    assert kl_penalty(log_pi, log_p, actions, "exact").item() == pytest.approx(exact)
    assert kl_penalty(log_pi, log_p, actions, "k1").item() == pytest.approx(math.log(0.5 / 0.25))


@pytest.mark.parametrize("target, direction", [(0.001, +1), (5.0, -1)])
def test_klppo_adaptive_beta_moves_the_right_way(target, direction):
    env = make_sb3_vec_env("SeqTutor-Melody-v0", n_envs=16, seed=0, c=0.2, composition_length=8)
    model = KLPPO(
        "PriorLSTMPolicy", env, seed=0, batch_size=16, learning_rate=1e-3, beta=1.0, target_kl=target, kl_horizon=500
    )
    model.learn(1_500)
    assert np.sign(model.current_beta - 1.0) == direction, model.current_beta
    assert model.beta == 1.0 and model.current_c == 0.2  # the setting stays as given; target_kl adapts β, not c


@pytest.mark.parametrize("algo", [DAP, KLPPO, DPG])
def test_save_load_and_predict_with_state(tmp_path, algo):
    env = make_sb3_vec_env("SeqTutor-Melody-v0", n_envs=4, seed=0, composition_length=8)
    model = algo("PriorLSTMPolicy", env, seed=0, batch_size=4)
    model.learn(200)
    model.save(tmp_path / "model")
    loaded = algo.load(tmp_path / "model.zip", env=env)
    obs = env.reset()
    state, starts = None, np.ones(4, dtype=bool)
    for _ in range(8):
        a, state = model.predict(obs, state=state, episode_start=starts, deterministic=True)
        b, _ = loaded.predict(obs, state=None, deterministic=True)  # the prefix unrolled from scratch
        assert np.array_equal(a, b)
        obs, _, starts, _ = env.step(a)
    assert starts.all()


@pytest.mark.slow
@pytest.mark.parametrize(
    "algo, kwargs, steps",
    [
        (DAP, {"learning_rate": 1e-2}, 16_000),
        (KLPPO, {"learning_rate": 3e-3, "beta": 0.1}, 12_000),
        (DPG, {"learning_rate": 1e-2}, 12_000),
    ],
)
def test_a_short_run_raises_the_domain_return(random_prior, algo, kwargs, steps):
    env_kwargs = {"prior_path": random_prior, "c": 0.5, "composition_length": 8}

    model = algo(
        "PriorLSTMPolicy",
        make_sb3_vec_env("SeqTutor-Melody-v0", n_envs=16, seed=0, **env_kwargs),
        seed=0,
        batch_size=16,
        **kwargs,
    )
    before = melody_domain_return(model, env_kwargs)
    model.learn(steps)
    after = melody_domain_return(model, env_kwargs)
    assert after > before + 5.0, (before, after)  # music-theory return per 8-step composition


def test_dpg_weights_by_hand():
    log_target = torch.tensor([0.0, math.log(3.0)])  # π* puts 3x the mass on the second sequence
    log_q = torch.log(torch.tensor([0.5, 0.5]))
    on_policy = dpg_weights(log_target, log_q, log_q)  # q = π: baseline 1/B
    assert on_policy.tolist() == pytest.approx([0.25 - 0.5, 0.75 - 0.5])
    # A proposal that over-samples the first sequence: importance weights correct for it.
    log_q = torch.log(torch.tensor([0.8, 0.2]))
    weights = dpg_weights(log_target, log_q, torch.log(torch.tensor([0.5, 0.5])))
    importance = torch.tensor([1 / 0.8, 3 / 0.2])
    baseline = torch.tensor([0.5 / 0.8, 0.5 / 0.2])
    assert weights.tolist() == pytest.approx((importance / importance.sum() - baseline / baseline.sum()).tolist())


def test_dpg_adapts_c_toward_a_target_kl_and_replaces_its_frozen_proposal(tmp_path):
    from stable_baselines3.common.logger import configure

    env = make_sb3_vec_env("SeqTutor-Melody-v0", n_envs=8, seed=0, c=0.05, composition_length=8)
    model = DPG(
        "PriorLSTMPolicy",
        env,
        seed=0,
        batch_size=8,
        learning_rate=3e-3,
        target_kl=0.01,
        kl_horizon=500,
        proposal="frozen",
    )
    model.set_logger(configure(str(tmp_path), ["csv"]))
    model.learn(4_000)
    assert model.current_c > 0.05  # c = 0.05 pulls far from the prior: above a 0.01-nat target, c was raised
    header = (tmp_path / "progress.csv").read_text().splitlines()[0].split(",")
    assert {"train/c", "train/ess", "train/kl_prior"} <= set(header)


def test_tempered_dpg_weights_keep_pi_star_as_their_fixed_point():
    log_target = torch.tensor([0.0, math.log(3.0), math.log(0.5)])
    log_q = torch.log(torch.tensor([0.6, 0.1, 0.3]))
    log_pi = torch.log(torch.tensor([0.2, 0.5, 0.3]))
    tempered = dpg_weights(log_target, log_q, log_pi, temper=0.5)
    expected = torch.softmax(0.5 * (log_target - log_q), 0) - torch.softmax(0.5 * (log_pi - log_q), 0)
    assert tempered.tolist() == pytest.approx(expected.tolist())
    assert not torch.allclose(tempered, dpg_weights(log_target, log_q, log_pi))  # α changes the step
    # At π ∝ P the two terms cancel, for any proposal and any α: π* stays the fixed point.
    at_optimum = log_target - torch.logsumexp(log_target, 0)
    for temper in (0.25, 0.5, 1.0):
        assert dpg_weights(log_target, log_q, at_optimum, temper).abs().max() < 1e-6


def test_dpg_takes_n_epochs_gradient_steps_per_batch_and_checks_its_options():
    env = make_sb3_vec_env("SeqTutor-Melody-v0", n_envs=8, seed=0, composition_length=8)
    model = DPG("PriorLSTMPolicy", env, seed=0, batch_size=8, n_epochs=3, temper=0.5)
    model.learn(320)
    steps = {int(state["step"]) for state in model.policy.optimizer.state.values()}
    assert steps == {3 * model._n_updates} and model._n_updates >= 3
    for bad in ({"temper": 0.0}, {"temper": 1.5}, {"n_epochs": 0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            DPG("PriorLSTMPolicy", env, **bad)
