"""Helpers shared by the benchmark scripts: machine description and result files.

Every results page is written by :func:`write_results`: a title, the machine line (CPU model, cores, torch
threads and kernels, Python/torch/numpy versions, the date in UTC and the command line), then the body.
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import io
import os
import platform
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from seqtutor_agents.runs.run_config import EXPERIMENT_TABLES, read_toml_file
from seqtutor_agents.runs.run_folder import ConfigError
from seqtutor_envs.io import atomic_write_text

RESULTS_DIR = Path(__file__).resolve().parent / "results"
REPO_ROOT = RESULTS_DIR.parent.parent
#: The experiments' settings: ``[train]`` (TrainConfig fields, as ``seqtutor train --config`` reads them) and
#: ``[benchmark]`` (the script's other options), the defaults of the scripts that run them.
CONFIGS_DIR = REPO_ROOT / "configs"


def repo_relative(path: Path) -> str:
    """``path`` relative to the repository when inside it (as results files name it), else as given."""
    path = Path(path)
    return (
        str(path.relative_to(REPO_ROOT))
        if path.resolve().is_relative_to(REPO_ROOT) and path.is_absolute()
        else str(path)
    )


def machine_description() -> dict[str, str]:
    """CPU model, core count, torch threads and library versions of this run."""
    import numpy
    import torch

    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "torch_threads": str(torch.get_num_threads()),
        # the vector kernels torch dispatches to here (sweep trials pin AVX2: seqtutor_agents.runs.sweep.AVX2_KERNELS)
        "cpu_kernels": torch.backends.cpu.get_cpu_capability(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        # `python -m benchmarks.x` makes argv[0] an absolute path: named from the repository, as results files do
        "command": " ".join([repo_relative(Path(sys.argv[0])), *sys.argv[1:]]),
    }


def machine_markdown(machine: dict[str, str]) -> str:
    return (
        f"Machine: {machine['cpu']}, {machine['cores']} CPU cores (torch threads: {machine['torch_threads']}, "
        f"this process's torch kernels: {machine.get('cpu_kernels', 'not recorded')}), "
        f"Python {machine['python']}, torch {machine['torch']}, numpy {machine['numpy']}. "
        f"Run {machine['date']} with `{machine['command']}`."
    )


def results_text(title: str, body: str, machine: dict[str, str] | None = None) -> str:
    """A results page: ``# title``, the machine line, then ``body`` (ending in one newline at least).

    :param machine: :func:`machine_description` taken earlier (a script that times a run takes it before,
        so the date is the run's start); ``None`` takes it now.
    """
    line = machine_markdown(machine or machine_description())
    return f"# {title}\n\n{line}\n\n{body}" + ("" if body.endswith("\n") else "\n")


def write_results(path: Path, title: str, body: str, machine: dict[str, str] | None = None) -> str:
    """Write :func:`results_text` to ``path`` (atomically) and return it."""
    text = results_text(title, body, machine)
    write_text(Path(path), text)
    return text


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A markdown table; a row whose length is not the header's is refused (its cells would sit under
    the wrong column names)."""
    for row in rows:
        if len(row) != len(header):
            raise ValueError(f"a table row has {len(row)} cells for {len(header)} columns: {list(row)[:3]}...")
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    stream = io.StringIO()
    writer = csv.writer(stream)
    writer.writerow(header)
    writer.writerows(rows)
    atomic_write_text(path, stream.getvalue())


def write_text(path: Path, text: str) -> None:
    atomic_write_text(path, text)


def training_chain(meta: dict[str, Any]) -> list[dict[str, Any]]:
    """A prior's training runs, oldest first: itself and the runs it was warm-started from."""
    chain, node = [], meta
    while node:
        chain.insert(0, node)
        node = node.get("warm_started_from")
    return chain


def total_training_minutes(meta: dict[str, Any]) -> float:
    """Wall-clock minutes over all of a prior's training runs (resumed runs count their earlier parts)."""
    return sum(float((run.get("training") or {}).get("minutes", 0.0)) for run in training_chain(meta))


def parse_args(
    parser: argparse.ArgumentParser,
    shipped: Path,
    fixed: dict[str, Any] | None = None,
    argv: Sequence[str] | None = None,
) -> argparse.Namespace:
    """The script's options, defaults from ``shipped`` (a file in ``configs/``), then ``--config``'s file over
    them, then the command line over both.

    :param fixed: ``[train]`` fields the script does not take as options (e.g. its env id): a file may
        name them only with these values.
    """
    parser.add_argument(
        "--config",
        metavar="FILE.toml",
        default=None,
        help=f"settings over those of {repo_relative(shipped)} (options given here win)",
    )
    parser.set_defaults(**config_defaults(parser, shipped, fixed))
    early = argparse.ArgumentParser(add_help=False)
    early.add_argument("--config", default=None)
    given, _ = early.parse_known_args(argv)
    if given.config:
        parser.set_defaults(**config_defaults(parser, Path(given.config), fixed))
    return parser.parse_args(argv)


def config_defaults(parser: argparse.ArgumentParser, path: Path, fixed: dict[str, Any] | None = None) -> dict[str, Any]:
    """The options a ``configs/`` file sets, each checked and converted as the option's parser would;
    a bad file exits 2 with one line naming the file and the setting."""
    try:
        data = read_toml_file(path)
    except ConfigError as exc:
        parser.error(str(exc))
    tables = sorted(set(data) - set(EXPERIMENT_TABLES))
    if tables or not all(isinstance(v, dict) for v in data.values()):
        parser.error(
            f"--config {path}: {', '.join(tables) or 'a setting outside a table'} is not one of its "
            f"tables ({', '.join(EXPERIMENT_TABLES)})"
        )
    values = dict(data.get("train", {}))
    for key, value in (fixed or {}).items():
        if key in values and values.pop(key) != value:
            parser.error(f"--config {path}: {key} must be {value!r} for {parser.prog}")
    values.update(data.get("benchmark", {}))
    actions = {a.dest: a for a in parser._actions if a.dest not in ("help", "config")}
    for key, value in values.items():
        if key not in actions:
            parser.error(f"--config {path}: unknown setting {key!r}; {parser.prog} takes {', '.join(sorted(actions))}")
        values[key] = _option_value(parser, actions[key], value, path)
    return values


def _option_value(parser: argparse.ArgumentParser, action: argparse.Action, value: Any, path: Path) -> Any:
    """``value`` as the option's parser would give it (its type applied to each item), or exit 2 naming it."""
    many = action.nargs in ("*", "+")
    if action.nargs == 0:  # a flag
        if not isinstance(value, bool):
            parser.error(f"--config {path}: {action.dest} must be true or false, got {value!r}")
        return value
    if many != isinstance(value, list):
        parser.error(f"--config {path}: {action.dest} must be {'a list' if many else 'one value'}, got {value!r}")
    convert = action.type or (lambda text: text)
    try:
        items = [convert(v if isinstance(v, str) else str(v)) for v in (value if many else [value])]
    except (ValueError, TypeError, argparse.ArgumentTypeError) as exc:
        kind = {int: "an integer", float: "a number"}.get(action.type)  # type: ignore[call-overload]
        parser.error(f"--config {path}: {action.dest} = {value!r}: " + (f"expected {kind}" if kind else str(exc)))
    if action.choices is not None and any(v not in action.choices for v in items):
        parser.error(f"--config {path}: {action.dest} = {value!r}: choose from {', '.join(map(str, action.choices))}")
    return items if many else items[0]


def typed_cell(value: str) -> Any:
    """A results-CSV cell back as the int or float :func:`benchmarks.sweep.fmt` wrote, else the string."""
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value
