"""A run's prior, identified by its file's SHA-256, and the paths a run records (absolute, or relative to the run).

A run records paths in ``config.json`` and ``config.toml``. A relative path there would be read
relative to whatever folder a later ``evaluate`` runs in -- another file of the same name, and
silently wrong figures. So ``train`` records every path absolute (:func:`absolute_paths`), a
path a run folder records relative is read relative to the run folder (runs of earlier releases,
:func:`run_relative_paths`), and the prior the run was trained with is identified by its SHA-256
(``resolved.prior_sha256``): every later load of the run checks the prior it would use against it
and refuses another file, naming it (:func:`check_prior`).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from .run_folder import ConfigError, _sha256
from .safe_paths import inside

#: Env settings that name a file.
PATH_KWARGS = ("prior_path",)


def absolute_paths(env_kwargs: dict[str, Any], base: Path | None = None) -> dict[str, Any]:
    """``env_kwargs`` with each relative file path made absolute against ``base`` (the current folder)."""
    kwargs = dict(env_kwargs)
    for key in PATH_KWARGS:
        value = kwargs.get(key)
        if isinstance(value, str) and value and not Path(value).is_absolute():
            kwargs[key] = str((base or Path.cwd()) / value)
    return kwargs


def run_relative_paths(data: dict[str, Any], run: Path) -> dict[str, Any]:
    """A run's ``config.json`` data with each relative path in ``env_kwargs`` read relative to the run folder.

    :raises ConfigError: such a path leads outside the run folder.
    """
    kwargs = data.get("env_kwargs")
    if not isinstance(kwargs, dict):
        return data
    data = copy.copy(data)
    data["env_kwargs"] = dict(kwargs)
    for key in PATH_KWARGS:
        value = kwargs.get(key)
        if isinstance(value, str) and value and not Path(value).is_absolute():
            try:
                data["env_kwargs"][key] = str(inside(run, value))
            except ConfigError as exc:
                raise ConfigError(
                    f"{run / 'config.json'}: {key} {value!r} is relative, so it is read relative to the "
                    f"run folder, but {exc}"
                ) from None
    return data


def prior_record(prior_path: str | Path) -> dict[str, str]:
    """What a run records of its prior: the absolute path and the file's SHA-256."""
    path = Path(prior_path).resolve()
    return {"prior_path": str(path), "prior_sha256": _sha256(path)}


def check_prior(run: Path, recorded: dict[str, Any], prior_path: str | Path) -> None:
    """Refuse a prior file other than the one a run was trained with (by SHA-256; runs that recorded none pass).

    :param recorded: the run's ``config.json`` ``resolved`` entry.
    :param prior_path: the file the run's env loads now.
    """
    expected = recorded.get("prior_sha256") if isinstance(recorded, dict) else None
    if not isinstance(expected, str):
        return
    actual = _sha256(Path(prior_path))
    if actual != expected:
        raise ConfigError(
            f"{run}: the run was trained with the prior {recorded.get('prior_path')} (SHA-256 {expected[:16]}…), but "
            f"its settings now load {prior_path}, a different file (SHA-256 {actual[:16]}…); seqtutor will not "
            "evaluate or continue a run against another prior. Put the run's prior back at that path"
        )
