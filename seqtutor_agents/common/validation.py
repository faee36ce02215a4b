"""Argument checks shared by the learners: every bad setting fails at construction, naming itself.

A learner that accepts ``train_freq=0`` loops forever, ``batch_size=0`` fails at the first
gradient step and ``c=True`` silently means 1.0; these checks turn each into a ``ValueError`` or
``TypeError`` that names the argument, the value and what was expected.
"""

from __future__ import annotations

import math
from typing import Any


def check_number(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    integer: bool = False,
    allow_none: bool = False,
) -> Any:
    """``value`` if it is a finite number in the given range, else a precise error.

    :param name: the argument's name, for the message.
    :param low: lower bound (inclusive unless ``low_open``).
    :param high: upper bound (inclusive unless ``high_open``).
    :param integer: require an integer (a float such as ``2.0`` is refused too: it is a typo more often than not).
    :param allow_none: accept ``None`` (returned as is).
    """
    if value is None and allow_none:
        return None
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or (not isinstance(value, (int, float)) and not _is_numpy_number(value)):
        raise TypeError(f"{name} must be {kind}, got {value!r} ({type(value).__name__})")
    if (integer and not float(value).is_integer()) or (integer and isinstance(value, float)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if not math.isfinite(float(value)):
        raise ValueError(f"{name} must be finite, got {value!r}")
    lo_ok = low is None or (value > low if low_open else value >= low)
    hi_ok = high is None or (value < high if high_open else value <= high)
    if not (lo_ok and hi_ok):
        lo = "" if low is None else ("(" if low_open else "[") + f"{low:g}"
        hi = "" if high is None else f"{high:g}" + (")" if high_open else "]")
        expected = f"in {lo or '(-inf'}, {hi or 'inf)'}"
        raise ValueError(f"{name} must be {expected}, got {value!r}")
    return int(value) if integer else value


def check_arguments(values: dict[str, Any], bounds: dict[str, dict[str, Any]]) -> None:
    """:func:`check_number` on each argument named in ``bounds`` (e.g. a constructor's ``locals()``).

    :param values: argument name -> value.
    :param bounds: argument name -> keyword arguments of :func:`check_number`.
    """
    for name, limits in bounds.items():
        check_number(name, values[name], **limits)


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    """``value`` if it is one of ``choices``, else a ``ValueError`` listing them."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(repr(c) for c in choices)}, got {value!r}")
    return value


def check_learning_rate(value: Any) -> Any:
    """A positive number or a schedule (a callable of the remaining progress)."""
    if callable(value):
        return value
    return check_number("learning_rate", value, low=0.0, low_open=True)


def _is_numpy_number(value: Any) -> bool:
    try:
        import numpy as np
    except ImportError:  # pragma: no cover
        return False
    return isinstance(value, (np.integer, np.floating)) and not isinstance(value, np.bool_)
