"""Scoring files: a molecule objective written as data (TOML or JSON), checked on load, REINVENT 4's layout.

``SeqTutor-SMILES-v0(objective="file:scoring.toml")``, ``seqtutor train --scoring scoring.toml`` and
``seqtutor score --scoring scoring.toml molecules.smi`` read a file such as::

    [scoring]
    type = "geometric_mean"            # or "arithmetic_mean" (REINVENT 4's aggregations)

    [[scoring.component]]
    [scoring.component.QED]
    [[scoring.component.QED.endpoint]]
    name = "QED"
    weight = 0.6

    [[scoring.component]]
    [scoring.component.MolecularWeight]
    [[scoring.component.MolecularWeight.endpoint]]
    name = "MW"
    weight = 0.4
    transform.type = "double_sigmoid"  # REINVENT 4's transforms and parameters
    transform.low = 200.0
    transform.high = 450.0
    transform.coef_div = 450.0
    transform.coef_si = 20.0
    transform.coef_se = 20.0

A component table holds one component type (:mod:`.components`) with one or more ``endpoint`` tables
(each a scored column: ``name``, ``weight`` > 0, ``params``, ``transform``; component-level ``params``
apply to every endpoint). The top level may instead hold ``type`` and ``[[component]]`` directly (a
REINVENT 4 stage's scoring file), or ``[[stage]]`` tables, each with a ``[stage.scoring]`` table and,
but for the last, a switch condition (:mod:`.stages`): ``max_score`` with ``window`` (molecules,
default 1000) and ``min_steps``, and/or ``max_steps``.

Everything is checked on load: an unknown key, component, transform or parameter, a missing or ill-typed
one, a SMARTS or reference SMILES RDKit cannot parse, a weight <= 0, a descriptor outside [0, 1] without
a transform, a duplicate or reserved column name -- each a :class:`ScoringFileError` of one line naming
the file, the key (and its line in a TOML file) and the value. A scoring file is data: its component
types come from a fixed table, nothing in it is imported, evaluated or run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomllib

from .components import COMPONENTS, Component, component_class
from .scoring import MoleculeScorer
from .scoring_function import AGGREGATIONS, ScoredComponent, ScoringFunction
from .scoring_params import (
    FileContext,
    KeyPath,
    Param,
    ScoringFileError,
    at_least,
    format_key,
    positive,
    read_params,
    toml_key_lines,
)
from .stages import Stage, StagedScoring, SwitchRule
from .transforms import build_transform

SCORING_FILE_PREFIX = "file:"
"""``make_objective("file:<path>")`` loads a scoring file."""
SUFFIXES = (".toml", ".json")
#: Column names the env's info and a run's CSV files use already (compared case-insensitively).
RESERVED_NAMES = frozenset(
    {
        "smiles",
        "valid",
        "length",
        "scaffold",
        "score",
        "stage",
        "episode",
        "step",
        "domain_return",
        "prior_log_likelihood",
        "policy_log_likelihood",
        "objective_error",
    }
)
#: Molecule properties a CSV row may carry (``info_properties``), compared exactly.
PROPERTY_NAMES = frozenset({"logp", "qed", "sa", "ring_penalty", "plogp"})
_AGGREGATION_ALIASES = {"custom_product": "geometric_mean", "custom_sum": "arithmetic_mean"}  # REINVENT 4's old names


def read_scoring_data(path: str | Path) -> tuple[dict[str, Any], FileContext]:
    """The file's data and a :class:`FileContext` (with key lines for TOML).

    :raises ScoringFileError: no such file, another suffix than ``.toml``/``.json``, not UTF-8, not
        valid TOML or JSON, or JSON whose top level is not an object.
    """
    path = Path(path)
    if path.suffix.lower() not in SUFFIXES:
        raise ScoringFileError(f"{path}: a scoring file is TOML or JSON and ends in .toml or .json")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScoringFileError(f"{path}: no such scoring file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScoringFileError(f"{path}: cannot read it as UTF-8 text ({exc})") from None
    if path.suffix.lower() == ".toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ScoringFileError(f"{path}: not valid TOML ({exc})") from None
        return data, FileContext(str(path), toml_key_lines(text))
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ScoringFileError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ScoringFileError(f"{path}: a JSON scoring file holds an object, not a {type(data).__name__}")
    return data, FileContext(str(path))


def load_scoring_file(
    path: str | Path, scorer: MoleculeScorer | None = None, cache_size: int | None = 500_000
) -> ScoringFunction | StagedScoring:
    """The objective a scoring file describes (see the module docstring), checked throughout.

    :param path: a ``.toml`` or ``.json`` file.
    :param scorer: a shared :class:`~.scoring.MoleculeScorer` (canonical SMILES cache) for every stage.
    :param cache_size: entries of each scoring function's per-molecule cache.
    :raises ScoringFileError: the first problem, in one line naming the file, key, line and value.
    """
    data, ctx = read_scoring_data(path)
    scorer = scorer if scorer is not None else MoleculeScorer()
    name = SCORING_FILE_PREFIX + str(path)
    forms = [key for key in ("scoring", "stage", "component") if key in data]
    unknown = [k for k in data if k not in ("scoring", "stage", "component", "type")]
    if unknown:
        raise ctx.error(
            (unknown[0],),
            "unknown key (a scoring file holds [scoring], [[stage]] or type and [[component]])",
            data[unknown[0]],
        )
    if len(forms) != 1:
        raise ctx.error(
            (),
            "give exactly one of [scoring], [[stage]] tables, or [[component]] tables at the top level"
            + (f" (this file has {', '.join(forms)})" if forms else ""),
        )
    if "type" in data and forms != ["component"]:
        raise ctx.error(("type",), "belongs inside [scoring] (or [stage.scoring])", data["type"])
    if forms == ["stage"]:
        return _staged(data["stage"], ctx, name, scorer, cache_size)
    table, path_ = (data, ()) if forms == ["component"] else (data["scoring"], ("scoring",))
    return _scoring_function(table, path_, ctx, name, scorer, cache_size)


def _tables(value: Any, path: KeyPath, ctx: FileContext, what: str) -> list[Mapping[str, Any]]:
    """A non-empty array of tables (``[[...]]``), else the error naming ``what`` it should hold."""
    if not isinstance(value, list) or not value or not all(isinstance(v, Mapping) for v in value):
        raise ctx.error(path, f"must be one or more [[...]] tables ({what})", value)
    return value


def _scoring_function(
    table: Any, path: KeyPath, ctx: FileContext, name: str, scorer: MoleculeScorer, cache_size: int | None
) -> ScoringFunction:
    spec = {
        "type": Param("str", "geometric_mean", choices=(*AGGREGATIONS, *_AGGREGATION_ALIASES)),
        "component": Param("table", doc="one or more [[component]] tables"),
    }
    values = read_params(
        {k: ({} if k == "component" else v) for k, v in table.items()} if isinstance(table, Mapping) else table,
        spec,
        path,
        ctx,
    )
    entries = _tables(table["component"], (*path, "component"), ctx, "each holding one component type")
    located: list[tuple[ScoredComponent, KeyPath]] = []
    for i, entry in enumerate(entries):
        located.extend(_component_entry(entry, (*path, "component", i), ctx))
    _check_names(located, ctx)
    components = [c for c, _ in located]
    mean = _AGGREGATION_ALIASES.get(values["type"], values["type"])
    return ScoringFunction(name, components, mean, scorer=scorer, cache_size=cache_size)


def _component_entry(
    entry: Mapping[str, Any], path: KeyPath, ctx: FileContext
) -> list[tuple[ScoredComponent, KeyPath]]:
    """The scored columns of one ``[[component]]`` table (``{Type = {endpoint = [...], params = {...}}}``), each with
    its endpoint's key path."""
    if len(entry) != 1:
        raise ctx.error(path, "must hold exactly one component type, e.g. [scoring.component.QED]", list(entry))
    ((kind, body),) = entry.items()
    cls = component_class(kind)
    if cls is None:
        raise ctx.error((*path, kind), f"unknown component (known: {', '.join(COMPONENTS)})")
    path = (*path, kind)
    if not isinstance(body, Mapping):
        raise ctx.error(path, "must be a table holding [[...endpoint]] tables", body)
    for key in body:
        if key not in ("endpoint", "params"):
            raise ctx.error((*path, key), "unknown key (accepted here: endpoint, params)", body[key])
    endpoints = _tables(body.get("endpoint"), (*path, "endpoint"), ctx, "name, weight, params, transform")
    shared = body.get("params", {})
    if not isinstance(shared, Mapping):
        raise ctx.error((*path, "params"), "must be a table", shared)
    _check_keys(shared, cls, (*path, "params"), ctx)
    return [
        (_endpoint(cls, kind, endpoint, shared, (*path, "endpoint", j), ctx), (*path, "endpoint", j))
        for j, endpoint in enumerate(endpoints)
    ]


def _check_keys(params: Mapping[str, Any], cls: type[Component], path: KeyPath, ctx: FileContext) -> None:
    for key in params:
        if key not in cls.PARAMS:
            accepted = ", ".join(cls.PARAMS) or "none"
            raise ctx.error((*path, key), f"unknown parameter of {cls.type_name} (accepted: {accepted})", params[key])


def _endpoint(
    cls: type[Component], kind: str, endpoint: Any, shared: Mapping[str, Any], path: KeyPath, ctx: FileContext
) -> ScoredComponent:
    filter_ = cls.role == "filter"
    spec = {
        "name": Param("str", kind),
        "weight": Param("number", None, positive),
        "params": Param("table", {}),
        "transform": Param("table", None),
    }
    values = read_params(endpoint, spec, path, ctx)
    if filter_ and values["weight"] is not None:
        raise ctx.error(
            (*path, "weight"),
            f"{cls.type_name} is a filter: it multiplies the score and takes no weight",
            values["weight"],
        )
    if filter_ and values["transform"] is not None:
        raise ctx.error(
            (*path, "transform"),
            f"{cls.type_name} is a filter (1 passes, 0 fails): it takes no transform",
            dict(values["transform"]),
        )
    _check_keys(values["params"], cls, (*path, "params"), ctx)
    params = read_params({**shared, **values["params"]}, cls.PARAMS, (*path, "params"), ctx)
    component = cls(params, (*path, "params"), ctx)
    transform = None
    if values["transform"] is not None:
        transform = build_transform(values["transform"], (*path, "transform"), ctx)
    elif not cls.bounded:
        raise ctx.error(
            (*path, "transform"),
            f"{cls.type_name}'s values do not lie in [0, 1]: give it a transform "
            "(sigmoid, reverse_sigmoid, double_sigmoid, step, left_step, right_step, linear_ramp, "
            "value_mapping)",
        )
    weight = None if filter_ else (1.0 if values["weight"] is None else values["weight"])
    return ScoredComponent(values["name"], component, weight, transform)


def _check_names(located: list[tuple[ScoredComponent, KeyPath]], ctx: FileContext) -> None:
    seen: set[str] = set()
    for c, endpoint in located:
        path = (*endpoint, "name")
        if c.name.lower() in RESERVED_NAMES or c.name in PROPERTY_NAMES or c.name.endswith(" (raw)"):
            raise ctx.error(
                path,
                "a component name is taken by a column of the env's info and CSV files "
                f"({', '.join(sorted(RESERVED_NAMES | PROPERTY_NAMES))}, '... (raw)'): rename it",
                c.name,
            )
        if c.name in seen:
            raise ctx.error(
                path, "two components have this name (each endpoint's name must differ: set name = ...)", c.name
            )
        seen.add(c.name)


_STAGE_SPEC = {
    "name": Param("str", None),
    "scoring": Param("table"),
    "max_score": Param("number", None, lambda v: None if 0.0 < v <= 1.0 else "must lie in (0, 1]"),
    "window": Param("int", None, at_least(1), doc="molecules the mean score is taken over"),
    "min_steps": Param("int", None, at_least(0)),
    "max_steps": Param("int", None, at_least(1)),
}


def _staged(stages: Any, ctx: FileContext, name: str, scorer: MoleculeScorer, cache_size: int | None) -> StagedScoring:
    if not isinstance(stages, list) or len(stages) < 2:
        raise ctx.error(
            ("stage",),
            "staged scoring needs two or more [[stage]] tables (one stage: use [scoring])",
            stages if not isinstance(stages, list) else f"{len(stages)} stage(s)",
        )
    out = []
    for i, table in enumerate(stages):
        path = ("stage", i)
        values = read_params(table, _STAGE_SPEC, path, ctx)
        conditions = [k for k in ("max_score", "window", "min_steps", "max_steps") if values[k] is not None]
        last = i == len(stages) - 1
        if last and conditions:
            raise ctx.error(
                (*path, conditions[0]),
                "the last stage runs until training ends: it takes no switch condition",
                values[conditions[0]],
            )
        if not last and values["max_score"] is None and values["max_steps"] is None:
            raise ctx.error(path, "needs a switch condition: max_score (with window, min_steps) and/or max_steps")
        if values["max_score"] is None and (values["window"] is not None or values["min_steps"] is not None):
            key = "window" if values["window"] is not None else "min_steps"
            raise ctx.error((*path, key), "applies to max_score, which this stage lacks", values[key])
        rule = (
            None
            if last
            else SwitchRule(
                values["max_score"], values["window"] or 1000, values["min_steps"] or 0, values["max_steps"]
            )
        )
        scoring = _scoring_function(
            values["scoring"], (*path, "scoring"), ctx, f"{name} stage {i + 1}", scorer, cache_size
        )
        out.append(Stage(values["name"] or f"stage {i + 1}", scoring, rule))
    return StagedScoring(name, out, scorer=scorer)


def scoring_file_objective(
    path: str, scorer: MoleculeScorer | None = None, **kwargs: Any
) -> ScoringFunction | StagedScoring:
    """The ``"file:<path>"`` objective family (registered in :mod:`.objectives`)."""
    if kwargs:
        raise ValueError(f"a scoring file objective takes no options, got {sorted(kwargs)}")
    return load_scoring_file(path.strip(), scorer=scorer)


__all__ = [
    "SCORING_FILE_PREFIX",
    "ScoringFileError",
    "format_key",
    "load_scoring_file",
    "read_scoring_data",
    "scoring_file_objective",
]
