"""The PMO protocol (Gao et al., NeurIPS 2022) as PMO's own code runs it: budget, top-k AUC, REINVENT's early stop.

Transcribed from ``wenhao-gao/mol_opt``: ``main/optimizer.py`` (``Oracle.score_smi``, ``Oracle.__call__``,
``top_auc``; unchanged since June 2022) and ``main/reinvent/run.py`` (the early stop).

:class:`OracleLog` wraps an objective (e.g. ``guacamol_objective("celecoxib_rediscovery")``) the way
mol_opt's ``Oracle`` does, one string after another in batch order:

* an oracle *call* is the first scoring of a distinct valid molecule (canonical SMILES, RDKit's
  ``MolToSmiles``); a repeat returns the cached score and an invalid string scores 0, neither counted;
* the budget is checked *before* each string (``if len(self.mol_buffer) > self.max_oracle_calls:
  return 0``): the molecule after the ``budget``-th is still scored (call ``budget + 1``), then every
  string -- a repeat included -- scores 0 unscored. mol_opt's optimisers stop after the batch in which
  ``len >= budget`` (``Oracle.finish``), and so does a run watching :attr:`OracleLog.exhausted`;
* optionally REINVENT's early stop (:class:`OracleLog` ``early_stop_patience``);
* optionally a CSV of every string it scored (``oracle_calls.csv``, :data:`CALL_COLUMNS`).

Any learner on ``SeqTutor-SMILES-v0`` (``objective=OracleLog(...)``) is measured the same way.

Metrics:

* :func:`top_k_auc`: mol_opt's ``top_auc`` -- after every ``freq`` calls the mean of the ``k`` best
  scores so far, the area under that curve over calls by the trapezoid rule, the last value held to
  ``budget`` when the run stopped early (``finish``), divided by ``budget``;
* :func:`top_k_mean`: the mean of the ``k`` best scores of the whole log.
"""

from __future__ import annotations

import csv
import functools
import heapq
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from .objective import Objective
from .scoring import parse_smiles

#: REINVENT's early stop in mol_opt (``main/reinvent/run.py``): checked once more than 1,000
#: molecules were called (``if len(self.oracle) > 1000``), on the 100 best scores
#: (``list(self.mol_buffer.items())[:100]`` after ``sort_buffer``).
EARLY_STOP_MIN_CALLS = 1_000
EARLY_STOP_TOP = 100
#: mol_opt's ``--patience`` default (``run.py``). REINVENT stops at ``patience >= self.args.patience``
#: since May 2023; the code of the PMO paper (May 2022) stopped at ``patience >= self.args.patience*2``,
#: i.e. 10 unchanged steps.
EARLY_STOP_PATIENCE = 5
#: Molecules per REINVENT step in PMO (``batch_size: 64``, ``main/reinvent/hparams_default.yaml``).
REINVENT_BATCH = 64

CALLS_FILE = "oracle_calls.csv"
#: Columns of :data:`CALLS_FILE`: ``call`` is the budget count at which the molecule was scored (blank
#: for a repeat, an invalid string, or a string after the run stopped); ``status`` is ``new``,
#: ``repeat``, ``invalid`` or ``stopped``; the log-likelihoods are those of the episode, when the
#: learner reported them.
CALL_COLUMNS = (
    "call",
    "env_step",
    "smiles",
    "canonical_smiles",
    "status",
    "score",
    "prior_log_likelihood",
    "agent_log_likelihood",
    "scaffold",
)


class OracleLog(Objective):
    """An objective that counts distinct valid molecules as oracle calls the way mol_opt's ``Oracle`` does.

    :param objective: the scored objective (values for valid molecules; invalid ones score 0).
    :param budget: oracle calls after which :attr:`exhausted` is True (then one more molecule is scored,
        and everything after it scores 0, as in mol_opt).
    :param early_stop_patience: REINVENT's early stop (None: off): :attr:`converged` turns True when,
        with more than 1,000 calls, the 100 best scores were unchanged over this many consecutive steps.
    :param step_molecules: strings scored per REINVENT step. REINVENT checks once per sampled batch;
        the env scores a few molecules per vector step, whatever the learner, so a step here is this
        many scored strings (REINVENT's batch), checked at the string that completes it.
    :param calls_csv: where :meth:`flush` appends one row per scored string (None: no rows kept); an
        existing file is replaced (removed here and by :meth:`reset`).
    """

    def __init__(
        self,
        objective: Objective,
        budget: int = 10_000,
        early_stop_patience: int | None = None,
        step_molecules: int = REINVENT_BATCH,
        calls_csv: str | Path | None = None,
    ) -> None:
        super().__init__(objective.scorer)
        if budget < 1:
            raise ValueError(f"budget must be >= 1 oracle call, got {budget}")
        if early_stop_patience is not None and early_stop_patience < 1:
            raise ValueError(f"early_stop_patience must be >= 1 step (or None: off), got {early_stop_patience}")
        if step_molecules < 1:
            raise ValueError(f"step_molecules must be >= 1, got {step_molecules}")
        self.objective, self.budget = objective, int(budget)
        self.early_stop_patience = early_stop_patience
        self.step_molecules = int(step_molecules)
        self.calls_csv = Path(calls_csv) if calls_csv is not None else None
        self.name = f"pmo({objective.name})"
        # Wrapping must not change what the env computes or pays.
        self.properties = tuple(objective.properties)
        self.has_prefix_shaping = objective.has_prefix_shaping
        self.reset()

    def reset(self) -> None:
        """Forget every call, the early stop's state and the CSV (a run starts afresh)."""
        self.scores: dict[str, float] = {}  # canonical SMILES -> score, in call order (dicts keep insertion order)
        self.generated = 0  # strings scored before the run stopped
        self.valid = 0  # of which valid
        self.patience = 0  # REINVENT's count of steps with the top-100 unchanged
        self.converged = False
        self._in_step = 0  # strings of the current REINVENT step so far
        self._top_before: list[float] | None = None  # REINVENT's old_scores (None: its ``0``, 100 calls or fewer)
        self._rows: list[list] = []  # CSV rows not yet written
        if self.calls_csv is not None:
            self.calls_csv.unlink(missing_ok=True)

    @property
    def calls(self) -> int:
        return len(self.scores)

    @property
    def exhausted(self) -> bool:
        """mol_opt's ``Oracle.finish``: ``len(self.mol_buffer) >= self.max_oracle_calls``."""
        return self.calls >= self.budget

    @property
    def stopped(self) -> bool:
        """Strings score 0 unscored: past the budget (mol_opt's ``> max_oracle_calls``) or early-stopped."""
        return self.calls > self.budget or self.converged

    def score_final(self, smiles: Sequence[str]) -> np.ndarray:
        canonical = self.scorer.canonical_batch(smiles)
        fresh = self._fresh(canonical)
        values = dict(zip(fresh, self.objective.score_final(fresh), strict=True)) if fresh else {}
        out = np.zeros(len(smiles), dtype=np.float64)
        for j, (text, canon) in enumerate(zip(smiles, canonical, strict=True)):
            out[j] = self._score_one(text, canon, values)
        return out

    def _fresh(self, canonical: Sequence[str | None]) -> list[str]:
        """The molecules of a batch that will be called, in order (at most up to call ``budget + 1``)."""
        fresh: dict[str, None] = {}
        for canon in canonical:
            if self.calls + len(fresh) > self.budget:
                break
            if canon is not None and canon not in self.scores:
                fresh[canon] = None
        return list(fresh)

    def _score_one(self, text: str, canon: str | None, values: dict[str, float]) -> float:
        """mol_opt's ``score_smi`` for one string, then REINVENT's step bookkeeping."""
        call: int | str = ""
        if self.stopped:
            status, score = "stopped", 0.0
        elif canon is None:
            status, score = "invalid", 0.0
        elif canon in self.scores:
            status, score = "repeat", self.scores[canon]
        else:
            status, score = "new", float(values[canon])
            self.scores[canon] = score
            call = self.calls
        if status != "stopped":
            self.generated += 1
            self.valid += canon is not None
        if self.calls_csv is not None:
            self._rows.append([call, None, text, canon or "", status, score, "", "", ""])
        if status != "stopped" and self.early_stop_patience is not None:
            self._in_step += 1
            if self._in_step == self.step_molecules:
                self._in_step = 0
                self._end_of_step()
        return score

    def _top(self) -> list[float]:
        """The 100 best scores, best first (REINVENT's ``sort_buffer`` then ``[:100]``)."""
        return heapq.nlargest(EARLY_STOP_TOP, self.scores.values())

    def _end_of_step(self) -> None:
        """REINVENT's check after a step's oracle call (``main/reinvent/run.py``)."""
        assert self.early_stop_patience is not None  # only called with the early stop on
        old = self._top_before
        new = self._top() if self.calls > EARLY_STOP_TOP else None
        self._top_before = new  # the next step's old_scores, taken when ``len(self.oracle) > 100``
        if self.exhausted:  # ``if self.finish: break`` comes first
            return
        if self.calls > EARLY_STOP_MIN_CALLS:
            if old is not None and new == old:  # ``new_scores == old_scores``: the 100 best values, not molecules
                self.patience += 1
                if self.patience >= self.early_stop_patience:
                    self.converged = True
            else:
                self.patience = 0

    def score_prefix(self, smiles: Sequence[str]) -> np.ndarray:
        return self.objective.score_prefix(smiles)

    def ordered(self, limit: int | None = None) -> tuple[list[str], np.ndarray]:
        """The logged molecules and scores in call order (the first ``limit`` calls)."""
        items = list(self.scores.items())[:limit]
        return [s for s, _ in items], np.array([v for _, v in items], dtype=np.float64)

    def replay(self, calls_csv: str | Path, max_env_step: int | None = None) -> int | None:
        """Start afresh and score again, in order, the strings a run logged in :data:`CALLS_FILE`, until this log stops.

        A learner's stream of molecules does not depend on when its run is stopped, so a run logged
        without an early stop (or with a larger budget) gives here exactly the calls that the same run
        would have made under this log's budget and early stop: stopping rules compared without training
        again. The logged scores are used (the objective is not called); rows the logged run did not
        score (``stopped``) are skipped, so a rule that would stop later than the logged run did is
        replayed only to the log's end.

        :param calls_csv: a run's :data:`CALLS_FILE`.
        :param max_env_step: a lower env-step cap than the logged run's: the strings of later vector
            steps are not replayed (the run would not have generated them).
        :return: the env step of the string at which this log stopped (its budget spent or REINVENT's
            early stop), or None if it did not stop within the file (nor by ``max_env_step``).
        """
        path = Path(calls_csv)
        self.reset()
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            missing = {"smiles", "canonical_smiles", "status", "score", "env_step"} - set(reader.fieldnames or ())
            if missing:
                raise ValueError(
                    f"{path} is not an oracle-calls CSV: no column {sorted(missing)} "
                    f"(expected {', '.join(CALL_COLUMNS)})"
                )
            for line, row in enumerate(reader, start=2):
                if row["status"] == "stopped":
                    continue
                if max_env_step is not None and int(row["env_step"]) > max_env_step:
                    return None
                canon = row["canonical_smiles"] or None
                try:
                    values = {canon: float(row["score"])} if canon is not None else {}
                    self._score_one(row["smiles"], canon, values)
                except (KeyError, ValueError) as err:
                    raise ValueError(f"{path}, line {line}: cannot replay row {row}: {err!r}") from err
                if self.exhausted or self.converged:
                    return int(row["env_step"])
        return None

    # ---- the CSV of every scored string ------------------------------------------------------
    def annotate(self, env_step: int, episodes: Iterable[tuple[str, float, float | None]] = ()) -> None:
        """Give the rows scored since the last call their env step and, by SMILES, their log-likelihoods.

        :param env_step: the learner's env-step count after the vector step that scored them.
        :param episodes: ``(smiles, prior log-likelihood, agent log-likelihood or None)`` of the
            episodes that step finished (nothing: the learner does not report them).
        """
        fresh = [row for row in self._rows if row[1] is None]
        waiting: dict[str, list[list]] = {}
        for row in fresh:
            row[1] = int(env_step)
            waiting.setdefault(row[2], []).append(row)
        for text, prior, agent in episodes:
            rows = waiting.get(text)
            if rows:
                row = rows.pop(0)
                row[6], row[7] = float(prior), ("" if agent is None else float(agent))

    def flush(self) -> None:
        """Append the rows scored since the last flush to :attr:`calls_csv` (the header first)."""
        if self.calls_csv is None or not self._rows:
            return
        new = not self.calls_csv.is_file()
        with open(self.calls_csv, "a", newline="") as f:
            writer = csv.writer(f)
            if new:
                writer.writerow(CALL_COLUMNS)
            for row in self._rows:
                row[8] = _scaffold(row[3]) if row[3] else ""
                writer.writerow(["" if v is None else v for v in row])
        self._rows = []


@functools.lru_cache(maxsize=100_000)
def _scaffold(canonical: str) -> str:
    """Murcko scaffold of a canonical SMILES (as the diversity filter and the PMO trial's count take it)."""
    from .diversity_filter import murcko_scaffold

    mol = parse_smiles(canonical)
    return murcko_scaffold(mol) if mol is not None else ""


def top_k_auc(
    scores_in_call_order: np.ndarray, k: int = 10, freq: int = 100, budget: int = 10_000, finish: bool = True
) -> float:
    """mol_opt's ``top_auc`` of the scores of the distinct molecules in the order they were first called.

    Only the first ``budget`` calls count: the figure PMO reports is the one ``Oracle`` logs at its
    ``budget``-th call (``log_intermediate``, ``len == max_oracle_calls``), before the extra call
    ``budget + 1`` (which only ``top_auc`` on a saved buffer would include).

    :param scores_in_call_order: one score per oracle call.
    :param k: how many best scores are averaged.
    :param freq: calls between two points of the curve (mol_opt's ``freq_log``).
    :param budget: the oracle budget the area is normalised by (``max_oracle_calls``).
    :param finish: the run is over: a run that stopped short of ``budget`` holds its last value to
        ``budget`` (mol_opt's ``log_intermediate(finish=True)``, which every optimiser that stops early
        calls). False: the area so far, unpadded, as mol_opt logs it during a run.
    """
    scores = np.asarray(scores_in_call_order, dtype=np.float64)[:budget]
    n = len(scores)
    if n == 0:
        return 0.0  # mol_opt: the mean of nothing (nan)
    area, previous, called = 0.0, 0.0, 0
    for idx in range(freq, n, freq):  # the curve's points strictly before the last call
        current = top_k_mean(scores[:idx], k)
        area += freq * (current + previous) / 2
        previous, called = current, idx
    final = top_k_mean(scores, k)
    area += (n - called) * (final + previous) / 2
    if finish and n < budget:
        area += (budget - n) * final  # stopped early: the last value held to the budget
    return area / budget


def top_k_mean(scores: np.ndarray, k: int) -> float:
    """Mean of the ``k`` best scores (all of them if fewer)."""
    scores = np.sort(np.asarray(scores, dtype=np.float64))[::-1]
    return float(scores[:k].mean()) if len(scores) else 0.0
