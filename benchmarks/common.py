"""Helpers shared by the benchmark scripts: machine description and result files.

Every results page is written by :func:`write_results`: a title, the machine line (CPU model, cores, torch
threads and kernels, Python/torch/numpy versions, the date in UTC and the command line), then the body.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import os
import platform
import sys
from pathlib import Path
from typing import Any, Sequence

from seqtutor_envs.io import atomic_write_text

RESULTS_DIR = Path(__file__).resolve().parent / "results"
REPO_ROOT = RESULTS_DIR.parent.parent


def repo_relative(path: Path) -> str:
    """``path`` relative to the repository when inside it (as results files name it), else as given."""
    path = Path(path)
    return str(path.relative_to(REPO_ROOT)) if path.resolve().is_relative_to(REPO_ROOT) and path.is_absolute() else str(path)


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
