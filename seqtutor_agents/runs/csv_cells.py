"""CSV files a person opens in a spreadsheet: text cells that a spreadsheet would run as a formula are escaped.

``samples.csv``, a run's ``sequences.csv`` and the report's CSV download hold strings a policy wrote
(a SMILES string is whatever tokens the weights chose), so crafted weights can make a cell start
with ``=``, ``+``, ``-`` or ``@`` -- which Excel, LibreOffice and Google Sheets read as a formula
(CSV injection). As OWASP recommends, such a text cell is written with a leading ``'``, which
spreadsheets show as text. Numbers stay numbers (``-3.5`` is a number, not a formula), so
escaping is idempotent: a row read back and written again is unchanged.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

#: First characters that make a spreadsheet read a cell as a formula (tab and CR as OWASP lists them).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def spreadsheet_cell(value: Any) -> Any:
    """``value``, with a text cell a spreadsheet would run as a formula prefixed by ``'``."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _is_number(value):
        return "'" + value
    return value


def safe_rows(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{key: spreadsheet_cell(value) for key, value in row.items()} for row in rows]


def csv_text(rows: Sequence[Mapping[str, Any]], fieldnames: list[str] | None = None) -> str:
    """The CSV text of ``rows`` (header from the rows' keys unless given), every cell spreadsheet-safe."""
    fields = fieldnames if fieldnames is not None else list(dict.fromkeys(k for row in rows for k in row))
    stream = io.StringIO()
    writer = csv.DictWriter(stream, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(safe_rows(rows))
    return stream.getvalue()
