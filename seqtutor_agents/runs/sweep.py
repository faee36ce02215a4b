"""Sweeps: algorithms x settings x seeds, one trial per (learner, setting, seed), on Ray Tune or local processes.

The trial runner lives in the package (not in ``benchmarks/``) so that Ray workers -- on this
machine or on the nodes of an existing cluster where seqtutor is installed -- can import it.
Each trial trains through :func:`seqtutor_agents.runs.training.train`, samples from the trained policy
and returns a flat row: the domain statistics, the texture and diversity figures (melody), mean
log p_prior, exact KL and entropy per step, the final c.

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

import itertools
import json
import multiprocessing
import os
import platform
import sys
import tempfile
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Iterable

import numpy as np

RESULT_FILE = "trial_result.json"
#: Finished molecules over which a PMO trial estimates its KL to the prior (the end of the run).
KL_WINDOW = 1_000
SAMPLES_FILE = "samples.txt"  # a trial's evaluated sequences, one per line (a SMILES, or tokens separated by spaces)


class SweepFolderError(ValueError):
    """A sweep would silently redo or replace finished work (the command lines print it and exit 2)."""


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
    import torch

    capability = torch.backends.cpu.get_cpu_capability()
    pinned = all(os.environ.get(name, "").lower() == value.lower() for name, value in AVX2_KERNELS.items())
    return f"{capability}, pinned" if pinned else capability


def trial_folder(trial: dict[str, Any]) -> Path:
    """The run folder of a trial (PMO trials are named after their oracle too, and their early stop if on)."""
    folder = Path(trial["runs"]) / trial_name(trial)
    if trial.get("kind") == "pmo":
        folder = folder.with_name(f"{trial['oracle']}_{folder.name}")
        if trial.get("early_stop_patience") is not None:  # another stopping rule: other results, another folder
            folder = with_early_stop(folder, trial["early_stop_patience"])
    return folder


def with_early_stop(folder: Path, patience: int) -> Path:
    """The folder of the same PMO trial as ``folder`` (run without an early stop), run with REINVENT's at ``patience``."""
    return folder.with_name(f"{folder.name}_es{patience}")


def finished_rows(trials: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """The result rows of the trials that finished (their run folder holds a result), and how many have not.

    Reads a sweep that is still running or was stopped part-way, without running anything.
    """
    rows, missing = [], 0
    for trial in trials:
        done = trial_folder(trial) / RESULT_FILE
        if done.is_file():
            rows.append(json.loads(done.read_text()))
        else:
            missing += 1
    return rows, missing


def check_sweep_folder(trials: list[dict[str, Any]], resume: bool, overwrite: bool, ray_folder: Path | None = None
                       ) -> None:
    """Refuse to start a sweep over trials that already exist unless ``resume`` or ``overwrite`` says what to do.

    :param ray_folder: Tune's experiment folder of the sweep (Ray backend).
    :raises SweepFolderError: existing trial folders (or a Tune experiment) and neither flag.
    """
    if resume and overwrite:
        raise SweepFolderError("--resume keeps finished trials and --overwrite replaces them: pass one, not both")
    existing = [trial_folder(t) for t in trials if trial_folder(t).exists()]
    ray_exists = ray_folder is not None and Path(ray_folder).exists()
    if (existing or ray_exists) and not (resume or overwrite):
        where = existing[0] if existing else ray_folder
        raise SweepFolderError(
            f"this sweep has run before: {len(existing)} of its {len(trials)} trial folders exist (e.g. {where})"
            f"{' and a Tune experiment at ' + str(ray_folder) if ray_exists else ''}. Pass --resume to keep finished "
            "trials and run the rest, or --overwrite to run every trial again"
        )
    if overwrite:
        for folder in existing:
            (folder / RESULT_FILE).unlink(missing_ok=True)
        if ray_exists:
            import shutil

            shutil.rmtree(ray_folder, ignore_errors=True)


def trial_name(trial: dict[str, Any]) -> str:
    """A readable, unique folder name of a trial."""
    setting = f"kl{trial['target_kl']:g}" if trial.get("target_kl") is not None else ""
    setting += f"c{trial['c']:g}" if trial.get("c") is not None else ""
    def part(key: str, value: Any) -> str:  # a dict value (e.g. replay_buffer_kwargs) by its items, no braces
        if isinstance(value, dict):  # an empty one (genetic={}: the GA's defaults) by its key, so that it shows
            return "".join(part(k, v) for k, v in sorted(value.items())) if value else f"_{key}"
        return f"_{key}{value}"

    extra = "".join(part(k, v) for k, v in sorted((trial.get("algo_kwargs") or {}).items()))
    extra += "".join(part(k, v) for k, v in sorted((trial.get("env_kwargs") or {}).items()))
    extra += f"_envs{trial['n_envs']}" if trial.get("n_envs") is not None else ""  # the table's when unnamed
    return f"{trial['algo']}_{setting}{extra}_s{trial['seed']}".replace("/", "-").replace(" ", "")


def run_trial(trial: dict[str, Any]) -> dict[str, Any]:
    """Train and evaluate one trial; returns a flat result row (also kept in the trial's run folder).

    A trial with ``"kind": "pmo"`` is a goal-directed run under an oracle budget (:func:`run_pmo_trial`).
    """
    import torch

    if trial.get("threads"):
        torch.set_num_threads(int(trial["threads"]))
    if trial.get("kind") == "pmo":
        return run_pmo_trial(trial)
    from seqtutor_agents.runs.evaluation import model_policy, run_episodes
    from seqtutor_agents.runs.optimum_figures import TERMS_FILE, write_sequence_terms
    from seqtutor_agents.runs.run_folder import ConfigError, latest_checkpoint
    from seqtutor_agents.runs.training import TrainConfig, train
    from seqtutor_envs.domains import get_domain
    from seqtutor_envs.io import atomic_write_text

    env_id = trial["env_id"]
    out = trial_folder(trial)
    done = out / RESULT_FILE
    if trial.get("resume") and done.is_file():  # a resumed sweep: this trial finished before the stop
        return json.loads(done.read_text())
    config = TrainConfig(env_id=env_id, algo=trial["algo"], steps=trial["steps"], c=trial.get("c"),
                         target_kl=trial.get("target_kl"), seed=trial["seed"], out=str(out),
                         n_envs=trial.get("n_envs"), checkpoint_every=trial["steps"],
                         algo_kwargs=dict(trial.get("algo_kwargs") or {}), env_kwargs=dict(trial.get("env_kwargs") or {}),
                         device="cpu")
    start, cpu_start = time.perf_counter(), time.process_time()
    model = None
    if trial.get("resume") and latest_checkpoint(out) is not None:  # interrupted: go on from its checkpoint
        try:
            model = train(config, resume=True, progress=False)
        except ConfigError:
            model = None  # a checkpoint of other settings: train afresh below
    if model is None:
        model = train(config, progress=False, overwrite=True)
    minutes, cpu_minutes = (time.perf_counter() - start) / 60, (time.process_time() - cpu_start) / 60
    env_kwargs = config.resolved_env_kwargs()
    batch = run_episodes(env_id, trial["episodes"], model_policy(model, seed=trial["seed"]), seed=50_000,
                         env_kwargs=env_kwargs)
    row: dict[str, Any] = {"algo": trial["algo"], "c": trial.get("c"), "target_kl": trial.get("target_kl"),
                           "seed": trial["seed"], "steps": trial["steps"], "run": str(out),
                           "settings": json.dumps({**(trial.get("algo_kwargs") or {}), **(trial.get("env_kwargs") or {})},
                                                  sort_keys=True)}
    final_c = getattr(model, "current_c", None)  # a seqtutor learner's live c (None: a stock SB3 algorithm)
    row.update(minutes=round(minutes, 2), cpu_minutes=round(cpu_minutes, 2), final_c=float(final_c) if final_c is not None else env_kwargs.get("c"),
               domain_return=float(batch.domain_returns.mean()), log_p=batch.prior_log_prob_per_step,
               kl=batch.kl_per_step, entropy=batch.entropy_per_step)
    domain = get_domain(env_id)
    stats = domain.statistics(batch.finals)
    sequences = batch.finals[domain.sequence_key]
    atomic_write_text(out / SAMPLES_FILE, "\n".join(s if isinstance(s, str) else " ".join(map(str, s))
                                                    for s in sequences) + "\n")  # e.g. novelty is computed later
    if batch.kl_sums is not None:  # J(π)'s terms: the frontier reads the distance to π* from them
        write_sequence_terms(out / TERMS_FILE, batch)
    row.update({k: stats[k] for k in domain.metric_keys})
    row["cpu_kernels"] = cpu_kernels_in_use()
    row = {k: (float(v) if hasattr(v, "dtype") else v) for k, v in row.items()}
    atomic_write_text(done, json.dumps(row, indent=1))
    return row


def finished_episodes(transition: Any) -> list[tuple[str, float, float | None]]:
    """``(SMILES, prior log-likelihood, agent log-likelihood or None)`` of the episodes a vector step finished.

    Read from our learners' collector (``locals["transition"]``; episodes in env order, as
    :func:`seqtutor_agents.runs.callbacks.episode_rows` reads them); empty for stock SB3 algorithms.
    """
    if transition is None or not transition.finals:
        return []
    out = []
    for env_index, episode in zip(sorted(transition.finals), transition.episodes):
        behaviour = episode.behaviour_log_prob
        out.append((transition.finals[env_index].get("smiles", ""), float(np.sum(episode.prior_log_prob)),
                    float(np.sum(behaviour)) if behaviour is not None else None))
    return out


def run_pmo_trial(trial: dict[str, Any]) -> dict[str, Any]:
    """One PMO run: train on ``guacamol:<oracle>`` until ``budget`` distinct valid molecules were scored.

    With ``early_stop_patience`` the run also stops by REINVENT's rule in mol_opt (see
    :class:`~seqtutor_envs.smiles.pmo.OracleLog`); a run that stops short of the budget (early stop or
    the ``max_steps`` cap) holds its last top-10 mean to the budget, as mol_opt's ``finish=True`` does.
    Every scored string goes to ``<run>/oracle_calls.csv`` with its call index, env step and
    log-likelihoods. Returns the minutes it took (wall clock, and CPU time of its process: on a shared
    machine the two differ), top-10 AUC, top-1/10/100 means, why the run stopped, validity and
    uniqueness of what was generated, the internal diversity and distinct Murcko scaffolds of the
    100 best molecules, and the KL of the agent to the prior, log π(x) − log p(x) averaged over its last
    :data:`KL_WINDOW` molecules (per molecule and per token).
    """
    from stable_baselines3.common.callbacks import BaseCallback

    from seqtutor_agents.common.offpolicy import check_genetic_budget
    from seqtutor_agents.runs.training import TrainConfig, train
    from seqtutor_envs.io import atomic_write_text
    from seqtutor_envs.smiles.diversity_filter import murcko_scaffold
    from seqtutor_envs.smiles.guacamol import guacamol_objective
    from seqtutor_envs.smiles.metrics import internal_diversity
    from seqtutor_envs.smiles.pmo import CALLS_FILE, OracleLog, top_k_auc, top_k_mean
    from seqtutor_envs.smiles.scoring import parse_smiles
    from seqtutor_envs.smiles.env import ENV_ID as SMILES_ENV_ID

    out = trial_folder(trial)
    done = out / RESULT_FILE
    if trial.get("resume") and done.is_file():
        return json.loads(done.read_text())
    check_genetic_budget((trial.get("algo_kwargs") or {}).get("genetic"), int(trial["budget"]))
    budget = int(trial["budget"])
    patience = trial.get("early_stop_patience")
    log = OracleLog(guacamol_objective(trial["oracle"]), budget=budget,
                    early_stop_patience=int(patience) if patience is not None else None, calls_csv=out / CALLS_FILE)

    # KL(agent || prior) estimated on the agent's own episodes: log pi(x) - log p(x) of the last
    # KL_WINDOW finished molecules (with their lengths, for a per-token figure).
    recent_kl: deque[tuple[float, int]] = deque(maxlen=KL_WINDOW)

    class StopAtBudget(BaseCallback):
        def _on_training_start(self) -> None:
            log.reset()  # the env's construction-time sanity check scored three molecules

        def _on_step(self) -> bool:
            transition = self.locals.get("transition")
            log.annotate(int(self.model.num_timesteps), finished_episodes(transition))
            for episode in getattr(transition, "episodes", None) or ():
                if episode.behaviour_log_prob is not None:
                    recent_kl.append((float(np.sum(episode.behaviour_log_prob) - np.sum(episode.prior_log_prob)),
                                      int(episode.length)))
            return not (log.exhausted or log.converged)

        def _on_rollout_end(self) -> None:
            log.flush()

        def _on_training_end(self) -> None:
            log.flush()

    env_kwargs = {**(trial.get("env_kwargs") or {}), "objective": log}
    config = TrainConfig(env_id=trial.get("env_id", SMILES_ENV_ID), algo=trial["algo"], steps=int(trial["max_steps"]),
                         c=trial.get("c"), seed=trial["seed"], out=str(out), n_envs=trial.get("n_envs"),
                         checkpoint_every=int(trial["max_steps"]), algo_kwargs=dict(trial.get("algo_kwargs") or {}),
                         env_kwargs=env_kwargs, device="cpu")
    start, cpu_start = time.perf_counter(), time.process_time()
    model = train(config, progress=False, overwrite=True, callback=StopAtBudget())
    minutes, cpu_minutes = (time.perf_counter() - start) / 60, (time.process_time() - cpu_start) / 60
    smiles, scores = log.ordered(budget)
    # mol_opt's sort_buffer order: score descending, ties in call order (a stable sort; numpy's default
    # argsort breaks ties in an order that depends on the CPU's SIMD sort, so best/IntDiv/scaffolds did too).
    best = [smiles[i] for i in np.argsort(-np.asarray(scores), kind="stable")[:100]]
    scaffolds = {murcko_scaffold(parse_smiles(s)) for s in best}
    stop = "budget" if log.exhausted else "early_stop" if log.converged else "max_steps"
    row = {"oracle": trial["oracle"], "algo": trial["algo"], "seed": trial["seed"], "calls": len(scores),
           "env_steps": int(model.num_timesteps), "minutes": round(minutes, 2), "cpu_minutes": round(cpu_minutes, 2),
           "stop": stop,
           "early_stop_patience": patience,
           "top10_auc": top_k_auc(scores, 10, 100, budget, finish=True), "top1": top_k_mean(scores, 1),
           "top10": top_k_mean(scores, 10), "top100": top_k_mean(scores, 100),
           "valid": log.valid / max(log.generated, 1), "unique": len(log.scores) / max(log.valid, 1),
           "top100_intdiv": internal_diversity(best)[0] if len(best) > 1 else float("nan"),
           "top100_scaffolds": len(scaffolds),
           "kl_per_molecule": float(np.mean([k for k, _ in recent_kl])) if recent_kl else float("nan"),
           "kl_per_step": (float(sum(k for k, _ in recent_kl) / sum(n for _, n in recent_kl))
                           if recent_kl else float("nan")),
           "final_c": float(model.current_c) if getattr(model, "current_c", None) is not None else trial.get("c"),
           "settings": json.dumps({**(trial.get("algo_kwargs") or {}), **(trial.get("env_kwargs") or {})},
                                  sort_keys=True),
           "best": best[0] if best else ""}
    row.update(model.molecules.run_figures(best) if getattr(model, "molecules", None) is not None else {})
    if trial.get("tag") is not None:  # the caller's label of the trial (e.g. which candidate setting it ran)
        row["tag"] = trial["tag"]
    row["cpu_kernels"] = cpu_kernels_in_use()  # which kernels drew this run (see AVX2_KERNELS)
    row = {k: (float(v) if hasattr(v, "dtype") else v) for k, v in row.items()}
    atomic_write_text(done, json.dumps(row, indent=1))
    return row


def _local_trial(trial: dict[str, Any]) -> dict[str, Any]:
    try:
        return run_trial(trial)
    except Exception as exc:  # one failed trial must not lose the others' results
        return {"algo": trial["algo"], "seed": trial["seed"], "error": f"{type(exc).__name__}: {exc}"}


def _exit_with_the_driver() -> None:
    """Worker initializer: on Linux, die when the sweep's driver dies (a killed driver leaves no idle workers)."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def run_local(trials: list[dict[str, Any]], workers: int, kernel_env: dict[str, str] | None = None
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
        with ProcessPoolExecutor(max_workers=workers, initializer=_exit_with_the_driver,
                                 mp_context=multiprocessing.get_context("spawn")) as pool:
            return list(pool.map(_local_trial, trials))
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _ray_trainable(config: dict[str, Any]) -> None:
    from ray import tune

    import ray

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


def run_ray(trials: list[dict[str, Any]], cpus_per_trial: int, address: str | None, storage: Path, name: str,
            resume: bool = False, kernel_env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Trials on Ray Tune: a local Ray by default, an existing cluster with ``address``; resumable.

    ``kernel_env`` (:func:`sweep_kernel_environment`) reaches the workers through the job's runtime
    environment when this call starts Ray; a Ray the caller started keeps its own (each row says which
    kernels ran it).
    """
    try:
        import ray
        from ray import tune
    except ImportError as exc:
        raise SystemExit("the Ray backend needs Ray Tune: pip install 'seqtutor[sweep]' (or use --backend local)") from exc
    if not ray.is_initialized():
        runtime_env = {"env_vars": dict(kernel_env)} if kernel_env else None
        if address:
            ray.init(address=address, log_to_driver=False, runtime_env=runtime_env)
        else:
            ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False,
                     object_store_memory=100 * 1024**2, _temp_dir=_short_ray_temp_dir(), runtime_env=runtime_env)
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
    for result in results:
        if result.error is not None:
            trial = result.config["trial"]
            rows.append({"algo": trial["algo"], "seed": trial["seed"], "error": str(result.error)[:300]})
        else:
            rows.append(json.loads(result.metrics["row"]))
    return rows


def run_trials(trials: list[dict[str, Any]], backend: str, workers: int = 1, cpus_per_trial: int = 1,
               address: str | None = None, storage: Path | None = None, name: str = "sweep",
               resume: bool = False, overwrite: bool = False,
               cpu_kernels: str | None = PINNED_CPU_KERNELS) -> list[dict[str, Any]]:
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


def make_trials(env_id: str, algos: Iterable[str], settings: Iterable[dict[str, Any]], seeds: Iterable[int],
                **common: Any) -> list[dict[str, Any]]:
    """The grid: every algorithm x setting (a dict of c / target_kl / algo_kwargs / env_kwargs) x seed."""
    return [{"env_id": env_id, "algo": a, "seed": s, "c": None, "target_kl": None, **setting, **common}
            for a, setting, s in itertools.product(algos, settings, seeds)]
