"""``seqtutor``: pre-train priors, fine-tune them with RL, sample and evaluate.

    seqtutor pretrain melody --out my_prior.pt
    seqtutor train --env SeqTutor-Melody-v0 --algo g --c 10 --steps 200000 --out runs/g
    seqtutor sample --run runs/g -n 10 --out runs/g/samples
    seqtutor evaluate --run runs/g -n 10000
    seqtutor demo --out runs/demo
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

ENV_IDS = ("SeqTutor-Melody-v0", "SeqTutor-SMILES-v0")
OUR_ALGOS = ("q", "psi", "g")
STOCK_ALGOS = ("ppo", "a2c", "dqn")
ALGO_CHOICES = OUR_ALGOS + STOCK_ALGOS


class CliError(Exception):
    """A bad command-line value: printed as ``seqtutor: error: ...`` with exit status 2."""


# ---------------------------------------------------------------------- training set-up
@dataclass
class TrainConfig:
    """Everything that defines a training run (written to ``<out>/config.json``)."""

    env_id: str  # registered seqtutor env id
    algo: str  # q, psi, g (ours) or ppo, a2c, dqn (stock SB3)
    steps: int  # total env steps (all envs together)
    out: str  # run folder
    c: float | None = None  # the paper's c (None: the env's default)
    seed: int = 0  # seeds the envs, the networks and the sampling
    n_envs: int = 32  # parallel envs in the native batched env (the replay ratio of the defaults assumes 32)
    env_kwargs: dict[str, Any] = field(default_factory=dict)  # other env keyword arguments
    algo_kwargs: dict[str, Any] = field(default_factory=dict)  # algorithm hyperparameters (over the defaults)
    checkpoint_every: int = 50_000  # env steps between atomic checkpoints
    device: str = "cpu"  # torch device

    def validate(self) -> None:
        import gymnasium as gym

        import seqtutor_envs  # noqa: F401

        if self.env_id not in gym.registry:
            raise CliError(f"unknown env id {self.env_id!r}; seqtutor envs are {', '.join(ENV_IDS)}")
        if self.env_id not in ENV_IDS:
            raise CliError(f"{self.env_id!r} is not a seqtutor env; choose one of {', '.join(ENV_IDS)}")
        if self.algo not in ALGO_CHOICES:
            raise CliError(f"unknown algorithm {self.algo!r}; choose one of {', '.join(ALGO_CHOICES)}")
        if self.c is not None and not (np.isfinite(self.c) and self.c > 0):
            raise CliError(f"--c must be a finite number > 0, got {self.c}")
        if self.steps < 1:
            raise CliError(f"--steps must be >= 1, got {self.steps}")
        if self.n_envs < 1:
            raise CliError(f"--n-envs must be >= 1, got {self.n_envs}")
        if self.checkpoint_every < 1:
            raise CliError(f"--checkpoint-every must be >= 1, got {self.checkpoint_every}")


#: Hyperparameters per algorithm (over each class's own defaults), chosen by the sweeps in benchmarks/.
DEFAULT_ALGO_KWARGS: dict[str, dict[str, Any]] = {
    # One gradient step (32 whole episodes = 1,024 transitions) per 4 vector steps of 32 envs: 8 replayed
    # transitions per env step, close to RL Tuner's 32 per 5 env steps.
    "q": {"learning_starts": 1_000, "train_freq": 4, "gradient_steps": 1, "batch_size": 32, "gamma": 0.9},
    "psi": {"learning_starts": 1_000, "train_freq": 4, "gradient_steps": 1, "batch_size": 32, "gamma": 0.9},
    "g": {"learning_starts": 1_000, "train_freq": 4, "gradient_steps": 1, "batch_size": 32, "gamma": 0.9},
    "ppo": {"n_steps": 64, "batch_size": 512, "n_epochs": 4, "learning_rate": 3e-4, "ent_coef": 0.0},
    "a2c": {"n_steps": 8, "learning_rate": 7e-4},
    "dqn": {"learning_starts": 2_000, "buffer_size": 100_000, "train_freq": 4, "batch_size": 32,
            "exploration_fraction": 0.5, "exploration_final_eps": 0.05, "target_update_interval": 1_000},
}


def algorithm_class(name: str):
    from stable_baselines3 import A2C, DQN, PPO

    from seqtutor_agents import ALGORITHMS

    return {**ALGORITHMS, "ppo": PPO, "a2c": A2C, "dqn": DQN}[name]


def make_env(config: TrainConfig):
    from seqtutor_agents.common.vec_env import make_sb3_vec_env

    kwargs = dict(config.env_kwargs)
    if config.c is not None:
        kwargs["c"] = config.c
    try:
        return make_sb3_vec_env(config.env_id, n_envs=config.n_envs, seed=config.seed, **kwargs)
    except (TypeError, ValueError) as exc:
        raise CliError(f"cannot make {config.env_id}: {exc}") from exc


def make_model(config: TrainConfig, env):
    algo = algorithm_class(config.algo)
    kwargs = {**DEFAULT_ALGO_KWARGS.get(config.algo, {}), **config.algo_kwargs}
    policy = "RecurrentQPolicy" if config.algo in OUR_ALGOS else "MultiInputPolicy"
    try:
        return algo(policy, env, seed=config.seed, device=config.device, verbose=0, **kwargs)
    except TypeError as exc:
        raise CliError(f"bad hyperparameter for {config.algo}: {exc}") from exc


# ---------------------------------------------------------------------- checkpoints
def checkpoint_dir(out: Path) -> Path:
    return out / "checkpoints"


def save_checkpoint(model, out: Path) -> None:
    """Model, replay buffer and progress written atomically: a kill never leaves a broken checkpoint."""
    from seqtutor_agents.common.tutor import SequenceTutorAlgorithm

    folder = checkpoint_dir(out)
    folder.mkdir(parents=True, exist_ok=True)
    _atomic(folder / "model.zip", model.save)
    if getattr(model, "replay_buffer", None) is not None:
        _atomic(folder / "replay_buffer.pkl", model.save_replay_buffer)
    note = {"num_timesteps": int(model.num_timesteps), "time": time.time(),
            "ours": isinstance(model, SequenceTutorAlgorithm)}
    _atomic(folder / "state.json", lambda p: Path(p).write_text(json.dumps(note)))


def _atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp{path.suffix}")
    write(str(tmp))
    written = tmp if tmp.exists() else Path(str(tmp) + ".zip")  # SB3 appends .zip to some names
    os.replace(written, path)


def make_checkpoint_callback(out: Path, every: int):
    from stable_baselines3.common.callbacks import BaseCallback

    class AtomicCheckpoint(BaseCallback):
        """Checkpoint every ``every`` env steps (counted over all envs)."""

        def __init__(self) -> None:
            super().__init__()
            self.next_at = every

        def _on_training_start(self) -> None:
            self.next_at = (self.model.num_timesteps // every + 1) * every

        def _on_step(self) -> bool:
            if self.model.num_timesteps >= self.next_at:
                save_checkpoint(self.model, out)
                self.next_at = (self.model.num_timesteps // every + 1) * every
            return True

    return AtomicCheckpoint()


def make_domain_logger_callback():
    from stable_baselines3.common.callbacks import BaseCallback

    class RewardParts(BaseCallback):
        """Logs the prior and domain parts of the reward for stock SB3 algorithms."""

        def __init__(self) -> None:
            super().__init__()
            self.log_p: list[float] = []
            self.domain: list[float] = []

        def _on_step(self) -> bool:
            infos = self.locals.get("infos") or []
            self.log_p.extend(i["prior_log_prob"] for i in infos if "prior_log_prob" in i)
            self.domain.extend(i["domain_reward"] for i in infos if "domain_reward" in i)
            return True

        def _on_rollout_end(self) -> None:
            if self.log_p:
                self.logger.record("rollout/prior_log_prob", float(np.mean(self.log_p)))
                self.logger.record("rollout/domain_reward", float(np.mean(self.domain)))
            self.log_p, self.domain = [], []

    return RewardParts()


# ---------------------------------------------------------------------- commands
def train(config: TrainConfig, resume: bool = False, progress: bool = True, verbose: int = 0):
    """Train (or resume) a run; returns the trained model."""
    from stable_baselines3.common.callbacks import CallbackList
    from stable_baselines3.common.logger import configure

    config.validate()
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    env = make_env(config)
    ckpt = checkpoint_dir(out) / "model.zip"
    algo = algorithm_class(config.algo)
    resumed = resume and ckpt.exists()
    if resume and not resumed:
        print(f"seqtutor: no checkpoint in {checkpoint_dir(out)}; starting a new run", file=sys.stderr)
    if resumed:
        saved = json.loads((out / "config.json").read_text())
        if saved["algo"] != config.algo or saved["env_id"] != config.env_id:
            raise CliError(f"{out} holds a {saved['algo']} run on {saved['env_id']}, not {config.algo} on {config.env_id}")
        model = algo.load(ckpt, env=env, device=config.device)
        buffer = checkpoint_dir(out) / "replay_buffer.pkl"
        if buffer.exists() and hasattr(model, "load_replay_buffer"):
            model.load_replay_buffer(buffer)
        part = len(list((out / "logs").glob("progress*.csv")))
        log_dir = out / "logs" / f"resume-{part}"
    else:
        model = make_model(config, env)
        log_dir = out / "logs"
    formats = ["csv", "tensorboard"] + (["stdout"] if verbose else [])
    model.set_logger(configure(str(log_dir), formats))
    _write_config(out, config, model)
    remaining = config.steps - model.num_timesteps
    callbacks = [make_checkpoint_callback(out, config.checkpoint_every)]
    if config.algo in STOCK_ALGOS:
        callbacks.append(make_domain_logger_callback())
    if remaining > 0:
        model.learn(total_timesteps=remaining, callback=CallbackList(callbacks), progress_bar=progress,
                    reset_num_timesteps=not resumed, log_interval=1)
    save_checkpoint(model, out)
    _atomic(out / "model.zip", model.save)
    env.close()
    return model


def _write_config(out: Path, config: TrainConfig, model) -> None:
    resolved = asdict(config)
    resolved["algo_kwargs_resolved"] = {**DEFAULT_ALGO_KWARGS.get(config.algo, {}), **config.algo_kwargs}
    resolved["algo_class"] = type(model).__name__
    resolved["env_c"] = float(model.get_env().get_attr("c")[0])
    resolved["prior_path"] = str(model.get_env().get_attr("prior_path")[0])
    tmp = out / ".config.json.tmp"
    tmp.write_text(json.dumps(resolved, indent=2, default=str))
    os.replace(tmp, out / "config.json")


def load_run(run: str | Path):
    """``(model, config dict)`` of a finished run folder."""
    run = Path(run)
    if not (run / "config.json").is_file():
        raise CliError(f"{run} is not a seqtutor run folder (no config.json)")
    config = json.loads((run / "config.json").read_text())
    model_path = run / "model.zip"
    if not model_path.is_file():
        model_path = checkpoint_dir(run) / "model.zip"
    if not model_path.is_file():
        raise CliError(f"{run} holds no model.zip (training never reached a checkpoint)")
    return algorithm_class(config["algo"]).load(model_path, device="cpu"), config


def _policy_and_env(args) -> tuple[Any, str, dict[str, Any], str]:
    """(act function, env id, env kwargs, label) for ``--run`` or ``--prior``."""
    from seqtutor_envs.evaluation import prior_policy

    from .evaluation import model_policy

    if args.run:
        model, config = load_run(args.run)
        env_kwargs = dict(config.get("env_kwargs", {}))
        env_kwargs["c"] = config["env_c"]
        return model_policy(model, seed=args.seed), config["env_id"], env_kwargs, f"{config['algo']} ({args.run})"
    return prior_policy(seed=args.seed), args.env, {}, "prior"


def sample_command(args) -> dict[str, Any]:
    """Write ``n`` samples: MIDI files + piano roll (melody) or a .smi file + molecule grid (SMILES)."""
    from seqtutor_envs.evaluation import run_episodes

    act, env_id, env_kwargs, label = _policy_and_env(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    batch = run_episodes(env_id, args.num, act, seed=args.seed, env_kwargs=env_kwargs, progress=True)
    written: dict[str, Any] = {"label": label, "env_id": env_id}
    if env_id == "SeqTutor-Melody-v0":
        from seqtutor_envs.melody.midi import save_piano_roll_png, write_midis

        compositions = batch.finals["composition"]
        written["midi"] = [str(p) for p in write_midis(compositions, out, prefix="sample")]
        written["piano_roll"] = str(save_piano_roll_png(compositions[:16], out / "piano_roll.png"))
    else:
        from seqtutor_envs.smiles.scoring import MoleculeScorer

        smiles = list(batch.finals["smiles"])
        (out / "samples.smi").write_text("\n".join(smiles) + "\n")
        written["smiles"] = str(out / "samples.smi")
        written["grid"] = str(save_molecule_grid(smiles[:24], out / "molecules.png", MoleculeScorer()))
    for key, value in written.items():
        if key in ("midi",):
            print(f"{len(value)} MIDI files in {out}")
        elif key not in ("label", "env_id"):
            print(f"{key}: {value}")
    return written


def save_molecule_grid(smiles: list[str], path: Path, scorer) -> Path:
    from rdkit import Chem
    from rdkit.Chem import Draw

    scores = scorer.score(smiles, ("qed",))
    mols = [Chem.MolFromSmiles(s) if v else None for s, v in zip(smiles, scores["valid"])]
    legends = [f"QED {q:.2f}" if v else "invalid" for q, v in zip(scores["qed"], scores["valid"])]
    image = Draw.MolsToGridImage([m if m is not None else Chem.Mol() for m in mols], molsPerRow=6,
                                 subImgSize=(220, 220), legends=legends)
    image.save(str(path))
    return path


def evaluate_command(args) -> dict[str, Any]:
    """Statistics table (markdown + JSON) of ``n`` samples."""
    from seqtutor_envs.evaluation import run_episodes

    act, env_id, env_kwargs, label = _policy_and_env(args)
    batch = run_episodes(env_id, args.num, act, seed=args.seed, env_kwargs=env_kwargs, progress=True)
    result: dict[str, Any] = {
        "label": label,
        "env_id": env_id,
        "episodes": args.num,
        "mean_return": float(batch.returns.mean()),
        "mean_domain_return": float(batch.domain_returns.mean()),
        "prior_log_prob_per_step": batch.prior_log_prob_per_step,
        "kl_per_step": batch.kl_per_step,
    }
    if env_id == "SeqTutor-Melody-v0":
        from seqtutor_envs.melody.stats import composition_statistics, format_statistics_table

        stats = composition_statistics(batch.finals["composition"])
        result["statistics"] = stats
        table = format_statistics_table({label: stats}, include_paper=True)
    else:
        from seqtutor_envs.smiles.metrics import format_metrics_table, molecule_metrics

        metrics = molecule_metrics(list(batch.finals["smiles"]))
        result["statistics"] = metrics
        table = format_metrics_table({label: metrics})
    extra = (f"\nMean log p_prior per step: {batch.prior_log_prob_per_step:.3f}; "
             f"mean KL(pi || prior) per step: {batch.kl_per_step if batch.kl_per_step is None else round(batch.kl_per_step, 4)}; "
             f"mean domain return: {result['mean_domain_return']:.3f}\n")
    print(table + "\n" + extra)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "evaluation.md").write_text(table + "\n" + extra)
        (out / "evaluation.json").write_text(json.dumps(result, indent=2, default=_json_default))
        print(f"written to {out / 'evaluation.md'} and {out / 'evaluation.json'}")
    return result


def _json_default(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


# ---------------------------------------------------------------------- argument parsing
def _kv(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def build_parser() -> argparse.ArgumentParser:
    from seqtutor_envs.pretrain import add_pretrain_arguments

    parser = argparse.ArgumentParser(prog="seqtutor", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("pretrain", help="MLE pre-training of a prior")
    add_pretrain_arguments(p)

    p = sub.add_parser("train", help="fine-tune a prior with RL on a seqtutor env")
    p.add_argument("--env", default="SeqTutor-Melody-v0", help=f"env id ({', '.join(ENV_IDS)})")
    p.add_argument("--algo", default="g", help=f"algorithm: {', '.join(ALGO_CHOICES)}")
    p.add_argument("--c", type=float, default=None, help="the paper's c (default: the env's)")
    p.add_argument("--steps", type=int, default=200_000, help="total env steps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-envs", type=int, default=TrainConfig.n_envs)
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument("--env-kwarg", type=_kv, action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--algo-kwarg", type=_kv, action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--checkpoint-every", type=int, default=50_000, help="env steps between checkpoints")
    p.add_argument("--resume", action="store_true", help="continue from <out>/checkpoints")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("-v", "--verbose", action="count", default=0)

    for name, helptext in (("sample", "write samples (MIDI + piano roll, or SMILES + grid)"),
                           ("evaluate", "statistics table (markdown + JSON)")):
        p = sub.add_parser(name, help=helptext)
        src = p.add_mutually_exclusive_group(required=True)
        src.add_argument("--run", help="a run folder written by `seqtutor train`")
        src.add_argument("--prior", action="store_true", help="sample the env's prior itself")
        p.add_argument("--env", default="SeqTutor-Melody-v0", help="env id (with --prior)")
        p.add_argument("-n", "--num", type=int, default=10 if name == "sample" else 10_000)
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--out", default=None if name == "evaluate" else "samples", help="output folder")

    p = sub.add_parser("demo", help="fine-tune the Note RNN and write MIDI, plots and Table 1")
    p.add_argument("--out", default="runs/demo")
    p.add_argument("--steps", type=int, default=None, help="env steps (default: the demo's budget)")
    p.add_argument("--seed", type=int, default=0)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "pretrain":
            from seqtutor_envs.pretrain import run_pretrain

            run_pretrain(args, ["seqtutor", *argv])
        elif args.command == "train":
            config = TrainConfig(
                env_id=args.env, algo=args.algo, steps=args.steps, out=args.out, c=args.c, seed=args.seed,
                n_envs=args.n_envs, env_kwargs=dict(args.env_kwarg), algo_kwargs=dict(args.algo_kwarg),
                checkpoint_every=args.checkpoint_every,
            )
            train(config, resume=args.resume, progress=not args.no_progress, verbose=args.verbose)
            print(f"model, config and logs in {args.out}")
        elif args.command == "sample":
            if args.num < 1:
                raise CliError(f"-n must be >= 1, got {args.num}")
            sample_command(args)
        elif args.command == "evaluate":
            if args.num < 1:
                raise CliError(f"-n must be >= 1, got {args.num}")
            evaluate_command(args)
        elif args.command == "demo":
            from .demo import run_demo

            run_demo(Path(args.out), steps=args.steps, seed=args.seed)
    except CliError as exc:
        parser.exit(2, f"seqtutor: error: {exc}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
