"""The sweep machinery behind benchmarks/frontier.py: two-trial sweeps on local processes and on Ray Tune."""

import csv
import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from seqtutor_agents.runs.sweep import AVX2_KERNELS, on_x86_64

ROOT = Path(__file__).resolve().parents[2]
HAS_RAY = importlib.util.find_spec("ray") is not None
#: Sweep trials pin torch's CPU kernels to AVX2 (seqtutor_agents.runs.sweep.AVX2_KERNELS) on x86-64.
PINNED = "AVX2, pinned" if on_x86_64() else None


def frontier_command(tmp_path: Path, backend: str, *extra: str, steps: int = 1500) -> list[str]:
    """The command line of a small frontier sweep (psi, KL target 0.3, c = 1, seed 0) writing under ``tmp_path``."""
    return [
        sys.executable,
        "-m",
        "benchmarks.frontier",
        "--algos",
        "psi",
        "--target-kls",
        "0.3",
        "--tutor-cs",
        "1",
        "--seeds",
        "0",
        "--steps",
        str(steps),
        "--episodes",
        "40",
        "--backend",
        backend,
        "--runs",
        str(tmp_path / "runs"),
        "--out",
        str(tmp_path / "frontier"),
        *extra,
    ]


def frontier(tmp_path: Path, backend: str, *extra: str) -> subprocess.CompletedProcess:
    cmd = frontier_command(tmp_path, backend, *extra)
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600)


def orphans(marker: str) -> list[int]:
    """Processes whose command line mentions ``marker`` (Linux: read from /proc)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if marker in cmdline.read_bytes().decode(errors="replace"):
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


def _stat(pid: int | str) -> list[str]:
    """The fields of /proc/<pid>/stat after the command name: state, parent id, ... (empty: gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def descendants(pid: int) -> set[int]:
    """The live processes below ``pid`` (Linux: parent ids read from /proc)."""
    parents = {int(p.name): int(fields[1]) for p in Path("/proc").glob("[0-9]*") if len(fields := _stat(p.name)) > 1}
    found, below = set(), {pid}
    while below:
        below = {child for child, parent in parents.items() if parent in below} - found
        found |= below
    return found


def alive(pids: set[int]) -> set[int]:
    """Those of ``pids`` still running (not gone, not zombies)."""
    return {pid for pid in pids if (fields := _stat(pid)) and fields[0] != "Z"}


def rows_of(tmp_path: Path) -> list[dict]:
    with (tmp_path / "frontier.csv").open() as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
@pytest.mark.xdist_group("ray")  # one Ray at a time (`make test` runs the tests in parallel workers)
@pytest.mark.skipif(not HAS_RAY, reason="no Ray")
def test_a_two_trial_frontier_sweep_on_ray_writes_its_table_and_plots(tmp_path):
    backend = "ray"  # the local backend is checked by the killed-and-resumed sweep below
    proc = frontier(tmp_path, backend)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = rows_of(tmp_path)
    assert len(rows) == 2 and {r["target_kl"] for r in rows} == {"0.3", "None"}
    for row in rows:
        assert float(row["kl"]) >= 0 and 0 <= float(row["distinct_openings"]) <= 1 and float(row["minutes"]) > 0
    if PINNED:  # the pin reached Ray's workers through the job's runtime environment
        assert all(r["cpu_kernels"] == PINNED for r in rows), [r["cpu_kernels"] for r in rows]
    kl_run = next(r for r in rows if r["target_kl"] == "0.3")
    assert float(kl_run["final_c"]) != 1.0  # the controller moved c from where it started
    text = (tmp_path / "frontier.md").read_text()
    assert "## Per setting" in text and "| Ψ | KL 0.3 |" in text and "| Ψ | c 1 |" in text
    for suffix in ("_music.png", "_texture.png"):
        assert (tmp_path / f"frontier{suffix}").stat().st_size > 10_000


def wait_for_a_finished_trial(driver: subprocess.Popen, runs: Path, seconds: float = 300) -> None:
    """Block until a trial of the sweep ``driver`` runs has written its result (the driver still alive)."""
    deadline = time.time() + seconds
    while not list(runs.glob("*/trial_result.json")):
        assert driver.poll() is None, driver.stderr.read().decode()[-3000:]
        assert time.time() < deadline, "no trial finished in time"
        time.sleep(0.2)


@pytest.mark.slow
def test_a_killed_sweep_driver_resumes_keeping_finished_trials_and_rerunning_the_rest(tmp_path):
    # one worker: one trial after the other, so the kill lands between them, however busy the machine
    cmd = frontier_command(tmp_path, "local", "--workers", "1")
    driver = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_for_a_finished_trial(driver, tmp_path / "runs")
    workers = descendants(driver.pid)  # the trials run in fresh worker processes (pinned CPU kernels)
    if PINNED and not all(os.environ.get(k) == v for k, v in AVX2_KERNELS.items()):
        assert workers, "a driver started without the pin runs its trials in spawned workers"
    driver.kill()  # the driver (and the local trial it was running) dies mid-sweep
    driver.wait(timeout=60)
    deadline = time.time() + 30
    while (orphans(str(tmp_path / "runs")) or alive(workers)) and time.time() < deadline:
        time.sleep(0.2)
    assert not orphans(str(tmp_path / "runs")), "the sweep's worker processes outlived their killed driver"
    assert not alive(workers), "the sweep's worker processes outlived their killed driver"
    finished = list((tmp_path / "runs").glob("*/trial_result.json"))
    assert len(finished) == 1, "the kill came after the first trial and before the second"
    stamp = finished[0].stat().st_mtime_ns
    again = frontier(tmp_path, "local")  # neither --resume nor --overwrite: refused, nothing redone
    assert again.returncode == 2 and "--resume" in again.stderr and "--overwrite" in again.stderr, again.stderr[-2000:]
    proc = frontier(tmp_path, "local", "--resume")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert finished[0].stat().st_mtime_ns == stamp  # the finished trial was kept, not retrained
    rows = rows_of(tmp_path)
    assert len(rows) == 2 and all(not r.get("error") for r in rows)
    assert {r["target_kl"] for r in rows} == {"0.3", "None"} and all(float(r["minutes"]) > 0 for r in rows)
    if PINNED:  # in spawned local workers too
        assert all(r["cpu_kernels"] == PINNED for r in rows), [r["cpu_kernels"] for r in rows]
    for suffix in ("_music.png", "_texture.png"):  # the table and plots of the whole sweep
        assert (tmp_path / f"frontier{suffix}").stat().st_size > 10_000


def test_a_long_temp_folder_gives_ray_a_short_one_for_its_sockets(monkeypatch, tmp_path):
    from seqtutor_agents.runs.sweep import RAY_TEMP_DIR_MAX, _short_ray_temp_dir

    monkeypatch.delenv("RAY_TMPDIR", raising=False)
    long_dir = tmp_path / ("x" * 60)
    monkeypatch.setenv("RAY_TMPDIR", str(long_dir))
    short = _short_ray_temp_dir()
    assert short is not None and len(short) <= RAY_TEMP_DIR_MAX and Path(short).is_dir()
    Path(short).rmdir()
    monkeypatch.setenv("RAY_TMPDIR", "/tmp")
    assert _short_ray_temp_dir() is None  # Ray's own default fits


@pytest.mark.slow
@pytest.mark.xdist_group("ray")  # one Ray at a time (`make test` runs the tests in parallel workers)
@pytest.mark.skipif(not HAS_RAY, reason="no Ray")
def test_a_sweep_on_a_two_node_ray_cluster_resumes_after_its_driver_is_killed(tmp_path):
    """Two Ray nodes of one CPU each (ray.cluster_utils.Cluster), the driver joining by --address."""
    import tempfile

    from ray.cluster_utils import Cluster

    from seqtutor_agents.runs.sweep import _short_ray_temp_dir

    temp_dir = _short_ray_temp_dir()  # AF_UNIX socket paths must stay short under pytest's long TMPDIR
    (Path(tempfile.gettempdir()) / "ray").mkdir(exist_ok=True)  # Cluster writes the head's address there
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "include_dashboard": False, **({"temp_dir": temp_dir} if temp_dir else {})},
    )
    try:
        cluster.add_node(num_cpus=1, **({"temp_dir": temp_dir} if temp_dir else {}))
        cluster.wait_for_nodes()
        nodes = {node.node_id for node in cluster.list_all_nodes()}
        assert len(nodes) == 2
        cmd = frontier_command(tmp_path, "ray", "--address", cluster.address, "--optimum-n", "0", steps=3000)
        driver = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for_a_finished_trial(driver, tmp_path / "runs")
        driver.kill()
        driver.wait(timeout=60)
        finished = list((tmp_path / "runs").glob("*/trial_result.json"))
        stamp = {f: f.stat().st_mtime_ns for f in finished}
        proc = subprocess.run([*cmd, "--resume"], cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert all(f.stat().st_mtime_ns == t for f, t in stamp.items())  # finished trials were kept
        rows = rows_of(tmp_path)
        assert len(rows) == 2 and all(not r.get("error") for r in rows)
        assert {r["ray_node"] for r in rows if r.get("ray_node")} <= nodes  # run by the cluster's nodes
        if PINNED:  # the pin reached the cluster's workers
            assert all(r["cpu_kernels"] == PINNED for r in rows), [r["cpu_kernels"] for r in rows]
    finally:
        cluster.shutdown()
