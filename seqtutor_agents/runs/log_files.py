"""A run's ``sequences.csv`` on resume: the rows its checkpoint counted, verified by checksum, or salvaged
with a warning.

Every checkpoint records what ``sequences.csv`` held when it was written -- its bytes, their
SHA-256, its header and its rows (:meth:`~seqtutor_agents.runs.callbacks.SequenceLog.facts`); the
rows of the checkpoint's own step are written before it. On ``--resume`` the file is cut back to
exactly those bytes when they are intact, which drops the rows logged after the checkpoint and
before the stop (a kill may leave a cut row there). When they are not -- the file was damaged,
edited, or its checkpoint is of a release that recorded nothing -- the file is parsed instead and
only its well-formed prefix is kept: the header the run writes, then rows with every field, whose
``episode`` counts up from 0 and whose ``step`` is at most the checkpoint's. A header that is not
a sequences log is moved aside (``sequences.damaged-<time>.csv``) and a new log begins. Anything
dropped is named in a warning.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqtutor_envs.io import atomic_write_bytes

from .safe_paths import MAX_LOG_BYTES, read_run_bytes

#: Columns every sequences log has.
REQUIRED_COLUMNS = ("episode", "step")


@dataclass
class KeptLog:
    """What a resumed log continues from."""

    content: bytes  # the file's bytes to keep
    fields: list[str] | None  # its header (None: a new file)
    rows: int  # rows kept (the next episode index)


def restore_log(path: Path, facts: dict[str, Any] | None, step: int) -> KeptLog:
    """Cut ``path`` back to what its checkpoint (``facts``, at env step ``step``) counted; see the module docstring."""
    content = read_run_bytes(path.parent, path.name, MAX_LOG_BYTES, missing_ok=True)
    if content is None:
        if facts and facts.get("rows"):
            warnings.warn(
                f"{path} is missing; its checkpoint counted {facts['rows']:,} rows: a new log begins", stacklevel=3
            )
        return KeptLog(b"", None, 0)
    if _intact(content, facts):
        kept = KeptLog(content[: facts["bytes"]], list(facts["fields"]) or None, int(facts["rows"]))  # type: ignore[index]
    else:
        kept = _salvage(path, content, facts, step)
    if not kept.content:
        path.unlink(missing_ok=True)  # nothing counted (or moved aside): the log starts again with its header
    elif kept.content == content[: len(kept.content)]:
        os.truncate(path, len(kept.content))  # a prefix: cut in place (no rewrite of a long log)
    else:
        atomic_write_bytes(path, kept.content)
    return kept


def _intact(content: bytes, facts: dict[str, Any] | None) -> bool:
    if (
        not isinstance(facts, dict)
        or not isinstance(facts.get("bytes"), int)
        or not isinstance(facts.get("fields"), list)
    ):
        return False
    size = facts["bytes"]
    return len(content) >= size and hashlib.sha256(content[:size]).hexdigest() == facts.get("sha256")


def _salvage(path: Path, content: bytes, facts: dict[str, Any] | None, step: int) -> KeptLog:
    """The well-formed prefix of a log whose bytes its checkpoint does not vouch for."""
    text = content.decode("utf-8", errors="replace")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
    except csv.Error:
        header = None
    expected = facts.get("fields") if isinstance(facts, dict) else None
    if not header or not set(REQUIRED_COLUMNS) <= set(header) or (expected and header != expected):
        aside = path.with_name(f"sequences.damaged-{time.strftime('%Y%m%d-%H%M%S')}.csv")
        os.replace(path, aside)
        warnings.warn(
            f"{path} is not this run's sequences log (header {header!r}): moved to {aside.name}; a new log begins",
            stacklevel=4,
        )
        return KeptLog(b"", None, 0)
    index = {name: header.index(name) for name in REQUIRED_COLUMNS}
    kept: list[list[str]] = []
    problem = None
    try:
        for row in reader:
            problem = _what_is_wrong(row, header, index, len(kept))
            if problem is not None or int(row[index["step"]]) > step:
                break  # a damaged row, or the first row logged after the checkpoint: the prefix ends here
            kept.append(row)
    except csv.Error as exc:
        problem = f"unreadable CSV ({exc})"
    total = text.count("\n") - 1
    if problem or facts:
        warnings.warn(
            f"{path} does not match what its checkpoint recorded{'' if facts else ' (none)'}"
            f"{': ' + problem if problem else ''}; kept its first {len(kept):,} well-formed rows of "
            f"about {max(total, 0):,}",
            stacklevel=4,
        )
    stream = io.StringIO()
    writer = csv.writer(stream, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(kept)
    return KeptLog(stream.getvalue().encode("utf-8"), header, len(kept))


def _what_is_wrong(row: list[str], header: list[str], index: dict[str, int], episode: int) -> str | None:
    """Why a row cannot be kept (None: it is whole and numbered in order)."""
    if len(row) != len(header):
        return f"row {episode + 1} has {len(row)} fields, the header {len(header)} (a cut or damaged row)"
    try:
        number = int(row[index["episode"]])
        int(row[index["step"]])
    except ValueError:
        return f"row {episode + 1} has a non-integer episode or step"
    return None if number == episode else f"row {episode + 1} is numbered episode {number}"
