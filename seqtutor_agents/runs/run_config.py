"""A run as a TOML file: ``config.toml`` beside every run's ``config.json``, and ``seqtutor train --config``.

REINVENT 4 describes runs in TOML, rl-zoo3 in YAML; here a run's ``config.toml`` holds every
:class:`~seqtutor_agents.runs.config.TrainConfig` field that is set (TOML has no null: unset fields are
left out and take their defaults), with ``env_kwargs`` and ``algo_kwargs`` as tables, so that
``seqtutor train --config runs/x/config.toml --out runs/y`` runs the same experiment again.

An experiment's file in ``configs/`` (the demo, Table 1, the frontier, PMO) holds the same fields in a
``[train]`` table beside a ``[benchmark]`` table of its script's own options (``benchmarks/common.py``
reads both); ``seqtutor train --config`` reads the ``[train]`` table and leaves the other alone.
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any

import tomllib

from .config import TrainConfig
from .config_args import _base_type
from .run_folder import ConfigError

HEADER = (
    "# seqtutor run: every setting of this run (TrainConfig). Re-run it with\n"
    "#   seqtutor train --config config.toml --out NEW_FOLDER\n"
)


def _tomlable(value: Any) -> Any:
    """``value`` with what TOML cannot hold (None in a table, live objects) left out or named."""
    if isinstance(value, dict):
        return {str(k): _tomlable(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_tomlable(v) for v in value]
    if isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)  # e.g. an Objective object given through the Python API: recorded by name, not re-runnable


def config_toml(config: TrainConfig) -> str:
    """The TOML text of a config (fields that are None are left out)."""
    import tomli_w

    fields = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    return HEADER + tomli_w.dumps(_tomlable({k: v for k, v in fields.items() if v is not None}))


#: The largest --config file read (a run's config.toml is a few hundred bytes).
MAX_TOML_BYTES = 4 * 2**20
_TYPE_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string", dict: "a table"}


#: The tables of an experiment's file in configs/: the run's fields, and its benchmark script's options.
EXPERIMENT_TABLES = ("train", "benchmark")


def read_toml_file(path: str | Path) -> dict[str, Any]:
    """The contents of a ``--config`` TOML file.

    :raises ConfigError: the file is missing, a folder, too large or not TOML (nested too deeply included).
    """
    path = Path(path)
    try:
        if path.is_dir():
            raise ConfigError(f"--config {path}: is a folder, not a TOML file")
        if path.stat().st_size > MAX_TOML_BYTES:
            raise ConfigError(
                f"--config {path}: {path.stat().st_size:,} bytes; a config file may have at most "
                f"{MAX_TOML_BYTES:,} (the limit)"
            )
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"--config {path}: no such file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--config {path}: not valid TOML ({exc})") from None
    except RecursionError:
        raise ConfigError(f"--config {path}: nested too deeply to read; refused") from None
    except OSError as exc:
        raise ConfigError(f"--config {path}: cannot read it ({exc.strerror or exc})") from None
    return data


def read_config_toml(path: str | Path) -> dict[str, Any]:
    """The TrainConfig fields of a TOML file (a run's ``config.toml``, or the ``[train]`` table of an
    experiment's file in ``configs/``), each of its field's type.

    :raises ConfigError: as :func:`read_toml_file`, or the file names a field TrainConfig does not have, or
        gives one a value of another type, or is an experiment's file without a ``[train]`` table.
    """
    path = Path(path)
    data = read_toml_file(path)
    if set(data) & set(EXPERIMENT_TABLES) and all(
        isinstance(data[k], dict) for k in set(data) & set(EXPERIMENT_TABLES)
    ):
        others = sorted(set(data) - set(EXPERIMENT_TABLES))
        if others:
            raise ConfigError(
                f"--config {path}: unknown table(s) {', '.join(others)}; an experiment's file has "
                f"{' and '.join(EXPERIMENT_TABLES)}"
            )
        if "train" not in data:
            raise ConfigError(
                f"--config {path}: no [train] table (its [benchmark] table is a benchmark "
                "script's settings, not a run's)"
            )
        data = data["train"]
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(
            f"--config {path}: unknown setting(s) {', '.join(unknown)}; TrainConfig has {', '.join(sorted(known))}"
        )
    _check_types(data, path)
    return data


def _check_types(data: dict[str, Any], path: Path) -> None:
    """Each value of the type its TrainConfig field has (TOML ``log_sequences = "no"`` is a string, not false)."""
    hints = typing.get_type_hints(TrainConfig)
    for key, value in data.items():
        kind, _ = _base_type(hints[key])
        kind = typing.get_origin(kind) or kind
        fits = {
            bool: isinstance(value, bool),
            int: isinstance(value, int) and not isinstance(value, bool),
            float: isinstance(value, (int, float)) and not isinstance(value, bool),
            str: isinstance(value, str),
            dict: isinstance(value, dict),
        }.get(kind, True)
        if not fits:
            raise ConfigError(
                f"--config {path}: {key} must be {_TYPE_NAMES[kind]}, got {value!r} ({type(value).__name__})"
            )
