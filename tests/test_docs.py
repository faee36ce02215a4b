"""The manual runs: every Python block of README.md and docs/, both tutorials, and ``mkdocs build --strict``.

* Code blocks: each page's ```` ```python ```` blocks run in order in one namespace (a later block may use
  an earlier one's names, as a reader would), in a scratch folder. Training budgets are capped at
  ``SEQTUTOR_DOCS_MAX_STEPS`` env steps (default 2,048) so that a block that trains for 600,000 steps runs in
  seconds; nothing else is changed. A block that is not meant to run says so in its fence,
  ```` ```{.python .no-run} ````, and there are few of them (:data:`MAX_NOT_RUN`).
* Tutorials: each jupytext notebook of ``docs/tutorials/`` is read with jupytext and executed by an IPython
  kernel (nbclient), with small budgets through ``SEQTUTOR_TUTORIAL_STEPS`` and ``SEQTUTOR_TUTORIAL_SAMPLES``.
* The site: ``mkdocs build --strict`` (broken links, missing cross-references and unknown anchors fail),
  with the tutorials rendered but not executed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.M | re.S)
NOT_RUN = ".no-run"
MAX_NOT_RUN = 5
TUTORIALS = sorted((DOCS / "tutorials").glob("*.py"))


def python_blocks(path: Path) -> list[tuple[int, str, bool]]:
    """``(line, code, runs)`` of each Python block of a Markdown file (indented blocks dedented)."""
    text = path.read_text(encoding="utf-8")
    blocks = []
    for match in FENCE.finditer(text):
        info = match.group("info").strip()
        words = info.strip("{}").replace(".", " ").split()
        if not words or words[0] not in ("python", "py"):
            continue
        indent = len(match.group("indent"))
        body = "\n".join(line[indent:] for line in match.group("body").splitlines())
        blocks.append((text.count("\n", 0, match.start()) + 1, body, NOT_RUN not in info))
    return blocks


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


PAGES_WITH_CODE = [p for p in pages() if any(runs for _, _, runs in python_blocks(p))]


def test_blocks_not_run_are_few_and_marked():
    not_run = [(p.relative_to(ROOT), line) for p in pages() for line, _, runs in python_blocks(p) if not runs]
    assert len(not_run) <= MAX_NOT_RUN, f"too many blocks marked {NOT_RUN}: {not_run}"
    assert len(PAGES_WITH_CODE) >= 3, "the manual's pages hold almost no Python: did the block parser break?"


@pytest.fixture
def capped_training(monkeypatch):
    """Every SB3 algorithm's ``learn`` trains at most ``SEQTUTOR_DOCS_MAX_STEPS`` env steps."""
    from stable_baselines3.common.base_class import BaseAlgorithm

    cap = int(os.environ.get("SEQTUTOR_DOCS_MAX_STEPS", 2_048))
    original = BaseAlgorithm._setup_learn

    def setup_learn(self, total_timesteps, *args, **kwargs):
        return original(self, min(int(total_timesteps), cap), *args, **kwargs)

    monkeypatch.setattr(BaseAlgorithm, "_setup_learn", setup_learn)
    return cap


@pytest.mark.parametrize("page", PAGES_WITH_CODE, ids=lambda p: str(p.relative_to(ROOT)))
def test_python_blocks_run(page, tmp_path, monkeypatch, capped_training):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SEQTUTOR_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "examples").symlink_to(ROOT / "examples")  # the pages are read in a clone: its examples are there
    namespace: dict = {"__name__": "__docs__"}
    ran = 0
    for line, code, runs in python_blocks(page):
        if not runs:
            continue
        try:
            exec(compile(code, f"{page.relative_to(ROOT)}:{line}", "exec"), namespace)
        except Exception as error:  # name the block: the traceback's file name is the page and line
            raise AssertionError(
                f"the Python block at {page.relative_to(ROOT)} line {line} failed: {error!r}"
            ) from error
        ran += 1
    assert ran > 0


@pytest.mark.parametrize("notebook", TUTORIALS, ids=lambda p: p.stem)
def test_tutorial_executes(notebook, tmp_path, monkeypatch):
    import jupytext
    from nbclient import NotebookClient

    monkeypatch.setenv("SEQTUTOR_TUTORIAL_STEPS", "2000")
    monkeypatch.setenv("SEQTUTOR_TUTORIAL_SAMPLES", "300")
    monkeypatch.setenv("SEQTUTOR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    nb = jupytext.read(notebook)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", [])]
    assert not [out for out in outputs if out.get("output_type") == "error"]
    kinds = {kind for out in outputs for kind in out.get("data", {})}
    assert "image/png" in kinds, f"{notebook.name} showed no picture"
    if notebook.stem == "melody":
        html = " ".join(out["data"].get("text/html", "") for out in outputs if "data" in out)
        assert "<audio" in html, "the melody tutorial has no audio player"


def test_results_index_links_every_results_file():
    text = (DOCS / "results.md").read_text(encoding="utf-8")
    linked = set(re.findall(r"\(results/files/([^)#]+)\)", text))
    missing = sorted(p.name for p in (ROOT / "benchmarks" / "results").glob("*.md") if p.name not in linked)
    assert not missing, f"docs/results.md does not link these results files: {missing}"
    assert not [name for name in linked if not (ROOT / "benchmarks" / "results" / name).is_file()]


def test_site_builds_strict(tmp_path):
    # As `make docs` runs it: the console script, no PYTHONPATH (the repository is then not first on sys.path,
    # and torchrl installs a `benchmarks` namespace package that the docs hook must not pick up).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(NO_MKDOCS_2_WARNING="1", SEQTUTOR_DOCS_EXECUTE="false")
    site = tmp_path / "site"
    result = subprocess.run(
        [str(Path(sys.executable).parent / "mkdocs"), "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    cli = (site / "cli" / "index.html").read_text(encoding="utf-8")
    for option in ("--target-kl", "--scoring", "--env-kwarg", "seqtutor score", "seqtutor optimum"):
        assert option in cli, f"the generated command-line page lacks {option}"
    assert (site / "results" / "files" / "melody_frontier" / "index.html").is_file()
    assert (site / "tutorials" / "melody" / "index.html").is_file()
    api = (site / "api" / "agents" / "index.html").read_text(encoding="utf-8")
    assert "GLearning" in api and "target_kl" in api
