"""Worker processes that end with the job that started them.

A job's helper processes (the SMILES env's RDKit scoring workers) are forked into the job's process
group, so a signal to the group (Ctrl-C in a terminal, ``kill -- -PGID``) reaches them too. A
signal to the job's process alone, or ``kill -9`` of it, does not: without more, a worker would be
left running under PID 1 holding the job's stdout open (and ``seqtutor ... | tee log`` would never
end). :func:`bind_to_parent` runs first in each worker: on Linux it asks the kernel to send the
worker SIGKILL when its parent dies (``prctl(PR_SET_PDEATHSIG)``), then checks that the parent has
not died already. It also leaves Ctrl-C to the parent (which stops the pool itself), so a worker
prints no ``KeyboardInterrupt`` traceback, and gives SIGTERM its default action back.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def bind_to_parent(parent_pid: int) -> None:
    """Make this (worker) process die with ``parent_pid`` (Linux; elsewhere only the signal settings apply)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - a libc without prctl
            return
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)
