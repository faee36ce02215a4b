"""Argument checks shared by every seqtutor env: seeds, reset options, actions, ``num_envs``, keyword arguments.

Each raises a ``TypeError`` or ``ValueError`` naming the bad value and what is accepted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

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


def check_unknown_kwargs(env_id: str, unknown: dict[str, Any], accepted: Sequence[str], owner: str = "") -> None:
    """Raise a ``TypeError`` in Python's own wording for an unknown keyword argument, plus the accepted ones.

    Wrappers that probe keyword arguments (TorchRL's ``GymEnv`` passes ``frameskip`` and retries
    without it) recognise only Python's message, ``"got an unexpected keyword argument 'name'"``.

    :param env_id: named in the message.
    :param unknown: the keyword arguments the env did not take.
    :param accepted: the ones it takes.
    :param owner: what Python would name, e.g. ``"MelodyEnv.__init__"`` (default: the env id).
    """
    if unknown:
        names = sorted(unknown)
        more = f" (and {', '.join(map(repr, names[1:]))})" if len(names) > 1 else ""
        raise TypeError(
            f"{owner or env_id}() got an unexpected keyword argument {names[0]!r}{more}; {env_id} accepts: "
            f"{', '.join(accepted)}"
        )


#: Longest episode an env accepts. Every observation carries the whole sequence so far, so one
#: episode's observations hold ``L (L + 1)`` tokens: at L = 1024 that is 8 MB per episode in int64,
#: at 4096 it is 134 MB, and replay buffers keep thousands of episodes.
MAX_SEQUENCE_LENGTH = 1024


def check_sequence_length(name: str, value: Any, low: int) -> int:
    """An episode length in ``[low, MAX_SEQUENCE_LENGTH]``, or a ``ValueError`` saying why not."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if value > MAX_SEQUENCE_LENGTH:
        per_episode = int(value) * (int(value) + 1) * 8
        raise ValueError(
            f"{name} must be <= {MAX_SEQUENCE_LENGTH}, got {value}: every observation carries the whole sequence "
            f"so far, so one episode's observations would take {per_episode / 1e6:,.0f} MB"
        )
    return int(value)


class RenderModes(list):
    """An env's ``metadata["render_modes"]`` that refuses a render mode that is not a string.

    ``gym.make`` tests ``render_mode not in metadata["render_modes"]`` and then calls string methods
    on it before the env is built, so ``render_mode=1`` would end in an ``AttributeError`` inside
    Gymnasium; the membership test is the first place the env can name the bad argument.
    """

    def __contains__(self, mode: object) -> bool:
        if not isinstance(mode, str):
            raise ValueError(f"render_mode must be one of {list(self)} or None, got {mode!r}")
        return super().__contains__(mode)


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
    # Range-check before the cast to int64: a uint64 above 2**63 - 1 would wrap to a negative number
    # and be reported as one.
    bad = (array < 0) | (array >= num_actions)
    if np.any(bad):
        raise ValueError(
            f"invalid action {array[bad][0]}: expected an integer in [0, {num_actions}) (Discrete({num_actions}))"
        )
    return array.astype(np.int64, copy=False)
