"""A third domain, made in a test, trains, samples and evaluates through the CLI with no change to seqtutor_agents.

The domain (``tests/toy_domain.py``): sequences of 6 tokens over a 4-token vocabulary, +1 for every
token 1, a tiny untrained prior saved by the test. It is registered with Gymnasium and with
seqtutor's domain registry -- nothing else.
"""

from __future__ import annotations

import json

import pytest
from toy_domain import ENV_ID, LENGTH, registered_toy_domain

from seqtutor_agents.cli import main
from seqtutor_envs.domains import get_domain, unregister_domain


@pytest.fixture
def toy_domain(tmp_path):
    with registered_toy_domain(tmp_path) as prior:
        yield prior


@pytest.mark.parametrize(
    "algo, kwargs",
    [
        ("psi", ["learning_starts=48", "train_freq=1"]),
        ("dap", ["batch_size=8"]),
        ("tb", ["batch_size=8", "gradient_steps=2", "replay_sample=4"]),
    ],
)
def test_a_third_domain_trains_samples_and_evaluates_through_the_cli(toy_domain, tmp_path, algo, kwargs):
    out = tmp_path / "run"
    args = [
        "train",
        "--env",
        ENV_ID,
        "--algo",
        algo,
        "--steps",
        "1200",
        "--n-envs",
        "8",
        "--no-progress",
        "--out",
        str(out),
        "--c",
        "0.5",
    ]
    for kv in kwargs:
        args += ["--algo-kwarg", kv]
    assert main(args) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["env_id"] == ENV_ID
    if algo == "psi":
        assert config["resolved"]["algo_kwargs"]["gamma"] == 1.0  # the domain's own learner setting
    assert main(["sample", "--run", str(out), "-n", "5", "--out", str(tmp_path / "samples")]) == 0
    lines = (tmp_path / "samples" / "sequences.txt").read_text().split("\n")[:5]
    assert all(len(line.split()) == LENGTH for line in lines)
    assert main(["evaluate", "--run", str(out), "-n", "200", "--out", str(tmp_path / "eval")]) == 0
    result = json.loads((tmp_path / "eval" / "evaluation.json").read_text())
    assert result["env_id"] == ENV_ID and 0.0 <= result["statistics"]["ones_share"] <= 1.0
    assert "| ones |" in (tmp_path / "eval" / "evaluation.md").read_text()
    assert result["kl_per_step"] >= 0.0 and result["prior"]["kl_per_step"] == pytest.approx(0.0, abs=1e-6)


def test_an_unregistered_env_is_refused_by_name(toy_domain):
    unregister_domain(ENV_ID)
    with pytest.raises(KeyError, match="not a seqtutor env"):
        get_domain(ENV_ID)
