"""Training runs: the config, ``train`` (new, resumed), atomic checkpoints, and loading a run back.

A run folder holds::

    config.json            the resolved TrainConfig (+ the table's defaults it used), written once, first
    model.zip              the final model (seqtutor's safe format: loading it runs no pickled code)
    checkpoints/ckpt-<step>-<n>/   whole checkpoints (model + optimiser, replay buffer or the learner's
                           memory, state.json, MANIFEST.json), each published by one atomic rename every
                           --checkpoint-every env steps and when training stops; the two newest are kept
    logs/                  SB3 logger output: progress.csv and TensorBoard events (logs/resume-K/ per resume,
                           with resume.json: the command and the steps asked for)
    .seqtutor.lock         held by the one process writing the run (:mod:`seqtutor_agents.runs.run_folder`)

The CLI (:mod:`seqtutor_agents.cli`), the demo and the benchmarks all train through :func:`train`.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.distributions import CategoricalDistribution
from stable_baselines3.common.logger import configure
from stable_baselines3.common.policies import ActorCriticPolicy

from seqtutor_envs.io import atomic_write_text
from seqtutor_envs.reward import RewardParts

from ..common.kl import RolloutStats, kl_and_entropy
from ..common.limits import check_buffer_size
from ..common.safe_load import (
    ModelFileError,
    load_model,
    load_replay_buffer,
    read_model_data,
    save_model,
    write_json,
)
from ..common.vec_env import make_sb3_vec_env
from .callbacks import SequenceLog, StopOnCollapse
from .config import (  # noqa: F401  (re-exported: the run's config is part of this module's API)
    ALGO_CHOICES,
    ALGOS,
    DEFAULT_ENV,
    IDENTITY_FIELDS,
    KL_TARGET_ALGOS,
    POLICY_GRADIENT_ALGOS,
    REPLAY_ALGOS,
    SEQUENCE_TUTOR_ALGOS,
    STOCK_ALGOS,
    TrainConfig,
    algorithm_class,
    policy_name,
)
from .kl_start import needs_start_c, optimum_start_c
from .owned import check_run_owned, mark_run, remove_run, run_entries
from .progress import TrainingProgress
from .run_config import config_toml
from .run_folder import (
    CHECKPOINTS,
    Checkpoint,
    ConfigError,
    RunLock,
    StopOnSignal,
    TrainingInterrupted,
    before_write,
    clean_stale_files,
    latest_checkpoint,
    write_checkpoint,
    write_failure,
)
from .run_prior import absolute_paths, check_prior, prior_record, run_relative_paths
from .safe_paths import read_run_json, run_file
from .scoring_run import keep_scoring_copy, read_scoring_source, stage_log_callback

CONFIG_FILE, CONFIG_TOML, MODEL_FILE, LOGS = "config.json", "config.toml", "model.zip", "logs"
SEQUENCES_FILE = "sequences.csv"  # every finished training episode (seqtutor_agents.runs.callbacks.SequenceLog)
__all__ = ["ConfigError", "TrainConfig", "TrainingInterrupted", "load_run", "read_run_config", "train"]


# ---------------------------------------------------------------------- building
def make_env(config: TrainConfig):
    """The run's native batched env as an SB3 ``VecEnv``."""
    try:
        return make_sb3_vec_env(
            config.env_id, n_envs=config.resolved_n_envs(), seed=config.seed, **config.resolved_env_kwargs()
        )
    except (TypeError, ValueError, FileNotFoundError) as exc:
        raise ConfigError(f"cannot make {config.env_id}: {exc}") from exc


def make_model(config: TrainConfig, env, progress: bool = False):
    """A new model of the run's algorithm on ``env``.

    A run that holds a KL target and names no c starts c at π*'s c for the target
    (:mod:`seqtutor_agents.runs.kl_start`; ``progress``: say so on stderr).
    """
    algo = algorithm_class(config.algo)
    kwargs = config.resolved_algo_kwargs()
    check_buffer_size(kwargs.get("buffer_size"), env.observation_space, "--algo-kwarg", error=ConfigError)
    if config.target_kl is not None and needs_start_c(config):  # (needs_start_c holds only with a target)
        report = (lambda line: print(f"seqtutor: {line}", file=sys.stderr, flush=True)) if progress else None
        start = optimum_start_c(config.env_id, config.resolved_env_kwargs(), float(config.target_kl), report=report)
        if start is not None:
            kwargs["c"] = start
    try:
        return algo(policy_name(config.algo), env, seed=config.seed, device=config.device, verbose=0, **kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"bad hyperparameter for {config.algo}: {exc}") from exc


# ---------------------------------------------------------------------- checkpoints
def checkpoint_callback(out: Path, every: int, logs: list | None = None):
    """An SB3 callback that writes a whole checkpoint every ``every`` env steps (counted over all envs).

    :param logs: :class:`~seqtutor_agents.runs.callbacks.SequenceLog` s, flushed first and recorded in the
        checkpoint (they must come before this callback in the callback list, to hold the step's episodes).
    """

    class AtomicCheckpoint(BaseCallback):
        def _on_training_start(self) -> None:
            self.next_at = (self.model.num_timesteps // every + 1) * every

        def _on_step(self) -> bool:
            if self.model.num_timesteps >= self.next_at:
                write_checkpoint(self.model, out, logs=log_facts(logs))
                self.next_at = (self.model.num_timesteps // every + 1) * every
            return True

    return AtomicCheckpoint()


def log_facts(logs: list | None) -> dict[str, Any]:
    """What each log holds now (flushed first), by file name, for a checkpoint's ``state.json``."""
    return {log.path.name: log.facts() for log in logs or []}


def stop_callback(stop: StopOnSignal):
    """An SB3 callback that ends ``learn`` after the step during which a stop was requested."""

    class StopOnRequest(BaseCallback):
        def _on_step(self) -> bool:
            return not stop.requested

    return StopOnRequest()


def reward_parts_callback():
    """Logs the reward's parts (and the exact KL of actor-critic policies) for stock SB3 algorithms.

    Our learners log ``rollout/prior_log_prob``, ``rollout/domain_reward``, ``rollout/kl_prior`` and
    ``rollout/entropy`` themselves; this gives stock algorithms the same keys, read from each step's info.
    """

    class RewardPartsLogger(BaseCallback):
        def _on_training_start(self) -> None:
            self.stats = RolloutStats()

        def _on_step(self) -> bool:
            infos = self.locals.get("infos")
            if infos:
                parts = RewardParts.from_infos(infos)
                self.stats.add(prior_log_prob=parts.prior_log_prob, domain_reward=parts.domain_reward)
            obs = self.locals.get("obs_tensor")
            policy = self.model.policy
            if (
                isinstance(obs, dict)
                and type(policy).__name__ != "RecurrentMultiInputActorCriticPolicy"
                and isinstance(policy, ActorCriticPolicy)
            ):
                with th.no_grad():
                    dist = policy.get_distribution(obs)
                    assert isinstance(dist, CategoricalDistribution)  # seqtutor's actions are Discrete: a Categorical
                    log_pi = th.log_softmax(dist.distribution.logits, dim=-1)
                    kl, entropy = kl_and_entropy(log_pi, obs["prior_log_probs"].float())
                self.stats.add(kl_prior=kl, entropy=entropy)
            return True

        def _on_rollout_end(self) -> None:
            self.stats.dump(self.logger, mean=True)

    return RewardPartsLogger()


# ---------------------------------------------------------------------- runs
def holds_run(out: Path) -> bool:
    return bool(run_entries(out))


def train(
    config: TrainConfig,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    verbose: int = 0,
    callback=None,
):
    """Train (or resume) the run ``config`` describes; returns the trained model.

    The run folder is locked for the whole call (a second writer is refused), stale temp files of
    killed writers are removed, SIGINT/SIGTERM stop training after the current step with a final
    whole checkpoint (:class:`TrainingInterrupted`), and a failed write (full disk) names the path
    and the checkpoint that is still whole.

    :param resume: continue the run in ``config.out`` from its newest whole checkpoint. Its settings
        must be the run's own (:data:`IDENTITY_FIELDS`); ``steps`` may be raised.
    :param overwrite: replace a run already in ``config.out`` (otherwise that is refused).
    :param progress: show a progress bar.
    :param verbose: also log to stdout.
    :param callback: extra SB3 callback(s).
    :raises ConfigError: bad settings, an existing run without ``resume``/``overwrite``, a resume
        with other settings, a damaged run folder, a folder another process is writing, a failed write.
    :raises TrainingInterrupted: training was stopped by a signal (after a checkpoint was written).
    """
    config.validate()
    # Paths a run records are absolute: a relative prior_path would be read again from whatever folder comes next.
    config = dataclasses.replace(config, env_kwargs=absolute_paths(config.env_kwargs))
    out = Path(config.out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file, not a run folder")
    if resume and not out.is_dir():
        raise ConfigError(f"nothing to resume in {out}: no such folder")

    scoring_source = None if resume else read_scoring_source(config)  # a bad scoring file leaves no folder behind
    if out.is_dir():
        check_run_owned(out)  # before the lock file: a folder that is not a run gets nothing of seqtutor's
    with RunLock(out):  # before anything in the folder is read, deleted or written
        clean_stale_files(out)
        return _train_locked(config, out, resume, overwrite, progress, verbose, callback, scoring_source)


def _train_locked(
    config: TrainConfig,
    out: Path,
    resume: bool,
    overwrite: bool,
    progress: bool,
    verbose: int,
    callback,
    scoring_source: str | None = None,
) -> Any:
    checkpoint, recorded = _prepare_folder(config, out, resume, overwrite)
    _check_writable(out)
    keep_scoring_copy(out, config, scoring_source, resume)
    env = make_env(config)
    if checkpoint is not None:
        check_prior(out, recorded, env.get_attr("prior_path")[0])
        model = _resume_model(config, checkpoint, env)
        part = len(list((out / LOGS).glob("resume-*"))) + 1
        log_dir = out / LOGS / f"resume-{part}"
        write_json(
            log_dir / "resume.json",
            {
                "command": " ".join(sys.argv),
                "steps": config.steps,
                "from_checkpoint": str(checkpoint.path),
                "from_step": int(model.num_timesteps),
                "time": time.time(),
            },
        )
    else:
        model = make_model(config, env, progress=progress)
        log_dir = out / LOGS
        mark_run(out)
        _write_config(out, config, model)  # once: a resume never rewrites the run's config
    model.set_logger(configure(str(log_dir), ["csv", "tensorboard"] + (["stdout"] if verbose else [])))
    logs, callbacks = _run_callbacks(config, out, checkpoint, callback)
    if progress:  # env steps and update phases, as lines when stdout is not a terminal (SB3's bar: neither)
        callbacks.append(TrainingProgress(config.steps))
    start_step = int(model.num_timesteps)
    remaining = config.steps - model.num_timesteps
    with StopOnSignal() as stop:
        if remaining > 0:
            model.learn(
                total_timesteps=remaining,
                callback=CallbackList([stop_callback(stop), *callbacks]),
                reset_num_timesteps=checkpoint is None,
                log_interval=1,
            )
        if stop.signum is not None:  # = stop.requested, spelled out so that mypy knows the signal
            raise TrainingInterrupted(
                stop.signum, int(model.num_timesteps), write_checkpoint(model, out, logs=log_facts(logs)), out
            )
        if checkpoint is None or model.num_timesteps != start_step:
            final = write_checkpoint(model, out, logs=log_facts(logs))
        else:
            final = checkpoint.path
        try:
            before_write("final_model", out / MODEL_FILE)
            save_model(model, out / MODEL_FILE)
        except OSError as exc:
            raise write_failure(
                out / MODEL_FILE,
                exc,
                f"the checkpoint {final} holds the finished run: free space, "
                "then run the same command with --resume to write the model",
            ) from None
    env.close()
    return model


def _prepare_folder(
    config: TrainConfig, out: Path, resume: bool, overwrite: bool
) -> tuple[Checkpoint | None, dict[str, Any]]:
    """``(checkpoint to resume or None, the run's recorded resolved settings)``; an overwritten run is removed."""
    if not resume:
        if holds_run(out):
            check_run_owned(out)  # --overwrite deletes a seqtutor run's files, never another program's
            if not overwrite:
                raise ConfigError(
                    f"{out} already holds a run: pass --resume to continue it or --overwrite to replace it"
                )
            remove_run(out)
        return None, {}
    check_run_owned(out)
    saved, recorded = _read_run(out)
    conflicts = [name for name in IDENTITY_FIELDS if getattr(saved, name) != getattr(config, name)]
    if conflicts:
        raise ConfigError(
            f"{out} was trained with "
            + ", ".join(f"{n}={getattr(saved, n)!r}" for n in conflicts)
            + "; this resume asks for "
            + ", ".join(f"{n}={getattr(config, n)!r}" for n in conflicts)
            + ". A resumed run keeps its own settings: leave those options out, or start a new run"
        )
    checkpoint = latest_checkpoint(out, needs_buffer=ALGOS[config.algo].replay)
    if checkpoint is None:
        raise ConfigError(f"nothing to resume in {out}: no checkpoint in {out / CHECKPOINTS}")
    return checkpoint, recorded


def _run_callbacks(config: TrainConfig, out: Path, checkpoint: Checkpoint | None, callback) -> tuple[list, list]:
    """``(logs, callbacks)``; the logs come first: a checkpoint then counts its own step's episodes."""
    logs, callbacks = [], []
    if ALGOS[config.algo].family == "stock":
        callbacks.append(reward_parts_callback())
    else:
        if config.log_sequences:
            logs.append(
                SequenceLog(
                    out / SEQUENCES_FILE,
                    config.env_id,
                    checkpoint.logs().get(SEQUENCES_FILE) if checkpoint is not None else None,
                )
            )
        if config.stop_on_collapse is not None:
            callbacks.append(StopOnCollapse(config.stop_on_collapse, config.collapse_window, config.env_id))
    if config.scoring is not None:
        callbacks.append(stage_log_callback(out))
    callbacks = [*logs, checkpoint_callback(out, config.checkpoint_every, logs), *callbacks]
    if callback is not None:
        callbacks.extend(callback if isinstance(callback, list) else [callback])
    return logs, callbacks


def _resume_model(config: TrainConfig, checkpoint: Checkpoint, env):
    """The model of a whole checkpoint, with its replay buffer and learner state."""
    model = _load_checked(config, checkpoint.model, env)
    if getattr(model, "replay_buffer", None) is not None and checkpoint.replay_buffer is not None:
        try:
            load_replay_buffer(model, checkpoint.replay_buffer)
        except ModelFileError as exc:
            raise ConfigError(f"cannot resume: {exc}") from None
    if checkpoint.arrays is not None and hasattr(model, "restore_checkpoint_arrays"):
        try:
            with np.load(checkpoint.arrays, allow_pickle=False) as archive:
                model.restore_checkpoint_arrays({key: archive[key] for key in archive.files})
        except (OSError, ValueError, KeyError) as exc:
            raise ConfigError(f"cannot resume: {checkpoint.arrays} is not readable ({exc})") from None
    return model


def _check_writable(out: Path) -> None:
    """Fail now, not after training, when the run folder cannot be written."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"cannot write to the run folder {out}: {exc.strerror or exc}") from None


def _write_config(out: Path, config: TrainConfig, model) -> None:
    # Not dataclasses.asdict: it deep-copies every value, and an env kwarg may be a live object (an Objective).
    config = dataclasses.replace(config, out=str(out.resolve()))  # every path a run records is absolute
    resolved = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    resolved["resolved"] = {
        "algo_class": type(model).__name__,
        "n_envs": config.resolved_n_envs(),
        "env_kwargs": config.resolved_env_kwargs(),
        "algo_kwargs": config.resolved_algo_kwargs(),
        "env_c": float(model.get_env().get_attr("c")[0]),
        # where c started: the learner's own (--c, or π*'s for --target-kl: runs/kl_start.py), else the env's
        "start_c": None if getattr(model, "current_c", None) is None else float(model.current_c),
        **prior_record(model.get_env().get_attr("prior_path")[0]),  # its absolute path and SHA-256
        "command": " ".join(sys.argv),
    }
    write_json(out / CONFIG_FILE, resolved)

    atomic_write_text(out / CONFIG_TOML, config_toml(config))


def read_run_config(run: str | Path) -> TrainConfig:
    """The :class:`TrainConfig` of a run folder, with a precise error for a missing or damaged ``config.json``."""
    return _read_run(run)[0]


def _read_run(run: str | Path) -> tuple[TrainConfig, dict[str, Any]]:
    """``(config, its resolved entry)`` of a run's ``config.json`` (read only inside the run, size-capped)."""
    path = Path(run) / CONFIG_FILE
    if not Path(run).is_dir():
        raise ConfigError(f"{run} is not a seqtutor run folder (no such folder)")
    if not os.path.lexists(path):
        raise ConfigError(f"{run} is not a seqtutor run folder (no {CONFIG_FILE})")
    data = read_run_json(run, CONFIG_FILE)
    if isinstance(data, dict):
        data = run_relative_paths(data, Path(run))  # a relative path is the run folder's, never the current one's
    config = TrainConfig.from_dict(data, source=str(path))
    try:
        config.validate()
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    resolved = data.get("resolved")
    return config, resolved if isinstance(resolved, dict) else {}


def _load_checked(config: TrainConfig, path: Path, env=None):
    """Load a run's model, checking that the file holds the config's algorithm and settings."""
    algo = algorithm_class(config.algo)
    try:
        data = read_model_data(path)
    except (FileNotFoundError, ModelFileError) as exc:
        raise ConfigError(str(exc)) from None
    saved_as = data.get("seqtutor_algorithm")
    if saved_as is not None and saved_as != algo.__name__:
        raise ConfigError(
            f"{path} holds a {saved_as} model but the run's config says {config.algo} "
            f"({algo.__name__}): the folder mixes two runs"
        )
    alias = _policy_alias(data)
    if alias is not None and alias != policy_name(config.algo):
        raise ConfigError(
            f"{path} asks for the policy {alias!r}; a {config.algo} run on seqtutor's Dict observations "
            f"uses {policy_name(config.algo)!r}: refused"
        )
    mismatched = []
    for key, value in config.resolved_algo_kwargs().items():
        stored = data.get(key)
        if (
            isinstance(stored, (int, float, str, bool))
            and isinstance(value, (int, float, str, bool))
            and stored != value
        ):
            mismatched.append(f"{key}: model {stored!r}, config {value!r}")
    if mismatched:
        raise ConfigError(f"{path} does not hold the model its config describes ({'; '.join(mismatched)})")
    try:
        return load_model(algo, path, env=env, device=config.device)
    except (FileNotFoundError, ModelFileError) as exc:
        raise ConfigError(str(exc)) from None
    except ValueError as exc:  # SB3's space check: the model was trained on another env or env setting
        raise ConfigError(
            f"{path} does not fit the env its config describes ({config.env_id}, {config.resolved_env_kwargs()}): {exc}"
        ) from None


def _policy_alias(data: dict[str, Any]) -> str | None:
    """The policy alias a model file's recipe names (None: it names a class, or has no recipe)."""
    recipes = data.get("seqtutor_safe_fields")
    recipe = recipes.get("policy_class") if isinstance(recipes, dict) else None
    spec = recipe.get("type") if isinstance(recipe, dict) else None
    return spec.get("alias") if isinstance(spec, dict) else None


def load_run(run: str | Path, device: str = "cpu"):
    """``(model, config)`` of a run folder: its final model, else its newest whole checkpoint."""
    config, recorded = _read_run(run)
    path = run_file(run, MODEL_FILE, None, missing_ok=True)  # a regular file inside the run, or none
    if path is None:
        checkpoint = latest_checkpoint(run)
        if checkpoint is None:
            raise ConfigError(f"{run} holds no {MODEL_FILE} (training never reached a checkpoint)")
        path = checkpoint.model
    config = dataclasses.replace(config, device=device, out=str(run))  # the folder where it lies now
    # A one-env copy of the run's env gives the spaces of models saved before the safe format.
    env = make_env(dataclasses.replace(config, n_envs=1))
    check_prior(Path(run), recorded, env.get_attr("prior_path")[0])
    return _load_checked(config, path, env), config


def json_default(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
