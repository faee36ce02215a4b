"""SB3 callbacks of a training run that read what the learners' collector saw (``locals["transition"]``).

* :class:`SequenceLog` writes every finished episode -- the sequence, its scores, the prior's and the
  acting policy's log-likelihood -- to ``<run>/sequences.csv`` while training (REINVENT writes such
  a file per step; molecule users expect one);
* :class:`StopOnCollapse` ends training when the share of distinct sequences among the last
  ``window`` episodes falls under a bound (a REINVENT 4 users' request), and logs that share.

Both work with seqtutor's own learners (Q/Ψ/G, DAP, KL-PPO, DPG), whose collector hands callbacks
the :class:`~seqtutor_agents.common.rollout.Transition` of every vector step. Stock SB3 algorithms
have no such local; there they do nothing.
"""

from __future__ import annotations

import collections
import csv
import hashlib
import io
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

from seqtutor_envs.domains import get_domain

from .csv_cells import safe_rows

SEQUENCES_FILE = "sequences.csv"


def episode_rows(transition: Any, env_id: str, first_index: int, step: int) -> list[dict[str, Any]]:
    """One row per episode a vector step finished: index, step, the domain's columns, scores, log-likelihoods."""
    domain = get_domain(env_id)
    rows = []
    for offset, (env_index, episode) in enumerate(zip(sorted(transition.finals), transition.episodes, strict=True)):
        final = transition.finals[env_index]
        behaviour = episode.behaviour_log_prob
        rows.append(
            {
                "episode": first_index + offset,
                "step": step,
                **domain.episode_row(final),
                "domain_return": float(np.sum(episode.domain_rewards)),
                "prior_log_likelihood": float(np.sum(episode.prior_log_prob)),
                "policy_log_likelihood": float(np.sum(behaviour)) if behaviour is not None else "",
            }
        )
    return rows


class SequenceLog(BaseCallback):
    """Append every finished training episode to a CSV (see the module docstring).

    Rows are appended at every rollout end and before every checkpoint (:meth:`facts`), so the
    checkpoint of a step counts that step's episodes; cells a spreadsheet would run as formulas are
    escaped (:mod:`~seqtutor_agents.runs.csv_cells`).

    :param path: the CSV file.
    :param env_id: the env's id (its domain gives the columns).
    :param recorded: on a resumed run, what the checkpoint recorded of the file (:meth:`facts`): the
        file is cut back to it, or salvaged with a warning when damaged (:mod:`~seqtutor_agents.runs.log_files`).
    """

    def __init__(self, path: str | Path, env_id: str, recorded: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.path, self.env_id, self.recorded = Path(path), env_id, recorded
        self._rows: list[dict[str, Any]] = []
        self._fields: list[str] | None = None
        self._count = 0
        self._written = 0
        self._digest = hashlib.sha256()

    def _on_training_start(self) -> None:
        from .log_files import restore_log

        kept = restore_log(self.path, self.recorded, int(self.model.num_timesteps))
        self._fields, self._count, self._written = kept.fields, kept.rows, len(kept.content)
        self._digest = hashlib.sha256(kept.content)

    def _on_step(self) -> bool:
        transition = self.locals.get("transition")
        if transition is not None and transition.finals:
            rows = episode_rows(transition, self.env_id, self._count, int(self.model.num_timesteps))
            self._rows.extend(rows)
            self._count += len(rows)
        return True

    def _on_rollout_end(self) -> None:
        self.flush()

    def _on_training_end(self) -> None:
        self.flush()

    def flush(self) -> None:
        """Append the rows collected since the last flush."""
        if not self._rows:
            return
        new = self._fields is None
        if self._fields is None:
            self._fields = list(self._rows[0])
        stream = io.StringIO()
        writer = csv.DictWriter(stream, fieldnames=self._fields, extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerows(safe_rows(self._rows))
        data = stream.getvalue().encode("utf-8")
        with open(self.path, "ab") as f:
            f.write(data)
        self._written += len(data)
        self._digest.update(data)
        self._rows = []

    def facts(self) -> dict[str, Any]:
        """Flush, then what the file holds now: bytes, their SHA-256, header, rows (recorded by each checkpoint)."""
        self.flush()
        return {
            "bytes": self._written,
            "sha256": self._digest.hexdigest(),
            "fields": self._fields or [],
            "rows": self._count,
        }


class StopOnCollapse(BaseCallback):
    """Stop training when the last ``window`` episodes hold fewer than ``min_unique`` distinct sequences (a share).

    Logs ``rollout/unique_share`` at every rollout end, and ``train/stopped_on_collapse`` (1) when it stops.

    :param min_unique: the bound on the share of distinct sequences, in (0, 1].
    :param window: episodes the share is taken over (checked once the window is full).
    :param env_id: the env's id (its domain names the sequence).
    """

    def __init__(self, min_unique: float, window: int, env_id: str, verbose: int = 0) -> None:
        super().__init__(verbose)
        if not 0.0 < min_unique <= 1.0:
            raise ValueError(f"the collapse bound must be a share in (0, 1], got {min_unique!r}")
        if not isinstance(window, int) or window < 2:
            raise ValueError(f"the collapse window must be an integer >= 2, got {window!r}")
        self.min_unique, self.window = float(min_unique), window
        self.key = get_domain(env_id).sequence_key
        self.recent: collections.deque[str] = collections.deque(maxlen=window)
        self.stopped_at: int | None = None

    def unique_share(self) -> float:
        return len(set(self.recent)) / len(self.recent) if self.recent else float("nan")

    def _on_step(self) -> bool:
        transition = self.locals.get("transition")
        if transition is None:
            return True
        for final in transition.finals.values():
            value = final.get(self.key)
            self.recent.append(value if isinstance(value, str) else np.asarray(value).tobytes().hex())
        if len(self.recent) == self.window and self.unique_share() < self.min_unique:
            self.stopped_at = int(self.model.num_timesteps)
            self.logger.record("rollout/unique_share", self.unique_share())
            self.logger.record("train/stopped_on_collapse", 1)
            print(
                f"stopping at env step {self.stopped_at:,}: only {self.unique_share():.1%} of the last "
                f"{self.window} sequences are distinct (bound {self.min_unique:.0%})"
            )
            return False
        return True

    def _on_rollout_end(self) -> None:
        if self.recent:
            self.logger.record("rollout/unique_share", self.unique_share())
