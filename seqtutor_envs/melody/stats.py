"""The paper's Table 1: music-theory statistics of a batch of compositions.

``composition_statistics`` replays the compositions through ``rules.MusicTheoryRules`` and counts
its per-step events, so every statistic uses the same implementation of its rule as the reward
(RL Tuner's ``rl_tuner_eval_metrics`` does the same with its reward functions). Definitions, all
percentages in 0..100:

* ``notes_excessively_repeated``: % of all steps at which rule 3 fires.
* ``autocorrelation_lag{1,2,3}``: rho of each whole composition (raw token values, as in rule 4),
  averaged with ``nanmean`` over compositions (a composition of one repeated token has none).
* ``notes_not_in_key``: % of steps playing a pitch outside C major.
* ``starts_with_tonic``: % of compositions whose first token is the tonic (C4).
* ``leaps_resolved``: resolved / (resolved + doubled) leap outcomes of rule 8, in %, NaN when
  there are none. As in RL Tuner's evaluation the denominator counts *outcomes*, not leaps: a leap
  left unresolved at the end counts in neither, and a counter-leap that clears a leap too soon
  counts in neither.
* ``unique_max_note`` / ``unique_min_note``: % of compositions whose highest / lowest pitch occurs
  exactly once (rule 9's two conditions; compositions without pitches have neither).
* ``notes_in_motif`` / ``notes_in_repeated_motif``: % of steps at which rule 5 / rule 6 fires.

Counts come with them: ``num_compositions``, ``num_steps`` (all steps), ``num_leaps`` (intervals of
at least 7 semitones between consecutive pitches), ``num_leaps_resolved``, ``num_leaps_doubled``.

Because rule 3 here never fires on held notes (see ``rules.py``), the Note RNN's "notes
excessively repeated" is not comparable with the paper's 63.3 %, which mostly counted notes held
longer than three 16ths under RL Tuner's swapped token constants.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np

from seqtutor_envs.melody.encoding import TONIC, VOCAB_SIZE
from seqtutor_envs.melody.rules import AUTOCORR_LAGS, MusicTheoryRules

STATISTIC_LABELS: dict[str, str] = {
    "notes_excessively_repeated": "Notes excessively repeated",
    "autocorrelation_lag1": "Mean autocorrelation, lag 1",
    "autocorrelation_lag2": "Mean autocorrelation, lag 2",
    "autocorrelation_lag3": "Mean autocorrelation, lag 3",
    "notes_not_in_key": "Notes not in key",
    "starts_with_tonic": "Compositions starting with tonic",
    "leaps_resolved": "Leaps resolved",
    "unique_max_note": "Compositions with unique max note",
    "unique_min_note": "Compositions with unique min note",
    "notes_in_motif": "Notes in motif",
    "notes_in_repeated_motif": "Notes in repeated motif",
}
STATISTIC_KEYS: tuple[str, ...] = tuple(STATISTIC_LABELS)
PERCENT_KEYS = frozenset(k for k in STATISTIC_KEYS if not k.startswith("autocorrelation"))
COUNT_KEYS: tuple[str, ...] = (
    "num_compositions",
    "num_steps",
    "num_leaps",
    "num_leaps_resolved",
    "num_leaps_doubled",
)


def _paper_column(repeated, autocorr, not_in_key, tonic, resolved, uniq_max, uniq_min, motif, rep_motif):
    return {
        "notes_excessively_repeated": repeated,
        "autocorrelation_lag1": autocorr[0],
        "autocorrelation_lag2": autocorr[1],
        "autocorrelation_lag3": autocorr[2],
        "notes_not_in_key": not_in_key,
        "starts_with_tonic": tonic,
        "leaps_resolved": resolved,
        "unique_max_note": uniq_max,
        "unique_min_note": uniq_min,
        "notes_in_motif": motif,
        "notes_in_repeated_motif": rep_motif,
    }


# Table 1 of Jaques et al. (2017) as given in the project's reference notes, which mark it as
# recalled rather than checked against the paper (percentages in 0..100; autocorrelations raw).
PAPER_TABLE1: dict[str, dict[str, float]] = {
    "Note RNN": _paper_column(63.3, (-0.16, 0.14, -0.13), 0.1, 0.9, 77.2, 64.7, 49.4, 5.9, 0.007),
    "Q": _paper_column(0.0, (-0.11, 0.03, 0.03), 1.0, 28.8, 91.1, 56.4, 51.9, 75.7, 0.11),
    "Psi": _paper_column(0.02, (-0.10, -0.01, 0.01), 0.6, 28.7, 90.0, 59.4, 58.3, 73.8, 0.09),
    "G": _paper_column(0.03, (0.55, 0.31, 0.17), 28.7, 0.0, 52.2, 37.1, 56.5, 69.3, 0.01),
}


def composition_statistics(compositions: np.ndarray) -> dict[str, float]:
    """Table-1 statistics of ``(N, L)`` integer compositions (``L`` is the composition length)."""
    comps = np.asarray(compositions)
    if comps.ndim != 2 or comps.shape[0] == 0 or comps.shape[1] == 0:
        raise ValueError(f"compositions has shape {comps.shape}, expected (N, L) with N >= 1 and L >= 1")
    if not np.issubdtype(comps.dtype, np.integer):
        raise ValueError(f"compositions has dtype {comps.dtype}, expected an integer dtype")
    if comps.min() < 0 or comps.max() >= VOCAB_SIZE:
        bad = comps[(comps < 0) | (comps >= VOCAB_SIZE)][0]
        raise ValueError(f"composition token {int(bad)} is out of range, expected 0..{VOCAB_SIZE - 1}")
    num, length = comps.shape

    rules = MusicTheoryRules(num, composition_length=length)
    counted_events = (
        "excessive_repeat",
        "out_of_key",
        "in_motif",
        "in_repeated_motif",
        "leap",
        "leap_resolved",
        "leap_doubled",
    )
    counts = dict.fromkeys(counted_events, 0)
    for t in range(length):
        rules.step(comps[:, t])
        events = rules.last_events
        for name in counts:
            counts[name] += int(np.count_nonzero(events[name]))
    final = rules.last_events  # the last step sees each whole composition

    steps = num * length
    resolved, doubled = counts["leap_resolved"], counts["leap_doubled"]
    outcomes = resolved + doubled
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # nanmean of all-NaN: NaN is the answer
        mean_rho = np.nanmean(final["autocorrelation"], axis=0)

    stats: dict[str, float] = {
        "notes_excessively_repeated": 100.0 * counts["excessive_repeat"] / steps,
        **{f"autocorrelation_lag{lag}": float(mean_rho[i]) for i, lag in enumerate(AUTOCORR_LAGS)},
        "notes_not_in_key": 100.0 * counts["out_of_key"] / steps,
        "starts_with_tonic": 100.0 * float(np.mean(comps[:, 0] == TONIC)),
        "leaps_resolved": 100.0 * resolved / outcomes if outcomes else math.nan,
        "unique_max_note": 100.0 * float(np.mean(final["unique_max"])),
        "unique_min_note": 100.0 * float(np.mean(final["unique_min"])),
        "notes_in_motif": 100.0 * counts["in_motif"] / steps,
        "notes_in_repeated_motif": 100.0 * counts["in_repeated_motif"] / steps,
        "num_compositions": num,
        "num_steps": steps,
        "num_leaps": counts["leap"],
        "num_leaps_resolved": resolved,
        "num_leaps_doubled": doubled,
    }
    return stats


def missing_cell(value) -> str | None:
    """The table cell of a missing (None: "–") or undefined (NaN: "n/a") figure, else None."""
    if value is None:
        return "–"
    return "n/a" if math.isnan(float(value)) else None


def markdown_table(
    corner: str,
    headers: list[str],
    values: list[dict],
    labels: dict[str, str],
    format_number: Callable[[str, float], str],
    counts: dict[str, str],
) -> str:
    """Markdown table: one row per ``labels`` key, one column per figures dict of ``values`` (headed ``headers``).

    A figure prints as ``format_number(key, value)``, a missing or undefined one as :func:`missing_cell`
    says; then a row of whole numbers per ``counts`` key that some column has ("–" in a column without it).
    """
    lines = [f"| {corner} | " + " | ".join(headers) + " |", "|---|" + "---:|" * len(headers)]
    for key, label in labels.items():
        cells = [missing_cell(column.get(key)) or format_number(key, float(column[key])) for column in values]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    for key, label in counts.items():
        if any(key in column for column in values):
            cells = [str(int(c[key])) if key in c else "–" for c in values]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _format_number(key: str, value: float) -> str:
    if key in PERCENT_KEYS:
        # One decimal like the paper, but keep two significant digits of small rates (0.007 %).
        if value == 0 or abs(value) >= 1:
            return f"{value:.1f}%"
        return f"{value:.2g}%"
    return f"{value:.2f}"


def format_statistics_table(columns: dict[str, dict], include_paper: bool | list = True) -> str:
    """Markdown table: one row per statistic, one column per model (``columns`` first, then the paper's).

    ``columns`` maps a model name to a ``composition_statistics`` dict (missing keys print "–").
    ``include_paper``: ``True`` for all of ``PAPER_TABLE1``'s columns, ``False`` for none, or a list
    of its column names (e.g. ``["Note RNN"]``). Paper columns are headed "<name> (paper)".
    """
    if include_paper is True:
        paper_names = list(PAPER_TABLE1)
    elif include_paper is False or include_paper is None:
        paper_names = []
    else:
        paper_names = list(include_paper)
        unknown = [name for name in paper_names if name not in PAPER_TABLE1]
        if unknown:
            raise ValueError(f"unknown paper column(s) {unknown}, expected some of {list(PAPER_TABLE1)}")
    headers = list(columns) + [f"{name} (paper)" for name in paper_names]
    values = list(columns.values()) + [PAPER_TABLE1[name] for name in paper_names]
    if not headers:
        raise ValueError("nothing to tabulate: no columns and no paper columns")
    return markdown_table(
        "Statistic", headers, values, STATISTIC_LABELS, _format_number, {"num_compositions": "Compositions"}
    )
