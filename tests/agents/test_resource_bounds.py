"""A crafted model file or run config is refused, naming the bound, before it can make seqtutor allocate what
it asks."""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from pathlib import Path

import gymnasium as gym
import pytest
from run_files import edit_model_data, pickle_policy_file, refused, train_melody_run, train_smiles_run
from stable_baselines3 import DQN, PPO

from seqtutor_agents import PsiLearning, make_sb3_vec_env
from seqtutor_agents.common.recipes import ModelFileError, UnsafeModelError
from seqtutor_agents.common.safe_load import load_model, read_model_data, save_model


def small_env():
    return make_sb3_vec_env("SeqTutor-Melody-v0", n_envs=2, composition_length=8)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return train_melody_run(tmp_path_factory.mktemp("bounds") / "run", steps=128)


@pytest.fixture
def copy(run, tmp_path) -> Path:
    target = tmp_path / "run"
    shutil.copytree(run, target)
    shutil.rmtree(target / "checkpoints")  # the final model.zip is what sample reads
    return target


@pytest.fixture(scope="module")
def ppo_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ppo") / "ppo.zip"
    save_model(PPO("MultiInputPolicy", small_env(), n_steps=8, batch_size=8, seed=0), path)
    return path


def test_a_huge_net_arch_is_refused_before_it_is_built(ppo_file, tmp_path):
    path = tmp_path / "ppo.zip"
    shutil.copy(ppo_file, path)
    edit_model_data(path, lambda d: d.update(policy_kwargs={"net_arch": [20000, 20000]}))
    with pytest.raises(ModelFileError, match=r"asks for a model of more than [\d,]+ tensor elements .* refused before"):
        load_model(PPO, path, env=small_env())


def test_a_huge_recurrent_q_network_is_refused_on_the_command_line(copy, tmp_path, capsys):
    def grow(data):
        data["policy_kwargs"]["net_config"]["hidden_size"] = 30_000

    edit_model_data(copy / "model.zip", grow)
    err = refused(capsys, "sample", "--run", str(copy), "-n", "2", "--out", str(tmp_path / "s"))
    assert "asks for a model of more than 268,435,456 tensor elements" in err  # 2**28: the bound, named


def test_a_data_member_that_inflates_past_the_bound_is_refused_unread(copy, tmp_path, capsys):
    model = copy / "model.zip"
    with zipfile.ZipFile(model) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    entries["data"] = entries["data"] + b" " * 100_000_000  # still valid JSON; deflates to ~100 KB
    with zipfile.ZipFile(model, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    assert model.stat().st_size < 2_000_000
    err = refused(capsys, "sample", "--run", str(copy), "-n", "2", "--out", str(tmp_path / "s"))
    assert "member 'data' inflates to 100.0 MB" in err and "seqtutor reads at most 67.1 MB of it (the limit)" in err


@pytest.mark.parametrize("where", ["command line", "dqn file"])
def test_a_buffer_larger_than_the_machine_is_refused(copy, tmp_path, capsys, where):
    if where == "command line":
        edit_model_data(copy / "model.zip", lambda d: d.update(buffer_size=10**13))
        err = refused(capsys, "sample", "--run", str(copy), "-n", "2", "--out", str(tmp_path / "s"))
    else:
        path = tmp_path / "dqn.zip"
        save_model(DQN("MultiInputPolicy", small_env(), buffer_size=100, learning_starts=0), path)
        edit_model_data(path, lambda d: d.update(buffer_size=10**13))
        with pytest.raises(ModelFileError) as exc:
            load_model(DQN, path, env=small_env())
        err = str(exc.value)
    assert "buffer_size 10,000,000,000,000 asks for about" in err and "(the limit)" in err


def test_more_scoring_workers_than_cpus_are_refused(tmp_path, capsys):
    import os

    out = tmp_path / "smiles"
    train_smiles_run(out)
    config = json.loads((out / "config.json").read_text())
    config["env_kwargs"]["scoring_workers"] = 24
    (out / "config.json").write_text(json.dumps(config))
    err = refused(capsys, "evaluate", "--run", str(out), "-n", "4")
    assert f"scoring_workers must be at most this machine's {os.cpu_count()} CPUs (the limit), got 24" in err
    with pytest.raises(ValueError, match="scoring_workers must be at most"):
        gym.make_vec("SeqTutor-SMILES-v0", num_envs=2, scoring_workers=(os.cpu_count() or 1) + 1)


def test_a_cnn_policy_on_dict_observations_is_refused(ppo_file, tmp_path):
    path = tmp_path / "ppo.zip"
    shutil.copy(ppo_file, path)
    edit_model_data(path, lambda d: d["seqtutor_safe_fields"].update(policy_class={"type": {"alias": "CnnPolicy"}}))
    with pytest.raises(ModelFileError, match=f"{path} does not hold a usable PPO model: AssertionError"):
        load_model(PPO, path, env=small_env())


def test_json_nested_too_deeply_is_refused(copy, tmp_path, capsys):
    deep = "[" * 200_000 + "]" * 200_000
    (copy / "config.json").write_text(deep)
    err = refused(capsys, "evaluate", "--run", str(copy), "-n", "4")
    assert "config.json: its JSON is nested too deeply to read" in err
    model = tmp_path / "model.zip"
    with zipfile.ZipFile(model, "w") as archive:
        archive.writestr("data", deep)
    with pytest.raises(ModelFileError, match="nested too deeply"):
        read_model_data(model)


@pytest.mark.parametrize(
    "field, edit, named",
    [
        (
            "action_space",
            lambda s: s.update(n=10**20),
            "n 100000000000000000000 is outside [1, 2,147,483,647] (the limit)",
        ),
        ("observation_space", lambda s: s["spaces"]["tokens"].update(nvec=[10**30] * 9), "nvec entry 10000000000"),
    ],
)
def test_spaces_too_large_to_hold_are_refused(copy, field, edit, named):
    edit_model_data(copy / "model.zip", lambda d: edit(d["seqtutor_safe_fields"][field]["space"]))
    with pytest.raises(ModelFileError, match=re.escape(named)):
        load_model(PsiLearning, copy / "model.zip", env=small_env())


def test_set_parameters_names_a_pickled_weights_file(copy):
    model = copy / "model.zip"
    pickle_policy_file(model)
    learner = PsiLearning("RecurrentQPolicy", small_env(), learning_starts=8)
    with pytest.raises(UnsafeModelError, match=f"{model}: policy.pth holds pickled objects"):
        learner.set_parameters(str(model))
