"""The exact optimum of the KL-regularised objective, estimated by importance sampling over prior samples.

Every seqtutor learner maximises ``E_π[R(x)]/c − KL(π ‖ p)`` (per step ``w log p(a|s) + r/c`` minus
``log π(a|s)``; ``w`` the env's ``prior_weight``, undiscounted), whose optimum over sequence
distributions is (Korbak, Perez & Buckley 2022)::

    π*(x) ∝ p(x)^w exp(R(x) / c)

with ``p(x)`` the prior's probability of the whole sequence and ``R(x)`` its domain return. With
``n`` sequences ``x_i ~ p`` the importance weights are ``w_i ∝ p(x_i)^(w-1) exp(R(x_i)/c)``, and

* ``domain_return`` = ``Σ ŵ_i R(x_i)`` (``ŵ`` the normalised weights), π*'s mean domain return;
* ``kl_per_step`` = ``KL(π* ‖ p) / E_π*[T]``, with ``KL = Σ ŵ_i log w_i − log mean_i w_i``
  (``log π*/p = log w − log E_p[w]``) and ``T`` the episode length: the figure the learners log
  (total exact KL over total steps), in expectation;
* ``ess`` = ``1 / Σ ŵ_i²``, the effective sample size. A point with ``ess < MIN_ESS`` is flagged
  unreliable: its figures rest on too few samples and are never used for ratios.

One sample of the prior serves every ``c`` and ``prior_weight``: R does not depend on them. The
sample is drawn with the env's native vector env (each env plays a fixed number of episodes, so
short episodes are not over-represented) and cached by the prior file's hash and the env's other
settings (:func:`cache_dir`). A cache file carries its key and the SHA-256 of its arrays: one that
is damaged, or holds other samples (another key, other arrays or values), is drawn again and
rewritten, with a warning naming it. π*'s statistics come from ``resample`` sequences drawn from the
weights (with replacement: figures that count distinct sequences are lowered by repeats).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import gymnasium as gym
import numpy as np

from .domains import get_domain
from .io import atomic_write_bytes, sweep_stale_temps
from .progress import progress_bar
from .sampling import sample_categorical

if TYPE_CHECKING:
    from .sequence_env import SequenceVectorEnv

MIN_ESS = 1_000
CACHE_FORMAT = 2
_CACHE_ARRAYS = ("log_prior", "domain_return", "lengths", "sequences")
#: Env settings that do not change the prior samples (R and log p do not depend on them).
REWARD_ONLY_KWARGS = frozenset({"c", "prior_weight", "render_mode", "scoring_workers"})


@dataclass
class PriorSample:
    """``n`` whole sequences of the prior, with what π* needs of each."""

    env_id: str
    env_kwargs: dict[str, Any]  # the settings that shape the sequences and their domain returns
    seed: int
    log_prior: np.ndarray  # (n,) Σ_t log p(a_t|s_t), float64
    domain_return: np.ndarray  # (n,) Σ_t r_domain, float64
    lengths: np.ndarray  # (n,) steps
    sequences: Any  # (n, L) tokens, or a list of n strings (the domain's sequence_key)

    @property
    def n(self) -> int:
        return len(self.log_prior)

    def finals(self, rows: np.ndarray) -> dict[str, Any]:
        """Episode-end info of the sequences ``rows`` (for the domain's statistics)."""
        key = get_domain(self.env_id).sequence_key
        if isinstance(self.sequences, np.ndarray):
            return {key: self.sequences[rows]}
        return {key: [self.sequences[i] for i in rows]}


@dataclass
class OptimumPoint:
    """π* at one ``c`` (and ``prior_weight``)."""

    c: float
    prior_weight: float
    ess: float
    kl_per_step: float
    domain_return: float
    mean_length: float
    reliable: bool
    statistics: dict[str, float] = field(default_factory=dict)  # of π*'s resampled sequences
    resampled: Any = None  # those sequences (not written to the CSV)

    def row(self) -> dict[str, Any]:
        return {
            "c": self.c,
            "prior_weight": self.prior_weight,
            "ess": self.ess,
            "reliable": self.reliable,
            "kl_per_step": self.kl_per_step,
            "domain_return": self.domain_return,
            "mean_length": self.mean_length,
            **self.statistics,
        }


# ---------------------------------------------------------------------------- the prior's samples
def cache_dir() -> Path:
    """Where prior samples are cached: ``$SEQTUTOR_CACHE_DIR/optimum`` or ``~/.cache/seqtutor/optimum``."""
    root = os.environ.get("SEQTUTOR_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "seqtutor"
    )
    return Path(root) / "optimum"


def _sample_key(env_id: str, env_kwargs: dict[str, Any], n: int, seed: int) -> str:
    envs = gym.make_vec(env_id, num_envs=1, **env_kwargs)
    native = cast("SequenceVectorEnv", envs.unwrapped)  # env_id is a seqtutor env id (see sample_prior)
    prior_path = Path(native.prior_path)
    envs.close()
    digest = hashlib.sha256(prior_path.read_bytes()).hexdigest()[:16]
    settings = json.dumps({k: v for k, v in sorted(env_kwargs.items()) if k not in REWARD_ONLY_KWARGS}, default=str)
    objective = env_kwargs.get("objective")
    if isinstance(objective, str) and objective.strip().lower().startswith("file:"):
        # a scoring file's objective is its content, not its name: an edited file must not reuse old scores
        settings += "|" + hashlib.sha256(Path(objective.strip()[len("file:") :]).read_bytes()).hexdigest()
    return hashlib.sha256(f"{CACHE_FORMAT}|{env_id}|{digest}|{settings}|{n}|{seed}".encode()).hexdigest()[:24]


def sample_prior(
    env_id: str,
    n: int,
    seed: int = 0,
    env_kwargs: dict[str, Any] | None = None,
    batch: int = 4096,
    progress: bool = True,
    cache: bool = True,
    on_progress: Callable[[int], None] | None = None,
) -> PriorSample:
    """``n`` sequences of the env's prior (cached; see the module docstring).

    :param env_id: a registered seqtutor env id.
    :param n: sequences to draw.
    :param seed: seeds the envs' primers and the sampling.
    :param env_kwargs: env settings (``c`` and ``prior_weight`` do not matter here).
    :param batch: envs stepped together.
    :param on_progress: called with the sequences drawn so far, about every ``batch`` of them.
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    env_kwargs = {k: v for k, v in (env_kwargs or {}).items() if k not in REWARD_ONLY_KWARGS}
    key = _sample_key(env_id, env_kwargs, n, seed)
    path = cache_dir() / f"{key}.npz"
    if cache:
        sweep_stale_temps(path.parent)  # what killed writers of this cache left
        arrays = _read_cache(path, key, n) if os.path.lexists(path) else None
        if arrays is not None:
            sequences = arrays["sequences"]
            return PriorSample(
                env_id,
                env_kwargs,
                seed,
                arrays["log_prior"],
                arrays["domain_return"],
                arrays["lengths"],
                sequences if sequences.dtype.kind != "U" else sequences.tolist(),
            )
    sample = _draw(env_id, n, seed, env_kwargs, batch, progress, on_progress)
    if cache:
        arrays = {
            "log_prior": sample.log_prior,
            "domain_return": sample.domain_return,
            "lengths": sample.lengths,
            "sequences": np.asarray(sample.sequences),
        }
        meta = json.dumps({"format": CACHE_FORMAT, "key": key, "n": n, "sha256": _digest(arrays)})
        stream = io.BytesIO()
        np.savez(stream, __meta__=np.array(meta), **arrays)  # type: ignore[arg-type]  # mypy matches **arrays against savez's allow_pickle: bool too
        atomic_write_bytes(path, stream.getvalue())
    return sample


def _digest(arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 of the cache's arrays: names, dtypes, shapes and bytes."""
    digest = hashlib.sha256()
    for name in _CACHE_ARRAYS:
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}|{array.dtype.str}|{array.shape}|".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _read_cache(path: Path, key: str, n: int) -> dict[str, np.ndarray] | None:
    """The arrays of a cache file when they are whole and these samples' (None, with a warning, otherwise)."""
    problem: str | None
    try:
        with np.load(path, allow_pickle=False) as archive:
            meta = json.loads(str(archive["__meta__"])) if "__meta__" in archive.files else {}
            arrays = {name: archive[name] for name in _CACHE_ARRAYS if name in archive.files}
            extra = sorted(set(archive.files) - {*_CACHE_ARRAYS, "__meta__"})
    except Exception as exc:  # zip, npy, JSON: a damaged file, whatever the error
        problem = f"unreadable: {type(exc).__name__}: {exc}"
    else:
        problem = _cache_problem(meta, arrays, extra, key, n)
    if problem is None:
        return arrays
    warnings.warn(
        f"the optimum cache file {path} is damaged or holds other samples ({problem}): drawing the "
        "prior samples again and rewriting it",
        stacklevel=3,
    )
    return None


def _cache_problem(meta: Any, arrays: dict[str, np.ndarray], extra: list[str], key: str, n: int) -> str | None:
    if not isinstance(meta, dict) or meta.get("format") != CACHE_FORMAT or meta.get("key") != key or meta.get("n") != n:
        return "no checksum of these settings: written by another release or for other settings"
    missing = [name for name in _CACHE_ARRAYS if name not in arrays]
    if missing or extra:
        return f"arrays missing {missing}, unexpected {extra}"
    if any(len(arrays[name]) != n for name in _CACHE_ARRAYS):
        return f"arrays of other lengths than {n:,}"
    if _digest(arrays) != meta.get("sha256"):
        return "its arrays do not match their SHA-256"
    return None


def _draw(
    env_id: str,
    n: int,
    seed: int,
    env_kwargs: dict[str, Any],
    batch: int,
    progress: bool,
    on_progress: Callable[[int], None] | None = None,
) -> PriorSample:
    """Each of ``min(batch, n)`` envs plays its share of the ``n`` episodes, sampling the prior's next token."""
    key = get_domain(env_id).sequence_key
    width = min(batch, n)
    quota = np.full(width, n // width) + (np.arange(width) < n % width)
    envs = gym.make_vec(env_id, num_envs=width, autoreset_mode="same_step", **env_kwargs)
    obs, _ = envs.reset(seed=seed)
    rng = np.random.default_rng(seed)
    done_count = np.zeros(width, dtype=np.int64)
    run_log_p, run_return, run_length = np.zeros(width), np.zeros(width), np.zeros(width, dtype=np.int64)
    # numpy scalars per finished episode, and its token array
    log_prior: list[Any] = []
    returns: list[Any] = []
    lengths: list[Any] = []
    sequences: list[Any] = []
    next_report = width
    with progress_bar(n, f"{env_id}: prior samples", "samples", enabled=progress) as bar:
        while len(returns) < n:
            actions = sample_categorical(obs["prior_log_probs"].astype(np.float64), rng)
            obs, _, terminated, truncated, info = envs.step(actions)
            run_log_p += info["prior_log_prob"]
            run_return += info["domain_reward"]
            run_length += 1
            for i in np.flatnonzero((terminated | truncated) & (done_count < quota)):
                log_prior.append(run_log_p[i])
                returns.append(run_return[i])
                lengths.append(run_length[i])
                sequences.append(info["final_info"][key][i])
                done_count[i] += 1
                bar.update(1)
            ended = terminated | truncated
            run_log_p[ended], run_return[ended], run_length[ended] = 0.0, 0.0, 0
            if on_progress is not None and len(returns) >= next_report:
                on_progress(len(returns))
                next_report += width
    envs.close()
    as_array = not isinstance(sequences[0], str)
    return PriorSample(
        env_id,
        env_kwargs,
        seed,
        np.array(log_prior),
        np.array(returns),
        np.array(lengths),
        np.array(sequences, dtype=np.uint8 if as_array else None) if as_array else sequences,
    )


# ---------------------------------------------------------------------------- π* at a c
def _log_weights(sample: PriorSample, c: float, prior_weight: float) -> np.ndarray:
    return (prior_weight - 1.0) * sample.log_prior + sample.domain_return / c


def optimum_at(
    sample: PriorSample,
    c: float,
    prior_weight: float = 1.0,
    resample: int = 2_000,
    seed: int = 0,
    statistics: bool = True,
) -> OptimumPoint:
    """π*'s figures at ``c`` (see the module docstring); ``resample`` sequences drawn for its statistics."""
    if not c > 0:
        raise ValueError(f"c must be > 0, got {c!r}")
    log_w = _log_weights(sample, c, prior_weight)
    top = log_w.max()
    weights = np.exp(log_w - top)
    total = weights.sum()
    normalised = weights / total
    ess = float(1.0 / np.sum(normalised**2))
    log_mean_w = top + math.log(total / sample.n)
    kl = float(np.sum(normalised * log_w) - log_mean_w)
    mean_length = float(np.sum(normalised * sample.lengths))
    point = OptimumPoint(
        c=float(c),
        prior_weight=float(prior_weight),
        ess=ess,
        kl_per_step=kl / mean_length,
        domain_return=float(np.sum(normalised * sample.domain_return)),
        mean_length=mean_length,
        reliable=ess >= MIN_ESS,
    )
    if statistics and resample:
        rows = np.random.default_rng(seed).choice(sample.n, size=resample, p=normalised)
        finals = sample.finals(rows)
        point.statistics = get_domain(sample.env_id).statistics(finals)
        point.resampled = next(iter(finals.values()))
    return point


def c_for_kl(
    sample: PriorSample, target_kl: float, prior_weight: float = 1.0, low: float = 1e-3, high: float = 1e4
) -> float:
    """The ``c`` at which π*'s KL per step is ``target_kl`` (bisection on log c; KL falls as c grows).

    :raises ValueError: the target lies outside the KL range of ``c`` in ``[low, high]``.
    """

    def kl(c: float) -> float:
        return optimum_at(sample, c, prior_weight, statistics=False).kl_per_step

    lo, hi = math.log(low), math.log(high)
    if not kl(high) <= target_kl <= kl(low):
        raise ValueError(
            f"π*'s KL per step spans [{kl(high):.4g}, {kl(low):.4g}] for c in [{low:g}, {high:g}]; "
            f"the target {target_kl:g} is outside it"
        )
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if kl(math.exp(mid)) > target_kl:
            lo = mid
        else:
            hi = mid
    return math.exp(0.5 * (lo + hi))


def optimum_curve(
    sample: PriorSample,
    cs: list[float] | None = None,
    target_kls: list[float] | None = None,
    prior_weight: float = 1.0,
    resample: int = 2_000,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> list[OptimumPoint]:
    """π* at each ``c`` and at the ``c`` of each target KL, in order of decreasing c."""
    values = list(cs or [])
    for target in target_kls or []:
        values.append(c_for_kl(sample, target, prior_weight))
    points = []
    for c in sorted(set(values), reverse=True):
        points.append(optimum_at(sample, c, prior_weight, resample, seed))
        if progress:
            p = points[-1]
            progress(
                f"c={p.c:.4g}: ESS {p.ess:,.0f}, KL/step {p.kl_per_step:.4f}, domain return {p.domain_return:.3f}"
                + ("" if p.reliable else " (unreliable: ESS < 1,000)")
            )
    return points


def interpolate(points: list[OptimumPoint], x: str, y: str, at: float) -> float:
    """π*'s ``y`` at ``x == at``, interpolated linearly between reliable points (NaN outside their range)."""
    usable = sorted((getattr(p, x), getattr(p, y)) for p in points if p.reliable)
    if len(usable) < 2 or not usable[0][0] <= at <= usable[-1][0]:
        return math.nan
    xs, ys = zip(*usable, strict=True)
    return float(np.interp(at, xs, ys))
