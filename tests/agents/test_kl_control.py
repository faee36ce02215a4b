"""KL control by target: the proportional controller on a bandit with a known answer, and c adapted inside a learner."""

import math

import numpy as np
import pytest
import torch

from seqtutor_agents import PsiLearning, make_sb3_vec_env
from seqtutor_agents.common.kl import KLCoefficient, kl_and_entropy

PRIOR = np.array([0.5, 0.3, 0.2])
REWARD = np.array([0.0, 1.0, 2.0])


def optimal_policy(c: float) -> np.ndarray:
    """The KL-regularised optimum of a one-step bandit: pi_c(a) ∝ p(a) exp(r(a) / c)."""
    w = PRIOR * np.exp(REWARD / c)
    return w / w.sum()


def kl_of(c: float) -> float:
    pi = optimal_policy(c)
    return float((pi * np.log(pi / PRIOR)).sum())


def c_for(target: float) -> float:
    """The c whose optimum has KL = target, by bisection on log c (KL falls as c grows)."""
    lo, hi = math.log(1e-3), math.log(1e3)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if kl_of(math.exp(mid)) > target else (lo, mid)
    return math.exp(0.5 * (lo + hi))


def test_exact_kl_and_entropy_by_hand():
    log_pi = torch.log(torch.tensor([[0.5, 0.5]]))
    log_p = torch.log(torch.tensor([[0.25, 0.75]]))
    kl, entropy = kl_and_entropy(log_pi, log_p)
    assert kl.item() == pytest.approx(0.5 * math.log(2) + 0.5 * math.log(0.5 / 0.75))
    assert entropy.item() == pytest.approx(math.log(2))


@pytest.mark.parametrize("target, start", [(0.1, 0.05), (0.1, 20.0), (0.4, 1.0)])
def test_controller_finds_the_c_of_a_bandit_with_a_known_answer(target, start):
    controller = KLCoefficient(start, target, horizon=1_000)
    for _ in range(2_000):  # the learner is exact: each c gives its optimum's KL
        controller.update(kl_of(controller.value), n_steps=100)
    assert controller.value == pytest.approx(c_for(target), rel=0.03)
    assert kl_of(controller.value) == pytest.approx(target, rel=0.05)


def test_controller_moves_the_right_way_by_a_bounded_step():
    controller = KLCoefficient(1.0, target=0.5, horizon=1_000, clip=0.2)
    assert controller.update(kl=5.0, n_steps=100) == pytest.approx(math.exp(0.2 * 0.1))  # too far: c grows, clipped
    controller = KLCoefficient(1.0, target=0.5, horizon=1_000, clip=0.2)
    assert controller.update(kl=0.25, n_steps=100) == pytest.approx(math.exp(-0.2 * 0.1))  # too close: c shrinks
    with pytest.raises(ValueError, match="target_kl must be in"):
        KLCoefficient(1.0, target=0.0)


def test_a_learner_adapts_c_logs_it_and_keeps_it_on_save_and_load(tmp_path):
    from stable_baselines3.common.logger import configure

    env = make_sb3_vec_env("SeqTutor-Melody-v0", n_envs=8, seed=0, c=0.05, composition_length=8)
    # c = 0.05 makes the music reward dominate: the policy leaves the prior far behind a 0.01-nat target.
    model = PsiLearning(
        "RecurrentQPolicy", env, learning_starts=64, train_freq=1, seed=0, target_kl=0.01, kl_horizon=2_000
    )
    model.set_logger(configure(str(tmp_path / "logs"), ["csv"]))
    model.learn(3_000, log_interval=1)
    assert model.current_c > 0.05  # KL above its target: c was raised
    assert model.c is None  # the setting stays the user's: "the env's c"
    header = (tmp_path / "logs" / "progress.csv").read_text().splitlines()[0].split(",")
    assert "train/c" in header
    model.save(tmp_path / "model")
    loaded = PsiLearning.load(tmp_path / "model.zip", env=env)
    # like SB3: the name save() was given
    assert PsiLearning.load(str(tmp_path / "model"), env=env).current_c == model.current_c
    assert loaded.current_c == model.current_c and loaded.c is None and loaded.target_kl == 0.01
    assert loaded.kl_coef.adaptive


def test_without_a_target_c_stays_fixed():
    env = make_sb3_vec_env("SeqTutor-Melody-v0", n_envs=4, seed=0, c=0.5, composition_length=8)
    model = PsiLearning("RecurrentQPolicy", env, learning_starts=32, train_freq=1, seed=0, c=0.7)
    model.learn(400)
    assert model.c == 0.7 and model.current_c == 0.7 and not model.kl_coef.adaptive


def test_without_c_the_learner_takes_the_envs_and_keeps_it():
    env = make_sb3_vec_env("SeqTutor-Melody-v0", n_envs=4, seed=0, c=0.5, composition_length=8)
    model = PsiLearning("RecurrentQPolicy", env, learning_starts=32, train_freq=1, seed=0)
    model.learn(400)
    assert model.c is None and model.current_c == 0.5


def test_pooling_tracks_the_mean_kl_where_per_batch_clipped_updates_drift():
    """Synchronised envs: each collection sees 4 positions of a 32-step episode, whose KL differs by position.

    The mean KL (0.12) is above the target (0.1), so c must rise; most positions are below the
    target, and clipped per-batch errors average to a fall (the drift measured on melody).
    """
    per_position = np.full(32, 0.06)
    per_position[[0, 2, 4]] = [0.8, 0.7, 0.6]  # a few positions cost most (measured on melody: 0.40, 0.52, 0.33)
    assert per_position.mean() == pytest.approx(0.12, abs=0.005)
    n_envs, collect = 32, 4
    pooled, per_batch = KLCoefficient(10.0, target=0.1), KLCoefficient(10.0, target=0.1)
    for _ in range(50):  # 50 episodes
        for start in range(0, 32, collect):
            kl = per_position[start : start + collect].mean()
            steps = collect * n_envs
            ended = n_envs if start + collect == 32 else 0
            pooled.observe(kl * steps, steps, ended, min_episodes=n_envs)
            per_batch.update(kl, steps)
    assert pooled.value > 10.0 * math.exp(0.19 * 50 * 1024 / pooled.horizon)  # the full clipped step, every episode
    assert per_batch.value < 10.0  # what the learners did before pooling
