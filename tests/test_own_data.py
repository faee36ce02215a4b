"""A new user's path, run from the manual's own lines (docs/own-data.md, linked from the README):
MIDI folder -> corpus -> prior -> train -> sample -> report,
and .smi -> prior -> train -> sample -> the prior evaluated with novelty against the user's molecules.

Only the budgets are made small (steps, epochs, samples, the prior's size); every command is the manual's.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import numpy as np
import pretty_midi
import pytest

from seqtutor_agents.cli import main as seqtutor
from seqtutor_envs.melody.corpus import main as melody_corpus
from seqtutor_envs.smiles.corpus import main as smiles_corpus

ROOT = Path(__file__).resolve().parents[1]
#: Flag -> the small value the test uses instead of the manual's.
SMALL = {"--max-minutes": "0.2", "--steps": "1024", "-n": "40"}
#: Extra arguments per command, for speed only (a tiny prior; a short warm-up).
EXTRA = {
    "pretrain": ["--hidden-size", "32", "--max-epochs", "2", "--no-progress"],
    "train": ["--n-envs", "8", "--algo-kwarg", "learning_starts=256", "--no-progress"],
}


def manual_commands() -> list[list[str]]:
    """The command lines of the bash blocks under docs/own-data.md's "## Melodies" and "## Molecules"."""
    text = (ROOT / "docs" / "own-data.md").read_text(encoding="utf-8")
    lines = []
    for heading in ("## Melodies", "## Molecules"):
        section = text.split(f"\n{heading}\n", 1)[1].split("\n## ", 1)[0]
        lines += re.search(r"```bash\n(.*?)```", section, re.S).group(1).splitlines()
    return [shlex.split(line, comments=True) for line in lines if line.strip() and not line.startswith("#")]


def shrink(args: list[str]) -> list[str]:
    out = list(args)
    for i, arg in enumerate(out[:-1]):
        if arg in SMALL:
            out[i + 1] = SMALL[arg]
    return out


def write_midi_folder(folder: Path, tunes: int = 40) -> None:
    """Random-walk tunes in C major, one melody track each."""
    rng = np.random.default_rng(0)
    scale = [60, 62, 64, 65, 67, 69, 71, 72]
    folder.mkdir()
    for i in range(tunes):
        midi = pretty_midi.PrettyMIDI(initial_tempo=120)
        track = pretty_midi.Instrument(program=0)
        start, step = 0.0, int(rng.integers(0, 8))
        for _ in range(32):
            length = float(rng.choice([0.125, 0.25, 0.5]))
            step = int(np.clip(step + rng.integers(-2, 3), 0, 7))
            track.notes.append(pretty_midi.Note(velocity=80, pitch=scale[step], start=start, end=start + length))
            start += length
        midi.instruments.append(track)
        midi.write(str(folder / f"tune_{i:02d}.mid"))


def run(args: list[str]) -> int:
    if args[:3] == ["python", "-m", "seqtutor_envs.melody.corpus"]:
        return melody_corpus([*args[3:], "--no-progress"])
    if args[:3] == ["python", "-m", "seqtutor_envs.smiles.corpus"]:
        return smiles_corpus(args[3:])
    assert args[0] == "seqtutor", args
    return seqtutor([*args[1:], *EXTRA.get(args[1], [])])


@pytest.mark.slow
def test_the_manual_own_data_path(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    write_midi_folder(tmp_path / "my_midi")
    fixture = (ROOT / "tests" / "data" / "smiles_fixture.smi").read_text()
    (tmp_path / "my_molecules.smi").write_text(fixture)
    commands = manual_commands()
    assert len(commands) == 10
    for args in commands:
        assert run(shrink(args)) == 0, args

    # melodies: the prior records the user's corpus, and evaluation compares with it
    evaluation = json.loads((tmp_path / "runs" / "mine" / "eval" / "evaluation.json").read_text())
    assert evaluation["reference"] == str((tmp_path / "my_corpus.npz").resolve())
    assert "corpus (my_corpus.npz)" in (tmp_path / "runs" / "mine" / "eval" / "evaluation.md").read_text()
    assert len(list((tmp_path / "runs" / "mine" / "samples").glob("*.mid"))) == 40
    # molecules: samples written; the prior evaluated with novelty against the user's file
    assert len((tmp_path / "runs" / "my_molecules" / "samples" / "samples.smi").read_text().splitlines()) == 40
    out = capsys.readouterr().out
    assert f"comparing with the prior's training data: {(tmp_path / 'my_molecules.smi.gz').resolve()}" in out
    novelty_rows = [line for line in out.splitlines() if line.startswith("| novel")]
    assert novelty_rows and "n/a" not in novelty_rows[-1].split("|")[2]


def test_own_data_mistakes_are_named(tmp_path, capsys):
    (tmp_path / "few.smi").write_text("CCO\nc1ccccc1\nCC(=O)O\n")
    with pytest.raises(SystemExit) as exc:
        seqtutor(["pretrain", "smiles", "--data", str(tmp_path / "few.smi"), "--out", str(tmp_path / "p.pt")])
    assert exc.value.code == 2
    assert "needed for the validation likelihood to mean anything" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        seqtutor(["evaluate", "--prior", "--env-kwarg", f"prior_path={tmp_path / 'missing.pt'}"])
    assert "prior_path" in capsys.readouterr().err
