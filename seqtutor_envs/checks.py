"""Argument checks shared by every seqtutor env: seeds, reset options, actions, ``num_envs``, keyword arguments.

Each raises a ``TypeError`` or ``ValueError`` naming the bad value and what is accepted.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

#: Seeds are integers in ``[0, SEED_LIMIT)`` (numpy's ``SeedSequence`` takes more, but a seed this
#: large is a bug, not a choice), or ``None``.
SEED_LIMIT = 2**64


def check_options(options: Any, accepted: Sequence[str], env_id: str) -> dict[str, Any] | None:
    """``reset(options=...)`` checked: ``None`` or a dict whose keys are all in ``accepted``.

    :param options: what the caller passed.
    :param accepted: the keys the task reads.
    :param env_id: named in the message.
    """
    if options is None:
        return None
    if not isinstance(options, Mapping):
        raise TypeError(
            f"{env_id}: reset(options=...) must be a dict or None, got {options!r} ({type(options).__name__})"
        )
    unknown = [key for key in options if key not in accepted]
    if unknown:
        raise ValueError(
            f"{env_id}: unknown reset option(s) {sorted(map(str, unknown))}; it accepts "
            f"{', '.join(map(repr, accepted)) if accepted else 'none'}"
        )
    return dict(options)


def check_seed(seed: Any, what: str = "seed") -> int | None:
    """A seed checked: ``None`` or an integer in ``[0, 2**64)`` (bools, floats and strings are refused).

    :param seed: what the caller passed.
    :param what: how the message names it (``"seed"``, ``"seed[3]"``).
    """
    if seed is None:
        return None
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"{what} must be an integer in [0, 2**64) or None, got {seed!r} ({type(seed).__name__})")
    seed = int(seed)
    if not 0 <= seed < SEED_LIMIT:
        raise ValueError(f"{what} must be an integer in [0, 2**64) or None, got {seed}")
    return seed


def check_vector_seeds(seed: Any, num_envs: int) -> list[int | None]:
    """Per-sub-env seeds of a vector ``reset(seed=...)``: ``None``, an int ``s`` (sub-env ``i`` gets
    ``s + i``) or a list/tuple/array of ``num_envs`` ints or ``None``.

    :param seed: what the caller passed.
    :param num_envs: sub-envs of the vector env.
    """
    if seed is None:
        return [None] * num_envs
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, (bool, np.bool_)):
        first = check_seed(seed)
        assert first is not None
        if first + num_envs - 1 >= SEED_LIMIT:
            raise ValueError(
                f"seed {first} gives sub-env {num_envs - 1} the seed {first + num_envs - 1}, beyond 2**64 - 1: "
                f"use a seed <= {SEED_LIMIT - num_envs}"
            )
        return [first + i for i in range(num_envs)]
    if isinstance(seed, (list, tuple)) or (isinstance(seed, np.ndarray) and seed.ndim == 1):
        if len(seed) != num_envs:
            raise ValueError(f"expected {num_envs} seeds (one per sub-env), got {len(seed)}: {list(seed)!r}")
        return [check_seed(s, f"seed[{i}]") for i, s in enumerate(seed)]
    raise TypeError(
        f"seed must be an integer in [0, 2**64), a list of {num_envs} such integers (or None entries), or None; "
        f"got {seed!r} ({type(seed).__name__})"
    )


def check_unknown_kwargs(env_id: str, unknown: dict[str, Any], accepted: Sequence[str]) -> None:
    """Raise a ``TypeError`` naming unknown keyword arguments and the accepted ones."""
    if unknown:
        raise TypeError(
            f"{env_id} got unknown keyword argument(s) {sorted(unknown)}; it accepts: {', '.join(accepted)}"
        )


def check_num_envs(num_envs: Any) -> int:
    """``num_envs`` as an int, or a ``ValueError`` naming the bad value."""
    if not isinstance(num_envs, (int, np.integer)) or isinstance(num_envs, bool) or num_envs < 1:
        raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
    return int(num_envs)


def check_actions(actions: Any, num_actions: int, shape: tuple[int, ...]) -> np.ndarray:
    """Actions as an int64 array of ``shape``, or a ``ValueError`` naming what is wrong."""
    array = np.asarray(actions)
    if array.shape != shape:
        raise ValueError(f"expected actions of shape {shape}, got shape {array.shape} ({actions!r})")
    if array.dtype.kind not in "iu":
        if array.dtype.kind == "f" and np.all(np.isfinite(array)) and np.all(array == np.round(array)):
            array = array.astype(np.int64)
        else:
            raise ValueError(f"actions must be integers in [0, {num_actions}), got {actions!r}")
    array = array.astype(np.int64, copy=False)
    bad = (array < 0) | (array >= num_actions)
    if np.any(bad):
        raise ValueError(
            f"invalid action {array[bad][0]}: expected an integer in [0, {num_actions}) (Discrete({num_actions}))"
        )
    return array
