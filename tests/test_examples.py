"""The shipped examples run: CleanRL-style PPO on the native vector env, masking its autoreset steps."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def _example(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_gae_gives_reset_steps_nothing_and_does_not_bootstrap_across_them():
    ppo = _example("ppo_native_vector_env")
    # one env: the episode's last step (t=0), the reset step (t=1), the next episode's first step (t=2)
    storage = {
        "rewards": torch.tensor([[1.0], [0.0], [2.0]]),
        "values": torch.tensor([[0.5], [9.0], [0.25]]),
        "dones": torch.tensor([[True], [False], [False]]),
        "valid": torch.tensor([[True], [False], [True]]),
    }
    adv, returns = ppo.advantages(storage, torch.tensor([4.0]), torch.tensor([True]), gamma=1.0, lam=1.0)
    assert adv[:, 0].tolist() == [0.5, 0.0, 2.0 + 4.0 - 0.25]  # t=0 ends its episode: r - V, no V(reset obs)
    assert returns[0, 0] == 1.0


def test_ppo_on_the_native_vector_env_masks_every_33rd_step_and_learns():
    ppo = _example("ppo_native_vector_env")
    args = ppo.Args(num_envs=64, num_steps=66, total_timesteps=6 * 66 * 64, c=0.5, seed=0)
    stats = ppo.train(args)
    vector_steps = 6 * 66
    assert stats["reset_steps"] == (vector_steps // 33) * 64  # 32-token melodies: every 33rd step resets
    assert stats["reset_rewards"] == 0.0  # reset steps pay nothing ...
    assert stats["trained_steps"] + stats["reset_steps"] == vector_steps * 64  # ... and are not trained on
    returns = np.array(stats["episode_returns"])
    assert len(returns) == (vector_steps // 33) * 64
    # it learns: the last two episodes of each env return far more than the first two (-69 -> 9 on seed 0)
    assert returns[-128:].mean() > returns[:128].mean() + 30, (returns[:128].mean(), returns[-128:].mean())
