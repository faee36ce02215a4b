"""What defines a training run: :class:`TrainConfig`, the algorithm names, and their policies.

Kept free of torch and Stable-Baselines3 imports so that the command line can build its parser
(and answer ``--help``) at once; :mod:`seqtutor_agents.runs.training` does the work.
"""

from __future__ import annotations

import copy
import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

from . import hyperparams
from ..common.validation import check_number
from .run_folder import ConfigError

SEQUENCE_TUTOR_ALGOS = ("q", "psi", "g")
#: Learners with a replay buffer: a checkpoint of theirs is whole only with the buffer.
REPLAY_ALGOS = SEQUENCE_TUTOR_ALGOS + ("dqn", "qrdqn")
POLICY_GRADIENT_ALGOS = ("dap", "klppo", "dpg")
STOCK_ALGOS = ("ppo", "a2c", "dqn", "qrdqn", "recurrent_ppo")
ALGO_CHOICES = SEQUENCE_TUTOR_ALGOS + POLICY_GRADIENT_ALGOS + STOCK_ALGOS
#: Learners that accept a KL target (c adapted for Sequence Tutor, β for KL-PPO).
KL_TARGET_ALGOS = SEQUENCE_TUTOR_ALGOS + ("klppo", "dpg")
DEFAULT_ENV = "SeqTutor-Melody-v0"
#: Fields that define what a run *is*; a resumed run must keep them (``steps`` etc. may change).
IDENTITY_FIELDS = ("env_id", "algo", "c", "target_kl", "seed", "n_envs", "env_kwargs", "algo_kwargs")


def policy_name(algo: str) -> str:
    """The policy alias an algorithm is trained with on seqtutor's ``Dict`` observations."""
    if algo in SEQUENCE_TUTOR_ALGOS:
        return "RecurrentQPolicy"
    if algo in POLICY_GRADIENT_ALGOS:
        return "PriorLSTMPolicy"
    return "MultiInputLstmPolicy" if algo == "recurrent_ppo" else "MultiInputPolicy"


@dataclass
class TrainConfig:
    """Everything that defines a training run (written, resolved, to ``<out>/config.json``)."""

    out: str  # run folder: model, checkpoints, logs and config.json go here
    env_id: str = DEFAULT_ENV  # registered seqtutor env id
    algo: str = "g"  # learner: q, psi, g (Sequence Tutor); dap, klppo (KL-regularised policy gradient); dpg (distribution matching toward pi*); ppo, a2c, dqn, qrdqn, recurrent_ppo (SB3 / sb3-contrib)
    steps: int = 200_000  # total env steps, all envs together
    c: float | None = None  # the paper's c: the domain reward is divided by it (None: the table's, else the env's)
    target_kl: float | None = None  # adapt c (q, psi, g, dpg) or beta (klppo) so that KL(pi || prior) per step tracks this (nats)
    seed: int = 0  # seeds the envs, the networks and the sampling
    n_envs: int | None = None  # parallel envs of the native batched env (None: the table's)
    env_kwargs: dict[str, Any] = field(default_factory=dict)  # other env keyword arguments, e.g. prior_weight=0.5
    algo_kwargs: dict[str, Any] = field(default_factory=dict)  # algorithm hyperparameters over the table's, e.g. gamma=0.95
    checkpoint_every: int = 50_000  # env steps between atomic checkpoints (model + replay buffer)
    log_sequences: bool = True  # write every finished training episode to <out>/sequences.csv (our learners)
    stop_on_collapse: float | None = None  # stop when fewer than this share of the last collapse_window sequences are distinct
    collapse_window: int = 1_000  # episodes the distinct share of stop_on_collapse is taken over
    device: str = "auto"  # torch device of the learner: auto, cpu, cuda

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first bad setting."""
        import gymnasium as gym

        from seqtutor_envs.domains import env_ids

        if not isinstance(self.env_id, str) or self.env_id not in gym.registry:
            raise ConfigError(f"unknown env id {self.env_id!r}; seqtutor envs are {', '.join(env_ids())}")
        if self.env_id not in env_ids():
            raise ConfigError(f"{self.env_id!r} is not a seqtutor env; choose one of {', '.join(env_ids())}")
        if self.algo not in ALGO_CHOICES:
            raise ConfigError(f"unknown algorithm {self.algo!r}; choose one of {', '.join(ALGO_CHOICES)}")
        checks = (("steps", self.steps, {"low": 1, "integer": True}),
                  ("c", self.c, {"low": 0.0, "low_open": True, "allow_none": True}),
                  ("target_kl", self.target_kl, {"low": 0.0, "low_open": True, "allow_none": True}),
                  ("seed", self.seed, {"low": 0, "high": 2**32 - 1, "integer": True}),
                  ("n_envs", self.n_envs, {"low": 1, "integer": True, "allow_none": True}),
                  ("checkpoint_every", self.checkpoint_every, {"low": 1, "integer": True}),
                  ("stop_on_collapse", self.stop_on_collapse, {"low": 0.0, "low_open": True, "high": 1.0,
                                                               "allow_none": True}),
                  ("collapse_window", self.collapse_window, {"low": 2, "integer": True}))
        for name, value, bounds in checks:
            try:
                check_number(name, value, **bounds)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"--{name.replace('_', '-')}: {exc}") from None
        if not isinstance(self.out, (str, os.PathLike)) or not str(self.out).strip():
            raise ConfigError(f"--out must name a run folder, got {self.out!r}")
        if not isinstance(self.log_sequences, bool):
            raise ConfigError(f"--log-sequences must be true or false, got {self.log_sequences!r}")
        if self.stop_on_collapse is not None and self.algo in STOCK_ALGOS:
            raise ConfigError(f"--stop-on-collapse watches the episodes seqtutor's own learners hand their callbacks; "
                              f"{self.algo} (a stock SB3 algorithm) has none: leave it out, or use one of "
                              f"{', '.join(SEQUENCE_TUTOR_ALGOS + POLICY_GRADIENT_ALGOS)}")
        if self.target_kl is not None and self.algo not in KL_TARGET_ALGOS:
            raise ConfigError(f"--target-kl adapts the KL weight during training; it applies to "
                              f"{', '.join(KL_TARGET_ALGOS)}, not {self.algo}")
        for name in ("env_kwargs", "algo_kwargs"):
            if not isinstance(getattr(self, name), dict):
                raise ConfigError(f"{name} must be a dict, got {getattr(self, name)!r}")
        if "c" in self.env_kwargs:
            raise ConfigError("give c with --c, not as an env keyword argument")
        if not isinstance(self.device, str) or not self.device:
            raise ConfigError(f"--device must be a torch device name such as cpu or cuda, got {self.device!r}")

    # ------------------------------------------------------------------ resolved settings
    def table_entry(self) -> dict[str, Any]:
        return hyperparams.defaults(self.env_id, self.algo)

    def resolved_n_envs(self) -> int:
        return int(self.n_envs if self.n_envs is not None else self.table_entry().get("n_envs", 32))

    def resolved_env_kwargs(self) -> dict[str, Any]:
        kwargs = {**self.table_entry().get("env_kwargs", {}), **self.env_kwargs}
        if self.c is not None:
            kwargs["c"] = self.c
        return kwargs

    def resolved_algo_kwargs(self) -> dict[str, Any]:
        table = {k: v for k, v in self.table_entry().items() if k not in hyperparams.NON_ALGO_KEYS}
        kwargs = copy.deepcopy({**table, **self.algo_kwargs})  # never alias the config's own dicts
        if self.target_kl is not None:
            kwargs["target_kl"] = self.target_kl
        if self.algo == "recurrent_ppo":
            from ..common.extractors import SeqTutorExtractor

            kwargs.setdefault("policy_kwargs", {}).setdefault("features_extractor_class", SeqTutorExtractor)
        return kwargs

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> "TrainConfig":
        """A config from a JSON object (e.g. a run's ``config.json``), unknown keys ignored."""
        if not isinstance(data, dict):
            raise ConfigError(f"{source} holds a {type(data).__name__}, expected a JSON object")
        missing = [f.name for f in dataclasses.fields(cls) if f.name in ("out", "env_id", "algo") and f.name not in data]
        if missing:
            raise ConfigError(f"{source} lacks {', '.join(repr(m) for m in missing)}")
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
