"""Property fuzz of the native vector envs: random valid actions, every invariant checked on every step.

For each configuration (the melody env and the SMILES env, each with default and non-default
settings) and each autoreset mode (``next_step``, ``same_step``), a native vector env
(``gym.make_vec(id, num_envs=N, autoreset_mode=...)``) is stepped with uniformly random actions until
``--episodes`` episodes have ended, under :class:`seqtutor_envs.invariants.VectorEnvChecker`
(observation in its space and equal to primer + actions, normalised prior log-probabilities, finite
rewards equal to ``prior_weight * prior_log_prob + domain_reward / c``, ``info`` c and prior_weight,
termination only at END or max length, episode lengths, final info present and equal to the
actions). The first ``--determinism-calls`` steps are then re-run on a fresh env with the same seed
and actions and must return bit-identical results. Violations are counted by kind; the script exits
with status 1 if there is any. Writes ``benchmarks/results/fuzz_envs.md``.

    python -m benchmarks.fuzz_envs                     # 10,000 episodes per env, config and mode
    python -m benchmarks.fuzz_envs --episodes 500      # quicker
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

import seqtutor_envs  # noqa: F401  (registers the environments)
from benchmarks.common import (
    RESULTS_DIR,
    machine_description,
    markdown_table,
    write_results,
)
from seqtutor_envs.invariants import VectorEnvChecker

#: name -> (env id, keyword arguments). Non-default settings check that info["c"]/["prior_weight"]
#: follow the env's and that shorter horizons end where they should.
CONFIGS: dict[str, tuple[str, dict]] = {
    "melody": ("SeqTutor-Melody-v0", {}),
    "melody c=2.5 w=0.5 L=17": ("SeqTutor-Melody-v0", {"c": 2.5, "prior_weight": 0.5, "composition_length": 17}),
    "smiles qed": ("SeqTutor-SMILES-v0", {}),
    "smiles paper w=0.3 L=40": ("SeqTutor-SMILES-v0", {"objective": "paper", "prior_weight": 0.3, "max_length": 40}),
}
MODES = ("next_step", "same_step")


def run(env_id: str, kwargs: dict, mode: str, num_envs: int, episodes: int, seed: int, determinism_calls: int) -> dict:
    """Fuzz one env in one autoreset mode; returns the checker's summary plus timing and determinism."""
    envs = gym.make_vec(env_id, num_envs=num_envs, autoreset_mode=mode, **kwargs)
    checker = VectorEnvChecker(envs)
    rng = np.random.default_rng(seed)
    n_actions = int(envs.single_action_space.n)
    checker.reset(seed=seed)
    actions_log: list[np.ndarray] = []
    digest_at = None
    started = time.perf_counter()
    while checker.episodes < episodes:
        actions = rng.integers(0, n_actions, num_envs)
        if len(actions_log) < determinism_calls:
            actions_log.append(actions)
        checker.step(actions)
        if checker.calls == determinism_calls:
            digest_at = checker.digest
    seconds = time.perf_counter() - started
    envs.close()

    # Determinism: a fresh env, the same seed and the same actions must return the same bits.
    again = VectorEnvChecker(gym.make_vec(env_id, num_envs=num_envs, autoreset_mode=mode, **kwargs))
    again.reset(seed=seed)
    for actions in actions_log:
        again.step(actions)
    if digest_at is None:  # the main run ended before determinism_calls
        digest_at = checker.digest
    summary = checker.summary()
    if again.digest != digest_at:
        summary["violations"]["not_deterministic"] = 1
        summary["examples"]["not_deterministic"] = [f"a re-run of {len(actions_log)} calls with seed {seed} differs"]
    for kind, count in again.violations.items():  # the re-run is checked too
        summary["violations"][kind] = summary["violations"].get(kind, 0) + count
    summary.update(seconds=seconds, determinism_calls=len(actions_log))
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--episodes", type=int, default=10_000, help="episodes per env configuration and autoreset mode"
    )
    parser.add_argument("--num-envs", type=int, default=256, help="sub-envs of each vector env")
    parser.add_argument("--seed", type=int, default=0, help="seed of the envs and of the random actions")
    parser.add_argument("--determinism-calls", type=int, default=200, help="vector steps re-run to check determinism")
    parser.add_argument("--configs", nargs="*", default=list(CONFIGS), choices=list(CONFIGS), help="configurations")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: this checks correctness, not speed, and one thread is "
        "immune to a busy second core)",
    )
    parser.add_argument("--out", default=str(RESULTS_DIR / "fuzz_envs.md"))
    args = parser.parse_args()
    for name in ("episodes", "num_envs", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    torch.set_num_threads(args.threads)

    machine = machine_description()
    header = [
        "configuration",
        "autoreset",
        "episodes",
        "env steps",
        "episode length min/mean/max",
        "violations",
        "seconds",
    ]
    rows, total_violations, examples = [], 0, []
    for name in args.configs:
        env_id, kwargs = CONFIGS[name]
        for mode in MODES:
            result = run(env_id, kwargs, mode, args.num_envs, args.episodes, args.seed, args.determinism_calls)
            violations = result["violations"]
            total_violations += sum(violations.values())
            described = ", ".join(f"{kind}: {count}" for kind, count in sorted(violations.items())) or "0"
            row = [
                f"{env_id} ({name})",
                mode,
                f"{result['episodes']:,}",
                f"{result['env_steps']:,}",
                f"{result['length_min']} / {result['length_mean']:.1f} / {result['length_max']}",
                described,
                f"{result['seconds']:.1f}",
            ]
            rows.append(row)
            print(" | ".join(row), flush=True)
            for kind, messages in sorted(result["examples"].items()):
                examples += [f"- {name}, {mode}, {kind}: {message}" for message in messages]

    table = markdown_table(header, rows)
    verdict = "no violation" if total_violations == 0 else f"{total_violations} violations"
    text = (
        f"{table}\n\n"
        f"**Result: {verdict}.** Each row: `gym.make_vec(id, num_envs={args.num_envs}, autoreset_mode=...)` stepped "
        f"with uniformly random actions (seed {args.seed}) until {args.episodes:,} episodes ended; every call is "
        "checked by `seqtutor_envs.invariants.VectorEnvChecker`: observation in the observation space and equal to "
        "the primer plus the actions taken, `step` counting them, `prior_log_probs` in [-100, 0] with logsumexp "
        "within 1e-4 of 0, finite rewards equal to `prior_weight * prior_log_prob + domain_reward / c` (relative "
        "1e-12), `prior_log_prob` equal to the previous observation's log-probability of the action, `info['c']`/"
        "`info['prior_weight']` the env's, termination exactly at END or the maximum length and never a truncation, "
        "episode lengths in [1, max length], the final info (and `final_obs`/`final_info` in same-step mode) present "
        "on the ending step with the composition/SMILES of the actions taken, and a reset row paying 0 in next-step "
        f"mode. The first {args.determinism_calls} calls of each row are re-run on a fresh env with the same seed and "
        "actions and must return bit-identical observations, rewards and flags.\n"
    )
    if examples:
        text += "\nFirst violations:\n\n" + "\n".join(examples) + "\n"
    text = write_results(Path(args.out), "Property fuzz of the native vector envs", text, machine)
    print()
    print(text)
    return 1 if total_violations else 0


if __name__ == "__main__":
    sys.exit(main())
