"""Pictures of generated molecules."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io import atomic_write_bytes
from .scoring import MoleculeScorer, parse_smiles


def save_top_molecules(
    smiles: list[str], objective: np.ndarray, path: Path, scorer: MoleculeScorer | None = None, count: int = 24
) -> Path | None:
    """An RDKit grid of the ``count`` best distinct valid molecules by the env's objective, written atomically.

    :param objective: each molecule's domain return (the env's objective, e.g. QED or a GuacaMol score).
    :returns: the image's path, or None when no molecule is valid (there is nothing to draw).
    """
    scorer = scorer if scorer is not None else MoleculeScorer()
    canonical = scorer.canonical_batch(smiles)
    best: dict[str, float] = {}
    for canon, value in zip(canonical, objective, strict=True):
        if canon is not None and value > best.get(canon, -np.inf):
            best[canon] = float(value)
    top = sorted(best.items(), key=lambda kv: -kv[1])[:count]
    if not top:
        return None
    qed = scorer.score([c for c, _ in top], ("qed",))["qed"]
    return save_molecule_grid(
        [c for c, _ in top], [f"objective {v:.3f} | QED {q:.2f}" for (_, v), q in zip(top, qed, strict=True)], path
    )


def save_molecule_grid(smiles: list[str], legends: list[str], path: Path) -> Path:
    """An RDKit grid of valid molecules with a legend under each, written atomically (6 per row).

    Drawn with RDKit's Cairo drawer directly: inside IPython (a notebook) RDKit replaces
    ``Draw.MolsToGridImage`` with a function that returns an IPython image, which has no ``save``.
    """
    from rdkit.Chem.Draw import rdMolDraw2D

    per_row, size = 6, 220
    rows = -(-len(smiles) // per_row)
    drawer = rdMolDraw2D.MolDraw2DCairo(per_row * size, rows * size, size, size)
    drawer.DrawMolecules([parse_smiles(s) for s in smiles], legends=list(legends))
    drawer.FinishDrawing()
    return atomic_write_bytes(Path(path), drawer.GetDrawingText())
