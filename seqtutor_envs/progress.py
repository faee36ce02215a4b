"""Progress that shows wherever the output goes: a tqdm bar on a terminal, a plain line every
:data:`LINE_EVERY_S` seconds otherwise (a log file, ``nohup``, a CI job), where a bar's carriage
returns would pile up unseen until the end.

:func:`progress_bar` returns either, with tqdm's ``update`` / ``set_postfix`` / ``close`` API.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from tqdm.auto import tqdm

#: Seconds between progress lines when stdout is not a terminal.
LINE_EVERY_S = 30.0


class ProgressLines:
    """tqdm's API, printing ``desc: n/total (p %), rate/s, postfix`` every ``every`` seconds and at the end.

    :param total: the count at completion (None: unknown).
    :param desc: what is counted, first on each line.
    :param unit: the unit of the count.
    :param every: seconds between lines (default :data:`LINE_EVERY_S`).
    :param out: where lines go.
    :param leave: print a closing line even when the work took less than ``every`` (else only after
        a line was printed, so that short phases stay quiet).
    """

    def __init__(
        self,
        total: float | None = None,
        desc: str = "",
        unit: str = "it",
        every: float | None = None,
        out: Callable[[str], None] | None = None,
        leave: bool = True,
    ) -> None:
        self.total, self.desc, self.unit, self.leave = total, desc, unit, leave
        self.every = LINE_EVERY_S if every is None else every
        self.out = out or (lambda line: print(line, flush=True))
        self.n: float = 0
        self.printed_n: float | None = None
        self.postfix, self.printed = "", False
        self.started = self.last = time.monotonic()

    def update(self, n: float = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last, self.printed, self.printed_n = now, True, self.n
            self.out(self.line())

    def set_postfix(self, **values: Any) -> None:
        self.postfix = ", ".join(f"{key}={value}" for key, value in values.items())

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = self.n / elapsed
        share = f" ({100 * self.n / self.total:.0f} %)" if self.total else ""
        total = f"/{self.total:,.0f}" if self.total else ""
        speed = f"{rate:,.{1 if rate < 10 else 0}f} {self.unit}/s"
        return f"{self.desc}: {self.n:,.0f}{total} {self.unit}{share}, {speed}, {elapsed:,.0f} s" + (
            f", {self.postfix}" if self.postfix else ""
        )

    def close(self) -> None:
        if self.n and (self.leave or self.printed) and self.n != self.printed_n:
            self.out(self.line())
        self.n = 0

    def __enter__(self) -> ProgressLines:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def progress_bar(
    total: float | None = None, desc: str = "", unit: str = "it", enabled: bool = True, leave: bool = True
) -> Any:
    """A tqdm bar when stdout is a terminal, :class:`ProgressLines` when it is not, nothing when disabled."""
    if not enabled:
        return tqdm(total=total, disable=True)
    if sys.stdout.isatty():
        return tqdm(total=total, desc=desc, unit=unit, leave=leave)
    return ProgressLines(total, desc, unit, leave=leave)
