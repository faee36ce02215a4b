"""A scoring function: weighted, transformed components aggregated into one score in [0, 1] per molecule.

The aggregation is REINVENT 4's (``reinvent/scoring/aggregators``): with each score component's
transformed value ``x_i`` and weight ``w_i``,

* ``geometric_mean`` (default): ``prod_i max(x_i, 1e-8) ** (w_i / sum_j w_j)``;
* ``arithmetic_mean``: ``sum_i w_i x_i / sum_j w_j``;

where a component whose value is NaN for a molecule (RDKit failed on it, or a value mapping had no
entry) is left out of that molecule's mean and the weights of the others renormalised. The filters
(``custom_alerts``, ``FilterCatalog``) then multiply the mean: 1 passes, 0 fails (and so does a filter
RDKit failed on). An invalid SMILES scores 0 and reports NaN components.

One batch parses each new molecule once (the canonical SMILES, as every seqtutor objective scores),
runs each component on it with the RDKit work shared through a :class:`~.components.MolView`, then
transforms and aggregates column by column in numpy. Results are cached by canonical SMILES.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .components import Component, MolView, QEDComponent
from .objective import CombinedObjective
from .scoring import MoleculeScorer, parse_smiles
from .transforms import Transform

AGGREGATIONS = ("geometric_mean", "arithmetic_mean")
GEOMETRIC_FLOOR = 1e-8  # REINVENT 4's: a zero part makes the geometric mean tiny, not exactly 0


@dataclass(frozen=True)
class ScoredComponent:
    """A component of a scoring function: what it measures, its name and weight, and its transform."""

    name: str
    component: Component
    weight: float | None  # None for a filter
    transform: Transform | None

    @property
    def role(self) -> str:
        return self.component.role


@dataclass
class ScoreTable:
    """Scores of a batch: the aggregate and every component's raw and transformed value.

    ``raw`` and ``transformed`` are ``(n, components)`` in :attr:`ScoringFunction.names` order; rows of
    invalid molecules are NaN.
    """

    names: tuple[str, ...]
    valid: np.ndarray
    score: np.ndarray
    raw: np.ndarray
    transformed: np.ndarray

    def details(self) -> dict[str, Any]:
        """What the env's last-step ``info`` reports: ``score``, ``components`` and ``components_raw``
        (name -> float64 array each)."""
        return {
            "score": self.score,
            "components": {name: self.transformed[:, j] for j, name in enumerate(self.names)},
            "components_raw": {name: self.raw[:, j] for j, name in enumerate(self.names)},
        }


def aggregate(transformed: np.ndarray, weights: np.ndarray, mean: str) -> np.ndarray:
    """Row-wise weighted mean of the score columns (NaN entries left out, weights renormalised).

    :param transformed: ``(n, k)`` transformed scores.
    :param weights: ``(k,)`` positive weights.
    :param mean: ``"geometric_mean"`` or ``"arithmetic_mean"``.
    :returns: ``(n,)``; NaN for a row whose every part is NaN.
    """
    present = ~np.isnan(transformed)
    w = np.where(present, weights[None, :], 0.0)
    total = w.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = w / total
        if mean == "arithmetic_mean":
            out = (np.where(present, transformed, 0.0) * share).sum(axis=1)
        else:
            # x ** (w / sum w) as REINVENT computes it: a lone component's share is exactly 1, so x ** 1 == x
            parts = np.where(present, np.maximum(np.where(present, transformed, 1.0), GEOMETRIC_FLOOR) ** share, 1.0)
            out = parts.prod(axis=1)
    return np.where(total[:, 0] > 0, out, np.nan)


class ScoringFunction(CombinedObjective):
    """A scoring file's objective: components, transforms, weights and an aggregation (see the module docstring).

    Build it with :func:`~seqtutor_envs.smiles.scoring_file.load_scoring_file` (which checks a file) or
    directly from :class:`ScoredComponent` s.

    :param name: display name (``"file:<path>"`` for a file).
    :param components: the score components and filters, in their column order.
    :param mean: ``"geometric_mean"`` or ``"arithmetic_mean"``.
    :param scorer: a shared :class:`~.scoring.MoleculeScorer` (canonical SMILES cache).
    :param cache_size: entries of the per-molecule cache (``None``: unbounded).
    """

    invalid_value = 0.0
    kind, part = "scoring function", "component"

    def __init__(
        self,
        name: str,
        components: Sequence[ScoredComponent],
        mean: str = "geometric_mean",
        scorer: MoleculeScorer | None = None,
        cache_size: int | None = 500_000,
    ) -> None:
        super().__init__(name, components, mean, AGGREGATIONS, scorer, cache_size)
        self.components = tuple(components)
        self.names = tuple(c.name for c in self.components)
        self._scores = [j for j, c in enumerate(self.components) if c.role == "score"]
        self._filters = [j for j, c in enumerate(self.components) if c.role == "filter"]
        self._weights = np.array([self.components[j].weight for j in self._scores], dtype=np.float64)
        self._share_qed = any(isinstance(c.component, QEDComponent) for c in self.components)

    # ---- one batch of new molecules --------------------------------------------------------------
    def _raw_rows(self, canon: Sequence[str], mols: dict[str, Any]) -> np.ndarray:
        """``(m, k)`` raw values of distinct canonical SMILES; NaN where RDKit failed (the error is kept)."""
        raw = np.full((len(canon), len(self.components)), np.nan)
        for i, smiles in enumerate(canon):
            mol = mols.get(smiles)
            mol = parse_smiles(smiles) if mol is None else mol
            if mol is None:
                self.scorer._error(smiles, f"{self.name}: re-parse", ValueError("MolFromSmiles returned None"))
                continue
            view = MolView(mol, self._share_qed)
            for j, c in enumerate(self.components):
                try:
                    raw[i, j] = c.component.raw(view)
                except Exception as exc:  # never raise on a molecule: this part is NaN, the error is kept
                    self.scorer._error(smiles, f"{self.name}: {c.name}", exc)
        return raw

    def _transform(self, raw: np.ndarray) -> np.ndarray:
        out = raw.copy()
        for j, c in enumerate(self.components):
            if c.transform is not None:
                out[:, j] = c.transform(raw[:, j])
        return out

    def _combine(self, transformed: np.ndarray) -> np.ndarray:
        n = len(transformed)
        score = aggregate(transformed[:, self._scores], self._weights, self.mean) if self._scores else np.ones(n)
        for j in self._filters:
            score = score * np.where(transformed[:, j] == 1.0, 1.0, 0.0)
        return np.clip(np.where(np.isnan(score), self.invalid_value, score), 0.0, 1.0)

    # ---- public API ------------------------------------------------------------------------------
    def evaluate(self, smiles: Sequence[str]) -> ScoreTable:
        """Score, raw and transformed component values of each SMILES (any strings; never raises on a molecule)."""
        canon, mols = self.scorer.canonical_with_mols(smiles)
        rows: dict[str, tuple[float, np.ndarray, np.ndarray]] = {}  # this batch's, whatever the cache evicts
        missing = []
        for c in dict.fromkeys(c for c in canon if c is not None):
            hit = self._cache.get(c)
            if hit is None:
                missing.append(c)
            else:
                rows[c] = hit
        if missing:
            raw = self._raw_rows(missing, mols)
            transformed = self._transform(raw)
            for c, s, r, t in zip(missing, self._combine(transformed).tolist(), raw, transformed, strict=True):
                rows[c] = self._cache[c] = (s, r, t)
        k, n = len(self.components), len(canon)
        valid = np.array([c is not None for c in canon], dtype=bool)
        score = np.full(n, self.invalid_value)
        raw_out, transformed_out = np.full((n, k), np.nan), np.full((n, k), np.nan)
        for i, name in enumerate(canon):
            if name is not None:
                score[i], raw_out[i], transformed_out[i] = rows[name]
        return ScoreTable(self.names, valid, score, raw_out, transformed_out)

    def score_final(self, smiles: Sequence[str]) -> np.ndarray:
        return self.evaluate(smiles).score

    def score_with_details(self, smiles: Sequence[str]) -> tuple[np.ndarray, dict[str, Any]]:
        table = self.evaluate(smiles)
        return table.score, table.details()

    def __repr__(self) -> str:
        return f"ScoringFunction(name={self.name!r}, mean={self.mean!r}, components={self.names})"
