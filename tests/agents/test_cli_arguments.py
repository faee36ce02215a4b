"""Every command-line argument is checked, with a message naming it; huge jobs are sized first; CSV cells are
spreadsheet-safe."""

from __future__ import annotations

import base64
import csv
import io
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from run_files import refused, train_melody_run, train_smiles_run

import seqtutor_agents.runs.outputs as outputs

FORMULAS = ['=HYPERLINK("http://example.com","x")', "+SUM(1,2)", "-2+3+cmd|' /C calc'!A0", "@SUM(A1)"]


@pytest.mark.parametrize(
    "args, named",
    [
        (["--seed", "-1"], "argument --seed: must be in [0, 2**32), got -1"),
        (["--env-kwarg", "prior_weight=abc"], "--env-kwarg: prior_weight must be a real number, got 'abc'"),
        (["--env-kwarg", "zzz=1"], "--env-kwarg: MelodyEnv.__init__() got an unexpected keyword argument 'zzz'"),
        (["--env-kwarg", "prior_path=/nonexistent"], "--env-kwarg prior_path=/nonexistent: no such file"),
        (["--env-kwarg", "noequals"], "argument --env-kwarg: expected KEY=VALUE, got 'noequals'"),
        (["--resample", "-5"], "argument --resample: must be >= 0, got -5"),
    ],
)
def test_optimum_arguments_are_named(tmp_path, capsys, args, named):
    err = refused(capsys, "optimum", "--cs", "10", "-n", "64", "--no-cache", "--out", str(tmp_path / "pi.csv"), *args)
    assert named in err and "Traceback" not in err
    assert not (tmp_path / "pi.csv").exists()


@pytest.mark.parametrize(
    "text, named",
    [
        ("out = 5\n", "out must be a string, got 5 (int)"),
        ('log_sequences = "no"\n', "log_sequences must be true or false, got 'no' (str)"),
        ("env_kwargs = " + "{a = " * 3000 + "1" + "}" * 3000 + "\n", "nested too deeply to read"),
        (None, "is a folder, not a TOML file"),
    ],
)
def test_config_files_are_checked_by_type(tmp_path, capsys, text, named):
    path = tmp_path / "run.toml"
    if text is None:
        path.mkdir()
    else:
        path.write_text(text)
    err = refused(capsys, "train", "--config", str(path), "--out", str(tmp_path / "r"), "--no-progress")
    assert f"--config {path}: {named}" in err
    assert not (tmp_path / "r").exists()


def test_stop_on_collapse_is_refused_where_it_would_be_ignored(tmp_path, capsys):
    err = refused(
        capsys, "train", "--algo", "ppo", "--stop-on-collapse", "0.5", "--out", str(tmp_path / "r"), "--no-progress"
    )
    assert "--stop-on-collapse watches the episodes seqtutor's own learners hand their callbacks; ppo" in err


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return train_melody_run(tmp_path_factory.mktemp("args") / "run", steps=128)


@pytest.mark.parametrize(
    "command",
    [
        ["evaluate", "--prior", "-n", "1e9"],
        ["report", "RUN", "-n", "1e9"],
        ["optimum", "--cs", "1", "-n", "1e11", "--no-cache"],
    ],
)
def test_a_job_too_large_for_the_memory_is_refused_before_it_starts(run, tmp_path, command):
    args = [str(run) if a == "RUN" else a for a in command]
    out = [
        "--out",
        str(tmp_path / ("pi.csv" if command[0] == "optimum" else "out.html" if command[0] == "report" else "eval")),
    ]
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "seqtutor_agents.cli", *args, *out],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "would hold about" in proc.stderr and "is available (the limit)" in proc.stderr
    assert time.perf_counter() - started < 60


@pytest.mark.parametrize(
    "command",
    [
        ["evaluate", "--prior", "-n", "3000"],
        ["report", "RUN", "-n", "3000"],
        ["optimum", "--cs", "1", "-n", "20000", "--no-cache"],
    ],
)
def test_a_job_too_long_is_refused_after_its_first_batch_unless_yes(run, tmp_path, capsys, monkeypatch, command):
    monkeypatch.setattr(outputs, "TIME_BOUND", 1e-6)
    monkeypatch.setenv("SEQTUTOR_CACHE_DIR", str(tmp_path / "cache"))
    args = [str(run) if a == "RUN" else a for a in command] + [
        "--out",
        str(tmp_path / "o.html" if command[0] == "report" else tmp_path / "o.csv"),
    ]
    if command[0] == "evaluate":
        args[-1] = str(tmp_path / "eval")
    err = refused(capsys, *args, *(["--optimum-n", "0"] if command[0] == "report" else []))
    assert "would take about" in err and "(measured on the first" in err and "pass --yes" in err


# ---------------------------------------------------------------------------- CSV cells
def crafted_batch(n: int = 8):
    """Real SMILES episodes whose strings a crafted policy could have written."""
    from seqtutor_agents.runs.evaluation import episodes_of

    batch = episodes_of(None, "SeqTutor-SMILES-v0", n, 0, {"objective": "qed"}, progress=False)
    for i, text in enumerate(FORMULAS):
        batch.finals["smiles"][i] = text
    batch.domain_returns[4] = -1.5  # a negative number stays a number
    return batch


def escaped_cells(text: str) -> tuple[list[str], list[str]]:
    rows = list(csv.DictReader(io.StringIO(text)))
    return [r["smiles"] for r in rows], [r["domain_return"] for r in rows]


def test_samples_csv_escapes_formula_cells(tmp_path):
    from seqtutor_agents.runs.evaluation import write_samples

    write_samples(crafted_batch(), "SeqTutor-SMILES-v0", tmp_path, "crafted")
    smiles, returns = escaped_cells((tmp_path / "samples.csv").read_text())
    assert smiles[:4] == ["'" + f for f in FORMULAS] and not smiles[5].startswith("'")
    assert returns[4] == "-1.5"


def test_the_reports_csv_download_escapes_formula_cells(tmp_path, monkeypatch):
    import seqtutor_agents.runs.evaluation as evaluation
    from seqtutor_agents.runs.report import run_section

    out = tmp_path / "smiles"
    train_smiles_run(out)
    batch = crafted_batch()
    monkeypatch.setattr(evaluation, "episodes_of", lambda *args, **kwargs: batch)
    section = run_section(out, n=8, seed=0, media=2, optimum_n=0)
    text = base64.b64decode(section.table_csv.split(",", 1)[1]).decode()
    smiles, _ = escaped_cells(text)
    assert smiles[:4] == ["'" + f for f in FORMULAS]
    assert np.isclose(float(escaped_cells(text)[1][4]), -1.5)
