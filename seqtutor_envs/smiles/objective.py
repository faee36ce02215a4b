"""The base of every SMILES domain reward: :class:`Objective` (and :class:`ObjectiveError`), and of those that
combine parts by a mean behind a per-molecule cache (:class:`CombinedObjective`)."""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from typing import Any, ClassVar

import numpy as np

from .scoring import LRUCache, MoleculeScorer


class ObjectiveError(ValueError):
    """A user objective raised or returned a non-finite value (names the objective and SMILES)."""


class Objective:
    """A domain reward over SMILES strings.

    * :meth:`score_final`: the domain reward of the step that ends an episode, given the final
      SMILES (END excluded);
    * :meth:`score_prefix`: the per-step shaping reward of a non-final step, given the prefix
      generated so far *including* that step's token (zeros unless :attr:`has_prefix_shaping`).

    Both take a batch and return float64 arrays; both accept any string, invalid ones included.
    """

    name: str = "objective"
    has_prefix_shaping: bool = False
    invalid_value: float = 0.0
    #: The :class:`MoleculeScorer` properties the objective reads (the env's ``info`` reports these by
    #: default, so nothing else is computed per molecule).
    properties: tuple[str, ...] = ()

    def __init__(self, scorer: MoleculeScorer | None = None) -> None:
        self.scorer = scorer if scorer is not None else MoleculeScorer()

    def score_final(self, smiles: Sequence[str]) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def score_prefix(self, smiles: Sequence[str]) -> np.ndarray:
        """Shaping reward of unfinished prefixes: zeros for objectives without shaping."""
        return np.zeros(len(smiles), dtype=np.float64)

    def score_with_details(self, smiles: Sequence[str]) -> tuple[np.ndarray, dict[str, Any]]:
        """:meth:`score_final` and what the env's last-step ``info`` adds about those scores (nothing here;
        a scoring file's objective adds each component's raw and transformed value)."""
        return self.score_final(smiles), {}

    def observe(self, final_scores: np.ndarray, steps: int) -> None:
        """Told by the env after each step: the final scores of the molecules it finished and how many env
        steps it took (staged objectives switch stage on these; nothing happens here)."""

    def __call__(self, smiles: Sequence[str]) -> np.ndarray:
        return self.score_final(smiles)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class CombinedObjective(Objective):
    """An objective that combines its parts by a mean and caches each molecule's result (GuacaMol's
    multi-property oracles, a scoring file's components).

    :param name: display name.
    :param parts: the parts, at least one (the subclass keeps them under its own name).
    :param mean: how the parts are combined, one of ``means``.
    :param means: the means the subclass knows.
    :param scorer: shared :class:`MoleculeScorer` (canonicalisation cache); a fresh one if ``None``.
    :param cache_size: entries of the per-molecule cache (``None``: unbounded).
    """

    #: What the objective and one of its parts are called in errors.
    kind: ClassVar[str] = "objective"
    part: ClassVar[str] = "part"

    def __init__(
        self,
        name: str,
        parts: Sequence[Any],
        mean: str,
        means: tuple[str, ...],
        scorer: MoleculeScorer | None,
        cache_size: int | None,
    ) -> None:
        super().__init__(scorer)
        if mean not in means:
            raise ValueError(f"mean must be one of {means}, got {mean!r}")
        if not parts:
            raise ValueError(f"{self.kind} {name!r} needs at least one {self.part}")
        self.name = name
        self.mean = mean
        self._cache: MutableMapping[Any, Any] = LRUCache(cache_size)

    def clear_cache(self) -> None:
        """Forget the cached scores."""
        self._cache.clear()
