"""Sweeps: algorithms x settings x seeds, one trial per (learner, setting, seed), on Ray Tune or local processes.

The trial runner lives in the package (not in ``benchmarks/``) so that Ray workers -- on this
machine or on the nodes of an existing cluster where seqtutor is installed -- can import it.
Each trial trains through :func:`seqtutor_agents.runs.training.train`, samples from the trained policy
and returns a flat row: the domain statistics, the texture and diversity figures (melody), mean
log p_prior, exact KL and entropy per step, the final c.

The package: :mod:`.grid` (the trials of a sweep and their run folders), :mod:`.trials` (one trial:
train, sample, score), :mod:`.pmo_trial` (one PMO run under an oracle budget), :mod:`.kernels` (torch's
CPU kernels of the trials) and :mod:`.backends`:

* :func:`run_ray`: Ray Tune, a local Ray started for the sweep or an existing cluster
  (``address``); one trial per ``cpus_per_trial`` CPUs;
* :func:`run_local`: ``workers`` local processes.

Trials run torch's AVX2 CPU kernels (:data:`AVX2_KERNELS`) unless told otherwise: torch picks the
widest vector kernels a CPU has, and kernels of other widths round differently, so without the pin
the same seed gives another run on another CPU. Each row says which kernels ran it (``cpu_kernels``).

Each trial keeps its row in its run folder (``trial_result.json``), so a stopped sweep resumed
(``resume=True``) returns finished trials' rows at once, continues interrupted trials from their
newest whole checkpoint, and starts the rest.

``benchmarks/sweep.py`` and ``benchmarks/frontier.py`` are the command lines.
"""

from __future__ import annotations

from .backends import (
    RAY_TEMP_DIR_MAX,
    _short_ray_temp_dir,
    run_local,
    run_ray,
    run_trials,
)
from .grid import (
    RESULT_FILE,
    SAMPLES_FILE,
    SweepFolderError,
    check_sweep_folder,
    finished_rows,
    make_trials,
    trial_folder,
    trial_name,
    with_early_stop,
)
from .kernels import (
    AVX2_KERNELS,
    CPU_KERNELS,
    PINNED_CPU_KERNELS,
    cpu_kernels_in_use,
    on_x86_64,
    sweep_kernel_environment,
)
from .pmo_trial import KL_WINDOW, finished_episodes, run_pmo_trial
from .trials import run_trial

__all__ = [
    "AVX2_KERNELS",
    "CPU_KERNELS",
    "KL_WINDOW",
    "PINNED_CPU_KERNELS",
    "RAY_TEMP_DIR_MAX",
    "RESULT_FILE",
    "SAMPLES_FILE",
    "SweepFolderError",
    "_short_ray_temp_dir",
    "check_sweep_folder",
    "cpu_kernels_in_use",
    "finished_episodes",
    "finished_rows",
    "make_trials",
    "on_x86_64",
    "run_local",
    "run_pmo_trial",
    "run_ray",
    "run_trial",
    "run_trials",
    "sweep_kernel_environment",
    "trial_folder",
    "trial_name",
    "with_early_stop",
]
