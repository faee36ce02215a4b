"""ALGOS, the one algorithm table: every row resolves and agrees with its class, and everything else derives from it."""

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm

import seqtutor_agents
from seqtutor_agents.common.learner import KLControlledLearner
from seqtutor_agents.policy_gradient import EpisodicPolicyGradient
from seqtutor_agents.runs import config
from seqtutor_agents.runs.config import ALGOS, ConfigError, algorithm_class, defaults, policy_name
from seqtutor_agents.sequence_tutor import SequenceTutorAlgorithm
from seqtutor_agents.zoo import ZOO_ALGOS, zoo_hyperparams

ROOT = Path(__file__).resolve().parents[2]
FAMILY_BASES = {"sequence_tutor": SequenceTutorAlgorithm, "policy_gradient": EpisodicPolicyGradient}


@pytest.mark.parametrize("name", list(ALGOS))
def test_each_row_agrees_with_its_class(name):
    row, cls = ALGOS[name], algorithm_class(name)
    assert cls.__name__ == row.cls.rsplit(".", 1)[1] and row.policy in cls.policy_aliases
    assert policy_name(name) == row.policy
    if row.family == "stock":
        assert not issubclass(cls, KLControlledLearner) and row.kl_target is None
    else:
        assert issubclass(cls, FAMILY_BASES[row.family]) and row.kl_target == cls.kl_target_adapts
    assert row.replay == issubclass(cls, OffPolicyAlgorithm)  # a replay buffer is part of a whole checkpoint
    assert row.seqtutor_extractor == row.policy.endswith("LstmPolicy")
    assert set(defaults("SeqTutor-Melody-v0", name)) >= set(row.defaults) - {"env_kwargs"}


def test_the_name_lists_are_the_tables():
    families = {
        f: tuple(n for n, r in ALGOS.items() if r.family == f) for f in ("sequence_tutor", "policy_gradient", "stock")
    }
    assert config.ALGO_CHOICES == tuple(ALGOS) == sum(families.values(), ())
    assert tuple(families.values()) == (config.SEQUENCE_TUTOR_ALGOS, config.POLICY_GRADIENT_ALGOS, config.STOCK_ALGOS)
    assert config.REPLAY_ALGOS == ("q", "psi", "g", "dqn", "qrdqn")
    assert config.KL_TARGET_ALGOS == ("q", "psi", "g", "klppo", "dpg", "tb")
    assert {name: cls.__name__ for name, cls in seqtutor_agents.ALGORITHMS.items()} == {
        "q": "PriorQLearning",
        "psi": "PsiLearning",
        "g": "GLearning",
    }
    assert {r.zoo: n for n, r in ALGOS.items() if r.zoo} == ZOO_ALGOS
    for zoo_algo in ZOO_ALGOS:  # every zoo name has its rl-zoo3 --conf-file module
        assert importlib.import_module(f"seqtutor_agents.zoo.{zoo_algo}").hyperparams == zoo_hyperparams(zoo_algo)
    with pytest.raises(
        ConfigError, match="unknown algorithm 'sarsa'; choose one of q, psi, g, dap, klppo, dpg, tb, ppo"
    ):
        algorithm_class("sarsa")


def test_a_new_row_is_all_it_takes_to_add_a_learner(monkeypatch):
    row = config.Algo("seqtutor_agents.policy_gradient.DAP", "PriorLSTMPolicy", "policy_gradient", {"batch_size": 8})
    monkeypatch.setitem(ALGOS, "dap8", row)
    assert algorithm_class("dap8").__name__ == "DAP" and policy_name("dap8") == "PriorLSTMPolicy"
    run = config.TrainConfig(out="unused", algo="dap8")
    run.validate()
    assert run.resolved_algo_kwargs() == {"batch_size": 8}
    with pytest.raises(ConfigError, match=r"--target-kl .* not dap8"):
        config.TrainConfig(out="unused", algo="dap8", target_kl=0.1).validate()


def test_the_readme_and_the_cli_list_every_algorithm():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    listed = re.search(r"`--algo` is (.*?), and\n", readme, re.S).group(1)
    assert tuple(re.findall(r"`(\w+)`", listed)) == config.ALGO_CHOICES
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; import seqtutor_agents.cli as c; c.build_parser().parse_args(['train', '--help'])",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert f"({', '.join(config.ALGO_CHOICES)})" in " ".join(proc.stdout.split())


def test_the_table_imports_no_torch():
    """The CLI builds its parser from the table: importing it must not import torch (``--help`` stays fast)."""
    code = (
        "import sys, seqtutor_agents.runs.config; "
        "print(sorted(m for m in ('torch', 'stable_baselines3') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert proc.stdout.strip() == "[]"


def test_trajectory_balance_learns_on_policy_on_melodies_and_from_its_memory_on_molecules():
    melody = config.TrainConfig(out="unused", env_id="SeqTutor-Melody-v0", algo="tb").resolved_algo_kwargs()
    smiles = config.TrainConfig(out="unused", env_id="SeqTutor-SMILES-v0", algo="tb").resolved_algo_kwargs()
    # benchmarks/results/melody_tb_ablation.md: the memory of the best collapses TB on melodies
    assert (melody["replay_memory"], melody["gradient_steps"]) == (0, 4)
    assert (smiles["replay_memory"], smiles["gradient_steps"]) == (1024, 8)  # Genetic GFN's
    assert {k: v for k, v in melody.items() if k not in ("replay_memory", "gradient_steps")} == {
        k: v for k, v in smiles.items() if k not in ("replay_memory", "gradient_steps")
    }


def test_dpg_tempers_its_weights_on_melodies_only():
    melody = config.TrainConfig(out="unused", env_id="SeqTutor-Melody-v0", algo="dpg").resolved_algo_kwargs()
    smiles = config.TrainConfig(out="unused", env_id="SeqTutor-SMILES-v0", algo="dpg").resolved_algo_kwargs()
    # benchmarks/results/melody_dpg_ablation.md: α 0.5, lr 1e-3 held the KL target on both seeds
    assert (melody["temper"], melody["learning_rate"]) == (0.5, 1e-3)
    assert "temper" not in smiles and smiles["learning_rate"] == 5e-4  # the PMO settings were tuned untempered
