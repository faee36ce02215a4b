"""What the best possible KL-regularised policy does on SeqTutor-Melody-v0, learner errors aside.

Ψ- and G-learning maximise ``E_π[R(x)/c] - KL(π ‖ p)`` (``R`` the music-theory return, ``p`` the
Note RNN, ``x`` a whole composition). Its exact optimum is the prior reweighted,
``π*(x) ∝ p(x) exp(R(x)/c)`` (with a prior weight ``w``: ``∝ p(x)^w exp(R(x)/c)``). This script
draws N compositions from the prior and estimates π*'s statistics by self-normalised importance
sampling (weights ``p(x)^(w-1) exp(R(x)/c)``; the effective sample size is printed: trust the
rows where it is in the hundreds or more), then reports, per (w, c): KL(π* ‖ p) per step, the
Table-1 statistics and the texture figures of a weighted resample. It also breaks the
music-theory return of the prior's samples down by rule and by onset density, which explains what
the optimum does. Writes ``benchmarks/results/melody_soft_optimum.md``.

    python -m benchmarks.soft_optimum -n 100000
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from benchmarks.common import RESULTS_DIR, markdown_table, write_results

ENV_ID = "SeqTutor-Melody-v0"
DENSITY_BINS = ((0.0, 0.2), (0.2, 0.35), (0.35, 0.5), (0.5, 0.65), (0.65, 1.01))


def sample_prior(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(compositions, per-rule returns (n, 9), log p(x), primers)`` of n prior samples."""
    import torch

    from seqtutor_agents.runs.evaluation import run_episodes
    from seqtutor_envs.melody.env import default_prior_path
    from seqtutor_envs.melody.rules import MusicTheoryRules
    from seqtutor_envs.prior import LSTMPrior
    from seqtutor_envs.sampling import prior_policy

    batch = run_episodes(ENV_ID, n, prior_policy(seed=seed), batch_size=5_000, seed=seed, progress=True)
    comps, primers = batch.finals["composition"].astype(np.int64), batch.finals["primer"].astype(np.int64)
    rules = MusicTheoryRules(n, composition_length=comps.shape[1])
    per_rule = np.zeros((n, 9))
    for t in range(comps.shape[1]):
        per_rule += rules.step(comps[:, t])
    prior, _ = LSTMPrior.load(default_prior_path())
    inputs = torch.as_tensor(np.concatenate([primers[:, None], comps[:, :-1]], axis=1))
    log_p = np.zeros(n)
    with torch.no_grad():
        for i in range(0, n, 10_000):
            logits, _ = prior(inputs[i : i + 10_000])
            taken = torch.log_softmax(logits, -1).gather(2, torch.as_tensor(comps[i : i + 10_000])[:, :, None])
            log_p[i : i + 10_000] = taken.squeeze(2).sum(1).numpy()
    return comps, per_rule, log_p, primers


def optimum_row(comps, returns, log_p, w: float, c: float, resample: int, seed: int) -> list[str]:
    from seqtutor_envs.melody.stats import composition_statistics
    from seqtutor_envs.melody.texture import texture_statistics

    log_weight = (w - 1.0) * log_p + returns / c
    top = log_weight.max()
    weight = np.exp(log_weight - top)
    log_z = np.log(weight.mean()) + top
    weight /= weight.sum()
    ess = 1.0 / np.sum(weight**2)
    kl = float(np.sum(weight * log_weight) - log_z) / comps.shape[1]  # KL(π* ‖ p) per step
    rows = np.random.default_rng(seed).choice(len(comps), size=resample, p=weight)
    stats, texture = composition_statistics(comps[rows]), texture_statistics(comps[rows])
    return [
        f"{w:g}",
        f"{c:g}",
        f"{ess:,.0f}",
        f"{kl:.3f}",
        f"{np.sum(weight * returns):.1f}",
        f"{stats['notes_in_motif']:.1f}",
        f"{stats['starts_with_tonic']:.1f}",
        f"{stats['leaps_resolved']:.1f}",
        f"{stats['notes_not_in_key']:.2f}",
        f"{texture['onset_share'] * 100:.0f}",
        f"{texture['rest_share'] * 100:.2f}",
        f"{texture['duration_tv']:.3f}",
        f"{texture['pitch_class_tv']:.3f}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--samples", type=int, default=100_000)
    parser.add_argument("--cs", nargs="+", type=float, default=[2, 3, 5, 8, 12, 20])
    parser.add_argument("--weights", nargs="+", type=float, default=[1.0, 1.1, 1.2, 1.5], help="prior weights w")
    parser.add_argument("--resample", type=int, default=4_000, help="compositions drawn by weight for the statistics")
    parser.add_argument("--seed", type=int, default=777)
    parser.add_argument("--out", default=str(RESULTS_DIR / "melody_soft_optimum.md"))
    args = parser.parse_args()

    from seqtutor_envs.melody.rules import RULE_NAMES

    comps, per_rule, log_p, _ = sample_prior(args.samples, args.seed)
    returns = per_rule.sum(axis=1)
    density = (comps >= 2).mean(axis=1)
    groups = [(density >= lo) & (density < hi) for lo, hi in DENSITY_BINS]
    breakdown = [[name] + [f"{per_rule[g, k].mean():.1f}" for g in groups] for k, name in enumerate(RULE_NAMES)]
    breakdown.append(["**total**"] + [f"**{returns[g].mean():.1f}**" for g in groups])
    breakdown.append(["compositions"] + [f"{g.sum():,}" for g in groups])
    header = ["rule"] + [f"onsets {lo:.0%}–{min(hi, 1):.0%}" for lo, hi in DENSITY_BINS]
    optimum = [
        optimum_row(comps, returns, log_p, w, c, args.resample, args.seed) for w in args.weights for c in args.cs
    ]
    opt_header = [
        "w",
        "c",
        "ESS",
        "KL/step",
        "music return",
        "motif %",
        "tonic start %",
        "leaps resolved %",
        "not in key %",
        "onsets %",
        "rests %",
        "duration TV",
        "pitch-class TV",
    ]
    text = write_results(
        Path(args.out),
        "The exact KL-regularised optimum on SeqTutor-Melody-v0",
        (
            f"{args.samples:,} compositions from the Note RNN (log p per step {log_p.mean() / comps.shape[1]:.3f}).\n\n"
            "## The music-theory return of the prior's samples, by rule and onset density\n\n"
            f"{markdown_table(header, breakdown)}\n\n"
            "## π*(x) ∝ p(x)^w exp(R(x)/c), estimated by self-normalised importance sampling\n\n"
            f"Statistics of {args.resample:,} compositions drawn by weight (trust rows with a large ESS).\n\n"
            f"{markdown_table(opt_header, optimum)}\n"
        ),
    )
    print(text)


if __name__ == "__main__":
    main()
