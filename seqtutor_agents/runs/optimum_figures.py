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
from typing import Any

import numpy as np

from seqtutor_envs.optimum import OptimumPoint, PriorSample, interpolate, optimum_at
from seqtutor_envs.optimum_distance import N_BOOTSTRAP, Distance, SequenceTerms, distance_to_optimum

from .callbacks import SEQUENCES_FILE

#: A sweep trial's evaluated sequences, one row each: domain return and the exact KL(π ‖ prior) and entropy of
#: each step summed -- J(π)'s terms, from which the frontier reads the distance to π* at the trial's final c.
TERMS_FILE = "sequence_terms.csv"


def env_weights(env_id: str, env_kwargs: dict[str, Any]) -> tuple[float, float]:
    """``(c, prior_weight)`` of an env made with these settings (its defaults where they say nothing)."""
    import gymnasium as gym

    env = gym.make(env_id, **env_kwargs)
    try:
        return float(env.unwrapped.c), float(env.unwrapped.prior_weight)
    finally:
        env.close()


def final_c(model: Any, env_id: str, env_kwargs: dict[str, Any]) -> float:
    """The KL weight a run ended with: the learner's own (adapted) c, else its env's (the prior: the env's)."""
    value = getattr(model, "c", None)
    return float(value) if value is not None else env_weights(env_id, env_kwargs)[0]


def sequence_terms(batch: Any) -> SequenceTerms:
    """The per-episode terms of J(π) of an :class:`~seqtutor_agents.runs.evaluation.EpisodeBatch`.

    :raises ValueError: the policy gave no action distribution (no exact KL per step).
    """
    if batch.kl_sums is None:
        raise ValueError("the policy reported no action distribution: its exact KL to the prior, and so its "
                         "distance to π*, is unknown")
    return SequenceTerms(batch.domain_returns, batch.kl_sums, batch.entropy_sums)


def distance_of(batch: Any, sample: PriorSample, c: float, prior_weight: float = 1.0, seed: int = 0,
                n_boot: int = N_BOOTSTRAP) -> Distance:
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


def compositions_to_ratio(run: str | Path, points: list[OptimumPoint], ratio: float = 0.9, min_kl: float = 0.0,
                          windows: int = 3) -> Efficiency:
    """Sample efficiency: episodes scored before the run held ``ratio`` of π*'s return at its KL.

    Read from the run's training log, ``logs/progress.csv`` (resumed parts in order), one figure per log
    window: the window's domain return per episode (``rollout/domain_reward`` x ``rollout/ep_len_mean``)
    over π*'s return at the window's exact KL per step (``rollout/kl_prior``), interpolated on ``points``'
    reliable points as the frontier's ratio is. The run *holds* the ratio at a window with a KL of at
    least ``min_kl`` where π*'s return there is positive (near the prior one noisy window would pass,
    and a ratio of negative returns means nothing). Reached: ``windows`` windows in a row hold it; the
    count is of the episodes finished (each one scored) by the end of the last of them -- from the
    run's ``sequences.csv`` (episodes logged at or before that env step), else SB3's ``time/episodes``.
    Not reached: ``compositions`` is None and ``best_ratio`` the best ratio held ``windows`` windows in a row.
    """
    if not (ratio > 0 and isinstance(windows, int) and windows >= 1):
        raise ValueError(f"ratio must be > 0 and windows an integer >= 1, got {ratio!r}, {windows!r}")
    from .report import read_progress

    run = Path(run)
    progress = read_progress(run)
    needed = ("rollout/kl_prior", "rollout/domain_reward", "rollout/ep_len_mean", "time/total_timesteps")
    if not progress or any(key not in progress for key in needed):
        return Efficiency(ratio, windows, None, math.nan, 0)
    kl, per_step = progress["rollout/kl_prior"], progress["rollout/domain_reward"]
    returns = per_step * progress["rollout/ep_len_mean"]
    best = np.array([interpolate(points, "kl_per_step", "domain_return", k) if np.isfinite(k) else math.nan
                     for k in kl])
    readable = np.isfinite(returns) & np.isfinite(best) & (best > 0) & (kl >= min_kl)
    ratios = np.where(readable, returns / np.where(readable, best, 1.0), -np.inf)
    held = np.array([ratios[i - windows + 1:i + 1].min() for i in range(windows - 1, len(ratios))])
    best_held = float(held.max()) if len(held) and np.isfinite(held.max()) else math.nan
    reached = np.flatnonzero(held >= ratio)
    if not len(reached):
        return Efficiency(ratio, windows, None, best_held, int(readable.sum()))
    index = int(reached[0]) + windows - 1
    step = progress["time/total_timesteps"][index]
    logged = _episode_counts(run)
    if logged is not None and len(logged):
        count = int(np.searchsorted(logged, step, side="right"))
    elif "time/episodes" in progress and np.isfinite(progress["time/episodes"][index]):
        count = int(progress["time/episodes"][index])
    else:
        count = int(round(step / progress["rollout/ep_len_mean"][index]))
    return Efficiency(ratio, windows, count, best_held, int(readable.sum()))


#: The headline cells of :func:`distance_figures` (a page without π* shows them as "–").
DISTANCE_HEADLINE = ("KL(π ‖ π*), nats per sequence (95 % interval)",
                     "share of the achievable improvement (95 % interval)")


def distance_figures(batch: Any, sample: PriorSample, c: float, prior_weight: float, seed: int,
                     unit: str = "sequence") -> tuple[dict[str, Any], dict[str, str], str]:
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

    headline = dict(zip(DISTANCE_HEADLINE, (cell(distance.distance, distance.distance_interval, distance.reliable),
                                            cell(distance.share, distance.share_interval, distance.share_reliable))))
    return figures, headline, distance.describe(unit)


def evaluate_against_optimum(model: Any, batch: Any, env_id: str, env_kwargs: dict[str, Any], optimum_n: int,
                             seed: int) -> tuple[dict[str, Any], str]:
    """``(figures, markdown)`` of ``seqtutor evaluate``: the batch against π* at the run's final c.

    The prior samples (``optimum_n`` of them, seed 0, cached) are those ``seqtutor report`` and the demo use.
    """
    from seqtutor_envs.optimum import sample_prior

    c = final_c(model, env_id, env_kwargs)
    prior_weight = env_weights(env_id, env_kwargs)[1]
    sample = sample_prior(env_id, optimum_n, 0, env_kwargs)
    figures, headline, note = distance_figures(batch, sample, c, prior_weight, seed)
    ratio = figures["optimality_ratio"]
    lines = [f"## Against π*, the objective's optimum, at c = {c:.4g}", "", "| figure | value |", "|---|---:|",
             *(f"| {key} | {value} |" for key, value in headline.items()),
             f"| return / π*'s at the same KL | {'n/a' if ratio is None else f'{ratio:.3f}'} |", "", note, ""]
    return figures, "\n".join(lines)
