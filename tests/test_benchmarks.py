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
