"""Training speed: env steps per second while training, every learner family on the same native envs.

On ``SeqTutor-Melody-v0``: our G-learning, the policy-gradient baselines (DAP, KL-PPO) and stock
SB3 DQN three ways -- in its usual set-up (``DummyVecEnv`` of one env, its default 1 gradient step
per 4 env steps), through our native batched env with its defaults, and through our native env
replaying as many transitions per env step as G does. On ``SeqTutor-SMILES-v0`` (2x256 LSTM prior):
G, Ψ, DAP and KL-PPO. Ratios are to G-learning in the same run. Writes
``benchmarks/results/train_speed.md``.

    python -m benchmarks.train_speed --steps 100000
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym

from benchmarks.common import RESULTS_DIR, markdown_table, write_results

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
    parser.add_argument(
        "--rppo-steps",
        type=int,
        default=4_096,
        help="env steps of sb3-contrib's RecurrentPPO (slow: ~100 steps/s; 0: skip)",
    )
    parser.add_argument("--n-envs", type=int, default=32)
    parser.add_argument("--c", type=float, default=0.5)
    args = parser.parse_args()
    from stable_baselines3 import DQN
    from stable_baselines3.common.vec_env import DummyVecEnv

    from seqtutor_agents.runs.training import TrainConfig, make_env, make_model

    def config(algo: str, env_id: str = ENV_ID, **kwargs) -> TrainConfig:
        """The run's settings as ``seqtutor train`` resolves them (the table's defaults, the domain's)."""
        c = args.c if env_id == ENV_ID else None
        n_envs = args.n_envs if algo not in ("dap", "klppo") else None
        return TrainConfig(out="unused", env_id=env_id, algo=algo, c=c, n_envs=n_envs, device="cpu", **kwargs)

    def build(cfg: TrainConfig):
        return lambda: make_model(cfg, make_env(cfg))

    g, dqn = config("g"), config("dqn")
    dap, klppo = config("dap"), config("klppo")
    psi, dpg = config("psi"), config("dpg")
    runs = {
        f"G-learning (ours), native env x{g.resolved_n_envs()}": build(g),
        f"Ψ-learning (ours), native env x{psi.resolved_n_envs()}": build(psi),
        f"DPG (distribution matching), native env x{dpg.resolved_n_envs()}": build(dpg),
        f"DAP (REINVENT's loss), native env x{dap.resolved_n_envs()}": build(dap),
        f"KL-PPO, native env x{klppo.resolved_n_envs()}": build(klppo),
        f"SB3 DQN, native env x{dqn.resolved_n_envs()}": build(dqn),
        # Same transitions replayed per env step as G: G replays 32 episodes x 32 steps per gradient step
        # every train_freq vector steps; DQN replays 32 transitions per gradient step.
        f"SB3 DQN, native env x{dqn.resolved_n_envs()}, G's replay ratio": build(
            config("dqn", algo_kwargs={"train_freq": g.resolved_algo_kwargs()["train_freq"], "gradient_steps": 32})
        ),
        "SB3 DQN, DummyVecEnv x1": lambda: DQN(
            "MultiInputPolicy", DummyVecEnv([lambda: gym.make(ENV_ID, c=args.c)]), seed=0, **dqn.resolved_algo_kwargs()
        ),
    }
    rppo = config("recurrent_ppo")
    if args.rppo_steps:  # its own, shorter length: an LSTM forward per env step through SB3's rollout loop
        runs[f"sb3-contrib RecurrentPPO + SeqTutorExtractor, native env x{rppo.resolved_n_envs()}"] = (
            build(rppo),
            args.rppo_steps,
        )
    smiles = {algo: config(algo, SMILES_ID) for algo in ("g", "psi", "dap", "klppo")}
    names = {"g": "G-learning (ours)", "psi": "Ψ-learning (ours)", "dap": "DAP", "klppo": "KL-PPO"}
    smiles_runs = (
        {f"{names[a]}, SMILES x{cfg.resolved_n_envs()}": build(cfg) for a, cfg in smiles.items()}
        if args.smiles_steps
        else {}
    )
    sections = []
    for title, group, steps in (
        (f"{ENV_ID} (c = {args.c:g})", runs, args.steps),
        (f"{SMILES_ID} (qed objective, the table's settings)", smiles_runs, args.smiles_steps),
    ):
        if not group:
            continue
        rates, rows = {}, []
        for name, build in group.items():
            build, run_steps = build if isinstance(build, tuple) else (build, steps)
            rate, updates = timed(build, run_steps)
            rates[name] = rate
            rows.append([name, f"{rate:,.0f}", f"{updates:,}"])
            print(name, f"{rate:,.0f} steps/s, {updates} gradient steps", flush=True)
        ours = rates[next(iter(rates))]
        for row, name in zip(rows, rates, strict=True):
            row.append(f"{rates[name] / ours:.2f}")
        table = markdown_table(["learner", "env steps/s while training", "updates", "this / G-learning"], rows)
        sections.append(f"## {title}: {steps:,} env steps each (RecurrentPPO: {args.rppo_steps:,})\n\n{table}\n")
    text = write_results(
        RESULTS_DIR / "train_speed.md",
        "Training speed: every learner family on the native batched envs",
        (
            "\n".join(sections) + "\n"
            "Wall-clock including collection, replay sampling and gradient steps, one run after the other in this "
            "process. Hyperparameters: as `seqtutor train` resolves them (ALGOS in seqtutor_agents/runs/config.py "
            f"and the domain's settings). Melody: G {g.resolved_algo_kwargs()}; Ψ {psi.resolved_algo_kwargs()}; DPG "
            f"{dpg.resolved_algo_kwargs()}; RecurrentPPO {rppo.resolved_algo_kwargs()}; "
            f"DAP {dap.resolved_algo_kwargs()}; KL-PPO "
            f"{klppo.resolved_algo_kwargs()}; DQN {dqn.resolved_algo_kwargs()}. G replays 32 episodes x 32 steps per "
            "gradient step, DQN 32 transitions. SMILES: "
            + "; ".join(
                f"{names[a]} {cfg.resolved_algo_kwargs()} {cfg.resolved_env_kwargs()}" for a, cfg in smiles.items()
            )
            + ".\n"
        ),
    )
    print(text)


if __name__ == "__main__":
    main()
