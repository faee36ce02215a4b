"""Stopping a command-line job: Ctrl-C and SIGTERM end it with one line and the shell's exit code, leaving no temp file.

Ctrl-C raises ``KeyboardInterrupt`` in Python; :func:`signals_raise` makes SIGTERM and SIGHUP raise
:class:`Terminated` as well (by default they end the process at once, skipping every cleanup).
Both unwind the job, so :func:`seqtutor_envs.io.atomic_write` removes the temp file it was writing,
temporary folders are removed and the scoring workers are shut down at exit; the command line then
prints one line and returns ``128 + signal`` (130 for Ctrl-C, 143 for SIGTERM), as a shell reports
a process ended by that signal. ``seqtutor train`` handles these signals itself while it trains (a
final checkpoint, :class:`~seqtutor_agents.runs.run_folder.StopOnSignal`).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

#: Signals that end a job by unwinding it (SIGINT already raises KeyboardInterrupt).
SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class Terminated(BaseException):
    """A SIGTERM or SIGHUP arrived (a BaseException, like KeyboardInterrupt: ``except Exception`` lets it through)."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"stopped by {signal.Signals(signum).name}")


def _raise(signum: int, frame: object) -> None:
    raise Terminated(signum)


@contextlib.contextmanager
def signals_raise() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise :class:`Terminated` (main thread only; handlers restored after)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _raise) for sig in SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def forget_handled_interrupt() -> None:
    """Tell CPython that the Ctrl-C it saw was handled, so the job exits with its own code (130).

    CPython marks a ``KeyboardInterrupt`` as unhandled whenever one leaves code run by ``exec`` of a
    string (``PyRun_StringFlags``), even when an outer ``except`` catches it; at exit a marked process
    kills itself with SIGINT (exit status -2) instead of returning the code it chose. Ctrl-C lands in
    such code often: ``dataclasses`` and ``namedtuple`` build their methods with ``exec`` while torch,
    SB3 and RDKit import. Every ``exec`` of a string clears the mark before it runs, so one harmless
    ``exec`` after catching the interrupt undoes a stale mark (CPython 3.11 to 3.13).
    """
    exec("pass")  # a constant string: its side effect (clearing the mark) is the point
