"""The benchmark scripts' shared harness: one way to write a results page, and every script's options."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

import pytest

from benchmarks import common

BENCHMARKS = Path(common.__file__).parent
SCRIPTS = sorted(p.stem for p in BENCHMARKS.glob("*.py") if p.stem not in {"__init__", "common"})


def test_results_page_has_title_machine_line_and_body(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["benchmarks/x.py", "--steps", "3"])
    out = tmp_path / "x.md"
    text = common.write_results(out, "A title", "| a |\n|---|\n| 1 |\n")
    assert out.read_text() == text
    title, machine, body = text.split("\n\n", 2)
    assert title == "# A title"
    assert body == "| a |\n|---|\n| 1 |\n"
    # the machine line names the CPU, cores, torch threads and kernels, versions, the UTC date and the command
    assert re.fullmatch(
        r"Machine: .+, \d+ CPU cores \(torch threads: \d+, this process's torch kernels: \w+\), "
        r"Python [\d.]+, torch \S+, numpy \S+\. Run \d{4}-\d\d-\d\d \d\d:\d\d UTC with "
        r"`benchmarks/x.py --steps 3`\.",
        machine,
    )
    # a body without its newline gets one; one that has it keeps its ending as it is
    assert common.results_text("t", "body", {**common.machine_description()}).endswith("\nbody\n")
    assert common.results_text("t", "body\n\n").endswith("body\n\n")


def test_no_script_builds_the_header_by_hand():
    """The machine line is written by ``write_results`` only (the scripts once each built it themselves)."""
    for name in SCRIPTS:
        source = (BENCHMARKS / f"{name}.py").read_text()
        assert "machine_markdown(" not in source, f"benchmarks/{name}.py builds the machine line itself"


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_script_answers_help(name, monkeypatch, capsys):
    module = importlib.import_module(f"benchmarks.{name}")
    monkeypatch.setattr(sys, "argv", [f"benchmarks/{name}.py", "--help"])
    with pytest.raises(SystemExit) as stop:
        module.main()
    assert stop.value.code == 0
    assert "usage:" in capsys.readouterr().out


def test_the_melody_ablation_names_its_learners_and_orders_rows_by_the_variant_lists(tmp_path, monkeypatch):
    from benchmarks import ablation

    monkeypatch.setattr(sys, "argv", ["benchmarks/ablation.py"])
    row = {"target_kl": 0.1, "kl": 0.1, "domain_return": 50.0, "final_c": 9.0, "optimality_ratio": 0.7}
    rows = [
        {**row, "algo": "tb", "seed": 0, "run": "b"},
        {**row, "algo": "dpg", "seed": 0, "run": "c"},
        {**row, "algo": "tb", "seed": 0, "run": "a"},
    ]
    names = {"a": ablation.TB_VARIANTS[0][0], "b": ablation.TB_VARIANTS[1][0], "c": ablation.DPG_VARIANTS[0][0]}
    text = ablation.report(rows, names, tmp_path / "abl", "note")
    assert text.startswith("# What brings TB and DPG to π*: ablation on SeqTutor-Melody-v0\n")
    body = [
        line.split(" | ")[0].lstrip("| ") for line in text.splitlines() if line.startswith("| ") and "---" not in line
    ]
    # DPG's variants come before TB's; TB's in their list's order
    assert body[1:] == [ablation.DPG_VARIANTS[0][0], ablation.TB_VARIANTS[0][0], ablation.TB_VARIANTS[1][0]]
    assert (tmp_path / "abl.csv").read_text().count("\n") == 4
