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

import copy
import dataclasses
import json
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..common.safe_load import (
    ModelFileError,
    load_model,
    load_replay_buffer,
    read_model_data,
    save_model,
    write_json,
)
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

CONFIG_FILE, CONFIG_TOML, MODEL_FILE, LOGS = "config.json", "config.toml", "model.zip", "logs"
SEQUENCES_FILE = "sequences.csv"  # every finished training episode (seqtutor_agents.runs.callbacks.SequenceLog)
__all__ = ["ConfigError", "TrainConfig", "TrainingInterrupted", "load_run", "read_run_config", "train"]


# ---------------------------------------------------------------------- building
def make_env(config: TrainConfig):
    """The run's native batched env as an SB3 ``VecEnv``."""
    from ..common.vec_env import make_sb3_vec_env

    try:
        return make_sb3_vec_env(config.env_id, n_envs=config.resolved_n_envs(), seed=config.seed,
                                **config.resolved_env_kwargs())
    except (TypeError, ValueError, FileNotFoundError) as exc:
        raise ConfigError(f"cannot make {config.env_id}: {exc}") from exc


def make_model(config: TrainConfig, env, progress: bool = False):
    """A new model of the run's algorithm on ``env``.

    A run that holds a KL target and names no c starts c at π*'s c for the target
    (:mod:`seqtutor_agents.runs.kl_start`; ``progress``: say so on stderr).
    """
    algo = algorithm_class(config.algo)
    kwargs = config.resolved_algo_kwargs()
    if needs_start_c(config):
        report = (lambda line: print(f"seqtutor: {line}", file=sys.stderr, flush=True)) if progress else None
        start = optimum_start_c(config.env_id, config.resolved_env_kwargs(), float(config.target_kl), report=report)
        if start is not None:
            kwargs["c"] = start
    try:
        return algo(policy_name(config.algo), env, seed=config.seed, device=config.device, verbose=0, **kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"bad hyperparameter for {config.algo}: {exc}") from exc


# ---------------------------------------------------------------------- checkpoints
def checkpoint_callback(out: Path, every: int):
    """An SB3 callback that writes a whole checkpoint every ``every`` env steps (counted over all envs)."""
    from stable_baselines3.common.callbacks import BaseCallback

    class AtomicCheckpoint(BaseCallback):
        def _on_training_start(self) -> None:
            self.next_at = (self.model.num_timesteps // every + 1) * every

        def _on_step(self) -> bool:
            if self.model.num_timesteps >= self.next_at:
                write_checkpoint(self.model, out)
                self.next_at = (self.model.num_timesteps // every + 1) * every
            return True

    return AtomicCheckpoint()


def stop_callback(stop: StopOnSignal):
    """An SB3 callback that ends ``learn`` after the step during which a stop was requested."""
    from stable_baselines3.common.callbacks import BaseCallback

    class StopOnRequest(BaseCallback):
        def _on_step(self) -> bool:
            return not stop.requested

    return StopOnRequest()


def reward_parts_callback():
    """Logs the reward's parts (and the exact KL of actor-critic policies) for stock SB3 algorithms.

    Our learners log ``rollout/prior_log_prob``, ``rollout/domain_reward``, ``rollout/kl_prior`` and
    ``rollout/entropy`` themselves; this gives stock algorithms the same keys, read from each step's info.
    """
    import torch as th
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.policies import ActorCriticPolicy

    from seqtutor_envs.reward import RewardParts

    from ..common.kl import RolloutStats, kl_and_entropy

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
            if isinstance(obs, dict) and type(policy).__name__ != "RecurrentMultiInputActorCriticPolicy" and \
                    isinstance(policy, ActorCriticPolicy):
                with th.no_grad():
                    log_pi = th.log_softmax(policy.get_distribution(obs).distribution.logits, dim=-1)
                    kl, entropy = kl_and_entropy(log_pi, obs["prior_log_probs"].float())
                self.stats.add(kl_prior=kl, entropy=entropy)
            return True

        def _on_rollout_end(self) -> None:
            self.stats.dump(self.logger, mean=True)

    return RewardPartsLogger()


# ---------------------------------------------------------------------- runs
def holds_run(out: Path) -> bool:
    return any((out / name).exists() for name in (CONFIG_FILE, MODEL_FILE, CHECKPOINTS, LOGS))


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
    out = Path(config.out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file, not a run folder")
    if resume and not out.is_dir():
        raise ConfigError(f"nothing to resume in {out}: no such folder")
    with RunLock(out):  # before anything in the folder is read, deleted or written
        clean_stale_files(out)
        return _train_locked(config, out, resume, overwrite, progress, verbose, callback)


def _train_locked(config: TrainConfig, out: Path, resume: bool, overwrite: bool, progress: bool, verbose: int,
                  callback) -> Any:
    from stable_baselines3.common.callbacks import CallbackList
    from stable_baselines3.common.logger import configure

    checkpoint = _prepare_folder(config, out, resume, overwrite)
    _check_writable(out)
    env = make_env(config)
    if checkpoint is not None:
        model = _resume_model(config, checkpoint, env)
        part = len(list((out / LOGS).glob("resume-*"))) + 1
        log_dir = out / LOGS / f"resume-{part}"
        write_json(log_dir / "resume.json", {"command": " ".join(sys.argv), "steps": config.steps,
                                             "from_checkpoint": str(checkpoint.path),
                                             "from_step": int(model.num_timesteps), "time": time.time()})
    else:
        model = make_model(config, env, progress=progress)
        log_dir = out / LOGS
        _write_config(out, config, model)  # once: a resume never rewrites the run's config
    model.set_logger(configure(str(log_dir), ["csv", "tensorboard"] + (["stdout"] if verbose else [])))
    callbacks = _run_callbacks(config, out, callback)
    start_step = int(model.num_timesteps)
    remaining = config.steps - model.num_timesteps
    with StopOnSignal() as stop:
        if remaining > 0:
            model.learn(total_timesteps=remaining, callback=CallbackList([stop_callback(stop), *callbacks]),
                        progress_bar=progress, reset_num_timesteps=checkpoint is None, log_interval=1)
        if stop.requested:
            raise TrainingInterrupted(stop.signum, int(model.num_timesteps), write_checkpoint(model, out), out)
        if checkpoint is None or model.num_timesteps != start_step:
            final = write_checkpoint(model, out)
        else:
            final = checkpoint.path
        try:
            before_write("final_model", out / MODEL_FILE)
            save_model(model, out / MODEL_FILE)
        except OSError as exc:
            raise write_failure(out / MODEL_FILE, exc, f"the checkpoint {final} holds the finished run: free space, "
                                "then run the same command with --resume to write the model") from None
    env.close()
    return model


def _prepare_folder(config: TrainConfig, out: Path, resume: bool, overwrite: bool) -> Checkpoint | None:
    """The checkpoint a resume continues from (None for a new run, whose folder is emptied of an old run
    with ``overwrite``); refuses a resume with other settings and a new run over an old one."""
    if resume:
        saved = read_run_config(out)
        conflicts = [name for name in IDENTITY_FIELDS if getattr(saved, name) != getattr(config, name)]
        if conflicts:
            raise ConfigError(
                f"{out} was trained with " + ", ".join(f"{n}={getattr(saved, n)!r}" for n in conflicts)
                + "; this resume asks for " + ", ".join(f"{n}={getattr(config, n)!r}" for n in conflicts)
                + ". A resumed run keeps its own settings: leave those options out, or start a new run"
            )
        checkpoint = latest_checkpoint(out, needs_buffer=ALGOS[config.algo].replay)
        if checkpoint is None:
            raise ConfigError(f"nothing to resume in {out}: no checkpoint in {out / CHECKPOINTS}")
        return checkpoint
    if holds_run(out):
        if not overwrite:
            raise ConfigError(f"{out} already holds a run: pass --resume to continue it or --overwrite to replace it")
        for name in (CONFIG_FILE, CONFIG_TOML, MODEL_FILE, SEQUENCES_FILE):
            (out / name).unlink(missing_ok=True)
        for name in (CHECKPOINTS, LOGS):
            shutil.rmtree(out / name, ignore_errors=True)
    return None


def _run_callbacks(config: TrainConfig, out: Path, callback) -> list:
    """A run's SB3 callbacks: checkpoints, the logs a learner family lacks, the user's ``callback`` (one or a list)."""
    callbacks = [checkpoint_callback(out, config.checkpoint_every)]
    if ALGOS[config.algo].family == "stock":
        callbacks.append(reward_parts_callback())
    else:
        from .callbacks import SequenceLog, StopOnCollapse

        if config.log_sequences:
            callbacks.append(SequenceLog(out / SEQUENCES_FILE, config.env_id))
        if config.stop_on_collapse is not None:
            callbacks.append(StopOnCollapse(config.stop_on_collapse, config.collapse_window, config.env_id))
    if callback is not None:
        callbacks.extend(callback if isinstance(callback, list) else [callback])
    return callbacks


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
    resolved = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    resolved["resolved"] = {
        "algo_class": type(model).__name__,
        "n_envs": config.resolved_n_envs(),
        "env_kwargs": config.resolved_env_kwargs(),
        "algo_kwargs": config.resolved_algo_kwargs(),
        "env_c": float(model.get_env().get_attr("c")[0]),
        # where c started: the learner's own (--c, or π*'s for --target-kl: runs/kl_start.py), else the env's
        "start_c": None if getattr(model, "current_c", None) is None else float(model.current_c),
        "prior_path": str(model.get_env().get_attr("prior_path")[0]),
        "command": " ".join(sys.argv),
    }
    write_json(out / CONFIG_FILE, resolved)
    from seqtutor_envs.io import atomic_write_text

    from .run_config import config_toml

    atomic_write_text(out / CONFIG_TOML, config_toml(config))


def read_run_config(run: str | Path) -> TrainConfig:
    """The :class:`TrainConfig` of a run folder, with a precise error for a missing or damaged ``config.json``."""
    path = Path(run) / CONFIG_FILE
    if not Path(run).is_dir():
        raise ConfigError(f"{run} is not a seqtutor run folder (no such folder)")
    if not path.is_file():
        raise ConfigError(f"{run} is not a seqtutor run folder (no {CONFIG_FILE})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid JSON ({exc}); the run's settings cannot be read") from None
    config = TrainConfig.from_dict(data, source=str(path))
    try:
        config.validate()
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return config


def _load_checked(config: TrainConfig, path: Path, env=None):
    """Load a run's model, checking that the file holds the config's algorithm and settings."""
    algo = algorithm_class(config.algo)
    try:
        data = read_model_data(path)
    except (FileNotFoundError, ModelFileError) as exc:
        raise ConfigError(str(exc)) from None
    saved_as = data.get("seqtutor_algorithm")
    if saved_as is not None and saved_as != algo.__name__:
        raise ConfigError(f"{path} holds a {saved_as} model but the run's config says {config.algo} "
                          f"({algo.__name__}): the folder mixes two runs")
    mismatched = []
    for key, value in config.resolved_algo_kwargs().items():
        stored = data.get(key)
        if isinstance(stored, (int, float, str, bool)) and isinstance(value, (int, float, str, bool)) and stored != value:
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


def load_run(run: str | Path, device: str = "cpu"):
    """``(model, config)`` of a run folder: its final model, else its newest whole checkpoint."""
    config = read_run_config(run)
    path = Path(run) / MODEL_FILE
    if not path.is_file():
        checkpoint = latest_checkpoint(run)
        if checkpoint is None:
            raise ConfigError(f"{run} holds no {MODEL_FILE} (training never reached a checkpoint)")
        path = checkpoint.model
    config = dataclasses.replace(config, device=device)
    # A one-env copy of the run's env gives the spaces of models saved before the safe format.
    env = make_env(dataclasses.replace(config, n_envs=1))
    return _load_checked(config, path, env), config


def json_default(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
