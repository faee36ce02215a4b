"""Bad scoring files are refused on load, each with one line naming the file, the key (its line) and the value;
nothing in a scoring file runs."""

import json

import gymnasium as gym
import pytest

import seqtutor_envs  # noqa: F401
from seqtutor_envs.smiles.scoring_file import ScoringFileError, load_scoring_file
from seqtutor_envs.smiles.scoring_params import toml_key_lines

HEAD = '[scoring]\ntype = "geometric_mean"\n\n'
QED = '[[scoring.component]]\n[scoring.component.QED]\n[[scoring.component.QED.endpoint]]\nname = "QED"\n'
MW = (
    "[[scoring.component]]\n[scoring.component.MolecularWeight]\n[[scoring.component.MolecularWeight.endpoint]]\n"
    'name = "MW"\nweight = 0.5\ntransform.type = "double_sigmoid"\ntransform.low = 200.0\ntransform.high = 500.0\n'
)
ALERTS = (
    "[[scoring.component]]\n[scoring.component.custom_alerts]\n[[scoring.component.custom_alerts.endpoint]]\n"
    'params.smarts = [\n    "[#8][#8]",\n    "C(=O",\n    "C#C",\n]\n'
)
SIM = (
    "[[scoring.component]]\n[scoring.component.TanimotoSimilarity]\n[[scoring.component.TanimotoSimilarity.endpoint]]\n"
    'params.smiles = ["CCO", "c1ccccc1X"]\n'
)


def _stage(body: str, condition: str) -> str:
    return f"[[stage]]\n{condition}[stage.scoring]\n" + body.replace("scoring.component", "stage.scoring.component")


# name -> (file text, key the message names, line it names (None: none), value it names (None: none))
BAD = {
    "unknown component": (HEAD + QED.replace("QED", "LogD"), "scoring.component[0].LogD", 5, None),
    "unknown transform": (
        HEAD + MW.replace('"double_sigmoid"', '"cubic"'),
        "scoring.component[0].MolecularWeight.endpoint[0].transform.type",
        9,
        "'cubic'",
    ),
    "unknown transform parameter": (
        HEAD + MW + "transform.centre = 3.0\n",
        "scoring.component[0].MolecularWeight.endpoint[0].transform.centre",
        12,
        "3.0",
    ),
    "unknown component parameter": (
        HEAD + QED + "params.radius = 2\n",
        "scoring.component[0].QED.endpoint[0].params.radius",
        8,
        "2",
    ),
    "unknown endpoint key": (HEAD + QED + "weigth = 2.0\n", "scoring.component[0].QED.endpoint[0].weigth", 8, "2.0"),
    "SMARTS that does not parse": (
        HEAD + QED + ALERTS,
        "scoring.component[1].custom_alerts.endpoint[0].params.smarts[1]",
        13,
        "'C(=O'",
    ),
    "reference SMILES that does not parse": (
        HEAD + SIM,
        "scoring.component[0].TanimotoSimilarity.endpoint[0].params.smiles[1]",
        7,
        "'c1ccccc1X'",
    ),
    "weight 0": (HEAD + QED + "weight = 0\n", "scoring.component[0].QED.endpoint[0].weight", 8, "0"),
    "weight < 0": (
        HEAD + QED + MW.replace("0.5", "-1.0"),
        "scoring.component[1].MolecularWeight.endpoint[0].weight",
        12,
        "-1.0",
    ),
    "weight not a number": (
        HEAD + QED + 'weight = "high"\n',
        "scoring.component[0].QED.endpoint[0].weight",
        8,
        "'high'",
    ),
    "descriptor without a transform": (
        HEAD + QED + MW.split("transform")[0],
        "scoring.component[1].MolecularWeight.endpoint[0].transform",
        10,
        None,
    ),
    "weight on a filter": (
        HEAD + ALERTS.replace("C(=O", "C=O") + "weight = 0.5\n",
        "scoring.component[0].custom_alerts.endpoint[0].weight",
        12,
        "0.5",
    ),
    "low above high": (
        HEAD + MW.replace("200.0", "600.0"),
        "scoring.component[0].MolecularWeight.endpoint[0].transform.low",
        10,
        "600.0",
    ),
    "mapped score outside [0, 1]": (
        HEAD + QED + 'transform.type = "value_mapping"\ntransform.mapping = {"1" = 2.0}\n',
        "scoring.component[0].QED.endpoint[0].transform.mapping.1",
        9,
        "2.0",
    ),
    "mapped value not a number": (
        HEAD + QED + 'transform.type = "value_mapping"\ntransform.mapping = {"high" = 1.0}\n',
        "scoring.component[0].QED.endpoint[0].transform.mapping.high",
        9,
        "'high'",
    ),
    "duplicate names": (HEAD + QED + QED, "scoring.component[1].QED.endpoint[0].name", 11, "'QED'"),
    "reserved name": (
        HEAD + QED.replace('"QED"', '"smiles"'),
        "scoring.component[0].QED.endpoint[0].name",
        7,
        "'smiles'",
    ),
    "unknown aggregation": (HEAD.replace("geometric_mean", "median") + QED, "scoring.type", 2, "'median'"),
    "unknown catalogue": (
        HEAD + "[[scoring.component]]\n[scoring.component.FilterCatalog]\n"
        '[[scoring.component.FilterCatalog.endpoint]]\nparams.catalogs = ["PAINS", "LILLY"]\n',
        "scoring.component[0].FilterCatalog.endpoint[0].params.catalogs[1]",
        7,
        "'LILLY'",
    ),
    "unknown oracle": (
        HEAD + "[[scoring.component]]\n[scoring.component.GuacaMol]\n[[scoring.component.GuacaMol.endpoint]]"
        '\nparams.oracle = "drd2"\n',
        "scoring.component[0].GuacaMol.endpoint[0].params.oracle",
        7,
        "'drd2'",
    ),
    "unknown top-level key": ('run_type = "scoring"\n' + HEAD + QED, "run_type", 1, "'scoring'"),
    "no component": (HEAD, "scoring.component", 1, None),
    "not TOML": (HEAD + QED + "weight = = 1\n", "line 8", None, None),
    "last stage with a switch": (
        _stage(QED, "max_steps = 100\n") + _stage(QED, "max_steps = 100\n"),
        "stage[1].max_steps",
        9,
        "100",
    ),
    "stage without a switch": (_stage(QED, "") + _stage(QED, ""), "stage[0]", 1, None),
    "window without max_score": (
        _stage(QED, "max_steps = 10\nwindow = 5\n") + _stage(QED, ""),
        "stage[0].window",
        3,
        "5",
    ),
    "max_score above 1": (_stage(QED, "max_score = 1.5\n") + _stage(QED, ""), "stage[0].max_score", 2, "1.5"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_files_are_refused_in_one_line_naming_file_key_line_value(tmp_path, case):
    text, key, line, value = BAD[case]
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ScoringFileError) as caught:
        load_scoring_file(path)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(str(path))
    assert key in message, message
    if line is not None:
        assert f"(line {line})" in message, message
    if value is not None:
        assert f"got {value}" in message, message
    with pytest.raises(ValueError, match=r"bad.toml"):  # the env refuses it at construction, naming the file
        gym.make("SeqTutor-SMILES-v0", objective=f"file:{path}")


def test_json_files_are_checked_the_same_way(tmp_path):
    data = {"scoring": {"type": "arithmetic_mean", "component": [{"QED": {"endpoint": [{"weight": -2}]}}]}}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(
        ScoringFileError,
        match=r"bad\.json, scoring\.component\[0\]\.QED\.endpoint\[0\]\.weight: "
        r"must be > 0, got -2$",
    ):
        load_scoring_file(path)
    path.write_text("[1, 2]")
    with pytest.raises(ScoringFileError, match="holds an object, not a list"):
        load_scoring_file(path)
    path.write_text('{"scoring": ')
    with pytest.raises(ScoringFileError, match=r"not valid JSON .*line 1"):
        load_scoring_file(path)


def test_missing_file_and_other_suffixes(tmp_path):
    with pytest.raises(ScoringFileError, match="no such scoring file"):
        load_scoring_file(tmp_path / "absent.toml")
    (tmp_path / "scoring.yaml").write_text("a: 1")
    with pytest.raises(ScoringFileError, match=r"ends in .toml or .json"):
        load_scoring_file(tmp_path / "scoring.yaml")


@pytest.mark.parametrize(
    "component",
    [
        "os.system",
        "builtins:eval",
        "__import__('os').system('touch PWNED')",
        "seqtutor_envs.smiles.objectives.CallableObjective",
    ],
)
def test_nothing_in_a_scoring_file_runs(tmp_path, monkeypatch, component):
    """Component and transform types come from a fixed table: an import path or an expression is an unknown name."""
    monkeypatch.chdir(tmp_path)
    texts = [
        HEAD
        + f'[[scoring.component]]\n[scoring.component."{component}"]\n[[scoring.component."{component}".endpoint]]\n',
        HEAD + QED + f'transform.type = "{component}"\n',
        HEAD + QED + f'params.code = "{component}"\n',
    ]
    for text in texts:
        (tmp_path / "s.toml").write_text(text)
        with pytest.raises(ScoringFileError, match="unknown"):
            load_scoring_file(tmp_path / "s.toml")
    assert not (tmp_path / "PWNED").exists()


def test_key_lines_follow_arrays_of_tables_and_multiline_arrays():
    lines = toml_key_lines(HEAD + QED + ALERTS)
    assert lines[("scoring", "type")] == 2
    assert lines[("scoring", "component", 1, "custom_alerts", "endpoint", 0, "params", "smarts")] == 11
    assert lines[("scoring", "component", 1, "custom_alerts", "endpoint", 0, "params", "smarts", 2)] == 14
