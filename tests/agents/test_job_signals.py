"""A job's helper processes end with it; a stopped job leaves no temp file; Ctrl-C is one line and exit code 130."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from run_files import train_melody_run

from seqtutor_agents.cli import main

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def gone(pid: int, timeout: float = 15.0) -> bool:
    """Whether process ``pid`` ends (or is a zombie no one has reaped yet) within ``timeout`` seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.1)
    return False


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


SCORER = textwrap.dedent("""
    import sys
    import gymnasium as gym, numpy as np
    import seqtutor_envs
    from seqtutor_envs.smiles import scoring

    envs = gym.make_vec("SeqTutor-SMILES-v0", num_envs=64, scoring_workers=1)
    envs.reset(seed=0)
    rng = np.random.default_rng(0)
    printed = False
    while True:
        envs.step(rng.integers(0, envs.single_action_space.n, 64))
        pools = list(scoring._POOLS.values())
        if not printed and pools and pools[0]._processes:
            print(" ".join(map(str, pools[0]._processes)), flush=True)
            printed = True
""")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_a_scoring_worker_dies_with_its_job(sig):
    proc = subprocess.Popen([sys.executable, "-c", SCORER], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=ENV)
    workers: list[int] = []
    try:
        workers = [int(p) for p in proc.stdout.readline().split()]
        assert workers and all(w in children(proc.pid) for w in workers)
        proc.send_signal(sig)
        proc.wait(timeout=30)
        assert all(gone(w) for w in workers), "a scoring worker outlived its job"
        closed = threading.Event()  # nothing holds the job's stdout open any more: `| tee log` ends
        threading.Thread(target=lambda: (proc.stdout.read(), closed.set()), daemon=True).start()
        assert closed.wait(15)
    finally:
        proc.kill()
        proc.wait()
        for worker in workers:  # never leave one behind, whatever failed
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker, signal.SIGKILL)


def test_sigterm_of_a_command_line_job_ends_it_and_its_workers(tmp_path):
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "seqtutor_agents.cli",
            "sample",
            "--prior",
            "--env",
            "SeqTutor-SMILES-v0",
            "--env-kwarg",
            "scoring_workers=1",
            "-n",
            "200000",
            "--yes",
            "--out",
            str(tmp_path / "s"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=ENV,
    )
    workers: list[int] = []
    try:
        deadline = time.time() + 120
        while not children(proc.pid) and time.time() < deadline:
            time.sleep(0.2)
        workers = children(proc.pid)
        assert workers, "no scoring worker started"
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        assert all(gone(w) for w in workers), "a scoring worker outlived its job"
        _, err = proc.communicate(timeout=15)  # returns once no process holds the pipes
    finally:
        proc.kill()
        for worker in workers:  # never leave one behind, whatever failed
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker, signal.SIGKILL)
    assert proc.returncode == 128 + signal.SIGTERM, err.decode()[-2000:]
    assert "Traceback" not in err.decode() and err.decode().strip().splitlines()[-1].startswith(
        "seqtutor: stopped by SIGTERM"
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return train_melody_run(tmp_path_factory.mktemp("signals") / "run", steps=128)


def job(command: str, run: Path, folder: Path) -> list[str]:
    """Jobs that run long enough to be interrupted, and that the size and time bounds accept (``--yes``: on a
    machine busy with parallel test workers the time estimate of the first batch may pass 30 minutes)."""
    return {
        "report": ["report", str(run), "-n", "50000", "--optimum-n", "0", "--yes", "--out", str(folder / "r.html")],
        "sample": ["sample", "--run", str(run), "-n", "20000", "--yes", "--out", str(folder / "s")],
        "optimum": ["optimum", "--cs", "1", "-n", "2000000", "--no-cache", "--yes", "--out", str(folder / "pi.csv")],
    }[command]


@pytest.mark.parametrize("command", ["report", "sample", "optimum"])
def test_ctrl_c_is_one_line_and_exit_code_130(run, tmp_path, command):
    proc = subprocess.Popen(
        [sys.executable, "-m", "seqtutor_agents.cli", *job(command, run, tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=ENV,
    )
    seen = threading.Event()
    threading.Thread(target=lambda: (proc.stdout.read(1), seen.set()), daemon=True).start()
    threading.Thread(target=lambda: (proc.stderr.read(1), seen.set()), daemon=True).start()
    try:
        assert seen.wait(120), "the job printed nothing"
        time.sleep(1.0)  # inside the work
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        err = proc.stderr.read().decode()
    finally:
        proc.kill()
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert [line for line in err.splitlines() if line.startswith("seqtutor:")] == [
        "seqtutor: interrupted (Ctrl-C); files it was writing were removed"
    ]


CTRL_C_INSIDE_EXEC = textwrap.dedent("""
    import sys
    import seqtutor_agents.cli as cli

    def interrupted_while_importing(parser, args, argv):
        # Ctrl-C most often lands while torch or SB3 import, inside the exec() that dataclasses and
        # namedtuple use to build methods; CPython then marks the interrupt unhandled, caught or not
        exec("raise KeyboardInterrupt")

    cli._run = interrupted_while_importing
    sys.exit(cli.main(["optimum", "--cs", "1", "--out", "never-written.csv"]))
""")


def test_ctrl_c_inside_exec_still_exits_130(tmp_path):
    """A caught Ctrl-C that left exec'd code exits 130, not by SIGINT (-2; CI saw it under load).

    Run with ``-m`` as the signal tests run the CLI: only then does CPython act on its mark at exit."""
    (tmp_path / "ctrl_c_job.py").write_text(CTRL_C_INSIDE_EXEC)
    proc = subprocess.run(
        [sys.executable, "-m", "ctrl_c_job"], cwd=tmp_path, capture_output=True, text=True, timeout=120, env=ENV
    )
    assert proc.returncode == 130, proc.stderr[-2000:]
    assert proc.stderr.strip() == "seqtutor: interrupted (Ctrl-C); files it was writing were removed"


TERMINATED_WHILE_WRITING = textwrap.dedent("""
    import os, signal, sys
    import seqtutor_envs.io as io

    real = io.atomic_write

    def stopped_while_writing(path, write, suffix=".tmp"):
        def write_then_stop(name):
            write(name)
            os.kill(os.getpid(), signal.SIGTERM)  # after the temp file is written, before its rename
        return real(path, write_then_stop, suffix)

    io.atomic_write = stopped_while_writing
    from seqtutor_agents.cli import main
    sys.exit(main(sys.argv[1:]))
""")


@pytest.mark.parametrize("command", ["report", "optimum"])
def test_sigterm_while_writing_leaves_no_temp_file(run, tmp_path, command):
    folder = tmp_path / "out"
    folder.mkdir()
    args = {
        "report": ["report", str(run), "-n", "8", "--optimum-n", "0", "--media", "1", "--out", str(folder / "r.html")],
        "optimum": ["optimum", "--cs", "1", "-n", "64", "--resample", "8", "--out", str(folder / "pi.csv")],
    }[command]
    proc = subprocess.run(
        [sys.executable, "-c", TERMINATED_WHILE_WRITING, *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**ENV, "SEQTUTOR_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert proc.returncode == 128 + signal.SIGTERM, proc.stderr[-2000:]
    left = [
        p
        for d in (folder, tmp_path / "cache" / "optimum")
        if d.is_dir()
        for p in d.iterdir()
        if ".seqtutor-" in p.name or p.suffix == ".tmp"
    ]
    assert left == []


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize("command", ["report", "optimum"])
def test_temp_files_of_killed_writers_are_swept_at_start(run, tmp_path, capsys, command):
    name = "r.html" if command == "report" else "pi.csv"
    stale = [tmp_path / f".{name}.seqtutor-{dead_pid()}-abcd1234.tmp", tmp_path / f".{name}.k2j4h6g8.tmp"]
    kept = [
        tmp_path / f".{name}.seqtutor-{os.getpid()}-live1234.tmp",  # a writer still running
        tmp_path / ".notes.txt.k2j4h6g8.tmp",
        tmp_path / f".{name}.recent01.tmp",
    ]  # not ours; too recent to judge
    for path in stale + kept:
        path.write_bytes(b"x" * 1000)
    os.utime(stale[1], (time.time() - 3600, time.time() - 3600))  # the unnamed kind of earlier releases, an hour old
    os.utime(kept[1], (time.time() - 3600, time.time() - 3600))
    args = (
        ["report", str(run), "-n", "8", "--optimum-n", "0", "--media", "1"]
        if command == "report"
        else ["optimum", "--cs", "1", "-n", "64", "--resample", "8", "--no-cache"]
    )
    assert main([*args, "--out", str(tmp_path / name)]) == 0
    assert [p for p in stale if p.exists()] == [] and all(p.exists() for p in kept)
