"""Environment throughput: env steps per second with random actions, side by side.

For each environment: one env (``gym.make``), Gymnasium's ``SyncVectorEnv`` of 256 single envs,
and the native batched vector env at 256 and 1024 envs, with the ratios. Writes
``benchmarks/results/throughput.md`` and ``throughput.csv``.

    python -m benchmarks.throughput                 # all environments, ~1 minute
    python -m benchmarks.throughput --seconds 1     # quicker, noisier
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import numpy as np

import seqtutor_envs  # noqa: F401
from benchmarks.common import (
    RESULTS_DIR,
    machine_description,
    markdown_table,
    write_csv,
    write_results,
)
from seqtutor_envs.sampling import sample_categorical

ENVS: dict[str, dict] = {
    "SeqTutor-Melody-v0": {},
    "SeqTutor-SMILES-v0": {},  # default objective (qed)
    "SeqTutor-SMILES-v0 paper": {"objective": "paper"},
}


def _rate(step: Callable[[int], None], batch: int, seconds: float) -> float:
    """Env steps per second of ``step`` (called with a running index), after a warm-up."""
    for k in range(3):
        step(k)
    calls, start = 0, time.perf_counter()
    while True:
        step(calls)
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and calls >= 5:
            return calls * batch / elapsed


def single_env_rate(env_id: str, kwargs: dict, seconds: float) -> float:
    env = gym.make(env_id, **kwargs)
    env.reset(seed=0)
    actions = np.random.default_rng(0).integers(0, env.action_space.n, 100_000)

    def step(k: int) -> None:
        _, _, terminated, truncated, _ = env.step(int(actions[k % len(actions)]))
        if terminated or truncated:
            env.reset()

    return _rate(step, 1, seconds)


def vector_rate(env_id: str, kwargs: dict, num_envs: int, mode: str, seconds: float, policy: str = "random") -> float:
    envs = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode=mode, **kwargs)
    obs, _ = envs.reset(seed=0)
    n_actions = envs.single_action_space.n
    actions = np.random.default_rng(0).integers(0, n_actions, (64, num_envs))
    rng = np.random.default_rng(1)
    last = [obs]

    def step(k: int) -> None:
        if policy == "prior":  # realistic sequences: sample the prior from the observation
            last[0] = envs.step(sample_categorical(last[0]["prior_log_probs"].astype(np.float64), rng))[0]
        else:
            envs.step(actions[k % len(actions)])

    rate = _rate(step, num_envs, seconds)
    envs.close()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="timed seconds per configuration")
    parser.add_argument("--envs", nargs="*", default=list(ENVS), help="env ids to measure")
    parser.add_argument("--out", default=str(RESULTS_DIR / "throughput.md"))
    args = parser.parse_args()

    machine = machine_description()
    header = [
        "env",
        "single env",
        "SyncVectorEnv x256",
        "native x256",
        "native x1024",
        "native x1024 / Sync x256",
        "native x256 / Sync x256",
        "native x1024 / single",
        "native x256, prior-sampled actions",
        "same, RDKit scoring in-process (scoring_workers=0)",
    ]
    rows = []
    for name in args.envs:
        kwargs = ENVS.get(name, {})
        env_id = name.split()[0]
        single = single_env_rate(env_id, kwargs, args.seconds)
        sync256 = vector_rate(env_id, kwargs, 256, "sync", args.seconds)
        native256 = vector_rate(env_id, kwargs, 256, "vector_entry_point", args.seconds)
        native1024 = vector_rate(env_id, kwargs, 1024, "vector_entry_point", args.seconds)
        prior256 = vector_rate(env_id, kwargs, 256, "vector_entry_point", args.seconds, policy="prior")
        inline = "–"
        if env_id.startswith("SeqTutor-SMILES"):  # the default overlaps scoring with the prior in a worker process
            no_workers = {**kwargs, "scoring_workers": 0}
            inline = f"{vector_rate(env_id, no_workers, 256, 'vector_entry_point', args.seconds, policy='prior'):,.0f}"
        row = [
            env_id + (f" {kwargs}" if kwargs else ""),
            f"{single:,.0f}",
            f"{sync256:,.0f}",
            f"{native256:,.0f}",
            f"{native1024:,.0f}",
            f"{native1024 / sync256:.1f}x",
            f"{native256 / sync256:.1f}x",
            f"{native1024 / single:.0f}x",
            f"{prior256:,.0f}",
            inline,
        ]
        rows.append(row)
        print(" | ".join(row), flush=True)

    table = markdown_table(header, rows)
    out = Path(args.out)
    text = write_results(
        out,
        "Environment throughput (env steps per second, random actions)",
        (
            f"{table}\n\n"
            "Single env: `gym.make(id)` with Gymnasium's default wrappers. SyncVectorEnv: "
            "`gym.make_vec(id, 256, vectorization_mode='sync')` (256 single envs stepped in a Python loop). "
            "Native: `gym.make_vec(id, N)` (one batched prior forward and one batched reward per step). "
            "Each figure is steps per second over at least "
            f"{args.seconds:g} s after a warm-up; episodes auto-reset. Actions are uniformly random except in the last "
            "column, where each step samples the prior's own next-token distribution from the observation (realistic "
            "melodies and mostly valid molecules, so RDKit scoring and its cache are exercised as in training). "
            "The SMILES vector env scores finishing molecules in a worker process while the prior's forward runs "
            "(`scoring_workers`, default `auto`: one worker from 128 envs); the last column turns that off.\n"
        ),
        machine,
    )
    print()
    print(text)
    write_csv(out.with_suffix(".csv"), header, rows)


if __name__ == "__main__":
    main()
