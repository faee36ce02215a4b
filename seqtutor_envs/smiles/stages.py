"""Staged scoring: a curriculum of scoring functions, each held until its switch condition is met.

REINVENT 4's staged learning (``[[stage]]`` tables, ``max_score``, ``min_steps``, ``max_steps``), inside
the env: the objective scores with its current stage, and after every env step the env tells it
(:meth:`StagedScoring.observe`) the final scores of the molecules that step finished and how many env
steps it made. A stage that is not the last switches to the next one

* when the mean score of the last ``window`` molecules it scored reaches ``max_score``, once it has run
  ``min_steps`` env steps; or
* when it has run ``max_steps`` env steps (a step budget);

whichever comes first. The switch takes effect from the next step; the learner, its c and the env's
other state (the diversity filter's memory) carry over. The last stage runs until training ends.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .objective import Objective
from .scoring import MoleculeScorer
from .scoring_function import ScoringFunction


@dataclass(frozen=True)
class SwitchRule:
    """When a stage hands over to the next (at least one of ``max_score`` and ``max_steps`` is set)."""

    max_score: float | None = None
    window: int = 1000
    min_steps: int = 0
    max_steps: int | None = None

    def reason(self, window: Sequence[float], steps: int) -> str | None:
        """Why the stage ends now (a sentence), or None while it goes on."""
        if self.max_steps is not None and steps >= self.max_steps:
            return f"step budget: {steps:,} env steps in the stage >= max_steps {self.max_steps:,}"
        if self.max_score is not None and len(window) == self.window and steps >= self.min_steps:
            mean = float(np.mean(window))
            if mean >= self.max_score:
                return f"mean score {mean:.4f} over the last {self.window:,} molecules >= max_score {self.max_score:g}"
        return None


@dataclass(frozen=True)
class Stage:
    """One stage: a name, its scoring function, and its switch rule (None for the last stage)."""

    name: str
    scoring: ScoringFunction
    switch: SwitchRule | None


@dataclass(frozen=True)
class Switch:
    """A stage change: the stage entered (numbered from 1), the env steps counted when it happened, and why."""

    stage: int
    env_step: int
    reason: str


class StagedScoring(Objective):
    """Scores with the current stage's scoring function; switches stage on :meth:`observe` (module docstring).

    ``info`` of a finished molecule reports the components of every stage (NaN for those the current
    stage lacks, so a run's CSV columns stay the same across stages) and ``stage`` (from 1).

    :param name: display name.
    :param stages: at least two :class:`Stage` s; every one but the last has a switch rule.
    :param start: the stage to start in (from 1), e.g. the one a run reached, to sample from it.
    """

    invalid_value = 0.0

    def __init__(
        self, name: str, stages: Sequence[Stage], scorer: MoleculeScorer | None = None, start: int = 1
    ) -> None:
        super().__init__(scorer)
        if len(stages) < 2 or any(s.switch is None for s in stages[:-1]) or stages[-1].switch is not None:
            raise ValueError("staged scoring needs >= 2 stages, each but the last with a switch rule")
        self.name = name
        self.stages = tuple(stages)
        self.names = tuple(dict.fromkeys(n for s in self.stages for n in s.scoring.names))
        self.total_steps = 0
        self.switches: list[Switch] = []
        self.set_stage(start)

    @property
    def stage(self) -> int:
        """The current stage, numbered from 1."""
        return self._index + 1

    @property
    def current(self) -> Stage:
        return self.stages[self._index]

    def set_stage(self, stage: int, steps_in_stage: int = 0) -> None:
        """Continue in ``stage`` (from 1) as if it had run ``steps_in_stage`` env steps, its score window empty
        (what a resumed run does: its window of scores is not in the checkpoint)."""
        if isinstance(stage, bool) or not isinstance(stage, (int, np.integer)) or not 1 <= stage <= len(self.stages):
            raise ValueError(f"scoring_stage must be a stage number from 1 to {len(self.stages)}, got {stage!r}")
        self._index = int(stage) - 1
        self.steps_in_stage = int(steps_in_stage)
        rule = self.current.switch
        self.window: collections.deque[float] = collections.deque(maxlen=rule.window if rule else 1)

    def observe(self, final_scores: np.ndarray, steps: int) -> None:
        self.total_steps += int(steps)
        rule = self.current.switch
        if rule is None:
            return
        self.steps_in_stage += int(steps)
        self.window.extend(np.asarray(final_scores, dtype=np.float64).tolist())
        reason = rule.reason(self.window, self.steps_in_stage)
        if reason is not None:
            self.set_stage(self.stage + 1)
            self.switches.append(Switch(self.stage, self.total_steps, reason))

    def score_final(self, smiles: Sequence[str]) -> np.ndarray:
        return self.current.scoring.score_final(smiles)

    def score_with_details(self, smiles: Sequence[str]) -> tuple[np.ndarray, dict[str, Any]]:
        table = self.current.scoring.evaluate(smiles)
        n = len(table.score)
        where = {name: j for j, name in enumerate(table.names)}

        def columns(values: np.ndarray) -> dict[str, np.ndarray]:
            return {name: values[:, where[name]] if name in where else np.full(n, np.nan) for name in self.names}

        details = {
            "score": table.score,
            "components": columns(table.transformed),
            "components_raw": columns(table.raw),
            "stage": np.full(n, self.stage, dtype=np.int64),
        }
        return table.score, details

    def __repr__(self) -> str:
        return f"StagedScoring(name={self.name!r}, stages={[s.name for s in self.stages]}, stage={self.stage})"
