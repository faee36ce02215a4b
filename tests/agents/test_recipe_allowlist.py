"""A run folder never makes seqtutor run code: gadgets planted in every recipe of every algorithm's model file.

The model files' JSON recipes name classes; a class that is not on the allow-list (or is in the
wrong place, or gets keyword arguments it does not take) is refused, by field and by name, before
anything is built. "Nothing runs" is checked two ways: no marker file appears, and a Python audit
hook sees no process started (``subprocess.Popen``, ``os.system``, ``os.exec*``, ``os.posix_spawn``,
``os.fork``) while a planted file is loaded.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from run_files import edit_model_data, pickled_marker, tamper_run

from seqtutor_agents.cli import main
from seqtutor_agents.common.recipes import (
    allow_class,
    allowed_classes,
    decode_fields,
    is_recipe_value,
)
from seqtutor_agents.common.safe_load import (
    ModelFileError,
    UnsafeModelError,
    load_model,
    save_model,
)
from seqtutor_agents.runs.training import (
    ALGO_CHOICES,
    ConfigError,
    TrainConfig,
    algorithm_class,
    load_run,
    make_env,
    make_model,
)

ENV_KWARGS = {"composition_length": 8}

# ---------------------------------------------------------------------------- nothing runs: an audit hook
PROCESS_EVENTS = (
    "subprocess.Popen",
    "os.system",
    "os.exec",
    "os.posix_spawn",
    "os.spawn",
    "os.fork",
    "os.forkpty",
    "pty.spawn",
)
_AUDIT = {"armed": False, "events": []}


def _audit(event: str, args) -> None:
    if _AUDIT["armed"] and event in PROCESS_EVENTS:
        _AUDIT["events"].append(event)


sys.addaudithook(_audit)


class NothingRuns:
    """Context manager: fails the test if a process is started inside it."""

    def __enter__(self):
        _AUDIT["events"].clear()
        _AUDIT["armed"] = True
        return self

    def __exit__(self, *exc):
        _AUDIT["armed"] = False
        assert not _AUDIT["events"], f"loading started a process: {_AUDIT['events']}"


# ---------------------------------------------------------------------------- the gadgets
#: Names an attacker could ask for, each refused wherever it is planted.
GADGETS = {
    "subprocess.Popen": "subprocess:Popen",
    "Popen through a trusted package": "torch.utils.cpp_extension:subprocess.Popen",
    "os.system": "os:system",
    "builtins.eval": "builtins:eval",
    "builtins.exec": "builtins:exec",
    "functools.partial": "functools:partial",
    "importlib.import_module": "importlib:import_module",
    "a class outside the list": "collections:OrderedDict",
    "a trusted package's class off the list": "torch.nn.modules.linear:Linear",
}
#: Schedules that are not SB3's (numbers only).
BAD_SCHEDULES = [
    {"callable": "os:system"},
    "os:system",
    {"constant": "__import__('os').system('id')"},
    {"linear": ["builtins:eval", 0, 1]},
]


@pytest.fixture(scope="module")
def model_files(tmp_path_factory) -> dict[str, Path]:
    """An untrained model of every algorithm, saved by seqtutor (module scope: built once)."""
    folder = tmp_path_factory.mktemp("models")
    files = {}
    for algo in ALGO_CHOICES:
        config = TrainConfig(out=str(folder / algo), algo=algo, n_envs=2, env_kwargs=ENV_KWARGS)
        model = make_model(config, make_env(config))
        files[algo] = save_model(model, folder / f"{algo}.zip")  # seqtutor's format, stock algorithms too
    return files


def recipe_fields(model_zip: Path) -> dict[str, dict]:
    with __import__("zipfile").ZipFile(model_zip) as archive:
        return json.loads(archive.read("data"))["seqtutor_safe_fields"]


def plantings(fields: dict[str, dict], name: str) -> list[tuple[str, dict]]:
    """``(field, recipe)`` pairs planting class ``name`` in every recipe-bearing place of a model file."""
    gadget = {"type": {"class": name}}
    planted = [(field, gadget) for field in fields]  # every existing recipe replaced by the gadget
    for key in ("features_extractor_class", "activation_fn", "optimizer_class", "net_arch"):
        planted.append(("policy_kwargs", {"dict": {key: gadget}}))
    planted.append(("policy_kwargs", {"dict": {"features_extractor_kwargs": {"dict": {"x": gadget}}}}))
    planted += [
        ("replay_buffer_kwargs", {"dict": {"x": gadget}}),
        ("replay_buffer_class", gadget),
        ("rollout_buffer_class", gadget),
        ("learning_rate", gadget),
        ("someone_elses_field", gadget),
    ]
    return planted


def plant(source: Path, target: Path, field: str, recipe: dict) -> Path:
    shutil.copy(source, target)

    def edit(data):
        data["seqtutor_safe_fields"][field] = recipe
        pickled_marker(data, field)  # a recipe is only read for a pickled field: make it look pickled

    edit_model_data(target, edit)
    return target


@pytest.mark.parametrize("algo", ALGO_CHOICES)
@pytest.mark.parametrize("gadget", list(GADGETS))
def test_every_gadget_in_every_recipe_field_is_refused_by_name(model_files, tmp_path, algo, gadget):
    name = GADGETS[gadget]
    cls = algorithm_class(algo)
    for field, recipe in plantings(recipe_fields(model_files[algo]), name):
        path = plant(model_files[algo], tmp_path / "planted.zip", field, recipe)
        with NothingRuns(), pytest.raises(UnsafeModelError) as refused:
            load_model(cls, path)
        message = str(refused.value)
        assert repr(field) in message, message
        assert name in message, message  # what it asked for, however deep it was planted


@pytest.mark.parametrize("algo", ["psi", "ppo", "dqn", "recurrent_ppo"])
@pytest.mark.parametrize("field", ["learning_rate", "clip_range"])
@pytest.mark.parametrize("schedule", BAD_SCHEDULES, ids=str)
def test_a_schedule_that_is_not_sb3s_is_refused(model_files, tmp_path, algo, field, schedule):
    path = plant(model_files[algo], tmp_path / "planted.zip", field, {"schedule": schedule})
    with NothingRuns(), pytest.raises(UnsafeModelError, match=f"field '{field}' holds the schedule"):
        load_model(algorithm_class(algo), path)


@pytest.mark.parametrize(
    "kwargs_key, kwargs, named",
    [
        ("features_extractor_kwargs", {"shell": True, "env": {"BASH_ENV": "/tmp/x"}}, "'shell'"),
        ("features_extractor_kwargs", {"observation_space": 1}, "'observation_space', which SB3 passes"),
        ("optimizer_kwargs", {"params": []}, "'params', which SB3 passes"),
        ("optimizer_kwargs", {"executable": "/bin/sh"}, "'executable'"),
    ],
)
def test_an_allowed_class_with_arguments_it_does_not_take_is_refused(model_files, tmp_path, kwargs_key, kwargs, named):
    classes = {
        "features_extractor_kwargs": (
            "features_extractor_class",
            "stable_baselines3.common.torch_layers:CombinedExtractor",
        ),
        "optimizer_kwargs": ("optimizer_class", "torch.optim.adam:Adam"),
    }
    class_key, class_name = classes[kwargs_key]
    recipe = {"dict": {class_key: {"type": {"class": class_name}}, kwargs_key: {"json": kwargs}}}
    path = plant(model_files["ppo"], tmp_path / "planted.zip", "policy_kwargs", recipe)
    with NothingRuns(), pytest.raises(UnsafeModelError, match=named):
        load_model(algorithm_class("ppo"), path)


def test_an_allowed_class_in_the_wrong_role_is_refused(model_files, tmp_path):
    recipe = {"dict": {"features_extractor_class": {"type": {"class": "torch.optim.adam:Adam"}}}}
    path = plant(model_files["ppo"], tmp_path / "planted.zip", "policy_kwargs", recipe)
    with pytest.raises(UnsafeModelError, match="not on the allow-list of features extractor classes"):
        load_model(algorithm_class("ppo"), path)


def test_fields_sb3_never_saves_are_refused(model_files, tmp_path):
    path = tmp_path / "env.zip"
    shutil.copy(model_files["ppo"], path)
    edit_model_data(path, lambda data: data.update(env="antigravity:Fly-v0"))  # SB3 would gym.make it
    with NothingRuns(), pytest.raises(UnsafeModelError, match="'env', which SB3 never saves"):
        load_model(algorithm_class("ppo"), path)


def test_a_users_own_class_can_be_trusted_explicitly(model_files, tmp_path):
    from stable_baselines3.common.torch_layers import CombinedExtractor

    class MyExtractor(CombinedExtractor):
        pass

    name = f"{MyExtractor.__module__}:{MyExtractor.__qualname__}"
    recipe = {"dict": {"features_extractor_class": {"type": {"class": name}}}}
    path = plant(model_files["ppo"], tmp_path / "planted.zip", "policy_kwargs", recipe)
    with pytest.raises(UnsafeModelError, match="allow_class"):
        load_model(algorithm_class("ppo"), path)
    allow_class("features_extractor", MyExtractor)
    try:
        env = make_env(TrainConfig(out=str(tmp_path), algo="ppo", n_envs=2, env_kwargs=ENV_KWARGS))
        model = load_model(algorithm_class("ppo"), path, env=env)
        assert type(model.policy.features_extractor) is MyExtractor
    finally:
        from seqtutor_agents.common import recipes

        recipes._REGISTERED["features_extractor"].pop(name)


def test_the_reported_exploit_runs_nothing(tmp_path):
    """The issue's reproduction: a PPO run whose policy_kwargs name Popen with shell=True and BASH_ENV."""
    out = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--algo",
                "ppo",
                "--steps",
                "64",
                "--n-envs",
                "2",
                "--no-progress",
                "--out",
                str(out),
                "--env-kwarg",
                "composition_length=8",
                "--algo-kwarg",
                "n_steps=32",
                "--algo-kwarg",
                "batch_size=32",
            ]
        )
        == 0
    )
    marker = tmp_path / "MARKER"
    script = tmp_path / "evil.sh"
    script.write_text(f"/usr/bin/touch {marker}\n")

    def edit(data):
        data["seqtutor_safe_fields"]["policy_kwargs"] = {
            "dict": {
                "features_extractor_class": {"type": {"class": "torch.utils.cpp_extension:subprocess.Popen"}},
                "features_extractor_kwargs": {
                    "json": {"shell": True, "executable": "/bin/bash", "env": {"BASH_ENV": str(script)}}
                },
            }
        }
        pickled_marker(data, "policy_kwargs")

    tamper_run(out, edit)
    for args in (
        ["sample", "--run", str(out), "-n", "2", "--out", str(tmp_path / "s")],
        ["evaluate", "--run", str(out), "-n", "2"],
        ["train", "--out", str(out), "--steps", "128", "--resume", "--no-progress"],
    ):
        with NothingRuns(), pytest.raises(SystemExit) as refused:
            main(args)
        assert refused.value.code == 2
    time.sleep(0.5)  # a started shell would have had time to touch the marker
    assert not marker.exists()


# ---------------------------------------------------------------------------- every entry point
@pytest.fixture(scope="module")
def trained_runs(tmp_path_factory) -> dict[str, Path]:
    """A tiny trained run of every algorithm (with checkpoints)."""
    folder = tmp_path_factory.mktemp("runs")
    extra = {
        "ppo": ["n_steps=32", "batch_size=32"],
        "a2c": ["n_steps=8"],
        "recurrent_ppo": ["n_steps=32", "batch_size=32", "n_epochs=1"],
        "dqn": ["learning_starts=32"],
        "qrdqn": ["learning_starts=32"],
        "q": ["learning_starts=32"],
        "psi": ["learning_starts=32"],
        "g": ["learning_starts=32"],
        "dap": ["batch_size=4"],
        "klppo": ["batch_size=4", "minibatch_size=2", "n_epochs=1"],
    }
    runs = {}
    for algo in ALGO_CHOICES:
        out = folder / algo
        args = [
            "train",
            "--algo",
            algo,
            "--steps",
            "128",
            "--n-envs",
            "2",
            "--no-progress",
            "--out",
            str(out),
            "--checkpoint-every",
            "64",
            "--env-kwarg",
            "composition_length=8",
        ]
        for kv in extra.get(algo, []):
            args += ["--algo-kwarg", kv]
        assert main(args) == 0
        runs[algo] = out
    return runs


ENTRY_POINTS = ("load_run", "loader", "sample", "evaluate", "resume")


def enter(entry: str, run: Path, algo: str, tmp_path: Path) -> str:
    """Load a run through one entry point; returns the refusal's message (the test fails if it is accepted)."""
    if entry in ("load_run", "loader"):
        with pytest.raises(ConfigError if entry == "load_run" else UnsafeModelError) as refused:
            if entry == "load_run":
                load_run(run)
            else:
                load_model(algorithm_class(algo), run / "model.zip")
        return str(refused.value)
    args = {
        "sample": ["sample", "--run", str(run), "-n", "2", "--out", str(tmp_path / "s")],
        "evaluate": ["evaluate", "--run", str(run), "-n", "2"],
        "resume": ["train", "--out", str(run), "--steps", "256", "--resume", "--no-progress"],
    }[entry]
    with pytest.raises(SystemExit) as refused:
        main(args)
    assert refused.value.code == 2
    return ""


@pytest.mark.xdist_group("trained_runs")  # one worker trains the runs below, not every parallel worker
@pytest.mark.parametrize("algo", ALGO_CHOICES)
@pytest.mark.parametrize(
    "field, recipe, named",
    [
        (
            "policy_kwargs",
            {"dict": {"features_extractor_class": {"type": {"class": "subprocess:Popen"}}}},
            "subprocess:Popen",
        ),
        ("policy_class", {"type": {"class": "builtins:eval"}}, "builtins:eval"),
        ("observation_space", {"type": {"class": "os:system"}}, "never holds one"),
    ],
)
def test_every_entry_point_refuses_a_planted_run(trained_runs, tmp_path, capsys, algo, field, recipe, named):
    run = Path(shutil.copytree(trained_runs[algo], tmp_path / "run"))

    def edit(data):
        data["seqtutor_safe_fields"][field] = recipe
        pickled_marker(data, field)

    tamper_run(run, edit)
    for entry in ENTRY_POINTS:
        with NothingRuns():
            message = enter(entry, run, algo, tmp_path) or capsys.readouterr().err
        assert repr(field) in message and named in message, (entry, message)


# ---------------------------------------------------------------------------- fuzzing the decoder
_NAMES = st.sampled_from(
    [
        *GADGETS.values(),
        "stable_baselines3.common.torch_layers:CombinedExtractor",
        "torch.optim.adam:Adam",
        "torch.nn.modules.activation:ReLU",
        "MultiInputPolicy",
        "",
        ":",
    ]
)
_KEYS = st.sampled_from(
    [
        "type",
        "class",
        "alias",
        "schedule",
        "dict",
        "json",
        "space",
        "train_freq",
        "constant",
        "linear",
        "spaces",
        "n",
        "start",
        "nvec",
        "dtype",
        "low",
        "high",
        "features_extractor_class",
        "optimizer_class",
        "activation_fn",
        "optimizer_kwargs",
        "features_extractor_kwargs",
    ]
)
_LEAVES = st.none() | st.booleans() | st.integers(-3, 40) | st.floats(allow_nan=True) | _NAMES | st.text(max_size=6)
_RECIPES = st.recursive(
    _LEAVES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS | st.text(max_size=5), inner, max_size=3),
    max_leaves=14,
)
_FIELDS = st.sampled_from(
    [
        "policy_class",
        "policy_kwargs",
        "observation_space",
        "action_space",
        "replay_buffer_class",
        "rollout_buffer_class",
        "replay_buffer_kwargs",
        "train_freq",
        "learning_rate",
        "clip_range",
        "someone_elses_field",
    ]
)


@given(recipes=st.dictionaries(_FIELDS, _RECIPES, min_size=1, max_size=4))
def test_fuzzed_recipes_are_refused_or_rebuild_only_allowed_values(recipes):
    from stable_baselines3 import PPO

    allowed_classes("policy")  # the allow-list is built (its imports done) before the hook is armed
    data = {key: {":type:": "x", ":serialized:": "AAAA"} for key in recipes}
    with NothingRuns():
        try:
            values = decode_fields(recipes, list(recipes), data, "fuzz.zip", PPO.policy_aliases)
        except ModelFileError as refused:
            assert "fuzz.zip" in str(refused)
        else:
            assert all(is_recipe_value(v) for v in values.values()), values
