"""The run report page: self-contained, and working in a real browser (headless Chromium through Playwright).

The browser tests need Debian's ``chromium`` (``make install`` installs it as root) and the ``playwright``
Python client (a dev dependency); without them they are skipped with a message naming what to install.
Screenshots go to ``$SEQTUTOR_SCREENSHOTS`` when set (else the test's temp folder).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from seqtutor_agents.cli import main
from seqtutor_agents.runs.config import TrainConfig
from seqtutor_agents.runs.training import train
from seqtutor_envs.melody.midi import DEFAULT_QPM

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
#: The module's runs and page are made once: its tests go to one worker when they run in parallel (`make test`).
pytestmark = pytest.mark.xdist_group("report")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("report-runs")
    melody = TrainConfig(
        out=str(root / "melody"), algo="psi", steps=1024, n_envs=16, target_kl=0.1, algo_kwargs={"learning_starts": 256}
    )
    smiles = TrainConfig(
        out=str(root / "smiles"),
        env_id="SeqTutor-SMILES-v0",
        algo="g",
        steps=1024,
        n_envs=16,
        env_kwargs={"objective": "qed"},
        algo_kwargs={"learning_starts": 256},
    )
    for config in (melody, smiles):
        train(config, progress=False)
    return {"melody": root / "melody", "smiles": root / "smiles"}


@pytest.fixture(scope="module")
def page_file(runs, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "report.html"
    assert (
        main(
            [
                "report",
                str(runs["melody"]),
                str(runs["smiles"]),
                "--out",
                str(out),
                "-n",
                "60",
                "--optimum-n",
                "0",
                "--media",
                "4",
            ]
        )
        == 0
    )  # π*: its own test (sampling SMILES priors is slow)
    return out


def test_the_page_is_one_self_contained_file(page_file):
    html = page_file.read_text()
    assert not re.search(r'(src|href)="(?!data:|#)', html), "every asset must be embedded"
    assert "http://" not in html.replace("http://www.w3.org", "") and "https://" not in html
    assert html.count("<audio") == 4 and html.count('download="composition_') == 4
    assert "The runs side by side" in html
    assert html.count("<section") == 2 and "Every sampled molecule" in html and "text/csv;base64," in html
    for figure in ("notes_in_motif", "duration_tv", "valid", "intdiv", "KL(π ‖ prior) per step"):
        assert figure in html
    assert "[algo_kwargs]" in html  # the run's config.toml


def test_a_melody_run_beside_its_optimum(runs):
    from seqtutor_agents.runs.report import render, run_section

    section = run_section(runs["melody"], n=60, seed=0, media=1, optimum_n=20_000)
    header = section.statistics["header"]
    assert header[2] == "prior" and header[3].startswith("π* at c = ")
    rows = {row[0]: row for row in section.statistics["rows"]}
    assert rows["effective sample size"][1] == "–" and float(rows["effective sample size"][3].replace(",", "")) > 100
    assert any("importance sampling over 20,000 prior samples" in note for note in section.notes)
    assert "return / π*'s at the same KL" in section.headline
    from seqtutor_agents.runs.optimum_figures import DISTANCE_HEADLINE

    distance, _share = (section.headline[key] for key in DISTANCE_HEADLINE)  # "value [low, high]", or why not
    assert re.fullmatch(r"-?\d+\.\d{3} \[-?\d+\.\d{3}, -?\d+\.\d{3}\]|not estimated", distance), distance
    assert any("KL(π ‖ π*) = " in note or "distance to π* not estimated: " in note for note in section.notes)
    assert "π* at c =" in render([section], "one run")


def test_report_refuses_what_is_not_a_run(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["report", str(tmp_path), "--out", str(tmp_path / "r.html")])
    assert exc.value.code == 2 and "is not a seqtutor run folder" in capsys.readouterr().err


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("no Chromium: install Debian's chromium package (make install does it as root)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright Python client (pip: playwright)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.mark.slow
def test_the_page_works_in_headless_chromium(browser, page_file, tmp_path):
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(page_file.as_uri())
    page.wait_for_load_state("load")
    assert errors == []

    # every audio element has a playable source and a duration: 32 sixteenths at the MIDI files' tempo
    audio = page.evaluate("""() => Promise.all(Array.from(document.querySelectorAll('audio')).map(a =>
        new Promise(done => {
            const report = () => done({duration: a.duration, error: a.error ? a.error.code : null,
                                       playable: a.canPlayType('audio/wav')});
            if (a.readyState >= 1) report(); else { a.onloadedmetadata = report; a.onerror = report; a.load(); }
        })))""")
    assert len(audio) == 4
    for player in audio:
        assert player["error"] is None and player["playable"] in ("probably", "maybe")
        assert player["duration"] == pytest.approx(32 * 60 / DEFAULT_QPM / 4, abs=0.05)

    # every image decodes
    images = page.evaluate("() => Array.from(document.images).map(i => ({ok: i.complete, width: i.naturalWidth}))")
    assert len(images) >= 8 and all(image["ok"] and image["width"] > 0 for image in images)

    # the molecule table sorts by a clicked column, numerically, both ways
    header = page.locator("table.sortable thead th", has_text=re.compile(r"^qed$"))
    column = page.evaluate(
        "() => Array.from(document.querySelectorAll('table.sortable thead th'))"
        ".findIndex(th => th.textContent.trim() === 'qed')"
    )
    assert column >= 0

    def column_values() -> list[float]:
        texts = page.evaluate(
            f"() => Array.from(document.querySelectorAll('table.sortable tbody tr'))"
            f".map(r => r.cells[{column}].textContent)"
        )
        return [float(t) for t in texts if t.strip()]

    header.click()
    ascending = column_values()
    assert len(ascending) > 10 and ascending == sorted(ascending)
    header.click()
    assert column_values() == sorted(ascending, reverse=True)

    shots = Path(os.environ.get("SEQTUTOR_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / "report.png"), full_page=True)
    assert (shots / "report.png").stat().st_size > 50_000
    page.close()
