"""Reading a scoring file's tables: one-line errors naming the file, key, line and value; typed parameters.

A scoring file (:mod:`.scoring_file`) is data only. Every table of it is read through
:func:`read_params` against a declared :class:`Param` spec, so an unknown key, a missing one, a value
of the wrong type or out of range fails with a :class:`ScoringFileError` such as::

    examples/scoring/bad.toml, scoring.component[1].MolecularWeight.endpoint[0].weight (line 14): must be > 0, got -1

Key paths are dotted, arrays indexed from 0. ``tomllib`` gives no positions for keys, so
:func:`toml_key_lines` finds them with a small scanner of the TOML text (headers, ``key = value``
lines, the elements of multi-line arrays, strings and comments skipped); a key it cannot place is
named without a line. JSON files name the key only (``json`` gives positions for syntax errors alone).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

KeyPath = tuple[str | int, ...]
REQUIRED: Any = object()  # a Param default: the key must be given


class ScoringFileError(ValueError):
    """A scoring file that cannot be used: the message names the file, the key (and line) and the value."""


def format_key(path: KeyPath) -> str:
    """``("scoring", "component", 1, "QED")`` -> ``"scoring.component[1].QED"``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (("." if out else "") + str(part))
    return out or "(top level)"


@dataclass
class FileContext:
    """Where the values being read come from: the file's name and, for TOML, where each key sits."""

    path: str
    lines: dict[KeyPath, int] = field(default_factory=dict)

    def line_of(self, path: KeyPath) -> int | None:
        """The line of ``path``, else of its nearest enclosing key the scanner placed."""
        for end in range(len(path), 0, -1):
            line = self.lines.get(tuple(path[:end]))
            if line is not None:
                return line
        return None

    def error(self, path: KeyPath, problem: str, value: Any = REQUIRED) -> ScoringFileError:
        line = self.line_of(path)
        where = format_key(path) + (f" (line {line})" if line is not None else "")
        got = "" if value is REQUIRED else f", got {value!r}"
        return ScoringFileError(f"{self.path}, {where}: {problem}{got}")


# ------------------------------------------------------------------------------------------------
# Typed parameters
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    """One accepted key of a table.

    :param kind: ``number``, ``int``, ``bool``, ``str``, ``strings`` (a string or a list of them, read
        as a tuple), ``table`` (a mapping, checked by its reader).
    :param default: the value when absent (:data:`REQUIRED`: it must be given).
    :param check: ``f(value) -> problem or None`` for a further condition (a range, a parse).
    :param choices: the accepted strings (compared case-insensitively; the canonical spelling is returned).
    :param doc: what the parameter means (listed in errors and the docs).
    """

    kind: str
    default: Any = REQUIRED
    check: Callable[[Any], str | None] | None = None
    choices: tuple[str, ...] = ()
    doc: str = ""


def positive(value: float) -> str | None:
    return None if value > 0 else "must be > 0"


def at_least(bound: float) -> Callable[[float], str | None]:
    return lambda value: None if value >= bound else f"must be >= {bound:g}"


def in_unit_interval(value: float) -> str | None:
    return None if 0.0 <= value <= 1.0 else "must lie in [0, 1]"


def _typed(kind: str, value: Any) -> tuple[Any, str | None]:
    """``(value converted, problem)`` for one of :class:`Param`'s kinds."""
    if kind in ("number", "int"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return value, "must be a number" if kind == "number" else "must be an integer"
        if kind == "int" and (isinstance(value, float) or not float(value).is_integer()):
            return value, "must be an integer"
        if not math.isfinite(float(value)):
            return value, "must be a finite number"
        return (int(value) if kind == "int" else float(value)), None
    if kind == "bool":
        return value, None if isinstance(value, bool) else "must be true or false"
    if kind == "str":
        return value, None if isinstance(value, str) and value.strip() else "must be a non-empty string"
    if kind == "strings":
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not items or not all(isinstance(s, str) and s.strip() for s in items):
            return value, "must be a non-empty string or a non-empty list of them"
        return tuple(items), None
    if kind == "table":
        return value, None if isinstance(value, Mapping) else "must be a table"
    raise AssertionError(kind)


def read_params(table: Any, spec: Mapping[str, Param], path: KeyPath, ctx: FileContext) -> dict[str, Any]:
    """The values of ``table`` per ``spec`` (defaults filled in), or the first problem as a :class:`ScoringFileError`.

    :param table: the mapping read from the file.
    :param spec: accepted key -> :class:`Param`.
    :param path: the key path of ``table`` (for messages).
    """
    if not isinstance(table, Mapping):
        raise ctx.error(path, "must be a table", table)
    unknown = [k for k in table if k not in spec]
    if unknown:
        accepted = ", ".join(spec) or "none"
        raise ctx.error((*path, unknown[0]), f"unknown key (accepted here: {accepted})", table[unknown[0]])
    out: dict[str, Any] = {}
    for name, param in spec.items():
        key = (*path, name)
        if name not in table:
            if param.default is REQUIRED:
                raise ctx.error(key, "is required" + (f" ({param.doc})" if param.doc else ""))
            out[name] = param.default
            continue
        value, problem = _typed(param.kind, table[name])
        if problem is None and param.choices:
            match = [c for c in param.choices if c.lower() == str(value).lower()]
            problem = None if match else f"must be one of {', '.join(param.choices)}"
            value = match[0] if match else value
        if problem is None and param.check is not None:
            problem = param.check(value)
        if problem is not None:
            raise ctx.error(key, problem, table[name])
        out[name] = value
    return out


def lookup_key(name: str) -> str:
    """How component and transform names are matched, as REINVENT 4 does: case, ``_`` and ``-`` ignored."""
    return name.lower().replace("_", "").replace("-", "")


# ------------------------------------------------------------------------------------------------
# Where keys sit in a TOML text
# ------------------------------------------------------------------------------------------------

_HEADER = re.compile(r"^\s*(\[\[?)\s*(.+?)\s*(\]\]?)\s*$")
_KEY_VALUE = re.compile(
    r"""^\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*=(.*)$"""
)
_KEY_PART = re.compile(r"""[A-Za-z0-9_-]+|"[^"]*"|'[^']*'""")


def _key_parts(text: str) -> tuple[str, ...]:
    return tuple(p[1:-1] if p[0] in "\"'" else p for p in _KEY_PART.findall(text))


def _code(line: str) -> str:
    """``line`` with strings blanked (their length kept) and its comment cut: brackets inside SMARTS strings vanish."""
    out, quote, i = [], "", 0
    while i < len(line):
        ch = line[i]
        if quote:
            if ch == "\\" and quote == '"':
                out.append("  ")
                i += 2
                continue
            out.append(" " if ch != quote else ch)
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
            out.append(ch)
        elif ch == "#":
            break
        else:
            out.append(ch)
        i += 1
    return "".join(out)


class _Scanner:
    """The state of :func:`toml_key_lines` (the current table, arrays of tables, an open value array)."""

    def __init__(self) -> None:
        self.lines: dict[KeyPath, int] = {}
        self.table: KeyPath = ()
        self.counts: dict[KeyPath, int] = {}  # array of tables -> its last index
        self.array: KeyPath | None = None  # the key of a value array still open
        self.depth = 0
        self.index = 0
        self.expect_item = True

    def resolve(self, parts: tuple[str, ...]) -> KeyPath:
        out: list[str | int] = []
        for part in parts:
            out.append(part)
            if tuple(out) in self.counts:
                out.append(self.counts[tuple(out)])
        return tuple(out)

    def header(self, double: bool, parts: tuple[str, ...], lineno: int) -> None:
        if double:
            key = (*self.resolve(parts[:-1]), parts[-1])
            self.counts[key] = self.counts.get(key, -1) + 1
            self.table = (*key, self.counts[key])
        else:
            self.table = self.resolve(parts)
        self.lines.setdefault(self.table, lineno)

    def values(self, code: str, lineno: int) -> None:
        """Count the top-level elements of the open array on this line (its brackets, strings blanked)."""
        array = self.array
        assert array is not None  # the caller opened it
        for ch in code:
            if self.depth == 1 and self.expect_item and not ch.isspace() and ch not in ",]":
                self.lines.setdefault((*array, self.index), lineno)
                self.expect_item = False
            if ch in "[{":
                self.depth += 1
            elif ch in "]}":
                self.depth -= 1
                if self.depth == 0:
                    self.array = None
                    return
            elif ch == "," and self.depth == 1:
                self.index += 1
                self.expect_item = True


def toml_key_lines(text: str) -> dict[KeyPath, int]:
    """The line (from 1) of each table and key of a TOML text, keyed by resolved key path (best effort).

    Arrays of tables are indexed (``[[scoring.component]]`` twice gives ``scoring.component[0]`` and
    ``[1]``), and so are the elements of a value array written over several lines.
    """
    scan = _Scanner()
    for lineno, raw in enumerate(text.splitlines(), 1):
        code = _code(raw)
        if scan.array is not None:
            scan.values(code, lineno)
            continue
        header = _HEADER.match(code)
        if header and header.group(1) == header.group(3)[::-1].replace("]", "["):
            scan.header(len(header.group(1)) == 2, _key_parts(header.group(2)), lineno)
            continue
        pair = _KEY_VALUE.match(code)
        if pair:
            key = scan.table + _key_parts(pair.group(1))
            scan.lines.setdefault(key, lineno)
            value = pair.group(2).lstrip()
            if value.startswith("["):
                scan.array, scan.depth, scan.index, scan.expect_item = key, 0, 0, True
                scan.values(value, lineno)
    return scan.lines
