"""No run is lost to ordinary accidents: a second writer, a signal, a kill at any write, a full disk, damaged
checkpoints.

Kills are placed with :data:`seqtutor_agents.runs.run_folder.write_hook` (a fault-injection point called
before each write), never with sleeps; the full-disk cases run on a small tmpfs (root only, else
skipped).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from run_files import checkpoint_step, mounted_tmpfs, newest_checkpoint, reseal

from seqtutor_agents.cli import main
from seqtutor_agents.runs import run_folder
from seqtutor_agents.runs.run_folder import (
    CheckpointError,
    RunLock,
    RunWriteError,
    latest_checkpoint,
    list_checkpoints,
)
from seqtutor_agents.runs.training import TrainConfig, train

SMALL = [
    "--n-envs",
    "4",
    "--no-progress",
    "--env-kwarg",
    "composition_length=8",
    "--algo-kwarg",
    "learning_starts=64",
    "--algo-kwarg",
    "buffer_size=2000",
]


def cli(capsys, *args: str) -> tuple[int, str]:
    try:
        code = main(list(args))
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err


def small_config(out: Path, steps: int, algo: str = "psi", every: int = 256) -> TrainConfig:
    kwargs = (
        {"learning_starts": 64, "buffer_size": 2000}
        if algo == "psi"
        else {"batch_size": 4, "replay_memory": 8, "replay_sample": 2}
    )
    return TrainConfig(
        out=str(out),
        algo=algo,
        steps=steps,
        n_envs=4,
        checkpoint_every=every,
        env_kwargs={"composition_length": 8},
        algo_kwargs=kwargs,
    )


def wait_for(condition, timeout: float = 240.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.time() + timeout
    while not condition():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the training process ended early: {proc.stderr.read().decode()[-2000:]}")
        if time.time() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.2)


# ---------------------------------------------------------------------------- two writers, signals
@pytest.mark.slow
def test_a_second_writer_is_refused_and_a_signal_stops_with_a_resumable_checkpoint(tmp_path, capsys):
    """SIGTERM and SIGINT, each to its own training process (side by side); a second writer meanwhile."""
    procs = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        out = tmp_path / signal.Signals(sig).name
        procs[sig] = (
            out,
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "seqtutor_agents.cli",
                    "train",
                    "--algo",
                    "psi",
                    "--steps",
                    "10000000",
                    "--out",
                    str(out),
                    "--checkpoint-every",
                    "256",
                    *SMALL,
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env={**os.environ, "OMP_NUM_THREADS": "1"},
            ),
        )
    try:
        for sig, (out, proc) in procs.items():
            wait_for(lambda out=out: bool(list_checkpoints(out)), proc=proc)
            config_before = (out / "config.json").read_text()
            for extra in (["--overwrite"], ["--resume"]):
                code, err = cli(capsys, "train", "--algo", "psi", "--steps", "512", "--out", str(out), *SMALL, *extra)
                assert code == 2 and f"being written by another seqtutor process (pid {proc.pid}" in err, err
            assert (out / "config.json").read_text() == config_before  # the first writer's files are untouched
            proc.send_signal(sig)
        results = {sig: proc.communicate(timeout=120)[1].decode() for sig, (_, proc) in procs.items()}
    finally:
        for _, proc in procs.values():
            if proc.poll() is None:
                proc.kill()
    for sig, (out, proc) in procs.items():
        message = results[sig]
        assert proc.returncode == 128 + sig, message[-2000:]
        assert f"stopped by {signal.Signals(sig).name} at env step" in message and "--resume" in message
        stopped_at = int(message.split("at env step ")[1].split(";")[0].replace(",", ""))
        assert checkpoint_step(out) == stopped_at and not (out / "model.zip").exists()
        latest_checkpoint(out, needs_buffer=True)  # whole: it verifies against its manifest
        code, err = cli(
            capsys, "train", "--out", str(out), "--steps", str(stopped_at + 256), "--resume", "--no-progress"
        )
        assert code == 0, err
        resumed = json.loads((out / "logs" / "resume-1" / "resume.json").read_text())
        assert resumed["from_step"] == stopped_at
        assert stopped_at + 256 <= checkpoint_step(out) < stopped_at + 256 + 4 and (out / "model.zip").is_file()


def test_the_lock_is_held_in_process_too(tmp_path, capsys):
    out = tmp_path / "run"
    with RunLock(out):
        code, err = cli(capsys, "train", "--algo", "psi", "--steps", "128", "--out", str(out), *SMALL)
    assert code == 2 and f"pid {os.getpid()}" in err
    assert cli(capsys, "train", "--algo", "psi", "--steps", "128", "--out", str(out), *SMALL)[0] == 0


# ---------------------------------------------------------------------------- killed at any write
KILLER = textwrap.dedent("""
    import os, signal, sys
    from seqtutor_agents.runs import run_folder
    from seqtutor_agents.cli import main

    point, nth = sys.argv[1], int(sys.argv[2])
    seen = {"n": 0}

    def hook(name, path):
        if name == point:
            seen["n"] += 1
            if seen["n"] == nth:
                os.kill(os.getpid(), signal.SIGKILL)

    run_folder.write_hook = hook
    sys.exit(main(sys.argv[3:]))
""")


KILL_POINTS = [
    ("psi", "model", 2),
    ("psi", "replay_buffer", 2),
    ("psi", "state", 2),
    ("psi", "manifest", 2),
    ("psi", "publish", 2),
    ("dap", "arrays", 2),
    ("psi", "final_model", 1),
]


@pytest.mark.slow
def test_a_kill_at_any_write_leaves_a_whole_checkpoint_to_resume_from(tmp_path, capsys):
    """Every write point, each in its own process killed there (two at a time, one torch thread each), then resumed."""
    procs = {}
    running: list[subprocess.Popen] = []
    for algo, point, nth in KILL_POINTS:
        while len(running) >= 2:  # this machine's two cores
            running.pop(0).wait(timeout=300)
        out = tmp_path / f"{algo}-{point}"
        extra = (
            ["--algo-kwarg", "learning_starts=64", "--algo-kwarg", "buffer_size=2000"]
            if algo == "psi"
            else ["--algo-kwarg", "batch_size=4", "--algo-kwarg", "replay_memory=8", "--algo-kwarg", "replay_sample=2"]
        )
        args = [
            "train",
            "--algo",
            algo,
            "--steps",
            "1024",
            "--out",
            str(out),
            "--checkpoint-every",
            "256",
            "--n-envs",
            "4",
            "--no-progress",
            "--env-kwarg",
            "composition_length=8",
            *extra,
        ]
        proc = subprocess.Popen(
            [sys.executable, "-c", KILLER, point, str(nth), *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        procs[(algo, point)] = (out, proc)
        running.append(proc)
    for (algo, point), (out, proc) in procs.items():
        _, stderr = proc.communicate(timeout=300)
        assert proc.returncode == -signal.SIGKILL, (point, stderr.decode()[-2000:])
        whole = list_checkpoints(out)
        assert whole, f"{point}: the first checkpoint was published before the kill"
        for checkpoint in whole:
            run_folder.verify_checkpoint(checkpoint)  # every published checkpoint is whole
        killed_at = latest_checkpoint(out).step
        leftovers = list((out / "checkpoints").glob(".partial-*"))
        assert point == "final_model" or leftovers, point  # the killed write left its partial folder behind ...
        code, err = cli(capsys, "train", "--out", str(out), "--steps", "1024", "--resume", "--no-progress")
        assert code == 0, (point, err)
        assert not list((out / "checkpoints").glob(".partial-*"))  # ... which the next start removed
        assert json.loads((out / "logs" / "resume-1" / "resume.json").read_text())["from_step"] == killed_at
        assert (out / "model.zip").is_file() and checkpoint_step(out) >= 1024
        if algo == "dap":  # the learner's memory came back with the checkpoint
            with __import__("numpy").load(newest_checkpoint(out) / "learner_state.npz") as arrays:
                assert len(arrays["lengths"]) == 8


# ---------------------------------------------------------------------------- damaged checkpoints
@pytest.fixture
def two_checkpoints(tmp_path) -> Path:
    out = tmp_path / "run"
    train(small_config(out, 512), progress=False)
    assert len(list_checkpoints(out)) == 2
    return out


def test_a_missing_buffer_falls_back_to_the_previous_checkpoint_then_is_refused_by_name(two_checkpoints, capsys):
    out = two_checkpoints
    older, newer = list_checkpoints(out)
    (newer.path / "replay_buffer.npz").unlink()
    with pytest.warns(UserWarning, match=f"{newer.path.name}: replay_buffer.npz is missing.*using .*{older.path.name}"):
        assert latest_checkpoint(out, needs_buffer=True).path == older.path
    (older.path / "replay_buffer.npz").unlink()
    code, err = cli(capsys, "train", "--out", str(out), "--steps", "1024", "--resume", "--no-progress")
    assert code == 2 and "no whole checkpoint to resume from" in err and "replay_buffer.npz is missing" in err, err


def test_a_checkpoint_that_mixes_steps_is_refused_even_with_a_matching_manifest(two_checkpoints):
    out = two_checkpoints
    train(small_config(out, 900), resume=True, progress=False)  # checkpoints at 768 (periodic) and 900 (final)
    older, newer = list_checkpoints(out)
    assert older.step < newer.step
    shutil.copy(older.path / "model.zip", newer.path / "model.zip")  # an older model beside a newer buffer
    reseal(newer.path)
    with pytest.raises(CheckpointError, match="mixes steps"):
        run_folder.verify_checkpoint(newer)
    with pytest.warns(UserWarning, match="mixes steps"):
        assert latest_checkpoint(out).path == older.path


def test_a_damaged_file_is_caught_by_its_checksum(two_checkpoints):
    newer = list_checkpoints(two_checkpoints)[-1]
    path = newer.path / "replay_buffer.npz"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"replay_buffer.npz does not match its manifest"):
        run_folder.verify_checkpoint(newer)


def test_stale_temp_files_are_cleaned_on_start(two_checkpoints):
    out = two_checkpoints
    partial = out / "checkpoints" / ".partial-000000000999-12345"
    partial.mkdir()
    (partial / "model.zip").write_bytes(b"x" * 1000)
    stale = [out / ".model.zip.abc123.zip", out / "checkpoints" / ".state.json.q1w2.tmp"]
    for path in stale:
        path.write_bytes(b"half")
    train(small_config(out, 768), resume=True, progress=False)
    assert not partial.exists() and not any(p.exists() for p in stale)


# ---------------------------------------------------------------------------- a full disk
@pytest.fixture
def small_disk(tmp_path) -> Path:
    """A 24 MiB tmpfs (root only)."""
    with mounted_tmpfs(tmp_path / "disk", "size=24m") as mount:
        yield mount


def fill(disk: Path) -> Path:
    """Fill the disk to the last byte with a ballast file."""
    ballast = disk / "ballast"
    with ballast.open("wb", buffering=0) as f:  # unbuffered: nothing left to flush (and fail) on close
        for block in (1 << 20, 4096, 1):
            try:
                while f.write(b"\0" * block):
                    pass
            except OSError:
                pass
    return ballast


@pytest.mark.parametrize("point, nth", [("model", 2), ("replay_buffer", 2), ("manifest", 2), ("final_model", 1)])
def test_a_full_disk_names_the_path_and_keeps_the_previous_checkpoint_resumable(small_disk, monkeypatch, point, nth):
    out = small_disk / "run"
    seen = {"n": 0, "ballast": None}

    def hook(name, path):
        if name == point:
            seen["n"] += 1
            if seen["n"] == nth:
                seen["ballast"] = fill(small_disk)

    monkeypatch.setattr(run_folder, "write_hook", hook)
    with pytest.raises(RunWriteError) as failed:
        train(small_config(out, 512), progress=False)
    message = str(failed.value)
    assert "the disk is full" in message and str(out) in message, message
    assert ("holds the finished run" if point == "final_model" else "is whole: free space, then continue") in message
    assert not list((out / "checkpoints").glob(".partial-*"))  # the failed write cleaned up after itself
    whole = latest_checkpoint(out, needs_buffer=True)
    assert whole is not None
    seen["ballast"].unlink()
    monkeypatch.setattr(run_folder, "write_hook", None)
    model = train(small_config(out, 512), resume=True, progress=False)
    assert model.num_timesteps >= 512 and (out / "model.zip").is_file()
