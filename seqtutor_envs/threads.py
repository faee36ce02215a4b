"""``--threads``: the torch CPU threads of every command that trains or samples.

The default is what ran fastest here (2-core machine shared with other jobs): G training on the
melody env with another process busy on the second core took 765 and 608 env steps/s with one
torch thread, 41 and 181 with two (``OMP_NUM_THREADS=1|2 seqtutor train --algo g --steps 30000``,
SB3's ``time/fps``), and one epoch of ``seqtutor pretrain melody --limit 1500`` took 10 and 23 s
with one thread, 91 and 85 s with two: a second thread waits for a busy core at every small matrix
product. torch is imported only when the setting is applied, so that ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
from typing import Any

#: torch threads unless ``--threads`` says otherwise.
DEFAULT_THREADS = 1
THREADS_HELP = (
    "torch CPU threads (default: 1, the fastest measured on a 2-core machine with other work on it: "
    "G trained at 608-765 env steps/s with 1 thread, 41-181 with 2; raise it on a machine of your own)"
)


def _threads(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def add_threads_argument(parser: Any) -> None:
    """``--threads N`` on a command's parser (applied by :func:`use_threads`)."""
    parser.add_argument("--threads", type=_threads, default=DEFAULT_THREADS, help=THREADS_HELP)


def use_threads(threads: int | None) -> None:
    """Run torch's CPU work on ``threads`` threads (None: leave torch's setting)."""
    if threads is None:
        return
    import torch

    torch.set_num_threads(int(threads))
