"""Where a sweep's trials run: local worker processes, or Ray Tune (a local Ray or an existing cluster).

Ray is an optional dependency (``pip install 'seqtutor[sweep]'``): it is imported where the Ray backend
runs, never at the top, so that the local backend works without it.
"""

from __future__ import annotations

import ctypes
import json
import multiprocessing
import os
import signal
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from .grid import check_sweep_folder
from .kernels import PINNED_CPU_KERNELS, sweep_kernel_environment
from .trials import run_trial


def _local_trial(trial: dict[str, Any]) -> dict[str, Any]:
    try:
        return run_trial(trial)
    except Exception as exc:  # one failed trial must not lose the others' results
        return {"algo": trial["algo"], "seed": trial["seed"], "error": f"{type(exc).__name__}: {exc}"}


def _exit_with_the_driver() -> None:
    """Worker initializer: on Linux, die when the sweep's driver dies (a killed driver leaves no idle workers)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def run_local(
    trials: list[dict[str, Any]], workers: int, kernel_env: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Trials in local worker processes (results kept per trial, so a rerun resumes).

    :param kernel_env: variables that pin the trials' CPU kernels (:func:`sweep_kernel_environment`).
        The workers are then fresh (spawned) processes started with them; one worker runs in this
        process only where this process was started with them.
    """
    kernel_env = kernel_env or {}
    if workers == 1 and all(os.environ.get(k) == v for k, v in kernel_env.items()):
        return [_local_trial(t) for t in trials]
    if not kernel_env:
        with ProcessPoolExecutor(max_workers=workers, initializer=_exit_with_the_driver) as pool:
            return list(pool.map(_local_trial, trials))
    before = {k: os.environ.get(k) for k in kernel_env}
    os.environ.update(kernel_env)  # spawned workers inherit them before their first torch operation
    try:
        with ProcessPoolExecutor(
            max_workers=workers, initializer=_exit_with_the_driver, mp_context=multiprocessing.get_context("spawn")
        ) as pool:
            return list(pool.map(_local_trial, trials))
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _ray_trainable(config: dict[str, Any]) -> None:
    import ray
    from ray import tune

    row = run_trial(config["trial"])
    row["ray_node"] = ray.get_runtime_context().get_node_id()  # which machine of the cluster ran it
    tune.report({"row": json.dumps(row)})


#: Longest temp folder under which Ray's socket paths ("<dir>/session_<date>_<time>_<us>_<pid>/sockets/
#: plasma_store", ~64 more characters) stay within the 107 bytes of an AF_UNIX socket path.
RAY_TEMP_DIR_MAX = 40


def _short_ray_temp_dir() -> str | None:
    """A temp folder for a local Ray whose socket paths fit AF_UNIX's limit (None: Ray's default fits).

    Ray puts its sessions under ``$RAY_TMPDIR`` or the system temp folder; a long ``TMPDIR`` (pytest's
    ``tmp_path``, a cluster job's scratch folder) makes Ray fail at start with "AF_UNIX path length
    cannot exceed 107 bytes". Then a short folder under ``/tmp`` is used instead.
    """
    base = os.path.join(os.environ.get("RAY_TMPDIR") or tempfile.gettempdir(), "ray")
    if len(base) <= RAY_TEMP_DIR_MAX or not os.path.isdir("/tmp"):
        return None
    return tempfile.mkdtemp(prefix="ray-", dir="/tmp")


def run_ray(
    trials: list[dict[str, Any]],
    cpus_per_trial: int,
    address: str | None,
    storage: Path,
    name: str,
    resume: bool = False,
    kernel_env: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Trials on Ray Tune: a local Ray by default, an existing cluster with ``address``; resumable.

    ``kernel_env`` (:func:`sweep_kernel_environment`) reaches the workers through the job's runtime
    environment when this call starts Ray; a Ray the caller started keeps its own (each row says which
    kernels ran it).
    """
    try:
        import ray
        from ray import tune
    except ImportError as exc:
        raise SystemExit(
            "the Ray backend needs Ray Tune: pip install 'seqtutor[sweep]' (or use --backend local)"
        ) from exc
    if not ray.is_initialized():
        runtime_env = {"env_vars": dict(kernel_env)} if kernel_env else None
        if address:
            ray.init(address=address, log_to_driver=False, runtime_env=runtime_env)
        else:
            ray.init(
                num_cpus=os.cpu_count(),
                include_dashboard=False,
                log_to_driver=False,
                object_store_memory=100 * 1024**2,
                _temp_dir=_short_ray_temp_dir(),
                runtime_env=runtime_env,
            )
    trainable = tune.with_resources(_ray_trainable, {"cpu": cpus_per_trial})
    # A resumed sweep submits every trial again rather than restoring Tune's experiment state: a trial
    # that finished (its trial_result.json written) returns that result at once, whatever Tune had
    # recorded when the driver died -- a restored trial would carry the first run's resume=False and
    # train again.
    tuner = tune.Tuner(
        trainable,
        param_space={"trial": tune.grid_search(trials)},
        run_config=tune.RunConfig(storage_path=str(Path(storage).resolve()), name=name, verbose=0),
    )
    results = tuner.fit()
    rows = []
    for i in range(len(results)):  # ResultGrid is a sequence by __getitem__ and __len__ only (no __iter__ declared)
        result = results[i]
        if result.error is not None:
            assert (
                result.config is not None
            )  # Tune records the config in every trial's last result, an errored one's too
            trial = result.config["trial"]
            rows.append({"algo": trial["algo"], "seed": trial["seed"], "error": str(result.error)[:300]})
        else:
            assert result.metrics is not None  # a trial that ended without error reported its row
            rows.append(json.loads(result.metrics["row"]))
    return rows


def run_trials(
    trials: list[dict[str, Any]],
    backend: str,
    workers: int = 1,
    cpus_per_trial: int = 1,
    address: str | None = None,
    storage: Path | None = None,
    name: str = "sweep",
    resume: bool = False,
    overwrite: bool = False,
    cpu_kernels: str | None = PINNED_CPU_KERNELS,
) -> list[dict[str, Any]]:
    """Run trials on the chosen backend (``"ray"``, ``"local"`` or ``"auto"``: Ray if installed).

    :param cpu_kernels: torch CPU kernels of the trials (default AVX2, so that rows do not depend on
        the CPU; ``"native"`` or None: torch's choice; see :data:`AVX2_KERNELS`).
    :param resume: keep the results of trials that finished before (a stopped sweep goes on).
    :param overwrite: run every trial again, replacing what an earlier run of the sweep left.
    :raises SweepFolderError: the sweep ran before and neither ``resume`` nor ``overwrite`` was given.
    """
    storage = storage or Path("runs/ray")
    kernel_env = sweep_kernel_environment(cpu_kernels)  # a bad choice fails before anything runs
    check_sweep_folder(trials, resume, overwrite, Path(storage).resolve() / name)
    trials = [{**t, "resume": resume} for t in trials]
    if backend == "auto":
        try:
            import ray  # noqa: F401

            backend = "ray"
        except ImportError:
            backend = "local"
    if backend == "ray":
        return run_ray(trials, cpus_per_trial, address, storage, name, resume, kernel_env=kernel_env)
    return run_local(trials, workers, kernel_env=kernel_env)
