"""Helpers for tests that train, open, damage or tamper with run folders, or call the CLI (imported by the agents'
tests)."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import shutil
import subprocess
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from seqtutor_agents.cli import main
from seqtutor_agents.runs.config import TrainConfig
from seqtutor_agents.runs.evaluation import model_policy, run_episodes
from seqtutor_agents.runs.run_folder import MANIFEST, _sha256, list_checkpoints
from seqtutor_agents.runs.training import train


def refused(capsys, *args: str) -> str:
    """Run the CLI, expect exit code 2 and no traceback; return stderr."""
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "Traceback" not in err, err
    return err


def train_melody_run(out: Path, steps: int, overwrite: bool = False) -> Path:
    """Train a tiny Psi-learning run on 8-note melodies into ``out`` (8 envs, learning from step 64)."""
    config = TrainConfig(
        out=str(out),
        algo="psi",
        steps=steps,
        n_envs=8,
        env_kwargs={"composition_length": 8},
        algo_kwargs={"learning_starts": 64},
    )
    train(config, overwrite=overwrite, progress=False)
    return out


def train_smiles_run(out: Path) -> Path:
    """Train a tiny G-learning run on SMILES scored by QED into ``out`` (64 steps, 4 envs)."""
    config = TrainConfig(
        out=str(out),
        env_id="SeqTutor-SMILES-v0",
        algo="g",
        steps=64,
        n_envs=4,
        env_kwargs={"objective": "qed"},
        algo_kwargs={"learning_starts": 32},
    )
    train(config, progress=False)
    return out


def melody_domain_return(model, env_kwargs: dict[str, Any]) -> float:
    """The mean music-theory return of 400 melodies ``model`` composes (seeded)."""
    batch = run_episodes("SeqTutor-Melody-v0", 400, model_policy(model, seed=1), seed=99, env_kwargs=env_kwargs)
    return float(batch.domain_returns.mean())


def pickle_policy_file(model_zip: Path) -> None:
    """Replace the policy weights of an SB3 zip by a file that holds a pickled numpy object."""
    with zipfile.ZipFile(model_zip) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    stream = io.BytesIO()
    torch.save({"weights": np.dtype("float32")}, stream)  # a numpy global: refused by weights_only loading
    entries["policy.pth"] = stream.getvalue()
    with zipfile.ZipFile(model_zip, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)


def newest_checkpoint(run: Path) -> Path:
    """The folder of a run's newest published checkpoint."""
    checkpoints = list_checkpoints(run)
    assert checkpoints, f"{run} has no checkpoint"
    return checkpoints[-1].path


def checkpoint_step(run: Path) -> int:
    """The step of a run's newest checkpoint (from its state.json)."""
    return json.loads((newest_checkpoint(run) / "state.json").read_text())["num_timesteps"]


def edit_model_data(model_zip: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    """Rewrite the JSON ``data`` entry of an SB3 zip in place with ``edit(data)``."""
    with zipfile.ZipFile(model_zip) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    data = json.loads(entries["data"])
    edit(data)
    entries["data"] = json.dumps(data).encode()
    with zipfile.ZipFile(model_zip, "w") as archive:
        for name, content in entries.items():
            archive.writestr(name, content)


def pickled_marker(data: dict[str, Any], key: str) -> None:
    """Make ``data[key]`` look pickled (so that a loader must rebuild it from its recipe)."""
    data[key] = {":type:": "<class 'object'>", ":serialized:": base64.b64encode(b"not a real pickle").decode()}


def reseal(checkpoint: Path) -> None:
    """Recompute a checkpoint's manifest after its files were changed (as an attacker who edits a run would)."""
    manifest = json.loads((checkpoint / MANIFEST).read_text())
    for name, facts in manifest["files"].items():
        facts["bytes"] = (checkpoint / name).stat().st_size
        facts["sha256"] = _sha256(checkpoint / name)
    (checkpoint / MANIFEST).write_text(json.dumps(manifest))


def every_model_zip(run: Path) -> list[Path]:
    """The final model and every checkpoint's model of a run folder."""
    zips = [run / "model.zip"] if (run / "model.zip").exists() else []
    return zips + [c.path / "model.zip" for c in list_checkpoints(run)]


def tamper_run(run: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    """Apply ``edit`` to every model file of a run and reseal the checkpoints."""
    for model_zip in every_model_zip(run):
        edit_model_data(model_zip, edit)
    for checkpoint in list_checkpoints(run):
        reseal(checkpoint.path)


@contextlib.contextmanager
def mounted_tmpfs(mount: Path, options: str) -> Iterator[Path]:
    """A tmpfs mounted at ``mount`` with ``options`` (e.g. ``size=24m`` or ``ro``); skips unless root."""
    mount.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("this test mounts a tmpfs, which needs root")
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount)], capture_output=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
