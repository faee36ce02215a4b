"""Where c starts when a run holds a KL target and names no c: at π*'s c for that target.

The KL controller (:class:`~seqtutor_agents.common.kl.KLCoefficient`) moves ``log c`` by at most
``clip`` per ``kl_horizon`` env steps, so it can only *track* a target from a c of the right order.
From the env's c it may never get there: on SMILES with the ``paper`` objective the env's c is
1/0.35 while π* puts KL 0.1 per step near c = 48, a factor the controller needs ~850,000 steps to
cover -- G reward-hacks long before (one 100-atom chain). π*(x) ∝ p(x)^w exp(R(x)/c), the optimum
every KL-controlled learner aims at, has a KL that falls as c grows, so the c where π*'s KL per step
is the target (:func:`seqtutor_envs.optimum.c_for_kl`) is where a learner that reached its
optimum would hold the target. It is estimated by importance sampling over :data:`START_SAMPLES`
prior sequences, drawn once per env setting and cached (:func:`seqtutor_envs.optimum.sample_prior`).

A small sample underestimates π*'s KL where few samples carry the weight (its KL per sequence cannot
exceed log n), so it puts the target's c too low -- the side where a learner reward-hacks before the
controller can raise c. The start is therefore never below the c at which the sample's effective
size falls to :data:`MIN_START_ESS`: there the estimate still rests on that many sequences, and a
start on the high side only means the controller lowers c, approaching the target from below.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from seqtutor_envs.domains import get_domain
from seqtutor_envs.optimum import c_for_kl, optimum_at, sample_prior

from .config import ALGOS, TrainConfig

#: Prior sequences π*'s c is estimated from, by domain (others: the default): about half a minute of CPU
#: for SMILES the first time (RDKit scores each molecule), 5 s for melody, whose 16,384 give c within
#: 0.5 % of a 1M-sample estimate at KL 0.05 and 0.1 (18.82 vs 18.75, 10.33 vs 10.33).
START_SAMPLES = {"default": 4_096, "melody": 16_384}
#: The prior sample's seed (one cached sample serves every run of an env setting).
SAMPLE_SEED = 0
#: The start c is no lower than the c where the sample's effective size falls to this (see the module docstring).
MIN_START_ESS = 100


def needs_start_c(config: TrainConfig) -> bool:
    """Whether the run's c starts at π*'s: a KL target that adapts c, and no c named (``--c`` or an algo kwarg)."""
    return (
        config.target_kl is not None
        and ALGOS[config.algo].kl_target == "c"
        and config.c is None
        and "c" not in config.algo_kwargs
    )


def optimum_start_c(
    env_id: str,
    env_kwargs: dict[str, Any],
    target_kl: float,
    n: int | None = None,
    report: Callable[[str], None] | None = None,
) -> float | None:
    """π*'s c for ``target_kl`` (KL per step) on the env, from ``n`` cached prior samples (see the module docstring).

    :param env_kwargs: the run's env settings (those that shape sequences and returns key the cache).
    :param n: prior samples (None: the domain's :data:`START_SAMPLES`).
    :param report: called with a line before (drawing the sample shows a progress bar the first time) and after.
    :return: the c, or None when the target lies outside the KL range the sample resolves (its largest
        KL is log(n) per sequence); the caller then keeps its c.
    """
    n = n or START_SAMPLES.get(get_domain(env_id).name, START_SAMPLES["default"])
    settings = {k: v for k, v in env_kwargs.items() if k != "c"}
    prior_weight = float(settings.get("prior_weight", 1.0))
    if report:
        report(f"{env_id}: c starts at π*'s c for KL {target_kl:g} per step, from {n:,} prior samples (cached)")
    sample = sample_prior(env_id, n, SAMPLE_SEED, settings, progress=report is not None)
    try:
        c = c_for_kl(sample, target_kl, prior_weight)
    except ValueError as exc:
        if report:
            report(f"{env_id}: {exc}; c starts at the env's")
        return None
    floor = c_for_ess(sample, min(MIN_START_ESS, n / 4), prior_weight)
    if report:
        report(
            f"{env_id}: start c = {max(c, floor):.4g}"
            + (f" (π*'s estimate {c:.4g} rests on fewer than {MIN_START_ESS} samples)" if floor > c else "")
        )
    return max(c, floor)


def c_for_ess(sample: Any, ess: float, prior_weight: float = 1.0, low: float = 1e-3, high: float = 1e4) -> float:
    """The smallest c in ``[low, high]`` at which π*'s importance weights over ``sample`` keep an effective
    size of ``ess`` (the effective size grows with c; bisection on log c)."""

    def effective(c: float) -> float:
        return optimum_at(sample, c, prior_weight, statistics=False).ess

    if effective(low) >= ess:
        return low
    lo, hi = math.log(low), math.log(high)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if effective(math.exp(mid)) >= ess else (mid, hi)
    return math.exp(hi)
