"""Other RL tools on our envs: rl-zoo3 co-installs under our constraints and trains from our hyperparameter files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from seqtutor_agents.runs.config import defaults
from seqtutor_agents.zoo import ZOO_ALGOS, zoo_hyperparams
from seqtutor_envs.domains import env_ids

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_constraints_resolve_with_rl_zoo3_sb3_contrib_and_ray(tmp_path):
    """pip's resolver, dry run: the project with its extras and rl-zoo3, under constraints.txt."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--ignore-installed",
            "--no-build-isolation",
            "--disable-pip-version-check",
            "-c",
            str(ROOT / "constraints.txt"),
            f"{ROOT}[dev,sweep,zoo,torchrl]",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PIP_NO_INPUT": "1"},
        timeout=600,
    )
    out = proc.stdout + proc.stderr
    if proc.returncode != 0 and ("Could not fetch URL" in out or "NewConnectionError" in out):
        pytest.skip("no package index reachable")
    assert proc.returncode == 0, out[-3000:]
    would = out.split("Would install", 1)[1]
    for package in ("rl_zoo3", "sb3_contrib", "ray", "stable_baselines3", "seqtutor", "torchrl", "torch-2.13.0"):
        assert package in would, f"{package} missing from the resolution"


@pytest.mark.parametrize("zoo_algo", sorted(ZOO_ALGOS))
def test_zoo_files_are_the_packages_own_defaults(zoo_algo):
    files = zoo_hyperparams(zoo_algo)
    assert set(files) == set(env_ids())
    for env_id, settings in files.items():
        ours = defaults(env_id, ZOO_ALGOS[zoo_algo])
        assert settings["n_envs"] == ours.pop("n_envs")
        for key, value in ours.items():
            if key != "policy_kwargs":
                assert settings[key] == value, (env_id, key)
        assert settings["policy"].startswith("MultiInput")


@pytest.mark.slow
@pytest.mark.parametrize(
    "zoo_algo, env_id, extra",
    [
        ("ppo", "SeqTutor-Melody-v0", []),
        ("ppo", "SeqTutor-SMILES-v0", []),
        ("ppo_lstm", "SeqTutor-Melody-v0", ["n_epochs:1"]),  # RecurrentPPO: our extractor makes it run
    ],
)
def test_rl_zoo3_trains_on_our_envs_from_our_files(tmp_path, zoo_algo, env_id, extra):
    pytest.importorskip("rl_zoo3")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "rl_zoo3.train",
            "--algo",
            zoo_algo,
            "--env",
            env_id,
            "--gym-packages",
            "seqtutor_envs",
            "--conf-file",
            f"seqtutor_agents.zoo.{zoo_algo}",
            "-n",
            "256",
            "-f",
            str(tmp_path / "logs"),
            "--eval-freq",
            "-1",
            "--seed",
            "0",
            "-params",
            "n_envs:4",
            "n_steps:32",
            "batch_size:64",
            *extra,
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1", "TMPDIR": str(tmp_path)},
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    saved = list((tmp_path / "logs" / zoo_algo).glob(f"{env_id}_1/{env_id}.zip"))
    assert saved and saved[0].stat().st_size > 10_000
    assert "total_timesteps      | 256" in proc.stdout
    # rl-zoo3 stepped the native batched env (its vec_env_wrapper), whose VecMonitor logged the episodes
    log = (tmp_path / "logs" / zoo_algo / f"{env_id}_1" / "native.monitor.csv").read_text().splitlines()
    assert len(log) > 2 and log[1] == "r,l,t"


def test_native_vec_env_replaces_rl_zoo3_s_dummy_vec_env(tmp_path):
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import SubprocVecEnv, VecMonitor

    from seqtutor_agents import SeqTutorVecEnv
    from seqtutor_agents.zoo import VEC_ENV_WRAPPER, native_vec_env

    assert all(
        files["SeqTutor-Melody-v0"]["vec_env_wrapper"] == VEC_ENV_WRAPPER for files in map(zoo_hyperparams, ZOO_ALGOS)
    )
    env = native_vec_env(
        make_vec_env(
            "SeqTutor-Melody-v0", n_envs=3, seed=0, monitor_dir=str(tmp_path), env_kwargs={"composition_length": 8}
        )
    )
    assert isinstance(env, VecMonitor) and isinstance(env.venv, SeqTutorVecEnv) and env.num_envs == 3
    env.reset()
    for _ in range(8):
        env.step(np.zeros(3, dtype=np.int64))
    env.close()
    rows = (tmp_path / "native.monitor.csv").read_text().splitlines()[2:]
    assert len(rows) == 3 and all(row.split(",")[1] == "8" for row in rows)
    eval_env = native_vec_env(make_vec_env("SeqTutor-Melody-v0", n_envs=2))  # rl-zoo3's eval env: no log files
    assert isinstance(eval_env, SeqTutorVecEnv)
    with pytest.raises(ValueError, match=r"--vec-env dummy"):
        native_vec_env(make_vec_env("seqtutor_envs:SeqTutor-Melody-v0", n_envs=1, vec_env_cls=SubprocVecEnv))
