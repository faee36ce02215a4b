"""A run against the objective's optimum π*: its distance in nats, its share of the improvement, how soon it got there.

* :func:`sequence_terms` / :func:`distance_of`: a batch of the run's own episodes (evaluation's
  :class:`~seqtutor_agents.runs.evaluation.EpisodeBatch`, exact per-step KL and entropy summed per
  episode) against π* at the run's final c -- log Z, J(π), KL(π ‖ π*) per sequence and the share of
  the achievable improvement, with bootstrap intervals (:mod:`seqtutor_envs.optimum_distance`).
* :func:`compositions_to_ratio`: sample efficiency from a run's training log -- how many episodes
  had been scored when the run had held ``ratio`` of π*'s return at its KL for ``windows`` log
  windows in a row.
* :func:`distance_figures`: what ``seqtutor evaluate``, ``seqtutor report`` and the demo print.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from seqtutor_envs.optimum import OptimumPoint, PriorSample, interpolate, optimum_at
from seqtutor_envs.optimum_distance import N_BOOTSTRAP, Distance, SequenceTerms, distance_to_optimum

from .callbacks import SEQUENCES_FILE

if TYPE_CHECKING:
    from seqtutor_envs.sequence_env import SequenceEnv

#: A sweep trial's evaluated sequences, one row each: domain return and the exact KL(π ‖ prior) and entropy of
#: each step summed -- J(π)'s terms, from which the frontier reads the distance to π* at the trial's final c.
TERMS_FILE = "sequence_terms.csv"


def env_weights(env_id: str, env_kwargs: dict[str, Any]) -> tuple[float, float]:
    """``(c, prior_weight)`` of an env made with these settings (its defaults where they say nothing)."""
    import gymnasium as gym

    env = gym.make(env_id, **env_kwargs)
    try:
        native = cast("SequenceEnv", env.unwrapped)  # env_id is a seqtutor env id: its env is a SequenceEnv
        return float(native.c), float(native.prior_weight)
    finally:
        env.close()


def final_c(model: Any, env_id: str, env_kwargs: dict[str, Any]) -> float:
    """The KL weight a run ended with: the learner's live c (adapted or its own), else its env's (the prior:
    the env's).
    """
    value = getattr(model, "current_c", None)
    if value is None:  # stock SB3 algorithms have no current_c; a c of their own is fixed
        value = getattr(model, "c", None)
    return float(value) if value is not None else env_weights(env_id, env_kwargs)[0]


def sequence_terms(batch: Any) -> SequenceTerms:
    """The per-episode terms of J(π) of an :class:`~seqtutor_agents.runs.evaluation.EpisodeBatch`.

    :raises ValueError: the policy gave no action distribution (no exact KL per step).
    """
    if batch.kl_sums is None:
        raise ValueError(
            "the policy reported no action distribution: its exact KL to the prior, and so its "
            "distance to π*, is unknown"
        )
    return SequenceTerms(batch.domain_returns, batch.kl_sums, batch.entropy_sums)


def distance_of(
    batch: Any, sample: PriorSample, c: float, prior_weight: float = 1.0, seed: int = 0, n_boot: int = N_BOOTSTRAP
) -> Distance:
    """The batch's policy against π* at ``c`` (see :func:`seqtutor_envs.optimum_distance.distance_to_optimum`)."""
    return distance_to_optimum(sample, sequence_terms(batch), c, prior_weight, n_boot=n_boot, seed=seed)


def write_sequence_terms(path: Path, batch: Any) -> Path:
    """A batch's :data:`TERMS_FILE`: one row per episode, ``domain_return,kl,entropy`` (full precision)."""
    from seqtutor_envs.io import atomic_write_text

    table = np.column_stack([batch.domain_returns, batch.kl_sums, batch.entropy_sums]).tolist()
    return atomic_write_text(path, "domain_return,kl,entropy\n" + "".join(f"{a!r},{b!r},{c!r}\n" for a, b, c in table))


def read_sequence_terms(path: Path) -> SequenceTerms | None:
    """The :class:`SequenceTerms` of a :data:`TERMS_FILE` (None without the file)."""
    if not path.is_file():
        return None
    table = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    return SequenceTerms(table[:, 0], table[:, 1], table[:, 2])


def optimum_points_around(sample: PriorSample, c: float, prior_weight: float = 1.0) -> list[OptimumPoint]:
    """π*'s curve over c from 30 times to a 30th of ``c`` (no statistics): what a run's KL is read against."""
    return [optimum_at(sample, float(x), prior_weight, statistics=False) for x in np.geomspace(30 * c, c / 30, 40)]


@dataclass
class Efficiency:
    """Episodes scored until a run held ``ratio`` of π*'s return for ``windows`` log windows (None: not reached)."""

    ratio: float
    windows: int
    compositions: int | None
    best_ratio: float  # the best ratio held for ``windows`` windows in a row (NaN: no window could be read)
    windows_read: int

    def describe(self) -> str:
        if self.compositions is not None:
            return f"{self.compositions:,}"
        best = "no window readable" if math.isnan(self.best_ratio) else f"best {self.best_ratio:.3f}"
        return f"not reached ({best})"


def _episode_counts(run: Path) -> np.ndarray | None:
    """The env step of every episode logged to the run's ``sequences.csv``, sorted (None without the file)."""
    path = run / SEQUENCES_FILE
    if not path.is_file():
        return None
    with open(path, newline="") as f:
        steps = [int(row["step"]) for row in csv.DictReader(f) if row.get("step") not in (None, "")]
    return np.sort(np.asarray(steps, dtype=np.int64))


#: Compositions a rolling figure of :func:`compositions_to_ratio` pools: the ratio of one melody composition
#: has an SD of about 0.29 (G at KL 0.1: return SD 21.6 against π*'s 75), so 1,000 put its SE near 0.01;
#: a single log window (G: 1,024 env steps, 32 compositions) has an SE near 0.05, and three of them in a
#: row pass 0.9 by chance where the policy holds 0.86 (seen on the demo's run).
EFFICIENCY_POOL = 1_000


def rolling_ratios(progress: dict[str, np.ndarray], points: list[OptimumPoint], pool: int, min_kl: float) -> np.ndarray:
    """Per log window: the rolling domain return per episode over π*'s at the rolling KL (-inf: unreadable).

    Rolling figures pool the latest windows holding at least ``pool`` episodes (episodes of a window:
    its env steps / ``rollout/ep_len_mean``): KL = step-weighted mean of ``rollout/kl_prior``, return
    = Σ ``rollout/domain_reward`` x steps / Σ episodes. Unreadable: fewer than ``pool`` episodes yet,
    a rolling KL below ``min_kl``, or π*'s return there not positive (or outside its reliable points).
    """
    total = progress["time/total_timesteps"]
    steps = np.diff(total, prepend=0.0)
    steps = np.where(steps > 0, steps, total)  # a resumed log part starts its own count
    length = progress["rollout/ep_len_mean"]
    kl, per_step = progress["rollout/kl_prior"], progress["rollout/domain_reward"]
    ok = np.isfinite(kl) & np.isfinite(per_step) & np.isfinite(length) & (length > 0) & (steps > 0)
    weight = np.where(ok, steps, 0.0)
    cum = {
        name: np.concatenate([[0.0], np.cumsum(np.where(ok, values, 0.0))])
        for name, values in (
            ("steps", weight),
            ("episodes", weight / np.where(ok, length, 1.0)),
            ("kl", weight * np.where(ok, kl, 0)),
            ("return", weight * np.where(ok, per_step, 0.0)),
        )
    }
    first = np.searchsorted(cum["episodes"], cum["episodes"][1:] - pool, side="right") - 1  # window before the pool
    full = (cum["episodes"][1:] >= pool) & ok
    first = np.maximum(first, 0)
    span = {name: values[1:] - values[first] for name, values in cum.items()}
    with np.errstate(divide="ignore", invalid="ignore"):
        rolling_kl = span["kl"] / span["steps"]
        rolling_return = span["return"] / span["episodes"]
    best = np.array(
        [interpolate(points, "kl_per_step", "domain_return", k) if np.isfinite(k) else math.nan for k in rolling_kl]
    )
    readable = full & np.isfinite(rolling_return) & np.isfinite(best) & (best > 0) & (rolling_kl >= min_kl)
    return np.where(readable, rolling_return / np.where(readable, best, 1.0), -np.inf)


def compositions_to_ratio(
    run: str | Path,
    points: list[OptimumPoint],
    ratio: float = 0.9,
    min_kl: float = 0.0,
    windows: int = 3,
    pool: int = EFFICIENCY_POOL,
) -> Efficiency:
    """Sample efficiency: episodes scored before the run held ``ratio`` of π*'s return at its KL.

    Read from the run's training log, ``logs/progress.csv`` (resumed parts in order): at every log
    window, the rolling domain return per episode over π*'s return at the rolling exact KL per step,
    both pooled over the latest ``pool`` episodes or more (:func:`rolling_ratios`), π*'s return
    interpolated on ``points``' reliable points as the frontier's ratio is. The run *holds* the ratio
    at a window whose rolling KL is at least ``min_kl`` (near the prior a ratio is close to 1 for
    free) and where π*'s return is positive. Reached: ``windows`` windows in a row hold it; the count
    is of the episodes finished (each one scored) by the end of the last of them -- the run's
    ``sequences.csv`` rows logged at or before that env step, else SB3's ``time/episodes``, else env
    steps / episode length. It includes the pool: a run is credited no sooner than ``pool`` episodes.
    Not reached: ``compositions`` is None and ``best_ratio`` the best ratio held ``windows`` windows in a row.
    """
    if not (ratio > 0 and isinstance(windows, int) and windows >= 1 and isinstance(pool, int) and pool >= 1):
        raise ValueError(f"ratio must be > 0, windows and pool integers >= 1; got {ratio!r}, {windows!r}, {pool!r}")
    from .report import read_progress

    run = Path(run)
    progress = read_progress(run)
    needed = ("rollout/kl_prior", "rollout/domain_reward", "rollout/ep_len_mean", "time/total_timesteps")
    if not progress or any(key not in progress for key in needed):
        return Efficiency(ratio, windows, None, math.nan, 0)
    ratios = rolling_ratios(progress, points, pool, min_kl)
    readable = int(np.isfinite(ratios).sum())
    held = np.array([ratios[i - windows + 1 : i + 1].min() for i in range(windows - 1, len(ratios))])
    best_held = float(held.max()) if len(held) and np.isfinite(held.max()) else math.nan
    reached = np.flatnonzero(held >= ratio)
    if not len(reached):
        return Efficiency(ratio, windows, None, best_held, readable)
    index = int(reached[0]) + windows - 1
    step = progress["time/total_timesteps"][index]
    logged = _episode_counts(run)
    if logged is not None and len(logged):
        count = int(np.searchsorted(logged, step, side="right"))
    elif "time/episodes" in progress and np.isfinite(progress["time/episodes"][index]):
        count = int(progress["time/episodes"][index])
    else:
        count = round(step / progress["rollout/ep_len_mean"][index])
    return Efficiency(ratio, windows, count, best_held, readable)


#: The headline cells of :func:`distance_figures` (a page without π* shows them as "–").
DISTANCE_HEADLINE = (
    "KL(π ‖ π*), nats per sequence (95 % interval)",
    "share of the achievable improvement (95 % interval)",
)


def distance_figures(
    batch: Any, sample: PriorSample, c: float, prior_weight: float, seed: int, unit: str = "sequence"
) -> tuple[dict[str, Any], dict[str, str], str]:
    """``(figures for JSON, headline cells, one-sentence note)`` of a batch against π* at ``c``.

    The figures: :meth:`Distance.row` and ``optimality_ratio`` (the batch's return over π*'s at its
    KL, :func:`~seqtutor_agents.runs.report.optimality_ratio`).
    """
    from .report import optimality_ratio

    if batch.kl_sums is None:
        raise ValueError("the policy reported no action distribution: its distance to π* is unknown")
    distance = distance_of(batch, sample, c, prior_weight, seed)
    ratio = optimality_ratio(sample, prior_weight, batch, c)
    figures = {**distance.row(), "optimality_ratio": ratio}

    def cell(value: float, interval: tuple[float, float], ok: bool, digits: int = 3) -> str:
        return f"{value:.{digits}f} [{interval[0]:.{digits}f}, {interval[1]:.{digits}f}]" if ok else "not estimated"

    headline = dict(
        zip(
            DISTANCE_HEADLINE,
            (
                cell(distance.distance, distance.distance_interval, distance.reliable),
                cell(distance.share, distance.share_interval, distance.share_reliable),
            ),
            strict=True,
        )
    )
    return figures, headline, distance.describe(unit)


def evaluate_against_optimum(
    model: Any, batch: Any, env_id: str, env_kwargs: dict[str, Any], optimum_n: int, seed: int
) -> tuple[dict[str, Any], str]:
    """``(figures, markdown)`` of ``seqtutor evaluate``: the batch against π* at the run's final c.

    The prior samples (``optimum_n`` of them, seed 0, cached) are those ``seqtutor report`` and the demo use.
    """
    from seqtutor_envs.optimum import sample_prior

    c = final_c(model, env_id, env_kwargs)
    prior_weight = env_weights(env_id, env_kwargs)[1]
    sample = sample_prior(env_id, optimum_n, 0, env_kwargs)
    figures, headline, note = distance_figures(batch, sample, c, prior_weight, seed)
    ratio = figures["optimality_ratio"]
    lines = [
        f"## Against π*, the objective's optimum, at c = {c:.4g}",
        "",
        "| figure | value |",
        "|---|---:|",
        *(f"| {key} | {value} |" for key, value in headline.items()),
        f"| return / π*'s at the same KL | {'n/a' if ratio is None else f'{ratio:.3f}'} |",
        "",
        note,
        "",
    ]
    return figures, "\n".join(lines)
