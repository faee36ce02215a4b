"""Draw the environment pages' pictures from the envs themselves (committed under docs/assets/).

    PYTHONPATH=. python docs/scripts/make_pictures.py

* ``melody_piano_roll.png``: four compositions of the shipped Note RNN (``SeqTutor-Melody-v0``'s prior), drawn
  by :func:`seqtutor_envs.melody.midi.save_piano_roll_png`;
* ``smiles_grid.png``: twelve valid molecules of the shipped SMILES prior (``SeqTutor-SMILES-v0``), drawn by
  :func:`seqtutor_envs.smiles.samples.save_molecule_grid` with each molecule's QED.

Both are sampled with the envs' own prior policy and seed 0, so the pictures are the same on every run.
"""

from __future__ import annotations

from pathlib import Path

import seqtutor_envs  # noqa: F401  (registers the envs)
from seqtutor_agents.runs.evaluation import episodes_of
from seqtutor_envs.melody.midi import save_piano_roll_png
from seqtutor_envs.smiles.samples import save_molecule_grid

ASSETS = Path(__file__).resolve().parents[1] / "assets"


def main() -> None:
    melodies = episodes_of(None, "SeqTutor-Melody-v0", 4, 0, {}, progress=False)
    save_piano_roll_png(
        melodies.finals["composition"],
        ASSETS / "melody_piano_roll.png",
        titles=[f"prior sample {i}: music-theory return {r:.1f}" for i, r in enumerate(melodies.domain_returns)],
        columns=2,
    )
    molecules = episodes_of(None, "SeqTutor-SMILES-v0", 40, 0, {"objective": "qed"}, progress=False)
    valid = [i for i, ok in enumerate(molecules.finals["valid"]) if ok][:12]
    save_molecule_grid(
        [molecules.finals["smiles"][i] for i in valid],
        [f"QED {molecules.finals['qed'][i]:.2f}" for i in valid],
        ASSETS / "smiles_grid.png",
    )


if __name__ == "__main__":
    main()
