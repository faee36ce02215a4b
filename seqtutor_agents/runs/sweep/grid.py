"""A sweep's trials (algorithm x setting x seed) and their run folders: names, finished results, reruns."""

from __future__ import annotations

import itertools
import json
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

RESULT_FILE = "trial_result.json"
SAMPLES_FILE = "samples.txt"  # a trial's evaluated sequences, one per line (a SMILES, or tokens separated by spaces)


class SweepFolderError(ValueError):
    """A sweep would silently redo or replace finished work (the command lines print it and exit 2)."""


def trial_folder(trial: dict[str, Any]) -> Path:
    """The run folder of a trial (PMO trials are named after their oracle too, and their early stop if on)."""
    folder = Path(trial["runs"]) / trial_name(trial)
    if trial.get("kind") == "pmo":
        folder = folder.with_name(f"{trial['oracle']}_{folder.name}")
        if trial.get("early_stop_patience") is not None:  # another stopping rule: other results, another folder
            folder = with_early_stop(folder, trial["early_stop_patience"])
    return folder


def with_early_stop(folder: Path, patience: int) -> Path:
    """The folder of the same PMO trial as ``folder`` (run without an early stop), run with REINVENT's at
    ``patience``.
    """
    return folder.with_name(f"{folder.name}_es{patience}")


def finished_rows(trials: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """The result rows of the trials that finished (their run folder holds a result), and how many have not.

    Reads a sweep that is still running or was stopped part-way, without running anything.
    """
    rows, missing = [], 0
    for trial in trials:
        done = trial_folder(trial) / RESULT_FILE
        if done.is_file():
            rows.append(json.loads(done.read_text()))
        else:
            missing += 1
    return rows, missing


def check_sweep_folder(
    trials: list[dict[str, Any]], resume: bool, overwrite: bool, ray_folder: Path | None = None
) -> None:
    """Refuse to start a sweep over trials that already exist unless ``resume`` or ``overwrite`` says what to do.

    :param ray_folder: Tune's experiment folder of the sweep (Ray backend).
    :raises SweepFolderError: existing trial folders (or a Tune experiment) and neither flag.
    """
    if resume and overwrite:
        raise SweepFolderError("--resume keeps finished trials and --overwrite replaces them: pass one, not both")
    existing = [trial_folder(t) for t in trials if trial_folder(t).exists()]
    ray_exists = ray_folder is not None and Path(ray_folder).exists()
    if (existing or ray_exists) and not (resume or overwrite):
        where = existing[0] if existing else ray_folder
        raise SweepFolderError(
            f"this sweep has run before: {len(existing)} of its {len(trials)} trial folders exist (e.g. {where})"
            f"{' and a Tune experiment at ' + str(ray_folder) if ray_exists else ''}. Pass --resume to keep finished "
            "trials and run the rest, or --overwrite to run every trial again"
        )
    if overwrite:
        for folder in existing:
            (folder / RESULT_FILE).unlink(missing_ok=True)
        if ray_exists and ray_folder is not None:  # (ray_exists implies the folder: said again for mypy)
            shutil.rmtree(ray_folder, ignore_errors=True)


def trial_name(trial: dict[str, Any]) -> str:
    """A readable, unique folder name of a trial."""
    setting = f"kl{trial['target_kl']:g}" if trial.get("target_kl") is not None else ""
    setting += f"c{trial['c']:g}" if trial.get("c") is not None else ""

    def part(key: str, value: Any) -> str:  # a dict value (e.g. replay_buffer_kwargs) by its items, no braces
        if isinstance(value, dict):  # an empty one (genetic={}: the GA's defaults) by its key, so that it shows
            return "".join(part(k, v) for k, v in sorted(value.items())) if value else f"_{key}"
        return f"_{key}{value}"

    extra = "".join(part(k, v) for k, v in sorted((trial.get("algo_kwargs") or {}).items()))
    extra += "".join(part(k, v) for k, v in sorted((trial.get("env_kwargs") or {}).items()))
    extra += f"_envs{trial['n_envs']}" if trial.get("n_envs") is not None else ""  # the table's when unnamed
    return f"{trial['algo']}_{setting}{extra}_s{trial['seed']}".replace("/", "-").replace(" ", "")


def make_trials(
    env_id: str, algos: Iterable[str], settings: Iterable[dict[str, Any]], seeds: Iterable[int], **common: Any
) -> list[dict[str, Any]]:
    """The grid: every algorithm x setting (a dict of c / target_kl / algo_kwargs / env_kwargs) x seed."""
    return [
        {"env_id": env_id, "algo": a, "seed": s, "c": None, "target_kl": None, **setting, **common}
        for a, setting, s in itertools.product(algos, settings, seeds)
    ]
