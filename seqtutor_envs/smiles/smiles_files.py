"""SMILES files a user gives: ``.smi``/``.txt`` lines or a ``.csv`` with a SMILES column, optionally gzipped.

Reading checks the bytes before anything else parses them, so a wrong file gets one line naming the
file and what is wrong (binary, not UTF-8 with the byte offset, a damaged gzip, no SMILES column).
"""

from __future__ import annotations

import csv
import gzip
import io
import os
from pathlib import Path

#: CSV header names read as the SMILES column (compared lower-cased, without spaces, ``_`` or ``-``).
SMILES_COLUMNS: tuple[str, ...] = ("smiles", "canonical_smiles", "isomeric_smiles")


def _column_key(name: str) -> str:
    return name.strip().lower().replace("_", "").replace(" ", "").replace("-", "")


class SmilesFileError(ValueError):
    """A SMILES file cannot be used: not UTF-8 text, not gzip, no SMILES column, no valid SMILES."""


def _smiles_from_csv_text(text: str, source: str = "CSV text") -> list[str]:
    """The SMILES column of CSV text with a header row (see :data:`SMILES_COLUMNS`).

    :param text: the CSV text.
    :param source: how messages name it (a file name).
    :raises SmilesFileError: no header column is a SMILES column (names the columns found).
    """
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None:
        return []
    accepted = {_column_key(name) for name in SMILES_COLUMNS}
    matches = [i for i, name in enumerate(header) if _column_key(name) in accepted]
    if not matches:
        raise SmilesFileError(
            f"{source} has no SMILES column: its header row has the columns {[h.strip() for h in header]}, and the "
            f"SMILES column must be named one of {list(SMILES_COLUMNS)} (any case; spaces, '_' and '-' ignored)"
        )
    col = matches[0]
    out = []
    for row in reader:
        if len(row) > col:
            s = row[col].strip()
            if s:
                out.append(s)
    return out


def _file_text(p: Path, gzipped: bool | None = None) -> str:
    """The UTF-8 text of a (possibly gzipped) file, or a :class:`SmilesFileError` naming the file and the bad byte.

    :param p: the file.
    :param gzipped: decompress it (None: when its name ends in ``.gz``).
    """
    try:
        data = p.read_bytes()
    except IsADirectoryError:
        raise SmilesFileError(f"{p} is a folder; expected a .smi/.csv file (optionally .gz) of SMILES") from None
    where = ""
    if gzipped is None:
        gzipped = p.suffix == ".gz"
    if gzipped:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as error:  # BadGzipFile is an OSError; a cut file raises EOFError
            raise SmilesFileError(f"{p} is not a readable gzip file ({error}); expected gzipped SMILES text") from None
        where = " of its decompressed content"
    nul = data.find(b"\0")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise SmilesFileError(
            f"{p} looks binary (a NUL byte at byte offset {nul}{where}, line {line}); expected a UTF-8 text file "
            "of SMILES"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        bad, line = data[error.start : error.start + 1], data.count(b"\n", 0, error.start) + 1
        raise SmilesFileError(
            f"{p} is not UTF-8 text: byte 0x{bad.hex()} at byte offset {error.start}{where} (line {line}) cannot be "
            f"decoded ({error.reason}); expected a UTF-8 file of SMILES (re-encode a Latin-1 file with e.g. "
            "`iconv -f latin1 -t utf-8`)"
        ) from None


def read_smiles_file(path: str | os.PathLike[str]) -> list[str]:
    """SMILES of a user file.

    ``.csv`` (optionally ``.csv.gz``): the column named ``smiles`` (any case; also ``canonical_smiles``,
    ``isomeric_smiles``, see :data:`SMILES_COLUMNS`); the first row is a header. Any other suffix
    (``.smi``, ``.txt``, optionally gzipped) is read as SMILES lines: the first whitespace-separated
    field of each line, skipping blank lines and lines starting with ``#``.

    :param path: the file.
    :raises FileNotFoundError: no file at ``path``.
    :raises SmilesFileError: the file is not UTF-8 text (names the byte offset), is binary, is a damaged
        gzip, is a CSV without a SMILES column, or holds no SMILES at all.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no SMILES file at {p}")
    text = _file_text(p)
    stem_suffix = Path(p.stem).suffix if p.suffix == ".gz" else p.suffix
    lines = text.splitlines()
    if stem_suffix.lower() == ".csv":
        out = _smiles_from_csv_text(text, str(p))
        if not out:
            raise SmilesFileError(
                f"no valid SMILES in {p} ({len(lines)} lines read, {max(len(lines) - 1, 0)} rejected: the file is "
                "empty or its SMILES column holds only blank cells)"
                if lines
                else f"no valid SMILES in {p} (0 lines read: the file is empty)"
            )
        return out
    out = []
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        out.append(line.split()[0])
    if not out:
        raise SmilesFileError(
            f"no valid SMILES in {p} ({len(lines)} lines read, {len(lines)} rejected: blank or # comment lines)"
            if lines
            else f"no valid SMILES in {p} (0 lines read: the file is empty)"
        )
    return out
