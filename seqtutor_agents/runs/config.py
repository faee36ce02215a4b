"""What defines a training run: :class:`TrainConfig` and the one table of algorithms, :data:`ALGOS`.

Every fact about an algorithm lives in its row of :data:`ALGOS` -- its class (an import path,
resolved on first use), policy, family, defaults, what ``--target-kl`` adapts, whether it replays,
its rl-zoo3 name -- and everything else is derived from the table: the ``--algo`` choices, the
families' name lists, :func:`policy_name`, :func:`algorithm_class`, :func:`defaults`, rl-zoo3's
files (:mod:`seqtutor_agents.zoo`) and ``seqtutor_agents.ALGORITHMS``. Adding a learner is one row.

Kept free of torch and Stable-Baselines3 imports so that the command line can build its parser
(and answer ``--help``) at once; :mod:`seqtutor_agents.runs.training` does the work.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import os
from dataclasses import dataclass, field
from typing import Any

from seqtutor_envs.domains import get_domain

from ..common.validation import check_number
from .run_folder import ConfigError


@dataclass(frozen=True)
class Algo:
    """One learner of ``seqtutor train --algo``: a row of :data:`ALGOS`."""

    cls: str  # its class as "package.module.Name", imported on first use (:func:`algorithm_class`)
    policy: str  # the policy alias it trains with on seqtutor's Dict observations
    family: str  # "sequence_tutor", "policy_gradient" or "stock" (Stable-Baselines3 / sb3-contrib)
    defaults: dict[str, Any] = field(default_factory=dict)  # its settings on any seqtutor env (:func:`defaults`)
    kl_target: str | None = None  # what --target-kl adapts: "c", "beta" (KL-PPO's penalty), or None (no KL target)
    replay: bool = False  # a checkpoint of it is whole only with its replay buffer
    zoo: str | None = None  # rl-zoo3's name for it (seqtutor_agents/zoo/<zoo>.py is its hyperparameter file)
    seqtutor_extractor: bool = False  # its policy needs SeqTutorExtractor (its default cannot read int64 tokens)


# Each entry says which measurement chose it; a domain's settings go over them
# (:attr:`seqtutor_envs.domains.Domain.learner_defaults`). Two keys are not algorithm arguments:
# ``n_envs`` (parallel envs of the native batched env) and ``env_kwargs`` (env keyword arguments).
#
# One gradient step (32 whole episodes = 1,024 transitions) per 4 vector steps of 32 envs: 8 replayed
# transitions per env step, close to RL Tuner's 32 per 5 env steps (benchmarks/results/melody_table.md).
_TUTOR = {"n_envs": 32, "learning_starts": 1_000, "train_freq": 4, "gradient_steps": 1, "batch_size": 32, "gamma": 0.9}
# Policy-gradient baselines: REINVENT's defaults (lr 1e-4, batch 64) and TRL-like PPO settings on whole episodes.
_PPO = {"n_envs": 32, "n_steps": 64, "batch_size": 512, "n_epochs": 4, "learning_rate": 3e-4, "ent_coef": 0.0}
_DQN = {
    "n_envs": 32,
    "learning_starts": 2_000,
    "buffer_size": 100_000,
    "train_freq": 4,
    "batch_size": 32,
    "exploration_fraction": 0.5,
    "exploration_final_eps": 0.05,
    "target_update_interval": 1_000,
}

#: Every algorithm ``seqtutor train --algo`` knows, by name (the order of the ``--algo`` choices).
ALGOS: dict[str, Algo] = {
    "q": Algo(
        "seqtutor_agents.sequence_tutor.PriorQLearning",
        "RecurrentQPolicy",
        "sequence_tutor",
        dict(_TUTOR),
        kl_target="c",
        replay=True,
    ),
    "psi": Algo(
        "seqtutor_agents.sequence_tutor.PsiLearning",
        "RecurrentQPolicy",
        "sequence_tutor",
        dict(_TUTOR),
        kl_target="c",
        replay=True,
    ),
    "g": Algo(
        "seqtutor_agents.sequence_tutor.GLearning",
        "RecurrentQPolicy",
        "sequence_tutor",
        dict(_TUTOR),
        kl_target="c",
        replay=True,
    ),
    "dap": Algo(
        "seqtutor_agents.policy_gradient.DAP",
        "PriorLSTMPolicy",
        "policy_gradient",
        {"n_envs": 64, "learning_rate": 1e-4, "batch_size": 64},
    ),
    "klppo": Algo(
        "seqtutor_agents.policy_gradient.KLPPO",
        "PriorLSTMPolicy",
        "policy_gradient",
        {
            "n_envs": 64,
            "learning_rate": 1e-4,
            "batch_size": 64,
            "n_epochs": 4,
            "minibatch_size": 16,
            "gamma": 1.0,
            "gae_lambda": 0.95,
            "beta": 1.0,
        },
        kl_target="beta",
    ),
    "dpg": Algo(
        "seqtutor_agents.policy_gradient.DPG",
        "PriorLSTMPolicy",
        "policy_gradient",
        {"n_envs": 64, "learning_rate": 5e-4, "batch_size": 64},
        kl_target="c",
    ),
    # Genetic GFN's settings (lr 5e-4, log Z lr 0.1, 8 steps on 64 rank-sampled of the 1,024 best per 64 samples);
    # the melody domain makes it on-policy (seqtutor_envs/melody/domain.py).
    "tb": Algo(
        "seqtutor_agents.policy_gradient.TB",
        "TBPolicy",
        "policy_gradient",
        {
            "n_envs": 64,
            "learning_rate": 5e-4,
            "batch_size": 64,
            "gradient_steps": 8,
            "replay_memory": 1024,
            "replay_sample": 64,
        },
        kl_target="c",
    ),
    "ppo": Algo("stable_baselines3.PPO", "MultiInputPolicy", "stock", dict(_PPO), zoo="ppo"),
    "a2c": Algo(
        "stable_baselines3.A2C",
        "MultiInputPolicy",
        "stock",
        {"n_envs": 32, "n_steps": 8, "learning_rate": 7e-4},
        zoo="a2c",
    ),
    "dqn": Algo("stable_baselines3.DQN", "MultiInputPolicy", "stock", dict(_DQN), replay=True, zoo="dqn"),
    "qrdqn": Algo("sb3_contrib.QRDQN", "MultiInputPolicy", "stock", dict(_DQN), replay=True, zoo="qrdqn"),
    "recurrent_ppo": Algo(
        "sb3_contrib.RecurrentPPO", "MultiInputLstmPolicy", "stock", dict(_PPO), zoo="ppo_lstm", seqtutor_extractor=True
    ),
}

ALGO_CHOICES = tuple(ALGOS)
SEQUENCE_TUTOR_ALGOS = tuple(name for name, algo in ALGOS.items() if algo.family == "sequence_tutor")
POLICY_GRADIENT_ALGOS = tuple(name for name, algo in ALGOS.items() if algo.family == "policy_gradient")
STOCK_ALGOS = tuple(name for name, algo in ALGOS.items() if algo.family == "stock")
#: Learners with a replay buffer: a checkpoint of theirs is whole only with the buffer.
REPLAY_ALGOS = tuple(name for name, algo in ALGOS.items() if algo.replay)
#: Learners that accept a KL target (c adapted, or KL-PPO's β).
KL_TARGET_ALGOS = tuple(name for name, algo in ALGOS.items() if algo.kl_target is not None)
#: Keys of a table entry that are not arguments of the algorithm.
NON_ALGO_KEYS = ("n_envs", "env_kwargs")
DEFAULT_ENV = "SeqTutor-Melody-v0"
#: Fields that define what a run *is*; a resumed run must keep them (``steps`` etc. may change).
IDENTITY_FIELDS = ("env_id", "algo", "c", "target_kl", "seed", "n_envs", "env_kwargs", "algo_kwargs", "scoring")


def algo_row(name: str) -> Algo:
    """The :data:`ALGOS` row of ``name``, or a :class:`ConfigError` listing the choices."""
    if name not in ALGOS:
        raise ConfigError(f"unknown algorithm {name!r}; choose one of {', '.join(ALGO_CHOICES)}")
    return ALGOS[name]


def policy_name(algo: str) -> str:
    """The policy alias an algorithm is trained with on seqtutor's ``Dict`` observations."""
    return algo_row(algo).policy


def algorithm_class(name: str) -> type:
    """The algorithm class of a short name (``"g"``, ``"ppo"``, ``"recurrent_ppo"``, ...), imported now."""
    module, _, attr = algo_row(name).cls.rpartition(".")
    return getattr(importlib.import_module(module), attr)


def defaults(env_id: str, algo: str) -> dict[str, Any]:
    """The algorithm's defaults with the env's domain's settings over them (a copy; empty if neither lists it)."""
    entry = copy.deepcopy(ALGOS[algo].defaults) if algo in ALGOS else {}
    try:
        overrides = copy.deepcopy(dict(get_domain(env_id).learner_defaults.get(algo, {})))
    except KeyError:
        return entry
    env_kwargs = {**entry.pop("env_kwargs", {}), **overrides.pop("env_kwargs", {})}
    entry.update(overrides)
    if env_kwargs:
        entry["env_kwargs"] = env_kwargs
    return entry


def seqtutor_policy_kwargs(algo: str, policy_kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
    """``policy_kwargs`` with what the algorithm's policy needs on seqtutor envs (a copy)."""
    kwargs = dict(policy_kwargs or {})
    if ALGOS[algo].seqtutor_extractor:
        from ..common.extractors import SeqTutorExtractor  # torch: only when a run is built

        kwargs.setdefault("features_extractor_class", SeqTutorExtractor)
    return kwargs


@dataclass
class TrainConfig:
    """Everything that defines a training run (written, resolved, to ``<out>/config.json``)."""

    out: str  # run folder: model, checkpoints, logs and config.json go here
    env_id: str = DEFAULT_ENV  # registered seqtutor env id
    algo: str = "g"  # learner: a name of the ALGOS table (seqtutor_agents/runs/config.py)
    steps: int = 200_000  # total env steps, all envs together
    c: float | None = None  # the paper's c: the domain reward is divided by it (None: the table's, else the env's)
    target_kl: float | None = (
        None  # adapt c (q, psi, g, dpg) or beta (klppo) so that KL(pi || prior) per step tracks this (nats)
    )
    seed: int = 0  # seeds the envs, the networks and the sampling
    n_envs: int | None = None  # parallel envs of the native batched env (None: the table's)
    env_kwargs: dict[str, Any] = field(default_factory=dict)  # other env keyword arguments, e.g. prior_weight=0.5
    algo_kwargs: dict[str, Any] = field(
        # algorithm hyperparameters over the table's, e.g. gamma=0.95; on SMILES (g, psi, dap, dpg, tb):
        # genetic='{"children": 8, "generations": 2, "pool_size": 1024, "mutation_rate": 0.01}' (graph-GA
        # offspring, scored as oracle calls), augment=2 (updates on randomised SMILES), replay_sampling=rank
        # (dap, dpg, tb; g/psi: replay_buffer_kwargs elite_sampling)
        default_factory=dict
    )
    scoring: str | None = (
        # a scoring file (TOML or JSON: components, transforms, weights, stages) as SeqTutor-SMILES-v0's
        # objective; the run keeps a copy
        None
    )
    checkpoint_every: int = 50_000  # env steps between atomic checkpoints (model + replay buffer)
    log_sequences: bool = True  # write every finished training episode to <out>/sequences.csv (our learners)
    stop_on_collapse: float | None = (
        None  # stop when fewer than this share of the last collapse_window sequences are distinct
    )
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
        algo = algo_row(self.algo)
        checks = (
            ("steps", self.steps, {"low": 1, "integer": True}),
            ("c", self.c, {"low": 0.0, "low_open": True, "allow_none": True}),
            ("target_kl", self.target_kl, {"low": 0.0, "low_open": True, "allow_none": True}),
            ("seed", self.seed, {"low": 0, "high": 2**32 - 1, "integer": True}),
            ("n_envs", self.n_envs, {"low": 1, "integer": True, "allow_none": True}),
            ("checkpoint_every", self.checkpoint_every, {"low": 1, "integer": True}),
            (
                "stop_on_collapse",
                self.stop_on_collapse,
                {"low": 0.0, "low_open": True, "high": 1.0, "allow_none": True},
            ),
            ("collapse_window", self.collapse_window, {"low": 2, "integer": True}),
        )
        for name, value, bounds in checks:
            try:
                check_number(name, value, **bounds)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"--{name.replace('_', '-')}: {exc}") from None
        if not isinstance(self.out, (str, os.PathLike)) or not str(self.out).strip():
            raise ConfigError(f"--out must name a run folder, got {self.out!r}")
        if not isinstance(self.log_sequences, bool):
            raise ConfigError(f"--log-sequences must be true or false, got {self.log_sequences!r}")
        if self.stop_on_collapse is not None and algo.family == "stock":
            raise ConfigError(
                f"--stop-on-collapse watches the episodes seqtutor's own learners hand their callbacks; "
                f"{self.algo} (a stock SB3 algorithm) has none: leave it out, or use one of "
                f"{', '.join(name for name, row in ALGOS.items() if row.family != 'stock')}"
            )
        if self.target_kl is not None and algo.kl_target is None:
            raise ConfigError(
                f"--target-kl adapts the KL weight during training; it applies to "
                f"{', '.join(KL_TARGET_ALGOS)}, not {self.algo}"
            )
        for name in ("env_kwargs", "algo_kwargs"):
            if not isinstance(getattr(self, name), dict):
                raise ConfigError(f"{name} must be a dict, got {getattr(self, name)!r}")
        if "c" in self.env_kwargs:
            raise ConfigError("give c with --c, not as an env keyword argument")
        if self.scoring is not None or "objective" in self.env_kwargs or "scoring_stage" in self.env_kwargs:
            from .scoring_run import check_scoring_settings

            check_scoring_settings(self)
        if not isinstance(self.device, str) or not self.device:
            raise ConfigError(f"--device must be a torch device name such as cpu or cuda, got {self.device!r}")

    # ------------------------------------------------------------------ resolved settings
    def table_entry(self) -> dict[str, Any]:
        return defaults(self.env_id, self.algo)

    def resolved_n_envs(self) -> int:
        return int(self.n_envs if self.n_envs is not None else self.table_entry().get("n_envs", 32))

    def resolved_env_kwargs(self) -> dict[str, Any]:
        kwargs = {**self.table_entry().get("env_kwargs", {}), **self.env_kwargs}
        if self.c is not None:
            kwargs["c"] = self.c
        if self.scoring is not None:  # the run's copy of the file, in the stage the run reached
            from .scoring_run import scoring_env_kwargs

            kwargs.update(scoring_env_kwargs(self.out, self.scoring))
        return kwargs

    def resolved_algo_kwargs(self) -> dict[str, Any]:
        table = {k: v for k, v in self.table_entry().items() if k not in NON_ALGO_KEYS}
        kwargs = copy.deepcopy({**table, **self.algo_kwargs})  # never alias the config's own dicts
        if self.target_kl is not None:
            kwargs["target_kl"] = self.target_kl
        if ALGOS[self.algo].seqtutor_extractor:
            kwargs["policy_kwargs"] = seqtutor_policy_kwargs(self.algo, kwargs.get("policy_kwargs"))
        return kwargs

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> TrainConfig:
        """A config from a JSON object (e.g. a run's ``config.json``), unknown keys ignored."""
        if not isinstance(data, dict):
            raise ConfigError(f"{source} holds a {type(data).__name__}, expected a JSON object")
        missing = [
            f.name for f in dataclasses.fields(cls) if f.name in ("out", "env_id", "algo") and f.name not in data
        ]
        if missing:
            raise ConfigError(f"{source} lacks {', '.join(repr(m) for m in missing)}")
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
