"""Which replay for the recurrent learners: whole episodes (full unrolls) or stored LSTM states?

Trains the same learner twice on ``SeqTutor-Melody-v0`` for the same wall-clock budget, once with
``replay_buffer_class="episode"`` (episodes replayed from the zero state, backpropagation through time, every
Q-value from the current weights) and once with ``replay_buffer_class="transition"`` (RL Tuner's scheme: one
LSTM step from stored, stale states). Reports gradient-step cost, transitions replayed per second,
env steps reached and the music-theory reward / KL reached. Writes
``benchmarks/results/replay_modes.md``.

    python -m benchmarks.replay_modes --seconds 120
"""

from __future__ import annotations

import argparse
import time

from stable_baselines3.common.callbacks import BaseCallback

from benchmarks.common import RESULTS_DIR, markdown_table, write_results
from seqtutor_agents import ALGORITHMS, make_sb3_vec_env
from seqtutor_agents.runs.evaluation import model_policy, run_episodes
from seqtutor_envs.melody.stats import composition_statistics

ENV_ID = "SeqTutor-Melody-v0"


class StopAfter(BaseCallback):
    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds, self.start = seconds, time.perf_counter()

    def _on_step(self) -> bool:
        return time.perf_counter() - self.start < self.seconds


def run(mode: str, args) -> list[str]:
    env = make_sb3_vec_env(ENV_ID, n_envs=args.n_envs, seed=0, c=args.c)
    # Same number of replayed transitions per collected transition in both modes:
    # an episode minibatch of B episodes replays B * 32 transitions.
    batch = args.batch if mode == "episode" else args.batch * 32
    model = ALGORITHMS[args.algo](
        "RecurrentQPolicy", env, replay_buffer_class=mode, batch_size=batch, seed=0, learning_starts=1_000, train_freq=4
    )
    start = time.perf_counter()
    model.learn(10**9, callback=StopAfter(args.seconds))
    elapsed = time.perf_counter() - start
    # Cost of one gradient step alone.
    t0 = time.perf_counter()
    model.train(gradient_steps=20, batch_size=batch)
    step_ms = (time.perf_counter() - t0) / 20 * 1000
    result = run_episodes(ENV_ID, 2_000, model_policy(model, seed=1), seed=777, env_kwargs={"c": args.c})
    stats = composition_statistics(result.finals["composition"])
    return [
        mode,
        f"{batch}",
        f"{step_ms:.1f}",
        f"{batch * (1 if mode == 'transition' else 32) / step_ms * 1000:,.0f}",
        f"{model.num_timesteps:,}",
        f"{model._n_updates:,}",
        f"{result.domain_returns.mean():.1f}",
        f"{result.kl_per_step:.3f}",
        f"{stats['notes_in_motif']:.1f}",
        f"{elapsed:.0f}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--algo", default="psi", choices=sorted(ALGORITHMS))
    parser.add_argument("--seconds", type=float, default=120.0, help="training wall-clock per mode")
    parser.add_argument("--c", type=float, default=0.5)
    parser.add_argument("--n-envs", type=int, default=32)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--batch", type=int, default=32, help="episodes per minibatch (transition mode: x32)")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    rows = [run(mode, args) for mode in ("episode", "transition")]
    header = [
        "replay",
        "minibatch",
        "ms per gradient step",
        "transitions replayed/s",
        "env steps",
        "gradient steps",
        "MT reward / composition",
        "KL / step",
        "notes in motif %",
        "seconds",
    ]
    table = markdown_table(header, rows)
    text = write_results(
        RESULTS_DIR / "replay_modes.md",
        f"Replay modes for the recurrent learners ({args.algo}, c = {args.c:g})",
        (
            f"{table}\n\n"
            f"Each mode trains for {args.seconds:g} s of wall-clock on {args.n_envs} batched envs, then 2,000 "
            "compositions are sampled from the policy. Both modes replay the same number of transitions per "
            "gradient step.\n"
        ),
    )
    print(text)


if __name__ == "__main__":
    main()
