"""``seqtutor score --scoring FILE molecules.smi --out scores.csv``: check an objective on molecules before training.

Every molecule of the file gets a row: its SMILES as given, whether RDKit reads it, the score, and each
component's transformed value and raw value (``<name>``, ``<name> (raw)``, as REINVENT 4's scoring run
writes them). The distinct strings are split into chunks scored by ``--workers`` processes, each with
its own copy of the scoring function read from the file; the rows are the same with any number of workers.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .run_folder import ConfigError

#: Chunks per worker: small enough to even out slow molecules, large enough to keep round trips few.
CHUNKS_PER_WORKER = 4
_WORKER: Any = None  # the scoring function of a worker process


def _table(objective: Any, smiles: Sequence[str]) -> Any:
    """The :class:`~seqtutor_envs.smiles.scoring_function.ScoreTable` of the objective's current stage."""
    from seqtutor_envs.smiles.stages import StagedScoring

    scoring = objective.current.scoring if isinstance(objective, StagedScoring) else objective
    return scoring.evaluate(smiles)


def _load(scoring: str, stage: int) -> Any:
    from seqtutor_envs.smiles.scoring_file import load_scoring_file
    from seqtutor_envs.smiles.stages import StagedScoring

    objective = load_scoring_file(scoring)
    if isinstance(objective, StagedScoring):
        objective.set_stage(stage)
    elif stage != 1:
        raise ValueError(f"--stage {stage}: {scoring} has no [[stage]] tables")
    return objective


def _start_worker(scoring: str, stage: int) -> None:
    global _WORKER
    _WORKER = _load(scoring, stage)


def _score_chunk(smiles: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A chunk scored in a worker process, by the scoring function :func:`_start_worker` read there."""
    return _score_chunk_with(_WORKER, smiles)


def score_molecules(scoring: str, smiles: Sequence[str], workers: int = 1, stage: int = 1) -> Any:
    """Score ``smiles`` with a scoring file, in ``workers`` processes; returns a ``ScoreTable`` in input order.

    :raises ScoringFileError: the scoring file is bad. :raises ValueError: ``stage`` does not exist.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from seqtutor_envs.smiles.scoring_function import ScoreTable

    objective = _load(scoring, stage)  # checked here, once, before any worker starts
    distinct = list(dict.fromkeys(smiles))
    if workers <= 1 or len(distinct) < 2:
        parts = [_score_chunk_with(objective, distinct)]
    else:
        size = math.ceil(len(distinct) / (workers * CHUNKS_PER_WORKER))
        chunks = [distinct[i : i + size] for i in range(0, len(distinct), size)]
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        with ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context(method),
            initializer=_start_worker,
            initargs=(scoring, stage),
        ) as pool:
            parts = list(pool.map(_score_chunk, chunks))
    valid, score, raw, transformed = (np.concatenate([p[i] for p in parts]) for i in range(4))
    row = {s: i for i, s in enumerate(distinct)}
    order = np.array([row[s] for s in smiles], dtype=np.int64)
    names = _table(objective, []).names
    return ScoreTable(names, valid[order], score[order], raw[order], transformed[order])


def _score_chunk_with(objective: Any, smiles: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    table = _table(objective, smiles)
    return table.valid, table.score, table.raw, table.transformed


def scores_csv(smiles: Sequence[str], table: Any) -> str:
    """The CSV text of a scored batch: smiles, valid, score, then ``<name>`` and ``<name> (raw)`` per component."""
    stream = io.StringIO()
    writer = csv.writer(stream)
    writer.writerow(["smiles", "valid", "score", *(f for name in table.names for f in (name, f"{name} (raw)"))])
    for i, s in enumerate(smiles):
        values = [v for j in range(len(table.names)) for v in (table.transformed[i, j], table.raw[i, j])]
        writer.writerow([s, int(table.valid[i]), repr(float(table.score[i])), *(_cell(v) for v in values)])
    return stream.getvalue()


def _cell(value: float) -> str:
    return "" if math.isnan(value) else repr(float(value))


def score_command(args: Any) -> None:
    """The CLI job: read the molecules, score them, write the CSV (every failure a one-line :class:`ConfigError`)."""
    from seqtutor_envs.io import atomic_write_text
    from seqtutor_envs.smiles.corpus import SmilesFileError, read_smiles_file
    from seqtutor_envs.smiles.scoring_file import ScoringFileError

    from .outputs import output_folder, writing

    workers = (os.cpu_count() or 1) if args.workers is None else args.workers
    if workers < 1 or args.stage < 1:
        raise ConfigError(f"--workers and --stage must be >= 1, got {workers} and {args.stage}")
    out = Path(args.out)
    if out.is_dir():
        raise ConfigError(f"--out {out}: is a folder; give a CSV file name")
    output_folder(out.parent, flag="the folder of --out")
    try:
        smiles = read_smiles_file(args.molecules)
        table = score_molecules(args.scoring, smiles, workers=workers, stage=args.stage)
    except FileNotFoundError as exc:
        raise ConfigError(f"MOLECULES: {exc}") from None
    except (ScoringFileError, SmilesFileError, ValueError) as exc:
        raise ConfigError(str(exc)) from None
    with writing(out.parent):
        atomic_write_text(out, scores_csv(smiles, table))
    print(
        f"{len(smiles):,} molecules ({int(table.valid.sum()):,} valid, mean score {table.score.mean():.4f}) scored "
        f"with {args.scoring} by {workers} worker(s): {out}"
    )
