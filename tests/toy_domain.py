"""A tiny third domain for tests: 4 tokens, episodes of LENGTH tokens after the primer 0, +1 per token 1.

Registered (with Gymnasium and seqtutor's domain registry) by :func:`registered_toy_domain`, with a
small untrained prior saved to the given folder. Its π* is computable exactly: 4^LENGTH sequences.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from seqtutor_envs.domains import Domain, register_domain, unregister_domain
from seqtutor_envs.prior import LSTMPrior, PriorConfig, load_frozen_prior
from seqtutor_envs.sequence_env import SequenceEnv, SequenceVectorEnv
from seqtutor_envs.task import SequenceTask, TaskStep

ENV_ID = "SeqTutorTest-Toy-v0"
LENGTH, VOCAB = 6, 4


class ToyTask(SequenceTask):
    """+1 for each token 1; episodes of LENGTH tokens after the primer 0."""

    name = ENV_ID
    domain_reward_bound = 1.0

    def __init__(self, num_envs: int) -> None:
        super().__init__(num_envs, LENGTH, VOCAB, pad_token=VOCAB)

    def primer(self, rng: np.random.Generator, options: dict[str, Any] | None) -> int:
        return 0

    def reset(self, env_indices: np.ndarray) -> None:
        pass

    def step(self, actions, env_indices, tokens, lengths) -> TaskStep:
        done = (lengths if env_indices is None else lengths[env_indices]) >= LENGTH
        reward = (actions == 1).astype(np.float64)
        return TaskStep(domain_reward=reward, terminated=done, terms={"ones": reward})

    def final_info(self, env_indices, tokens, lengths) -> dict[str, Any]:
        return {"sequence": tokens[env_indices, 1 : LENGTH + 1].copy()}


class ToyEnv(SequenceEnv):
    def __init__(
        self, c: float = 1.0, prior_weight: float = 1.0, prior_path: str | None = None, render_mode: str | None = None
    ) -> None:
        self.prior_path = prior_path
        super().__init__(ToyTask(1), load_frozen_prior(prior_path)[0], c, prior_weight, render_mode)


class ToyVectorEnv(SequenceVectorEnv):
    def __init__(
        self,
        num_envs: int = 1,
        c: float = 1.0,
        prior_weight: float = 1.0,
        prior_path: str | None = None,
        render_mode: str | None = None,
        autoreset_mode: str = "next_step",
    ) -> None:
        self.prior_path = prior_path
        super().__init__(
            ToyTask(num_envs), load_frozen_prior(prior_path)[0], c, prior_weight, render_mode, autoreset_mode
        )


def statistics(finals: dict[str, Any]) -> dict[str, float]:
    sequences = np.asarray(finals["sequence"])
    return {
        "ones_share": float((sequences == 1).mean()),
        "distinct": len({tuple(s) for s in sequences}) / len(sequences),
    }


def report(batches: dict[str, dict[str, Any]]) -> str:
    rows = {label: statistics(finals) for label, finals in batches.items()}
    return (
        "| | "
        + " | ".join(rows)
        + " |\n|---|"
        + "---|" * len(rows)
        + "\n| ones | "
        + " | ".join(f"{r['ones_share']:.3f}" for r in rows.values())
        + " |\n"
    )


def write_samples(finals: dict[str, Any], domain_returns: np.ndarray, out: Path, label: str) -> dict[str, Any]:
    path = out / "sequences.txt"
    path.write_text("\n".join(" ".join(map(str, s)) for s in np.asarray(finals["sequence"])) + "\n")
    return {"sequences": str(path)}


@contextlib.contextmanager
def registered_toy_domain(folder: Path, seed: int = 0) -> Iterator[Path]:
    """Register the toy env and domain with a prior saved in ``folder``; yields the prior's path."""
    import torch

    torch.manual_seed(seed)
    prior = folder / "toy_prior.pt"
    LSTMPrior(PriorConfig(num_outputs=VOCAB, hidden_size=8)).save(prior)
    gym.register(id=ENV_ID, entry_point=ToyEnv, vector_entry_point=ToyVectorEnv, kwargs={"prior_path": str(prior)})
    register_domain(
        Domain(
            name="toy",
            env_id=ENV_ID,
            sequence_key="sequence",
            statistics=statistics,
            report=report,
            write_samples=write_samples,
            metric_keys=("ones_share", "distinct"),
            learner_defaults={"psi": {"gamma": 1.0}},
        )
    )
    try:
        yield prior
    finally:
        unregister_domain(ENV_ID)
        del gym.registry[ENV_ID]
