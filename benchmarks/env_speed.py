"""The melody env's step against a bare batched LSTM-100 step, side by side in one process.

The reference is what any LSTM language model pays per token: an embedding, ``nn.LSTMCell(38, 100)``,
a linear layer and a log-softmax, batched. The env does that (its frozen prior) plus the nine
rules, the reward and the observations; the ratio env / bare says what the rest costs. Also
measured: the env's prior stepper alone. One torch thread each; the three are measured in turn,
call by call (so that all three meet the same machine conditions: this shared 2-core machine's speed
drifts by +-20 % from second to second), ``--repeats`` times, and the medians reported. Writes
``benchmarks/results/env_speed.md``.

    python -m benchmarks.env_speed --repeats 15
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import gymnasium as gym
import numpy as np
import torch

import seqtutor_envs  # noqa: F401  (registers the envs)
from benchmarks.common import RESULTS_DIR, markdown_table, write_results

ENV_ID = "SeqTutor-Melody-v0"


def interleaved_rates(steps: dict[str, Callable[[], None]], batch: int, seconds: float) -> dict[str, float]:
    """Steps per second of each ``step`` (``batch`` env steps per call), calling them in turn, one call each.

    Interleaving call by call puts every measurement under the same machine conditions: on a shared
    2-core machine whose speed drifts from second to second, separate timing windows do not.
    """
    for step in steps.values():
        for _ in range(3):
            step()
    spent = dict.fromkeys(steps, 0.0)
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds * len(steps):
        for name, step in steps.items():
            t0 = time.perf_counter()
            step()
            spent[name] += time.perf_counter() - t0
        calls += 1
    return {name: calls * batch / spent[name] for name in steps}


def bare_lstm_step(batch: int) -> Callable[[], None]:
    """Embedding -> LSTMCell(38, 100) -> linear -> log-softmax, the state carried from call to call."""
    embedding, cell, head = torch.nn.Embedding(38, 38), torch.nn.LSTMCell(38, 100), torch.nn.Linear(100, 38)
    tokens = torch.randint(0, 38, (batch,))
    state = [torch.zeros(batch, 100), torch.zeros(batch, 100)]

    @torch.no_grad()
    def step() -> None:
        state[0], state[1] = cell(embedding(tokens), (state[0], state[1]))
        torch.log_softmax(head(state[0]), dim=-1)

    return step


def env_step(batch: int) -> tuple[Callable[[], None], Callable[[], None]]:
    """The native vector env's step with random actions, and its prior stepper alone."""
    envs = gym.make_vec(ENV_ID, num_envs=batch)
    envs.reset(seed=0)
    actions = np.random.default_rng(0).integers(0, 38, (64, batch))
    count = [0]

    def step() -> None:
        envs.step(actions[count[0] % 64])
        count[0] += 1

    stepper = envs.unwrapped.core.stepper
    tokens, state = torch.randint(0, 38, (batch,)), stepper.initial_state(batch)
    return step, lambda: stepper(tokens, state)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1024, 256])
    parser.add_argument("--repeats", type=int, default=15, help="alternating measurements of each")
    parser.add_argument("--seconds", type=float, default=1.0, help="per measurement")
    parser.add_argument("--out", default=str(RESULTS_DIR / "env_speed.md"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    for batch in args.batches:
        env, stepper = env_step(batch)
        runs: dict[str, list[float]] = {"bare": [], "stepper": [], "env": []}
        steps = {"bare": bare_lstm_step(batch), "stepper": stepper, "env": env}
        for _ in range(args.repeats):
            for name, value in interleaved_rates(steps, batch, args.seconds).items():
                runs[name].append(value)
        med = {name: statistics.median(values) for name, values in runs.items()}
        ratios = [e / b for e, b in zip(runs["env"], runs["bare"], strict=True)]
        rows.append(
            [
                str(batch),
                f"{med['bare']:,.0f}",
                f"{med['stepper']:,.0f}",
                f"{med['env']:,.0f}",
                f"{med['env'] / med['bare']:.3f}",
                f"{min(ratios):.2f}–{max(ratios):.2f}",
                f"{med['stepper'] / med['bare']:.3f}",
            ]
        )
        print(" | ".join(rows[-1]), flush=True)
    header = [
        "envs",
        "bare LSTM-100 step, steps/s",
        "env's prior stepper, steps/s",
        "melody env step, steps/s",
        "env / bare (medians)",
        "env / bare, each pair",
        "stepper / bare",
    ]
    text = write_results(
        args.out,
        "The melody env's step vs a bare batched LSTM-100 step",
        (
            f"{markdown_table(header, rows)}\n\nMedians of {args.repeats} measurements of about "
            f"{args.seconds:g} s each, the three steps called in turn, call by call; one torch thread. Bare step: "
            "`nn.Embedding(38, 38)`, `nn.LSTMCell(38, 100)`, `nn.Linear(100, 38)`, log-softmax, batched. Env step: "
            "`gym.make_vec('SeqTutor-Melody-v0', num_envs=N).step` with random actions (prior forward, the nine "
            "rules, reward, observations, autoreset).\n"
        ),
    )
    print(text)


if __name__ == "__main__":
    main()
