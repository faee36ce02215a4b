"""Old code vs new code, measured in one run: env throughput and training speed of two commits.

Checks the base commit out into a ``git worktree`` (once, under the temp folder) and runs the same
measurements on it and on this working tree, each in a fresh subprocess whose ``sys.path`` starts
with that tree, alternating base/new so that machine noise hits both alike; reports the median of
``--repeats`` runs and the ratio new/base. Only the public API both versions share is used
(``gym.make_vec`` and ``GLearning`` with explicit hyperparameters). Writes
``benchmarks/results/old_vs_new.md``.

    python -m benchmarks.compare_commits --base f1aca65 --repeats 5 --threads 1
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import RESULTS_DIR, markdown_table, write_results

ROOT = Path(__file__).resolve().parent.parent

# Runs inside the subprocess, with the tree under test first on sys.path.
MEASURE = r"""
import json, sys, time
sys.path.insert(0, TREE)
import numpy as np, torch, gymnasium as gym
torch.set_num_threads(THREADS)
import seqtutor_envs, seqtutor_agents
assert seqtutor_envs.__file__.startswith(TREE), seqtutor_envs.__file__

def env_rate(env_id, n, seconds, **kwargs):
    envs = gym.make_vec(env_id, num_envs=n, **kwargs)
    envs.reset(seed=0)
    rng = np.random.default_rng(0)
    actions = rng.integers(0, envs.single_action_space.n, (4096, n))
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        envs.step(actions[steps % 4096])
        steps += 1
    return steps * n / (time.perf_counter() - start)

def melody_vs_bare(n, seconds):
    # The env's step and the reference of benchmarks/env_speed.py (embedding, LSTMCell(38, 100), linear,
    # log-softmax, batched), called in turn, call by call, so that both meet the same machine conditions.
    emb, cell, head = torch.nn.Embedding(38, 38), torch.nn.LSTMCell(38, 100), torch.nn.Linear(100, 38)
    tokens, state = torch.randint(0, 38, (n,)), [torch.zeros(n, 100), torch.zeros(n, 100)]
    envs = gym.make_vec("SeqTutor-Melody-v0", num_envs=n)
    envs.reset(seed=0)
    actions = np.random.default_rng(0).integers(0, 38, (64, n))
    spent, calls, start = [0.0, 0.0], 0, time.perf_counter()
    with torch.no_grad():
        while time.perf_counter() - start < 2 * seconds:
            t0 = time.perf_counter()
            state[0], state[1] = cell(emb(tokens), (state[0], state[1]))
            torch.log_softmax(head(state[0]), -1)
            t1 = time.perf_counter()
            envs.step(actions[calls % 64])
            spent[0] += t1 - t0
            spent[1] += time.perf_counter() - t1
            calls += 1
    return calls * n / spent[0], calls * n / spent[1]

def smiles_prior_rate(n, steps, workers):
    # The prior's own tokens (most molecules valid, so RDKit scores them), recorded in one env and replayed
    # into a fresh one: its caches and its scoring workers start empty in this fresh process.
    from seqtutor_envs.sampling import sample_categorical
    envs = gym.make_vec("SeqTutor-SMILES-v0", num_envs=n, objective="qed", scoring_workers=0)
    obs, _ = envs.reset(seed=0)
    rng, actions = np.random.default_rng(0), []
    for _ in range(steps):
        actions.append(sample_categorical(obs["prior_log_probs"].astype(np.float64), rng))
        obs = envs.step(actions[-1])[0]
    envs.close()
    envs = gym.make_vec("SeqTutor-SMILES-v0", num_envs=n, objective="qed", scoring_workers=workers)
    envs.reset(seed=0)
    start = time.perf_counter()
    for action in actions:
        envs.step(action)
    return steps * n / (time.perf_counter() - start)

def train_rate(steps):
    from seqtutor_agents import GLearning, make_sb3_vec_env
    env = make_sb3_vec_env("SeqTutor-Melody-v0", n_envs=32, seed=0, c=0.5)
    model = GLearning("RecurrentQPolicy", env, seed=0, learning_starts=1000, train_freq=4, gradient_steps=1,
                      batch_size=32, gamma=0.9)
    start = time.perf_counter()
    model.learn(steps)
    return steps / (time.perf_counter() - start)

bare, melody = melody_vs_bare(1024, SECONDS)
out = {
    "bare LSTM-100 step x1024, steps/s": bare,
    "melody native x1024, env steps/s": melody,
    "melody x1024 / bare LSTM-100 step": melody / bare,
    "SMILES native x256 (qed), env steps/s": env_rate("SeqTutor-SMILES-v0", 256, SECONDS),
    "SMILES x256, prior's tokens (qed), env steps/s": smiles_prior_rate(256, 300, 0),
    "SMILES x256, prior's tokens (qed), 1 scoring worker, env steps/s": smiles_prior_rate(256, 300, 1),
    "G-learning training x32, env steps/s": train_rate(TRAIN_STEPS),
}
print("RESULT " + json.dumps(out))
"""


def worktree(base: str) -> Path:
    sha = subprocess.run(
        ["git", "rev-parse", base], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.strip()
    path = Path(tempfile.gettempdir()) / f"seqtutor-base-{sha[:12]}"
    if not (path / "seqtutor_envs").is_dir():
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(path), sha], cwd=ROOT, check=True, capture_output=True
        )
    return path


def measure(tree: Path, args) -> dict[str, float]:
    code = (
        MEASURE.replace("TREE", repr(str(tree)))
        .replace("THREADS", str(args.threads))
        .replace("SECONDS", str(args.seconds))
        .replace("TRAIN_STEPS", str(args.train_steps))
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tempfile.gettempdir())
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise RuntimeError(f"measurement in {tree} failed:\n{proc.stderr[-3000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="HEAD", help="the old commit")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0, help="per env-throughput measurement")
    parser.add_argument("--train-steps", type=int, default=60_000)
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--out", default=str(RESULTS_DIR / "old_vs_new.md"))
    args = parser.parse_args()
    base = worktree(args.base)
    runs: dict[str, list[dict[str, float]]] = {"base": [], "new": []}
    for k in range(args.repeats):
        for name, tree in (("base", base), ("new", ROOT)) if k % 2 == 0 else (("new", ROOT), ("base", base)):
            runs[name].append(measure(tree, args))
            print(name, runs[name][-1], flush=True)
    rows = []
    for key in runs["base"][0]:
        old = statistics.median(r[key] for r in runs["base"])
        new = statistics.median(r[key] for r in runs["new"])
        fmt = "{:.3f}" if " / " in key else "{:,.0f}"
        rows.append([key, fmt.format(old), fmt.format(new), f"{new / old:.2f}"])
    table = markdown_table(["measurement", f"base ({args.base})", "new (working tree)", "new / base"], rows)
    text = write_results(
        Path(args.out),
        "Old vs new code, one run",
        f"{table}\n\n"
        f"Median of {args.repeats} alternating runs each; {args.seconds:g} s per env measurement (random valid "
        f"actions; the prior's tokens: 300 vector steps sampled from the prior, replayed into a fresh env), "
        f"{args.train_steps:,} env steps of G-learning (c = 0.5, 32 envs, train_freq 4, batch 32 "
        f"episodes); {args.threads} torch threads.\n",
    )
    print(text)


if __name__ == "__main__":
    main()
