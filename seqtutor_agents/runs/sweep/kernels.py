"""Torch's CPU kernels of a sweep's trials: pinned to AVX2 by default, so that a row does not depend on the CPU."""

from __future__ import annotations

import os
import platform

#: The environment that pins torch's CPU kernels to AVX2 in a fresh process. torch dispatches to the
#: widest vector ISA a CPU has, in three libraries that each choose on their own (ATen's vectorised
#: ops, MKL's matrix products, oneDNN's primitives), and kernels of other widths round differently, so
#: one seed draws other samples on another CPU. A DPG PMO run (albuterol_similarity, seed 0) scores
#: 2,070 molecules in 112,704 env steps with this machine's AVX-512 kernels, 2,155 in 172,800 with
#: ATen and MKL pinned to AVX2, and 2,110 in 142,016 -- the grid's row, run on an AVX2 machine -- with
#: all three pinned. Each variable is read once, before a process's first torch operation: set it in a
#: fresh process, not in one that has run torch.
AVX2_KERNELS = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
#: ``cpu_kernels`` choices: AVX2 everywhere (x86-64 CPUs of the last decade all have it), or torch's own.
CPU_KERNELS = ("avx2", "native")
PINNED_CPU_KERNELS = "avx2"


def on_x86_64() -> bool:
    """Whether this machine is x86-64, where the AVX kernel names mean something."""
    return platform.machine().lower() in ("x86_64", "amd64")


def sweep_kernel_environment(cpu_kernels: str | None = PINNED_CPU_KERNELS) -> dict[str, str]:
    """The variables that pin a sweep's trials to ``cpu_kernels`` (empty: torch's own choice).

    A variable the user set in the environment keeps its value; nothing is pinned for ``"native"`` or
    None, nor off x86-64 (AVX names mean nothing elsewhere).

    :raises ValueError: for a choice other than :data:`CPU_KERNELS`.
    """
    if cpu_kernels is None or cpu_kernels == "native":
        return {}
    if cpu_kernels not in CPU_KERNELS:
        raise ValueError(f"cpu_kernels must be one of {CPU_KERNELS} (or None), got {cpu_kernels!r}")
    if not on_x86_64():
        return {}
    return {name: os.environ.get(name) or value for name, value in AVX2_KERNELS.items()}


def cpu_kernels_in_use() -> str:
    """ATen's CPU capability in this process (``"AVX2"``, ``"AVX512"``, ...), ``", pinned"`` when all
    three libraries run under :data:`AVX2_KERNELS` (a row's ``cpu_kernels``)."""
    # torch here, not at the top: the driver that imports this module sets the pins for its workers,
    # which must read them before their first torch operation (and a sweep's --help needs no torch)
    import torch

    capability = torch.backends.cpu.get_cpu_capability()
    pinned = all(os.environ.get(name, "").lower() == value.lower() for name, value in AVX2_KERNELS.items())
    return f"{capability}, pinned" if pinned else capability
