"""Bounded property fuzz of the native vector envs (the long version is ``benchmarks/fuzz_envs.py``).

Hypothesis draws the env, its settings, the number of sub-envs, the autoreset mode, the seed and
how often the SMILES agent ends a molecule; random valid actions then run a few episodes per example
under :class:`~seqtutor_envs.invariants.VectorEnvChecker`, which checks every step (observation in
its space and equal to primer + actions, normalised log-probabilities, finite rewards recomposed from
``info``, ``info['c']``/``info['prior_weight']``, termination only at END or max length, final info),
and a re-run with the same seed must be bit-identical. About 300 episodes in all, a few seconds.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import seqtutor_envs  # noqa: F401
from seqtutor_envs.invariants import VectorEnvChecker

EPISODES_PER_EXAMPLE = 10
MAX_CALLS = 200  # a bound on vector steps per example, whatever the draw
RERUN_CALLS = 40  # vector steps re-run to check determinism


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """Small batches: one thread is as fast, and immune to a busy second core (restored afterwards)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@st.composite
def env_settings(draw) -> tuple[str, dict]:
    kwargs = {
        "c": draw(st.sampled_from([0.05, 1.0, 10.0, 1e3])),
        "prior_weight": draw(st.sampled_from([0.0, 0.3, 1.0, 2.0])),
    }
    if draw(st.booleans()):
        kwargs["composition_length"] = draw(st.sampled_from([8, 9, 16, 32]))
        return "SeqTutor-Melody-v0", kwargs
    kwargs["max_length"] = draw(st.sampled_from([2, 5, 20, 100]))
    kwargs["objective"] = draw(st.sampled_from(["qed", "plogp", "paper"]))
    return "SeqTutor-SMILES-v0", kwargs


def run(
    env_id: str, kwargs: dict, num_envs: int, mode: str, seed: int, end_rate: float, max_calls: int = MAX_CALLS
) -> tuple[VectorEnvChecker, str]:
    """Random episodes under the checker; returns it and its digest after ``RERUN_CALLS`` calls."""
    checker = VectorEnvChecker(gym.make_vec(env_id, num_envs=num_envs, autoreset_mode=mode, **kwargs))
    rng = np.random.default_rng(seed)
    n_actions = int(checker.env.single_action_space.n)
    checker.reset(seed=seed)
    digest = checker.digest
    while checker.episodes < EPISODES_PER_EXAMPLE and checker.calls < max_calls:
        actions = rng.integers(0, n_actions, num_envs)
        if checker.end_token is not None:  # end molecules at the drawn rate (uniform actions rarely do)
            actions = np.where(rng.random(num_envs) < end_rate, checker.end_token, actions)
        checker.step(actions)
        if checker.calls <= RERUN_CALLS:
            digest = checker.digest
    return checker, digest


@settings(max_examples=30)
@given(
    setting=env_settings(),
    num_envs=st.integers(1, 6),
    mode=st.sampled_from(["next_step", "same_step"]),
    seed=st.integers(0, 2**32 - 1),
    end_rate=st.sampled_from([0.0, 0.05, 0.5]),
)
def test_random_episodes_keep_every_invariant(setting, num_envs, mode, seed, end_rate):
    env_id, kwargs = setting
    checker, digest = run(env_id, kwargs, num_envs, mode, seed, end_rate)
    assert checker.episodes >= 1
    assert not checker.violations, checker.summary()["examples"]
    again, again_digest = run(env_id, kwargs, num_envs, mode, seed, end_rate, max_calls=min(checker.calls, RERUN_CALLS))
    assert again_digest == digest and not again.violations  # same seed, same actions: the same bits


def _bad_reward(obs, rewards, terminated, info):
    return obs, rewards + 1e-6, terminated, info  # a reward that no longer matches its parts


def _bad_step_counter(obs, rewards, terminated, info):
    return {**obs, "step": obs["step"] + 1}, rewards, terminated, info


def _never_ends(obs, rewards, terminated, info):
    return obs, rewards, np.zeros_like(terminated), info


def _ends_early(obs, rewards, terminated, info):
    return obs, rewards, np.ones_like(terminated), info


def _wrong_c(obs, rewards, terminated, info):
    return obs, rewards, terminated, {**info, "c": info["c"] * 2} if "c" in info else info


def _unnormalised(obs, rewards, terminated, info):
    return {**obs, "prior_log_probs": obs["prior_log_probs"] - 0.5}, rewards, terminated, info


def _infinite_reward(obs, rewards, terminated, info):
    return obs, np.full_like(rewards, np.inf), terminated, info


@pytest.mark.parametrize("mode", ["next_step", "same_step"])
@pytest.mark.parametrize(
    "tamper, kind",
    [
        (_bad_reward, "reward_mismatch"),
        (_bad_step_counter, "obs_step"),
        (_never_ends, "termination"),
        (_ends_early, "termination"),
        (_wrong_c, "info_c_or_weight"),
        (_unnormalised, "log_probs_not_normalised"),
        (_infinite_reward, "reward_not_finite"),
    ],
)
def test_the_checker_catches_a_broken_env(mode, tamper, kind, monkeypatch):
    """The checker is only worth its silence if it speaks up: tamper with an env, expect that violation."""
    envs = gym.make_vec("SeqTutor-Melody-v0", num_envs=3, composition_length=8, autoreset_mode=mode)
    checker = VectorEnvChecker(envs)
    checker.reset(seed=0)
    step = type(envs).step

    def broken_step(self, actions):
        obs, rewards, terminated, truncated, info = step(self, actions)
        obs, rewards, terminated, info = tamper(obs, rewards, terminated, info)
        return obs, rewards, terminated, truncated, info

    monkeypatch.setattr(type(envs), "step", broken_step)
    for _ in range(20):  # past the end of the first episodes: the checker must not crash either
        checker.step(np.full(3, 5))
    assert checker.violations[kind] >= 1, dict(checker.violations)
    assert kind in checker.summary()["examples"]
