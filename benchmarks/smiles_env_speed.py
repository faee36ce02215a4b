"""The SMILES env with the prior's own tokens against bare RDKit scoring of the same molecules.

First the prior writes ``--steps`` vector steps of molecules into a ``SeqTutor-SMILES-v0`` vector env
(``--num-envs`` envs, objective ``--objective``); its actions and the SMILES it finished are kept.
Then, in turn and ``--repeats`` times (so that both meet the same machine conditions on this shared
machine): (a) a fresh env replays exactly those actions -- the prior forward, the syntax filter, the
reward and RDKit scoring, with an empty score cache each time; (b) bare RDKit scores the same
finished SMILES (``Chem.MolFromSmiles`` and the objective's own property functions; no cache, no
canonicalisation: the floor any env that scores these molecules pays), with RDKit's ``QED.qed`` and with
seqtutor's ``scoring.qed`` that the env uses (same values, checked bit for bit here). The ratio (b)/(a)
of the time (b with RDKit's ``QED.qed``) says how close the env comes to its RDKit floor (1.0: the env
costs no more than RDKit alone). (c) The env's prior alone, one forward per vector step on the same
tokens: the other floor, since the process stepping the env runs it while a scoring worker scores.
``--workers`` lists the env's ``scoring_workers`` values to time.
Writes ``benchmarks/results/smiles_env_speed.md``.

    python -m benchmarks.smiles_env_speed --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import time

import gymnasium as gym
import numpy as np
import torch

import seqtutor_envs  # noqa: F401  (registers the envs)
from benchmarks.common import RESULTS_DIR, markdown_table, write_results
from seqtutor_envs.sampling import sample_categorical
from seqtutor_envs.smiles import scoring

ENV_ID = "SeqTutor-SMILES-v0"


def record(num_envs: int, steps: int, objective: str, workers: int) -> tuple[np.ndarray, list[str]]:
    """The prior's actions for ``steps`` vector steps and the SMILES finished along the way."""
    envs = gym.make_vec(ENV_ID, num_envs=num_envs, objective=objective, scoring_workers=workers)
    obs, _ = envs.reset(seed=0)
    rng = np.random.default_rng(0)
    actions, finished = [], []
    for _ in range(steps):
        action = sample_categorical(obs["prior_log_probs"].astype(np.float64), rng)
        actions.append(action)
        obs, _, _, _, infos = envs.step(action)
        if "_smiles" in infos:  # the SMILES of the envs that finished a molecule at this step
            finished += [s for s, done in zip(infos["smiles"], infos["_smiles"], strict=True) if done]
    envs.close()
    return np.stack(actions), finished


def replay_seconds(actions: np.ndarray, objective: str, workers: int) -> float:
    """Seconds a fresh env (empty caches, its own and its workers') takes to step through ``actions``."""
    envs = gym.make_vec(ENV_ID, num_envs=actions.shape[1], objective=objective, scoring_workers=workers)
    envs.reset(seed=0)
    if workers:  # fresh worker processes, started before the clock (an earlier replay's would hold a warm cache)
        scoring.shutdown_scoring_pools()
        pool = scoring.scoring_pool(workers)
        for job in [pool.submit(int) for _ in range(workers)]:
            job.result()
    start = time.perf_counter()
    for action in actions:
        envs.step(action)
    seconds = time.perf_counter() - start
    envs.close()
    return seconds


def prior_seconds(actions: np.ndarray) -> tuple[float, float]:
    """Seconds the env's prior (its ``FrozenStepper``) takes for one forward per vector step of ``actions`` alone,
    and its matrix products' flops (2 per multiply-add) over that time in GFLOP/s: the floor of the process
    that steps the env.

    The tokens are fed as one batch from the zero state, with no resets: the same products on the same
    batch size as the env, not the env's exact states.
    """
    from seqtutor_envs.prior import load_frozen_prior
    from seqtutor_envs.smiles.env import default_prior_path

    stepper, _ = load_frozen_prior(default_prior_path())
    state = stepper.initial_state(actions.shape[1])
    tokens = [torch.from_numpy(np.ascontiguousarray(a, dtype=np.int64)) for a in actions]
    start = time.perf_counter()
    for token in tokens:
        _, state = stepper(token, state)
    seconds = time.perf_counter() - start
    hidden, layers, outputs = stepper.hidden_size, stepper.num_layers, stepper.num_outputs
    # per row: each layer's recurrent product (H x 4H), layers above the first their input product too, the head
    macs = actions.size * (layers * hidden * 4 * hidden + (layers - 1) * hidden * 4 * hidden + hidden * outputs)
    return seconds, 2 * macs / seconds / 1e9


def rdkit_seconds(smiles: list[str], ours: bool = False) -> tuple[float, list[float]]:
    """Seconds bare RDKit takes to parse and score every SMILES (QED, the benchmark's objective), and the scores.

    :param ours: score with seqtutor's ``scoring.qed`` (RDKit's QED with its alerts matched by one
        FilterCatalog call) instead of RDKit's ``QED.qed``.
    """
    from rdkit import Chem
    from rdkit.Chem import QED

    score = scoring.qed if ours else QED.qed
    start = time.perf_counter()
    scores = []
    for s in smiles:
        mol = Chem.MolFromSmiles(s)
        if mol is not None:
            scores.append(score(mol))
    return time.perf_counter() - start, scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--num-envs", type=int, default=256)
    parser.add_argument("--steps", type=int, default=300, help="vector steps recorded and replayed")
    parser.add_argument("--objective", default="qed", choices=["qed"])
    parser.add_argument("--workers", nargs="+", type=int, default=[0, 1, 2], help="the env's scoring_workers values")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=str(RESULTS_DIR / "smiles_env_speed.md"))
    args = parser.parse_args()
    torch.set_num_threads(1)

    actions, finished = record(args.num_envs, args.steps, args.objective, 0)
    env_steps = actions.size
    times: dict[str, list[float]] = {f"env, scoring_workers={w}": [] for w in args.workers}
    times["bare RDKit"], times["bare RDKit, seqtutor's qed"] = [], []
    times["the env's prior forward alone"], gflops = [], []
    mismatches = compared = 0
    for _ in range(args.repeats):  # in turn: every measurement meets the same machine conditions
        for w in args.workers:
            times[f"env, scoring_workers={w}"].append(replay_seconds(actions, args.objective, w))
        seconds, rdkits = rdkit_seconds(finished)
        times["bare RDKit"].append(seconds)
        seconds, ours = rdkit_seconds(finished, ours=True)
        times["bare RDKit, seqtutor's qed"].append(seconds)
        mismatches, compared = sum(a != b for a, b in zip(rdkits, ours, strict=True)), len(rdkits)
        seconds, rate = prior_seconds(actions)
        times["the env's prior forward alone"].append(seconds)
        gflops.append(rate)
    median = {k: statistics.median(v) for k, v in times.items()}
    rows = []
    for name, seconds in median.items():
        rows.append(
            [
                name,
                f"{seconds:.3f}",
                f"{env_steps / seconds:,.0f}",
                f"{median['bare RDKit'] / seconds:.2f}" if name != "bare RDKit" else "1.00",
            ]
        )
    table = markdown_table(["what", "seconds (median)", "env steps/s", "RDKit time / this time"], rows)
    text = write_results(
        args.out,
        "SMILES env with the prior's tokens vs bare RDKit",
        f"`python -m benchmarks.smiles_env_speed "
        f"--num-envs {args.num_envs} --steps {args.steps} --repeats {args.repeats}`; objective `{args.objective}`, "
        f"{env_steps:,} env steps replayed, {len(finished):,} molecules finished "
        f"({len(set(finished)):,} distinct), one torch thread, medians of {args.repeats} interleaved repeats. "
        "The env scores with seqtutor's `scoring.qed`: RDKit's QED with its 116 structural alerts matched by one "
        f"FilterCatalog call; it differs from RDKit's `QED.qed` on {mismatches} of {compared:,} valid molecules "
        "(compared bit for bit). The ratio column divides by RDKit's own `QED.qed` time. The last row is the "
        f"env's 2-layer LSTM prior alone, one forward of the whole batch per vector step "
        f"(its matrix products' flops over the forward's whole time: {statistics.median(gflops):.1f} GFLOP/s): "
        "with one scoring worker the process that steps the env does this and the env's own work while the "
        "worker scores, so the env cannot be faster than the slower of this row and the scoring.\n\n"
        f"{table}\n",
    )
    print(text)


if __name__ == "__main__":
    main()
