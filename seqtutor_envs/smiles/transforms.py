"""Score transforms of a scoring file: a component's raw value (MW, TPSA, a count) mapped into [0, 1].

The formulas and parameter names are REINVENT 4's (``reinvent/scoring/transforms``), so a REINVENT
``transform`` table means the same here; computed in float64 (REINVENT computes in float32, which
differs in the 7th digit). With ``sig(z) = 1 / (1 + 10**(-z))`` (a base-10 logistic):

* ``sigmoid`` (``low``, ``high``, ``k``): ``sig(10 k (x - (low + high) / 2) / (high - low))``: 0.5
  half-way between ``low`` and ``high``, rising; ``k`` sets the steepness (0.5 is the usual). With
  ``low == high``: 1 where ``x > low``, else 0.
* ``reverse_sigmoid``: ``1 - sigmoid``: falling.
* ``double_sigmoid`` (``low``, ``high``, ``coef_div`` = 100, ``coef_si`` = 150, ``coef_se`` = 150): a plateau
  between ``low`` and ``high``; below the midpoint ``sig(coef_si / coef_div * (x - low))``, from the
  midpoint on ``1 - sig(coef_se / coef_div * (x - high))``: 0.5 at ``low`` and at ``high``.
  ``coef_div = 0``: the hard version (1 on ``(low, high]`` left of, and right of, the midpoint).
* ``step`` (``low``, ``high``): 1 for ``low <= x <= high``, else 0; ``left_step`` (``low``): 1 for
  ``x <= low``; ``right_step`` (``high``): 1 for ``x >= high``.
* ``linear_ramp`` (``low``, ``high``): 0 at ``low``, 1 at ``high``, linear between and flat outside
  (``high < low`` ramps down). Not a REINVENT 4 transform; MolScore's ``lin_thresh`` is the same idea.
* ``value_mapping`` (``mapping``, ``default``): a table of ``value = score``, the values written as numbers
  and matched as numbers (``"2" = 1.0`` matches a ring count of 2; REINVENT 4 compares ``str(value)``,
  where a count of 2 reads ``"2.0"``). An unmapped value is ``default`` if given, else NaN, which
  leaves the component out of that molecule's mean (as in REINVENT 4).

Every transform returns values in [0, 1] and passes NaN (a raw value RDKit could not compute) through.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .scoring_params import FileContext, KeyPath, Param, in_unit_interval, lookup_key, read_params


def base10_sigmoid(z: np.ndarray) -> np.ndarray:
    """``1 / (1 + 10**(-z))``, stable for any ``z`` (no overflow warning far from 0)."""
    h = np.asarray(z, dtype=np.float64) * math.log(10.0)
    e = np.exp(-np.abs(h))
    return np.where(h >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _hard(z: np.ndarray) -> np.ndarray:
    return (np.asarray(z) > 0).astype(np.float64)


class _Elementwise:
    """Base of the transforms: :meth:`values` of the raw values in float64, NaN passed through as NaN."""

    def values(self, x: np.ndarray) -> np.ndarray:
        """The scores of ``x`` (float64); :meth:`__call__` puts NaN back wherever ``x`` is NaN."""
        raise NotImplementedError

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return np.where(np.isnan(x), np.nan, self.values(x))


@dataclass(frozen=True)
class Sigmoid(_Elementwise):
    low: float
    high: float
    k: float

    def rising(self, x: np.ndarray) -> np.ndarray:
        centred = x - (self.high + self.low) / 2.0
        if self.high == self.low:
            return _hard(10.0 * self.k * centred)
        return base10_sigmoid(10.0 * self.k * centred / (self.high - self.low))

    def values(self, x: np.ndarray) -> np.ndarray:
        return self.rising(x)


@dataclass(frozen=True)
class ReverseSigmoid(Sigmoid):
    def values(self, x: np.ndarray) -> np.ndarray:
        return 1.0 - self.rising(x)


@dataclass(frozen=True)
class DoubleSigmoid(_Elementwise):
    low: float
    high: float
    coef_div: float = 100.0
    coef_si: float = 150.0
    coef_se: float = 150.0

    def values(self, x: np.ndarray) -> np.ndarray:
        left_side = x < (self.high - self.low) / 2.0 + self.low
        if self.coef_div == 0:
            left, right = _hard(self.coef_si * (x - self.low)), 1.0 - _hard(self.coef_se * (x - self.high))
        else:
            left = base10_sigmoid(self.coef_si / self.coef_div * (x - self.low))
            right = 1.0 - base10_sigmoid(self.coef_se / self.coef_div * (x - self.high))
        return np.where(left_side, left, right)


@dataclass(frozen=True)
class Step(_Elementwise):
    low: float
    high: float

    def values(self, x: np.ndarray) -> np.ndarray:
        return ((x >= self.low) & (x <= self.high)).astype(np.float64)


@dataclass(frozen=True)
class LeftStep(_Elementwise):
    low: float

    def values(self, x: np.ndarray) -> np.ndarray:
        return (x <= self.low).astype(np.float64)


@dataclass(frozen=True)
class RightStep(_Elementwise):
    high: float

    def values(self, x: np.ndarray) -> np.ndarray:
        return (x >= self.high).astype(np.float64)


@dataclass(frozen=True)
class LinearRamp(_Elementwise):
    low: float
    high: float

    def values(self, x: np.ndarray) -> np.ndarray:
        return np.clip((x - self.low) / (self.high - self.low), 0.0, 1.0)


@dataclass(frozen=True)
class ValueMapping(_Elementwise):
    """``mapping``: raw value -> score, the keys matched as numbers (every component's raw value is one)."""

    mapping: tuple[tuple[float, float], ...]
    default: float | None = None

    def values(self, x: np.ndarray) -> np.ndarray:
        out = np.full(x.shape, np.nan if self.default is None else self.default)
        for key, score in self.mapping:
            out[x == key] = score
        return out


Transform = Callable[[np.ndarray], np.ndarray]

_NUMBER = Param("number")
_SIGMOID = {"low": _NUMBER, "high": _NUMBER, "k": Param("number", doc="steepness, e.g. 0.5")}
#: transform name -> (class, parameters). Looked up as REINVENT does: case, ``_`` and ``-`` ignored.
TRANSFORMS: dict[str, tuple[type, dict[str, Param]]] = {
    "sigmoid": (Sigmoid, _SIGMOID),
    "reverse_sigmoid": (ReverseSigmoid, _SIGMOID),
    "double_sigmoid": (
        DoubleSigmoid,
        {
            "low": _NUMBER,
            "high": _NUMBER,
            "coef_div": Param("number", 100.0),
            "coef_si": Param("number", 150.0),
            "coef_se": Param("number", 150.0),
        },
    ),
    "step": (Step, {"low": _NUMBER, "high": _NUMBER}),
    "left_step": (LeftStep, {"low": _NUMBER}),
    "right_step": (RightStep, {"high": _NUMBER}),
    "linear_ramp": (LinearRamp, {"low": _NUMBER, "high": _NUMBER}),
    "value_mapping": (
        ValueMapping,
        {
            "mapping": Param("table", doc="a table of raw value = score in [0, 1]"),
            "default": Param("number", None, in_unit_interval),
        },
    ),
}
_LOOKUP = {lookup_key(name): name for name in TRANSFORMS}


def build_transform(table: Any, path: KeyPath, ctx: FileContext) -> Transform:
    """The transform a ``transform`` table describes (its ``type`` and that type's parameters).

    :raises ScoringFileError: an unknown type or parameter, a missing or ill-typed parameter,
        ``low > high`` where the transform needs ``low <= high``, equal ``low`` and ``high`` of a linear ramp,
        a mapped score outside [0, 1].
    """
    if not isinstance(table, Mapping):
        raise ctx.error(path, "must be a table with a type and its parameters", table)
    if "type" not in table:
        raise ctx.error((*path, "type"), f"is required (one of {', '.join(TRANSFORMS)})")
    kind = table["type"]
    name = _LOOKUP.get(lookup_key(kind)) if isinstance(kind, str) else None
    if name is None:
        raise ctx.error((*path, "type"), f"unknown transform (known: {', '.join(TRANSFORMS)})", kind)
    cls, spec = TRANSFORMS[name]
    values = read_params({k: v for k, v in table.items() if k != "type"}, spec, path, ctx)
    if name in ("double_sigmoid", "step") and values["low"] > values["high"]:
        raise ctx.error((*path, "low"), f"must not exceed high ({values['high']:g})", values["low"])
    if name == "linear_ramp" and values["low"] == values["high"]:
        raise ctx.error((*path, "high"), "must differ from low (the ramp would have no width)", values["high"])
    if name == "value_mapping":
        values["mapping"] = _mapping(values["mapping"], (*path, "mapping"), ctx)
    return cls(**values)


def _mapping(table: Mapping[str, Any], path: KeyPath, ctx: FileContext) -> tuple[tuple[float, float], ...]:
    if not table:
        raise ctx.error(path, "must map at least one value", dict(table))
    for key in table:
        try:
            float(key)
        except ValueError:
            raise ctx.error(
                (*path, key), "a mapped value must be a number (components give numbers; true/false are 1/0)", key
            ) from None
    spec = {str(key): Param("number", check=in_unit_interval) for key in table}
    return tuple((float(k), v) for k, v in read_params(table, spec, path, ctx).items())


def transform_spec() -> dict[str, tuple[str, ...]]:
    """Each transform's parameter names (for documentation and errors)."""
    return {name: tuple(spec) for name, (_, spec) in TRANSFORMS.items()}
