"""The reward–KL frontier on SeqTutor-Melody-v0 against the objective's own optimum π* ∝ p·exp(R/c).

Q, Ψ, G and DPG (each at several KL targets, c adapted during training, and/or fixed values of c),
KL-PPO, DAP and stock PPO / DQN (fixed c) x seeds, on the sweep machinery of
``benchmarks/sweep.py`` (Ray Tune when installed, local processes otherwise; resumable). Per
trial: the music-theory return, the Table-1 statistics, the texture and diversity figures, exact
KL and entropy per step, log p_prior -- and against π* (``seqtutor_envs.optimum``, from
``--optimum-n`` prior samples, cached): the **optimality ratio** (the trial's return / π*'s return
at the trial's KL, interpolated between reliable points, ESS >= 1,000), the **KL overspend** (the
trial's KL / π*'s KL at the trial's return) and the TV distance of its note-duration and
pitch-class histograms to those of π* at the trial's (final) c; at that c, the **distance to π***
KL(π ‖ π*) = log Z − J(π) in nats per composition and the **share of the achievable improvement**
(J(π) − J(p)) / (log Z − J(p)), with bootstrap intervals, from the trial's evaluated compositions
(``seqtutor_envs.optimum_distance``: blank where π*'s ESS or log Z's interval does not allow it); and
the **sample efficiency**: compositions scored in training before the trial held 0.9 of π*'s return
at its KL for three log windows in a row, return and KL rolled over the last 1,000 compositions
("not reached" and its best such ratio otherwise; ``seqtutor_agents.runs.optimum_figures.compositions_to_ratio``).
Writes ``<out>.csv``, ``<out>.md``
(every trial, then each setting's seed range) and two plots: ``<out>_music.png`` (music-theory
return vs KL, with π*'s curve) and ``<out>_texture.png`` (duration and pitch-class TV to the
corpus, distinct openings, rest share vs KL), one line per learner with the seed spread.

    python -m benchmarks.frontier --target-kls 0.05 0.1 0.15 --dap-cs 4 8 16 --cs 2 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import (
    CONFIGS_DIR,
    RESULTS_DIR,
    markdown_table,
    parse_args,
    write_text,
)
from benchmarks.sweep import add_sweep_arguments, episode_trial_settings, run_sweep, write_rows
from seqtutor_agents.runs.sweep import make_trials
from seqtutor_envs.domains import format_targets, meets
from seqtutor_envs.melody.domain import ENV_ID as MELODY
from seqtutor_envs.melody.domain import KEPT_TARGETS
from seqtutor_envs.melody.domain import TABLE1_TARGETS as MUSIC_TARGETS

#: Learners whose --target-kl adapts c (the soft learners, DPG and trajectory balance).
SEQUENCE_TUTOR = ("q", "psi", "g", "dpg", "tb")
KL_TARGETED = (*SEQUENCE_TUTOR, "klppo")
NAMES = {
    "q": "Q",
    "psi": "Ψ",
    "g": "G",
    "dpg": "DPG",
    "tb": "TB",
    "klppo": "KL-PPO",
    "dap": "DAP (REINVENT)",
    "ppo": "PPO (SB3)",
    "dqn": "DQN (SB3)",
    "a2c": "A2C (SB3)",
}
#: π*'s curve: c from large (KL near 0) to small; the points with ESS < 1,000 are kept but flagged.
EFFICIENCY_RATIO = 0.9  # the share of π*'s return a trial must hold (three log windows) for the efficiency column
COMPOSITIONS_KEY = f"compositions_to_{EFFICIENCY_RATIO:g}"
OPTIMUM_CS = tuple(
    sorted(
        {float(c) for c in np.geomspace(100.0, 3.0, 24)}
        # denser where the ESS of 1M prior samples falls through 1,000 (c ~ 6, KL ~ 0.16),
        # so that the 0.15 target still has reliable points on both sides
        | {float(c) for c in np.geomspace(8.0, 5.0, 9)},
        reverse=True,
    )
)


def optimum_reference(n: int, seed: int) -> tuple[Any, list[Any]]:
    """The prior sample and π*'s curve over :data:`OPTIMUM_CS` (with resampled compositions per point)."""
    from seqtutor_envs.optimum import optimum_curve, sample_prior

    sample = sample_prior(MELODY, n, seed)
    return sample, optimum_curve(sample, cs=list(OPTIMUM_CS), resample=2_000, seed=seed)


def add_optimum_columns(rows: list[dict[str, Any]], sample: Any, points: list[Any]) -> None:
    """Each trial's optimality ratio, KL overspend and texture distances to π* at its c (in place)."""
    from seqtutor_agents.runs.optimum_figures import compositions_to_ratio
    from seqtutor_agents.runs.sweep import SAMPLES_FILE
    from seqtutor_envs.melody.texture import (
        duration_histogram,
        pitch_class_histogram,
        tv,
    )
    from seqtutor_envs.optimum import interpolate, optimum_at

    at_c: dict[float, Any] = {}
    for row in rows:
        if "error" in row:
            continue
        best = interpolate(points, "kl_per_step", "domain_return", row["kl"])
        needed = interpolate(points, "domain_return", "kl_per_step", row["domain_return"])
        row["optimum_return_at_kl"] = best
        row["optimality_ratio"] = row["domain_return"] / best if best > 0 else math.nan
        row["kl_overspend"] = row["kl"] / needed if needed > 0 else math.nan
        target = float(row.get("target_kl") or 0.0)
        row["minutes_to_0.8"] = (
            minutes_to_ratio(Path(row["run"]), points, 0.8, min_kl=0.5 * target) if row.get("run") else math.nan
        )
        if row.get("run"):
            held = compositions_to_ratio(row["run"], points, EFFICIENCY_RATIO, min_kl=0.5 * target)
            row[COMPOSITIONS_KEY], row[f"best_ratio_held_{EFFICIENCY_RATIO:g}"] = held.compositions, held.best_ratio
        c = float(row.get("final_c") or row.get("c") or math.nan)
        samples = Path(row.get("run", "")) / SAMPLES_FILE
        if not (c > 0 and samples.is_file()):
            continue
        if c not in at_c:
            at_c[c] = optimum_at(sample, c, resample=2_000)
        optimum = at_c[c]
        comps = np.loadtxt(samples, dtype=np.int64, ndmin=2)
        reference = np.asarray(optimum.resampled)
        row["optimum_reliable_at_c"] = optimum.reliable
        row["duration_tv_to_optimum"] = tv(duration_histogram(comps), duration_histogram(reference))
        row["pitch_class_tv_to_optimum"] = tv(pitch_class_histogram(comps), pitch_class_histogram(reference))


def add_distance_columns(rows: list[dict[str, Any]], sample: Any, seed: int = 0) -> None:
    """Each trial's distance to π* and share of the achievable improvement at its final c (in place).

    From the trial's evaluated compositions (``sequence_terms.csv``; trials run before it was written get
    no figures) and the prior samples behind π*; one bootstrap of the prior samples serves every c.
    """
    from seqtutor_agents.runs.optimum_figures import TERMS_FILE, read_sequence_terms
    from seqtutor_envs.optimum_distance import distance_from, prior_replicates

    terms = {
        id(row): read_sequence_terms(Path(row["run"]) / TERMS_FILE)
        for row in rows
        if "error" not in row and row.get("run")
    }
    usable = [row for row in rows if terms.get(id(row)) is not None and float(row.get("final_c") or math.nan) > 0]
    if not usable:
        return
    cs = sorted({float(row["final_c"]) for row in usable})
    replicates = dict(zip(cs, prior_replicates(sample, cs, seed=seed), strict=True))  # one replicate set per c
    for row in usable:
        distance = distance_from(replicates[float(row["final_c"])], terms[id(row)], prior_samples=sample.n, seed=seed)
        row.update(distance.row())


def minutes_to_ratio(run: Path, points: list[Any], ratio: float = 0.8, min_kl: float = 0.0, windows: int = 3) -> float:
    """Wall minutes of training until the acting policy earned ``ratio`` of π*'s return at its KL.

    Read from the run's training log (``logs/progress.csv``): per log window, the domain return per
    episode (``rollout/domain_reward`` x ``rollout/ep_len_mean``) against π*'s at the window's exact
    KL (``rollout/kl_prior``). For Ψ and G (Boltzmann at T = 1) and the policy-gradient learners the
    acting policy is the learnt one. Reached means ``windows`` windows in a row at the ratio with a
    KL of at least ``min_kl`` (near the prior π*'s return is close to 0, where one noisy window
    would pass). NaN when never reached, or when the log lacks these figures (stock SB3 learners)
    or the KL lies outside π*'s reliable range.
    """
    import csv

    from seqtutor_envs.optimum import interpolate

    log = run / "logs" / "progress.csv"
    if not log.is_file():
        return math.nan
    streak = 0
    with open(log, newline="") as f:
        for entry in csv.DictReader(f):
            try:
                kl, reward = float(entry["rollout/kl_prior"]), float(entry["rollout/domain_reward"])
                length, elapsed = float(entry.get("rollout/ep_len_mean") or 32), float(entry["time/time_elapsed"])
            except (KeyError, TypeError, ValueError):
                continue
            best = interpolate(points, "kl_per_step", "domain_return", kl)
            streak = streak + 1 if kl >= min_kl and best > 0 and reward * length >= ratio * best else 0
            if streak == windows:
                return elapsed / 60.0
    return math.nan


def setting_label(row: dict[str, Any]) -> str:
    if row.get("target_kl") not in (None, "", "None"):
        return f"KL {float(row['target_kl']):g}"
    return f"c {float(row['c']):g}"


def summarise(rows: list[dict[str, Any]]) -> tuple[list[list[str]], dict[str, list[dict]]]:
    """One line per (learner, setting): seed ranges and the targets every seed meets."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for row in rows:
        if "error" not in row:
            groups[(row["algo"], setting_label(row))].append(row)
    lines = []
    for (algo, label), members in sorted(groups.items(), key=lambda kv: (kv[0][0], np.mean([r["kl"] for r in kv[1]]))):

        def span(key: str, scale: float = 1.0, fmt: str = "{:.2f}", members: list[dict] = members) -> str:
            values = [r[key] * scale for r in members if r.get(key) is not None and not _isnan(r[key])]
            return fmt.format(min(values)) + "–" + fmt.format(max(values)) if values else "n/a"

        music = all(meets(r, t) for r in members for t in MUSIC_TARGETS)
        kept = all(meets(r, t) for r in members for t in KEPT_TARGETS)
        missed = sorted({t[0] for r in members for t in MUSIC_TARGETS + KEPT_TARGETS if not meets(r, t)})
        lines.append(
            [
                NAMES.get(algo, algo),
                label,
                str(len(members)),
                span("kl", fmt="{:.3f}"),
                span("final_c", fmt="{:.3g}"),
                span("domain_return", fmt="{:.1f}"),
                span("optimality_ratio", fmt="{:.3f}"),
                span("kl_overspend", fmt="{:.2f}"),
                span("duration_tv_to_optimum", fmt="{:.3f}"),
                span("pitch_class_tv_to_optimum", fmt="{:.3f}"),
                span("minutes_to_0.8", fmt="{:.1f}"),
                span("distance_to_optimum", fmt="{:.2f}"),
                span("improvement_share", fmt="{:.3f}"),
                efficiency_span(members),
                span("notes_in_motif", fmt="{:.0f}"),
                span("starts_with_tonic", fmt="{:.0f}"),
                span("distinct_openings", 100, "{:.0f}"),
                span("duration_tv"),
                span("rest_share", 100, "{:.1f}"),
                "yes" if music else "no",
                "yes" if kept else "no",
                ", ".join(missed) or "–",
            ]
        )
    by_algo: dict[str, list[dict]] = defaultdict(list)
    for (algo, _), members in groups.items():
        by_algo[algo].append(members)
    return lines, by_algo


def efficiency_span(members: list[dict]) -> str:
    """The seeds' compositions to 0.9 of π*: their range, and how many never held it (with their best ratio)."""
    reached = [
        int(float(r[COMPOSITIONS_KEY]))
        for r in members
        if r.get(COMPOSITIONS_KEY) not in (None, "", "None") and not _isnan(float(r[COMPOSITIONS_KEY]))
    ]
    missed = [
        float(r.get(f"best_ratio_held_{EFFICIENCY_RATIO:g}") or math.nan)
        for r in members
        if r.get(COMPOSITIONS_KEY) in (None, "", "None") or _isnan(float(r[COMPOSITIONS_KEY]))
    ]
    parts = [f"{min(reached):,}–{max(reached):,}" if len(reached) > 1 else f"{reached[0]:,}"] if reached else []
    if missed:
        best = [b for b in missed if not math.isnan(b)]
        parts.append(f"{len(missed)} not reached" + (f" (best {max(best):.3f})" if best else ""))
    return "; ".join(parts) or "n/a"


def _isnan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _series(groups: list[list[dict]], key: str, scale: float = 1.0):
    """Per setting: mean and min/max over seeds of KL (x) and ``key`` (y), sorted by KL."""
    points = []
    for members in groups:
        kl = np.array([r["kl"] for r in members], dtype=float)
        y = np.array([r[key] for r in members], dtype=float) * scale
        points.append((kl.mean(), kl.min(), kl.max(), np.nanmean(y), np.nanmin(y), np.nanmax(y), kl, y))
    return sorted(points, key=lambda p: p[0])


def plot(by_algo: dict[str, list[list[dict]]], out: Path, points: list[Any] | None = None) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FormatStrFormatter, NullFormatter

    from seqtutor_envs.io import atomic_write

    colors = {
        "q": "tab:blue",
        "psi": "tab:orange",
        "g": "tab:green",
        "dpg": "tab:olive",
        "tb": "tab:cyan",
        "klppo": "tab:brown",
        "dap": "tab:pink",
        "ppo": "tab:red",
        "dqn": "tab:purple",
    }
    panels_music = [("domain_return", "music-theory return per composition", 1.0, None)]
    panels_texture = [
        ("duration_tv", "note-duration TV to the corpus", 1.0, ("<=", 0.15)),
        ("pitch_class_tv", "pitch-class TV to the corpus", 1.0, ("<=", 0.08)),
        ("distinct_openings", "distinct openings (%)", 100.0, (">=", 50.0)),
        ("rest_share", "rest tokens (%)", 100.0, (">=", 1.0)),
    ]
    written = []
    for suffix, panels in (("_music.png", panels_music), ("_texture.png", panels_texture)):
        cols = min(2, len(panels))
        rows_n = math.ceil(len(panels) / cols)
        fig, axes = plt.subplots(rows_n, cols, figsize=(6.2 * cols, 4.2 * rows_n), squeeze=False)
        # the grid may hold one axis more than there are panels (switched off below)
        for ax, (key, label, scale, target) in zip(axes.flat, panels, strict=False):
            for algo, groups in sorted(by_algo.items()):
                series = _series(groups, key, scale)  # not `points`: that name holds π*'s curve
                x = [p[0] for p in series]
                y = [p[3] for p in series]
                xerr = [[p[0] - p[1] for p in series], [p[2] - p[0] for p in series]]
                yerr = [[p[3] - p[4] for p in series], [p[5] - p[3] for p in series]]
                color = colors.get(algo)
                ax.errorbar(
                    x, y, xerr=xerr, yerr=yerr, marker="o", ms=4, capsize=2, color=color, label=NAMES.get(algo, algo)
                )
                for p in series:
                    ax.scatter(p[6], p[7], s=8, alpha=0.35, color=color)
            if key == "domain_return" and points:
                reliable = sorted((p.kl_per_step, p.domain_return) for p in points if p.reliable)
                flagged = sorted((p.kl_per_step, p.domain_return) for p in points if not p.reliable)
                ax.plot(*zip(*reliable, strict=True), color="black", lw=2, label="π* (ESS ≥ 1,000)")
                if flagged:
                    ax.plot(
                        *zip(*flagged, strict=True), color="black", lw=1, ls=":", marker=".", label="π* (ESS < 1,000)"
                    )
            if target is not None:
                ax.axhline(target[1], ls="--", lw=1, color="gray")
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_xlabel("KL(π ‖ prior) per step, nats (log scale)")
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
        for ax in list(axes.flat)[len(panels) :]:
            ax.axis("off")
        axes.flat[0].legend(fontsize=8)
        fig.suptitle(
            "SeqTutor-Melody-v0: the reward–KL frontier and π* (bars: seed range; dashed: targets)", fontsize=10
        )
        fig.tight_layout()
        path = out.with_name(out.name + suffix)
        atomic_write(path, lambda name, fig=fig: fig.savefig(name, format="png", dpi=110), suffix=".png")
        plt.close(fig)
        written.append(path)
    return written


def optimum_table(points: list[Any]) -> str:
    header = [
        "c",
        "ESS",
        "reliable",
        "KL/step",
        "music return",
        "motif %",
        "tonic start %",
        "onsets %",
        "distinct openings % (resampled)",
        "duration TV to corpus",
    ]
    body = [
        [
            f"{p.c:.3g}",
            f"{p.ess:,.0f}",
            "yes" if p.reliable else "no",
            f"{p.kl_per_step:.4f}",
            f"{p.domain_return:.1f}",
            f"{p.statistics.get('notes_in_motif', math.nan):.0f}",
            f"{p.statistics.get('starts_with_tonic', math.nan):.1f}",
            f"{100 * p.statistics.get('onset_share', math.nan):.0f}",
            f"{100 * p.statistics.get('distinct_openings', math.nan):.0f}",
            f"{p.statistics.get('duration_tv', math.nan):.2f}",
        ]
        for p in points
    ]
    return markdown_table(header, body)


def report(rows: list[dict[str, Any]], out: Path, note: str, points: list[Any] | None = None) -> str:
    lines, by_algo = summarise(rows)
    header = [
        "learner",
        "setting",
        "seeds",
        "KL/step",
        "final c",
        "music return",
        "return / π*'s at its KL",
        "KL / π*'s at its return",
        "duration TV to π*",
        "pitch-class TV to π*",
        "minutes to 0.8 of π*",
        "KL(π ‖ π*), nats per composition",
        "share of the achievable improvement",
        f"compositions to {EFFICIENCY_RATIO:g} of π* (rolling 1,000, 3 windows)",
        "motif %",
        "tonic start %",
        "distinct openings %",
        "duration TV to corpus",
        "rest %",
        "Table-1 targets (all seeds)",
        "kept targets (all seeds)",
        "missed on some seed",
    ]
    summary = markdown_table(header, lines)
    text = write_rows(rows, out, "The reward–KL frontier on SeqTutor-Melody-v0", note)
    targets = (
        f"Kept targets: {format_targets(KEPT_TARGETS)} (shares as fractions). RL Tuner's Table-1 targets "
        f"({format_targets(MUSIC_TARGETS)}) are the reference at the paper's setting only (melody_table)."
    )
    measures = (
        "KL(π ‖ π*) = log Z − J(π), nats per composition, and the share (J(π) − J(p)) / (log Z − J(p)) at "
        "each trial's final c, with J(π) = E_π[R]/c − KL(π ‖ p) from its evaluated compositions "
        "(seqtutor_envs.optimum_distance; 95 % bootstrap intervals in the CSV; n/a where π*'s ESS < 1,000 "
        "or log Z's interval is wider than 0.1 nats). Compositions to 0.9 of π*: episodes scored in training "
        "until the run had held 0.9 of π*'s return at its KL for three log windows in a row, its return "
        "and KL rolled over the last 1,000 compositions at each window (so never fewer than 1,000)."
    )
    text += f"\n## Per setting (range over seeds)\n\n{targets}\n\n{measures}\n\n{summary}\n"
    if points:
        text += f"\n## π*, the objective's optimum (importance sampling over the prior)\n\n{optimum_table(points)}\n"
    paths = plot(by_algo, out, points) if rows else []
    text += "\n" + "\n".join(f"![{p.stem}]({p.name})" for p in paths) + "\n"
    write_text(out.with_suffix(".md"), text)
    return text


def frontier_trials(args: argparse.Namespace, tutor_kwargs: dict[str, Any]) -> list[dict[str, Any]]:
    """The sweep's trials: every KL target and seed of Ψ and G; the baselines' targets or values of c.

    :param args: the parsed options of :func:`main`.
    :param tutor_kwargs: hyperparameters over the table's for every KL-targeted learner.
    """
    common = episode_trial_settings(args)
    baseline_seeds = args.baseline_seeds or args.seeds
    baseline_kls = args.target_kls if args.baseline_target_kls is None else args.baseline_target_kls
    trials = []
    for algo in [a for a in args.algos if a in SEQUENCE_TUTOR and a != "q"]:
        soft = algo in ("psi", "g")  # the paper's soft learners: every target, every seed
        trials += make_trials(
            MELODY,
            [algo],
            [
                {"target_kl": k, "c": args.initial_c, "algo_kwargs": tutor_kwargs}
                for k in (args.target_kls if soft else baseline_kls)
            ]
            + [{"c": c, "algo_kwargs": tutor_kwargs} for c in args.tutor_cs],
            args.seeds if soft else baseline_seeds,
            **common,
        )
    if "q" in args.algos:  # greedy: its ratio is reported, not tuned toward π*
        trials += make_trials(
            MELODY,
            ["q"],
            [
                {"target_kl": k, "c": args.initial_c, "algo_kwargs": tutor_kwargs}
                for k in (args.q_target_kls or baseline_kls)
            ],
            baseline_seeds,
            **common,
        )
    if "klppo" in args.algos:
        trials += make_trials(MELODY, ["klppo"], [{"target_kl": k} for k in baseline_kls], baseline_seeds, **common)
    if "dap" in args.algos:
        trials += make_trials(MELODY, ["dap"], [{"c": c} for c in args.dap_cs], baseline_seeds, **common)
    stock = [a for a in args.algos if a not in (*KL_TARGETED, "dap")]
    trials += make_trials(MELODY, stock, [{"c": c} for c in args.cs], baseline_seeds, **common)
    return trials


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    # defaults: configs/frontier.toml
    parser.add_argument("--algos", nargs="+")
    parser.add_argument(
        "--target-kls",
        nargs="*",
        type=float,
        help="KL targets of the learners that adapt their KL weight (q, psi, g, dpg, tb, klppo)",
    )
    parser.add_argument(
        "--q-target-kls",
        nargs="*",
        type=float,
        default=None,
        help="KL targets of Q-learning (default: --baseline-target-kls)",
    )
    parser.add_argument(
        "--initial-c", type=float, default=None, help="c that KL-target runs start from (default: the env's, 10)"
    )
    parser.add_argument(
        "--cs", nargs="*", type=float, help="fixed values of c of the learners without a KL target (ppo, dqn)"
    )
    parser.add_argument(
        "--dap-cs", nargs="*", type=float, help="values of c of DAP (sigma = 1/c multiplies the whole episode's return)"
    )
    parser.add_argument(
        "--tutor-cs", nargs="*", type=float, help="fixed values of c for the KL-targeted learners too (default: none)"
    )
    parser.add_argument("--seeds", nargs="+", type=int)
    parser.add_argument(
        "--baseline-seeds",
        nargs="+",
        type=int,
        default=None,
        help="seeds of every learner other than Ψ and G (default: --seeds)",
    )
    parser.add_argument(
        "--baseline-target-kls",
        nargs="*",
        type=float,
        default=None,
        help="KL targets of DPG, TB and KL-PPO (default: --target-kls)",
    )
    parser.add_argument(
        "--algo-kwarg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="Sequence Tutor hyperparameter for every trial (JSON value)",
    )
    parser.add_argument("--steps", type=int)
    parser.add_argument("--episodes", type=int)
    parser.add_argument("--optimum-n", type=int, help="prior samples behind π* (0: no π*)")
    parser.add_argument("--optimum-seed", type=int)
    add_sweep_arguments(parser, runs="runs/frontier", out=RESULTS_DIR / "melody_frontier", workers=2)
    args = parse_args(parser, CONFIGS_DIR / "frontier.toml", fixed={"env_id": MELODY})

    from seqtutor_agents.runs.config_args import parse_key_value

    tutor_kwargs = dict(parse_key_value(kv) for kv in args.algo_kwarg)
    trials = frontier_trials(args, tutor_kwargs)
    rows = run_sweep(parser, args, trials)
    note = (
        f"{args.steps:,} env steps per trial, {args.episodes:,} compositions evaluated per trial; "
        f"hyperparameters: the table's defaults" + (f" with {tutor_kwargs}" if tutor_kwargs else "") + "."
    )
    points = None
    if args.optimum_n:
        sample, points = optimum_reference(args.optimum_n, args.optimum_seed)
        add_optimum_columns(rows, sample, points)
        add_distance_columns(rows, sample, args.optimum_seed)
        note += (
            f" π* from {args.optimum_n:,} prior compositions (seed {args.optimum_seed}); ratios interpolate "
            "between its reliable points (ESS >= 1,000) and are blank outside their KL range."
        )
    print(report(rows, Path(args.out), note, points))


if __name__ == "__main__":
    main()
