"""Command-line options generated from a dataclass config: each field once, its comment as the help.

A config is written once, CleanRL/nanoGPT style -- a dataclass with a comment per field -- and the
command line follows from it: ``--field-name`` per field (or an alias), typed from the annotation,
with the field's trailing comment as its help text. ``dict`` fields take repeated ``KEY=VALUE``
options (values read as JSON when they parse, else as strings).

Options that were not given stay :data:`UNSET` after parsing, so a caller can tell "left at the
default" from "given with the default value" (``--resume`` refuses settings that conflict with
the run's own, and must not confuse the two).
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import io
import json
import tokenize
import types
import typing
from collections.abc import Callable
from typing import Any, Union


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


def field_comments(cls: type) -> dict[str, str]:
    """The ``# comment`` of each field in a dataclass's source, by field name.

    A comment that does not fit on the field's line continues on the lines of its value (inside its
    brackets): all the field's comment lines are joined, with single spaces.
    """
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):  # no source (frozen app): options simply have no help text
        return {}
    names = {f.name for f in dataclasses.fields(cls)}
    lines: dict[str, list[str]] = {}
    current: str | None = None
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.NAME and tok.start[1] == 4 and tok.string in names:
            current = tok.string  # a field definition at class-body indentation
        elif tok.type == tokenize.COMMENT and current is not None:
            lines.setdefault(current, []).append(tok.string.lstrip("#").strip())
        elif tok.type == tokenize.NEWLINE:
            current = None
    return {name: " ".join(parts) for name, parts in lines.items()}


def _base_type(annotation: Any) -> tuple[Any, bool]:
    """``(type, optional)`` of an annotation such as ``float | None``."""
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return (args[0] if len(args) == 1 else str), len(args) < len(typing.get_args(annotation))
    return annotation, False


def parse_int(text: str) -> int:
    """An integer, also written ``200_000`` or ``2e5``."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not value.is_integer():
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}")
    return int(value)


def parse_positive_int(text: str) -> int:
    """An integer >= 1 (``-n``)."""
    value = parse_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value


def parse_count(text: str) -> int:
    """An integer >= 0 (``--resample``, ``--media``)."""
    value = parse_int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def parse_seed(text: str) -> int:
    """A seed: an integer in [0, 2**32)."""
    value = parse_int(text)
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"must be in [0, 2**32), got {text}")
    return value


def parse_path(text: str) -> str:
    """A path that names something (``--out ''`` would mean the current folder, or nothing)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"must name a file or folder, got {text!r}")
    return text


def parse_float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def parse_key_value(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with VALUE read as JSON when it parses (``gamma=0.9``, ``net=[64, 64]``), else a string."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    if not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE with a non-empty KEY, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


class _AppendKeyValue(argparse.Action):
    """Collect repeated ``KEY=VALUE`` options into a dict (starting from UNSET, which append cannot)."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        current = getattr(namespace, self.dest, UNSET)
        items = {} if current is UNSET else dict(current)
        key, value = values
        items[key] = value
        setattr(namespace, self.dest, items)


def option_name(field_name: str) -> str:
    return "--" + field_name.replace("_", "-")


def add_dataclass_arguments(
    parser: argparse.ArgumentParser,
    cls: type,
    flags: dict[str, str] | None = None,
    choices: dict[str, tuple[str, ...]] | None = None,
) -> None:
    """Add one option per field of dataclass ``cls``; unset options parse to :data:`UNSET`.

    :param flags: option names overriding ``--field-name`` (e.g. ``{"env_id": "--env"}``).
    :param choices: allowed values per field (listed in the help; checked by the config itself).
    """
    hints = typing.get_type_hints(cls)
    comments = field_comments(cls)
    flags, choices = flags or {}, choices or {}
    for f in dataclasses.fields(cls):
        kind, _ = _base_type(hints[f.name])
        flag = flags.get(f.name, option_name(f.name))
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        help_text = comments.get(f.name, "")
        if f.name in choices:
            help_text += f" ({', '.join(choices[f.name])})"
        if not required:
            default: Any = f.default
            if f.default_factory is not dataclasses.MISSING:  # a field has a default or a factory, never both
                default = f.default_factory()
            help_text += f" [default: {default}]" if default not in ({}, None) else ""
        common: dict[str, Any] = {"dest": f.name, "help": help_text, "default": UNSET}
        if typing.get_origin(kind) is dict or kind is dict:
            parser.add_argument(flag, type=parse_key_value, action=_AppendKeyValue, metavar="KEY=VALUE", **common)
        elif kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, **common)
        else:
            parse: Callable[[str], Any] = {int: parse_int, float: parse_float}.get(kind, str)
            parse = parse_path if f.name == "out" else parse
            parser.add_argument(flag, type=parse, required=required, metavar=f.name.upper(), **common)


def explicit_values(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The fields of ``cls`` that were given on the command line."""
    given = {}
    for f in dataclasses.fields(cls):
        value = getattr(args, f.name, UNSET)
        if value is not UNSET:
            given[f.name] = value
    return given
