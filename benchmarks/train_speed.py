"""Training speed: env steps per second while training, our G-learning vs stock SB3 DQN.

Both train on ``SeqTutor-Melody-v0`` for the same number of env steps. DQN runs three ways: in its
usual set-up (``DummyVecEnv`` of one env, its default 1 gradient step per 4 env steps), through our
native batched env with its defaults, and through our native env replaying as many transitions per
env step as G does. Writes ``benchmarks/results/train_speed.md``.

    python benchmarks/train_speed.py --steps 100000
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import gymnasium as gym

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import RESULTS_DIR, machine_description, machine_markdown, markdown_table, write_text  # noqa: E402
from seqtutor_agents import GLearning, make_sb3_vec_env  # noqa: E402
from seqtutor_agents.hyperparams import NON_ALGO_KEYS, defaults  # noqa: E402

ENV_ID = "SeqTutor-Melody-v0"


def timed(build, steps: int) -> tuple[float, int]:
    model = build()
    start = time.perf_counter()
    model.learn(steps)
    elapsed = time.perf_counter() - start
    updates = getattr(model, "_n_updates", 0)
    return steps / elapsed, updates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--n-envs", type=int, default=32)
    parser.add_argument("--c", type=float, default=0.5)
    args = parser.parse_args()
    from stable_baselines3 import DQN
    from stable_baselines3.common.vec_env import DummyVecEnv

    def algo_kwargs(algo: str) -> dict:
        return {k: v for k, v in defaults(ENV_ID, algo).items() if k not in NON_ALGO_KEYS}

    g_kwargs, dqn_kwargs = algo_kwargs("g"), algo_kwargs("dqn")
    runs = {
        f"G-learning (ours), native env x{args.n_envs}": lambda: GLearning(
            "RecurrentQPolicy", make_sb3_vec_env(ENV_ID, n_envs=args.n_envs, seed=0, c=args.c), seed=0,
            **g_kwargs),
        f"SB3 DQN, native env x{args.n_envs}": lambda: DQN(
            "MultiInputPolicy", make_sb3_vec_env(ENV_ID, n_envs=args.n_envs, seed=0, c=args.c), seed=0, **dqn_kwargs),
        # Same transitions replayed per env step as G: G replays 32 episodes x 32 steps per gradient step
        # every train_freq vector steps; DQN replays 32 transitions per gradient step.
        f"SB3 DQN, native env x{args.n_envs}, G's replay ratio": lambda: DQN(
            "MultiInputPolicy", make_sb3_vec_env(ENV_ID, n_envs=args.n_envs, seed=0, c=args.c), seed=0,
            **{**dqn_kwargs, "train_freq": g_kwargs["train_freq"], "gradient_steps": 32}),
        "SB3 DQN, DummyVecEnv x1": lambda: DQN(
            "MultiInputPolicy", DummyVecEnv([lambda: gym.make(ENV_ID, c=args.c)]), seed=0, **dqn_kwargs),
    }
    rates = {}
    rows = []
    for name, build in runs.items():
        rate, updates = timed(build, args.steps)
        rates[name] = rate
        rows.append([name, f"{rate:,.0f}", f"{updates:,}"])
        print(name, f"{rate:,.0f} steps/s, {updates} gradient steps", flush=True)
    ours = rates[next(iter(rates))]
    for row, name in zip(rows, rates):
        row.append(f"{ours / rates[name]:.1f}x")
    table = markdown_table(["learner", "env steps/s while training", "gradient steps", "G-learning / this"], rows)
    # Transitions replayed: G's minibatch is 32 episodes of 32 steps, DQN's 32 transitions.
    text = (
        "# Training speed: G-learning vs SB3 DQN\n\n"
        f"{machine_markdown(machine_description())}\n\n{table}\n\n"
        f"{args.steps:,} env steps each on {ENV_ID} (c = {args.c:g}), wall-clock including collection, "
        f"replay sampling and gradient steps. Hyperparameters: G {g_kwargs}; DQN {dqn_kwargs}.\n"
    )
    print(text)
    write_text(RESULTS_DIR / "train_speed.md", text)


if __name__ == "__main__":
    main()
