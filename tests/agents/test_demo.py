"""``make demo``'s job, on a small budget: the run, samples to hear, Table 1 with π*'s ratio, and the report page."""

from __future__ import annotations

import pytest

from seqtutor_agents.runs.demo import DEMO_ALGO, DEMO_SETTING, run_demo


@pytest.mark.slow
def test_demo_writes_its_outputs_and_the_report(tmp_path, capsys):
    paths = run_demo(tmp_path / "demo", steps=1024, n_compositions=100, optimum_samples=20_000)
    assert DEMO_ALGO == "g" and 0.1 <= DEMO_SETTING["target_kl"] <= 0.25  # the setting the frontier chose
    assert len(list(paths["midi"].glob("*.mid"))) == 10 and len(list(paths["midi"].glob("*.wav"))) == 10
    table = paths["table"].read_text()
    assert "Return / π*'s at the same KL" in table and "Notes in motif" in table
    assert "Distance to π*" in table and "log Z = " in table  # the distance in nats (or why it is not given)
    assert "before it held 0.9 of π*'s return" in table
    html = paths["report"].read_text()
    assert html.count("<audio") == 6 and "training curves" in html and "KL(π ‖ π*), nats per sequence" in html
    assert f"open the report page: {paths['report'].resolve()}" in capsys.readouterr().out
