"""The PMO protocol (Gao et al., NeurIPS 2022): an oracle budget counted in distinct molecules, and top-k AUC.

:class:`OracleLog` wraps an objective (e.g. ``guacamol_objective("celecoxib_rediscovery")``) the way
PMO's ``Oracle`` does: an oracle call is the first scoring of a *distinct valid* molecule (canonical
SMILES); repeats are answered from the log and invalid strings score 0, neither counted. The log keeps
each molecule's score and call number, so any learner on ``SeqTutor-SMILES-v0``
(``objective=OracleLog(...)``) is measured the same way, and training stops once ``budget`` calls are
spent (:attr:`OracleLog.exhausted`).

Metrics (PMO's definitions, our implementation):

* :func:`top_k_auc`: after every ``freq`` calls, the mean of the ``k`` best scores so far; the area
  under that curve over calls by the trapezoid rule, the last value carried to ``budget`` when the
  run stopped early, divided by ``budget`` (so 1 = a perfect molecule found at the first call);
* :func:`top_k_mean`: the mean of the ``k`` best scores of the whole log.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .objective import Objective


class OracleLog(Objective):
    """An objective that counts distinct valid molecules as oracle calls and remembers their scores.

    :param objective: the scored objective (values for valid molecules; invalid ones score 0).
    :param budget: oracle calls after which :attr:`exhausted` is True (the env keeps answering).
    """

    def __init__(self, objective: Objective, budget: int = 10_000) -> None:
        super().__init__(objective.scorer)
        if budget < 1:
            raise ValueError(f"budget must be >= 1 oracle call, got {budget}")
        self.objective, self.budget = objective, int(budget)
        self.name = f"pmo({objective.name})"
        self.scores: dict[str, float] = {}  # canonical SMILES -> score, in call order (dicts keep insertion order)
        self.generated = 0  # strings scored (every finished episode)
        self.valid = 0  # of which valid

    @property
    def calls(self) -> int:
        return len(self.scores)

    @property
    def exhausted(self) -> bool:
        return self.calls >= self.budget

    def score_final(self, smiles: Sequence[str]) -> np.ndarray:
        out = np.zeros(len(smiles), dtype=np.float64)
        canonical = self.scorer.canonical_batch(smiles)
        fresh = [c for c in dict.fromkeys(c for c in canonical if c is not None) if c not in self.scores]
        if fresh:
            for canon, value in zip(fresh, self.objective.score_final(fresh)):
                self.scores[canon] = float(value)
        for j, canon in enumerate(canonical):
            if canon is not None:
                out[j] = self.scores[canon]
        self.generated += len(smiles)
        self.valid += sum(c is not None for c in canonical)
        return out

    def score_prefix(self, smiles: Sequence[str]) -> np.ndarray:
        return self.objective.score_prefix(smiles)

    def ordered(self, limit: int | None = None) -> tuple[list[str], np.ndarray]:
        """The logged molecules and scores in call order (the first ``limit`` calls)."""
        items = list(self.scores.items())[:limit]
        return [s for s, _ in items], np.array([v for _, v in items], dtype=np.float64)


def top_k_auc(scores_in_call_order: np.ndarray, k: int = 10, freq: int = 100, budget: int = 10_000) -> float:
    """PMO's top-k AUC of the scores of the distinct molecules in the order they were first called.

    :param scores_in_call_order: one score per oracle call (calls beyond ``budget`` are ignored).
    :param k: how many best scores are averaged.
    :param freq: calls between two points of the curve.
    :param budget: the oracle budget the area is normalised by.
    """
    scores = np.asarray(scores_in_call_order, dtype=np.float64)[:budget]
    n = len(scores)
    if n == 0:
        return 0.0
    area, previous, called = 0.0, 0.0, 0
    for idx in range(freq, n, freq):  # the curve's points strictly before the last call
        current = float(np.sort(scores[:idx])[::-1][:k].mean())
        area += freq * (current + previous) / 2
        previous, called = current, idx
    final = float(np.sort(scores)[::-1][:k].mean())
    area += (n - called) * (final + previous) / 2
    area += (budget - n) * final  # stopped early: the last value carried to the budget
    return area / budget


def top_k_mean(scores: np.ndarray, k: int) -> float:
    """Mean of the ``k`` best scores (all of them if fewer)."""
    scores = np.sort(np.asarray(scores, dtype=np.float64))[::-1]
    return float(scores[:k].mean()) if len(scores) else 0.0
