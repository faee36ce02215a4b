"""Training speed: env steps per second while training, every learner family on the same native envs.

On ``SeqTutor-Melody-v0``: our G-learning, the policy-gradient baselines (DAP, KL-PPO) and stock
SB3 DQN three ways -- in its usual set-up (``DummyVecEnv`` of one env, its default 1 gradient step
per 4 env steps), through our native batched env with its defaults, and through our native env
replaying as many transitions per env step as G does. On ``SeqTutor-SMILES-v0`` (2x256 LSTM prior):
G, Ψ, DAP and KL-PPO. Ratios are to G-learning in the same run. Writes
``benchmarks/results/train_speed.md``.

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
from seqtutor_agents import GLearning, PsiLearning, make_sb3_vec_env  # noqa: E402
from seqtutor_agents.hyperparams import NON_ALGO_KEYS, defaults  # noqa: E402

ENV_ID = "SeqTutor-Melody-v0"
SMILES_ID = "SeqTutor-SMILES-v0"


def timed(build, steps: int) -> tuple[float, int]:
    model = build()
    start = time.perf_counter()
    model.learn(steps)
    elapsed = time.perf_counter() - start
    updates = getattr(model, "_n_updates", 0)
    return steps / elapsed, updates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=100_000, help="env steps per melody run")
    parser.add_argument("--smiles-steps", type=int, default=40_000, help="env steps per SMILES run (0: skip)")
    parser.add_argument("--n-envs", type=int, default=32)
    parser.add_argument("--c", type=float, default=0.5)
    args = parser.parse_args()
    from stable_baselines3 import DQN
    from stable_baselines3.common.vec_env import DummyVecEnv

    from seqtutor_agents import DAP, KLPPO

    def algo_kwargs(algo: str, env_id: str = ENV_ID) -> dict:
        return {k: v for k, v in defaults(env_id, algo).items() if k not in NON_ALGO_KEYS}

    def vec(env_id: str = ENV_ID, n: int = args.n_envs, **kwargs):
        return make_sb3_vec_env(env_id, n_envs=n, seed=0, **kwargs)

    g_kwargs, dqn_kwargs = algo_kwargs("g"), algo_kwargs("dqn")
    pg_envs = defaults(ENV_ID, "dap")["n_envs"]
    runs = {
        f"G-learning (ours), native env x{args.n_envs}": lambda: GLearning(
            "RecurrentQPolicy", vec(c=args.c), seed=0, **g_kwargs),
        f"DAP (REINVENT's loss), native env x{pg_envs}": lambda: DAP(
            "PriorLSTMPolicy", vec(n=pg_envs, c=args.c), seed=0, **algo_kwargs("dap")),
        f"KL-PPO, native env x{pg_envs}": lambda: KLPPO(
            "PriorLSTMPolicy", vec(n=pg_envs, c=args.c), seed=0, **algo_kwargs("klppo")),
        f"SB3 DQN, native env x{args.n_envs}": lambda: DQN(
            "MultiInputPolicy", vec(c=args.c), seed=0, **dqn_kwargs),
        # Same transitions replayed per env step as G: G replays 32 episodes x 32 steps per gradient step
        # every train_freq vector steps; DQN replays 32 transitions per gradient step.
        f"SB3 DQN, native env x{args.n_envs}, G's replay ratio": lambda: DQN(
            "MultiInputPolicy", vec(c=args.c), seed=0,
            **{**dqn_kwargs, "train_freq": g_kwargs["train_freq"], "gradient_steps": 32}),
        "SB3 DQN, DummyVecEnv x1": lambda: DQN(
            "MultiInputPolicy", DummyVecEnv([lambda: gym.make(ENV_ID, c=args.c)]), seed=0, **dqn_kwargs),
    }
    smiles_runs = {
        f"G-learning (ours), SMILES x{args.n_envs}": lambda: GLearning(
            "RecurrentQPolicy", vec(SMILES_ID), seed=0, **algo_kwargs("g", SMILES_ID)),
        f"Ψ-learning (ours), SMILES x{args.n_envs}": lambda: PsiLearning(
            "RecurrentQPolicy", vec(SMILES_ID), seed=0, **algo_kwargs("psi", SMILES_ID)),
        f"DAP, SMILES x{pg_envs}": lambda: DAP(
            "PriorLSTMPolicy", vec(SMILES_ID, n=pg_envs), seed=0, **algo_kwargs("dap", SMILES_ID)),
        f"KL-PPO, SMILES x{pg_envs}": lambda: KLPPO(
            "PriorLSTMPolicy", vec(SMILES_ID, n=pg_envs), seed=0, **algo_kwargs("klppo", SMILES_ID)),
    } if args.smiles_steps else {}
    sections = []
    for title, group, steps in ((f"{ENV_ID} (c = {args.c:g})", runs, args.steps),
                                (f"{SMILES_ID} (qed objective, the table's settings)", smiles_runs, args.smiles_steps)):
        if not group:
            continue
        rates, rows = {}, []
        for name, build in group.items():
            rate, updates = timed(build, steps)
            rates[name] = rate
            rows.append([name, f"{rate:,.0f}", f"{updates:,}"])
            print(name, f"{rate:,.0f} steps/s, {updates} gradient steps", flush=True)
        ours = rates[next(iter(rates))]
        for row, name in zip(rows, rates):
            row.append(f"{rates[name] / ours:.2f}")
        table = markdown_table(["learner", "env steps/s while training", "updates", "this / G-learning"], rows)
        sections.append(f"## {title}: {steps:,} env steps each\n\n{table}\n")
    text = (
        "# Training speed: every learner family on the native batched envs\n\n"
        f"{machine_markdown(machine_description())}\n\n" + "\n".join(sections) + "\n"
        "Wall-clock including collection, replay sampling and gradient steps, one run after the other in this "
        f"process. Hyperparameters: the table's (seqtutor_agents/hyperparams.py). Melody: G {g_kwargs}; DAP "
        f"{algo_kwargs('dap')}; KL-PPO {algo_kwargs('klppo')}; DQN {dqn_kwargs}. G replays 32 episodes x 32 "
        "steps per gradient step, DQN 32 transitions. SMILES: G "
        f"{algo_kwargs('g', SMILES_ID)}; Ψ {algo_kwargs('psi', SMILES_ID)}; DAP {algo_kwargs('dap', SMILES_ID)}; "
        f"KL-PPO {algo_kwargs('klppo', SMILES_ID)}.\n"
    )
    print(text)
    write_text(RESULTS_DIR / "train_speed.md", text)


if __name__ == "__main__":
    main()
