"""``make demo``: fine-tune the shipped Note RNN on SeqTutor-Melody-v0 and show what changed.

Writes to the output folder: the trained run (model, config, TensorBoard logs), 10 MIDI and WAV
files and a piano roll of the tuned model, a training curve (music-theory reward and KL(pi || prior)
per step over training), the Table-1 statistics of the tuned model next to the prior's with its
return as a share of π*'s (the objective's optimum) at the same KL, and ``report.html``: the run's
page to look at and listen to (``seqtutor report``).
"""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import FuncFormatter

from seqtutor_agents.runs.evaluation import run_episodes
from seqtutor_envs.io import atomic_write, atomic_write_text
from seqtutor_envs.melody.audio import synthesis_backend, write_wavs
from seqtutor_envs.melody.midi import save_piano_roll_png, write_midis
from seqtutor_envs.melody.stats import composition_statistics, format_statistics_table
from seqtutor_envs.melody.texture import (
    corpus_sample,
    format_texture_table,
    texture_statistics,
)
from seqtutor_envs.optimum import sample_prior
from seqtutor_envs.sampling import prior_policy

from .evaluation import model_policy
from .optimum_figures import (
    compositions_to_ratio,
    distance_figures,
    optimum_points_around,
)
from .owned import check_output_file
from .report import build_report, optimality_ratio
from .training import TrainConfig, train

ENV_ID = "SeqTutor-Melody-v0"
# The learner and setting closest to π* at a KL of 0.1-0.25 on the melody frontier
# (benchmarks/results/melody_frontier.md): G-learning with the melody defaults (γ = 1, λ-returns, two
# gradient steps per collection) held to 0.1 nats per step; c starts at the env's 10 and is adapted.
DEMO_ALGO = "g"
DEMO_STEPS = 600_000  # the frontier's budget
DEMO_SETTING: dict[str, Any] = {"target_kl": 0.1}  # TrainConfig fields of the demo's setting
DEMO_EVAL_COMPOSITIONS = 2_000
DEMO_OPTIMUM_SAMPLES = 200_000  # prior compositions behind π* (cached after the first demo)


def read_progress(log_dir: Path) -> dict[str, np.ndarray]:
    """Columns of SB3's ``progress.csv`` files under ``log_dir`` (resumed parts appended in order)."""
    rows: list[dict[str, str]] = []
    for path in sorted(log_dir.rglob("progress.csv")):
        with path.open() as f:
            rows.extend(csv.DictReader(f))
    keys = {k for row in rows for k in row}
    return {k: np.array([float(r[k]) if r.get(k) not in (None, "") else np.nan for r in rows]) for k in keys}


def plot_training_curve(progress: dict[str, np.ndarray], path: Path, config: TrainConfig) -> Path:
    matplotlib.use("Agg")

    steps = progress.get("time/total_timesteps")
    panels = [
        ("rollout/domain_reward", "music-theory reward per step"),
        ("rollout/kl_prior", "KL(π ‖ prior) per step (nats)"),
    ]
    if config.target_kl is not None:  # the controller's c beside the KL it steers
        panels.append(("train/c", "c (adapted)"))
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6))
    for ax, (key, label) in zip(axes, panels, strict=True):
        values = progress.get(key)
        if steps is not None and values is not None:
            ok = ~np.isnan(values) & ~np.isnan(steps)
            ax.plot(steps[ok], values[ok], color="tab:blue")
        if key == "rollout/kl_prior" and config.target_kl is not None:
            ax.axhline(config.target_kl, color="grey", linestyle="--", label="target")
            ax.legend(loc="best")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x / 1e3:g}k"))
        ax.set_xlabel("env steps")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    setting = f"KL target {config.target_kl:g}" if config.target_kl is not None else f"c = {config.c:g}"
    fig.suptitle(f"Fine-tuning the Note RNN on SeqTutor-Melody-v0 with {config.algo} ({setting})")
    fig.tight_layout()
    atomic_write(path, lambda name: fig.savefig(name, format="png", dpi=120), suffix=".png")
    plt.close(fig)
    return path


def demo_summary(
    model, config: TrainConfig, tuned, prior, minutes: float, n_compositions: int, optimum_samples: int, seed: int = 0
) -> str:
    """``table1.md``: the setting, Table 1, the texture table, KL and entropy, and the return against π*'s."""
    compositions = tuned.finals["composition"]
    columns = {
        "Note RNN (shipped prior)": composition_statistics(prior.finals["composition"]),
        f"{DEMO_ALGO}-tuned": composition_statistics(compositions),
    }
    table = format_statistics_table(columns, include_paper=["Note RNN", "Q", "Psi"])
    texture = format_texture_table(
        {
            "corpus (validation windows)": texture_statistics(corpus_sample(n_compositions)),
            "Note RNN (shipped prior)": texture_statistics(prior.finals["composition"]),
            f"{DEMO_ALGO}-tuned": texture_statistics(compositions),
        }
    )
    final_c = getattr(model, "current_c", None) or config.resolved_env_kwargs().get("c")
    assert final_c is not None  # the demo's learner adapts c to its KL target: it has a current_c
    summary = (
        f"# Demo: Note RNN fine-tuned with {DEMO_ALGO}\n\n"
        f"Setting: {DEMO_SETTING} (c at the end of training: {final_c:.3g}); {config.steps:,} env steps of training "
        f"in {minutes:.1f} min; {n_compositions:,} compositions each.\n\n"
        f"## Table 1 (music theory)\n\n{table}\n\n"
        f"## What tuning keeps (texture and diversity)\n\n{texture}\n\n"
        f"Mean log p_prior per note: prior {prior.prior_log_prob_per_step:.3f}, "
        f"tuned {tuned.prior_log_prob_per_step:.3f}; "
        f"KL(pi || prior) per note of the tuned model: {tuned.kl_per_step:.3f} nats; its entropy per note: "
        f"{tuned.entropy_per_step:.3f} nats (prior: {prior.entropy_per_step:.3f}).\n"
    )
    sample = sample_prior(ENV_ID, optimum_samples, 0, progress=False)
    ratio = optimality_ratio(sample, 1.0, tuned, float(final_c))
    ratio_text = "n/a (the KL lies outside π*'s reliable range)" if ratio is None else f"{ratio:.3f}"
    summary += (
        f"\nReturn / π*'s at the same KL (π* ∝ p·exp(R/c), the objective's optimum, estimated from "
        f"{optimum_samples:,} prior compositions): {ratio_text}.\n"
    )
    return summary + optimum_summary(tuned, sample, float(final_c), config, seed)


def optimum_summary(tuned, sample, c: float, config: TrainConfig, seed: int) -> str:
    """The demo's distance to π* in nats, its share of the achievable improvement, and how soon it held 0.9 of π*."""
    _, _, sentence = distance_figures(tuned, sample, c, 1.0, seed, unit="composition")
    held = compositions_to_ratio(
        config.out, optimum_points_around(sample, c), 0.9, min_kl=0.5 * (config.target_kl or 0.0)
    )
    return (
        f"\nDistance to π* (J(π) = E_π[R]/c − KL(π ‖ prior), J(π*) = log Z): {sentence}\n\n"
        f"Compositions scored in training before it held 0.9 of π*'s return at its KL for three log windows "
        f"in a row (return and KL rolled over the last 1,000 compositions): {held.describe()}.\n"
    )


def run_demo(
    out: Path,
    steps: int | None = None,
    seed: int = 0,
    n_compositions: int = DEMO_EVAL_COMPOSITIONS,
    optimum_samples: int = DEMO_OPTIMUM_SAMPLES,
) -> dict[str, Path]:
    """Fine-tune, sample ``n_compositions`` of the tuned model and of the prior, write everything; returns the paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    check_output_file(out / "report.html")  # refused now, not after training, if it is not the demo's own page
    started = time.perf_counter()
    config = TrainConfig(
        env_id=ENV_ID, algo=DEMO_ALGO, steps=steps or DEMO_STEPS, out=str(out / "run"), seed=seed, **DEMO_SETTING
    )
    print(f"fine-tuning the Note RNN with {DEMO_ALGO} ({DEMO_SETTING}) for {config.steps:,} env steps ...", flush=True)
    model = train(config, overwrite=True)  # the demo folder is the demo's own: a rerun replaces it
    minutes = (time.perf_counter() - started) / 60

    env_kwargs = config.resolved_env_kwargs()
    tuned = run_episodes(
        ENV_ID, n_compositions, model_policy(model, seed=seed), seed=10_000 + seed, env_kwargs=env_kwargs
    )
    prior = run_episodes(ENV_ID, n_compositions, prior_policy(seed=seed), seed=10_000 + seed, env_kwargs=env_kwargs)
    compositions = tuned.finals["composition"]
    midi_dir = out / "midi"
    written = write_midis(compositions[:10], midi_dir, prefix=f"{DEMO_ALGO}_tuned")
    wavs = write_wavs(compositions[:10], midi_dir, prefix=f"{DEMO_ALGO}_tuned")
    roll = save_piano_roll_png(compositions[:10], out / "piano_roll.png")
    progress = read_progress(Path(config.out) / "logs")
    curve = plot_training_curve(progress, out / "training_curve.png", config)

    summary = demo_summary(model, config, tuned, prior, minutes, n_compositions, optimum_samples, seed)
    atomic_write_text(out / "table1.md", summary)
    print(summary)

    report = build_report(
        [config.out],
        out / "report.html",
        n=min(500, n_compositions),
        seed=seed,
        optimum_n=optimum_samples,
        progress=False,
    )
    paths = {
        "midi": midi_dir,
        "piano_roll": roll,
        "training_curve": curve,
        "table": out / "table1.md",
        "run": Path(config.out),
        "report": report,
    }
    print("demo outputs:")
    for name, path in paths.items():
        print(f"  {name:15s} {path}")
    print(f"  ({len(written)} MIDI files and {len(wavs)} WAV files, audio by {synthesis_backend()})")
    print(f"open the report page: {report.resolve()}")
    return paths
