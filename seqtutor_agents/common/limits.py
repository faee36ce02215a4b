"""Bounds on what a file may ask seqtutor to allocate, checked before anything is allocated.

A model zip or a run's config is data someone else may have written. Each number in it that sizes
something -- the members of the zip, the tensors a policy builds, a replay buffer, a space, the
nesting of its JSON -- is checked against a bound here first, and a refusal states the bound:

* :func:`check_zip_members`: the uncompressed size of each member (a 1.5 GB member compresses to
  1.5 MB) and their number, from the zip's directory, before a byte is inflated;
* :class:`TensorBudget`: a torch function mode that adds up the elements of every tensor a factory
  (``torch.empty``, ``torch.zeros``, ...) is asked for while a model is built, and refuses the call
  that would pass :data:`MAX_MODEL_ELEMENTS` *before* it allocates. It counts what the policy really
  builds, whatever its keyword arguments are called (``net_arch``, ``lstm_hidden_size``,
  ``net_config``...);
* :func:`check_buffer_size`: a replay buffer's bytes (transitions times the observation's bytes,
  twice: observation and next observation) against the machine's physical memory;
* :func:`parse_json`: JSON nested too deeply for Python's reader is refused by name, not with a
  ``RecursionError``.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from torch.overrides import TorchFunctionMode

#: A model zip's JSON ``data`` member (settings and spaces: kilobytes in practice).
MAX_DATA_BYTES = 64 * 2**20
#: Any other member (weights, optimizer state).
MAX_MEMBER_BYTES = 2 * 2**30
#: Members of a model zip (SB3 writes six).
MAX_MEMBERS = 64
#: Tensor elements built while a model is loaded (2**28 float32 elements = 1 GiB; seqtutor's priors have < 10**7).
MAX_MODEL_ELEMENTS = 2**28
#: Largest ``n`` of a Discrete space and entry of a MultiDiscrete ``nvec`` (token vocabularies are < 10**3).
MAX_SPACE_N = 2**31 - 1
#: Elements of one Box or MultiDiscrete space.
MAX_SPACE_ELEMENTS = 2**20

_FACTORIES = frozenset({th.empty, th.zeros, th.ones, th.full, th.rand, th.randn, th.randint, th.empty_strided})


class LimitError(ValueError):
    """A file asks for more than seqtutor allocates for it (the message names the bound)."""


def human_bytes(size: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if size < 1000 or unit == "PB":
            return f"{size:,.0f} {unit}" if unit == "bytes" else f"{size:,.1f} {unit}"
        size /= 1000
    raise AssertionError


def parse_json(text: str | bytes, source: str, error: type[Exception] = LimitError) -> Any:
    """``json.loads(text)``, with JSON nested too deeply to read refused as ``error`` naming ``source``.

    :raises json.JSONDecodeError: the text is not JSON (callers name it their way).
    """
    try:
        return json.loads(text)
    except RecursionError:
        raise error(
            f"{source}: its JSON is nested too deeply to read (Python's reader stops at about 1,000 levels); refused"
        ) from None


def check_zip_members(
    path: Path, error: type[Exception] = LimitError, data_member: str = "data", max_member: int = MAX_MEMBER_BYTES
) -> None:
    """Refuse a zip whose directory declares members larger than the bounds, or too many members.

    :param data_member: the member holding JSON, bounded by :data:`MAX_DATA_BYTES`.
    :raises zipfile.BadZipFile: not a zip (callers name it their way).
    """
    with zipfile.ZipFile(path) as archive:
        members = archive.infolist()
    if len(members) > MAX_MEMBERS:
        raise error(f"{path} holds {len(members):,} members; a model file has at most {MAX_MEMBERS}")
    for info in members:
        bound = MAX_DATA_BYTES if info.filename == data_member else max_member
        if info.file_size > bound:
            raise error(
                f"{path}: member {info.filename!r} inflates to {human_bytes(info.file_size)} "
                f"({human_bytes(info.compress_size)} compressed); seqtutor reads at most "
                f"{human_bytes(bound)} of it (the limit)"
            )


class TensorBudget(TorchFunctionMode):
    """Refuse a tensor factory call that would take the elements built so far past ``limit`` (a context manager).

    :param limit: elements allowed in all.
    :param source: the file being loaded, for the message.
    :param error: the exception raised.
    """

    def __init__(self, limit: int, source: str, error: type[Exception] = LimitError) -> None:
        super().__init__()
        self.limit, self.source, self.error, self.total = limit, source, error, 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _FACTORIES:
            self.total += _requested_elements(func, args, kwargs)
            if self.total > self.limit:
                raise self.error(
                    f"{self.source} asks for a model of more than {self.limit:,} tensor elements "
                    f"(at least {self.total:,}: see its policy_kwargs); refused before allocating it"
                )
        return func(*args, **kwargs)


def _requested_elements(func: Any, args: tuple, kwargs: dict) -> int:
    if func is th.randint:  # randint(high, size) or randint(low, high, size)
        size = kwargs.get("size", args[-1] if args else ())
    elif func in (th.full, th.empty_strided):
        size = args[0] if args else kwargs.get("size", ())
    else:
        size = args[0] if len(args) == 1 and not isinstance(args[0], int) else args
        size = kwargs.get("size", size)
    try:
        return math.prod(int(s) for s in size)
    except (TypeError, ValueError):
        return 0


def physical_memory() -> int:
    """This machine's physical memory in bytes."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 2**36


def available_memory() -> int:
    """Memory a new allocation can get now (``MemAvailable``), else the physical memory."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return physical_memory()


def space_bytes(space: spaces.Space) -> int:
    """Bytes of one observation of ``space`` as SB3's buffers store it."""
    if isinstance(space, spaces.Dict):
        return sum(space_bytes(s) for s in space.spaces.values())
    if isinstance(space, spaces.Discrete):
        return 8
    return int(np.prod(space.shape or (1,))) * np.dtype(space.dtype or np.float32).itemsize


def check_buffer_size(
    buffer_size: Any, observation_space: Any, source: str, error: type[Exception] = LimitError
) -> None:
    """Refuse a replay buffer whose arrays would not fit in this machine's physical memory."""
    if buffer_size is None or not isinstance(observation_space, spaces.Space):
        return
    if isinstance(buffer_size, bool) or not isinstance(buffer_size, (int, np.integer)) or buffer_size < 1:
        raise error(f"{source}: buffer_size must be a positive integer, got {buffer_size!r}")
    need = int(buffer_size) * (2 * space_bytes(observation_space) + 32)
    limit = physical_memory()
    if need > limit:
        raise error(
            f"{source}: buffer_size {int(buffer_size):,} asks for about {human_bytes(need)} of replay memory; "
            f"this machine has {human_bytes(limit)} (the limit); refused before allocating it"
        )
