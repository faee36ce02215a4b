"""Tests of the Table-1 statistics (seqtutor_envs/melody/stats.py) on hand-counted compositions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from seqtutor_envs.melody.encoding import NO_EVENT, NOTE_OFF, pitch_to_token
from seqtutor_envs.melody.stats import (
    COUNT_KEYS,
    PAPER_TABLE1,
    STATISTIC_KEYS,
    composition_statistics,
    format_statistics_table,
)

HOLD, REST = NO_EVENT, NOTE_OFF


def P(name: str) -> int:
    names = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
    sharp = 1 if "#" in name else 0
    return pitch_to_token(12 * (int(name[-1]) + 1) + names[name[0]] + sharp)


# Three 16-step compositions whose statistics are counted by hand below.
# A: the figure C D E F G - - - played twice.
#    motif at t = 7..15 (every 8-step window holds 5 pitches): 9; repeated motif at t = 15 only
#    (the window 8..15 equals 0..7, which lies strictly before it): 1; starts with the tonic;
#    G4 -> C4 (t = 8) is a downward leap from G4, resolved when the melody climbs back to G4 at
#    t = 12: 1 leap, 1 resolved; C4 and G4 both occur twice: no unique extreme.
A = [P("C4"), P("D4"), P("E4"), P("F4"), P("G4"), HOLD, HOLD, HOLD] * 2
# C: C4 -> G4 leaps up (from C4), G4 -> E5 leaps up again (doubled), then a scale down to B3,
#    at or below C4: resolved. 2 leaps, 1 resolved, 1 doubled. Motif at t = 7..15: 9 (every window
#    has >= 3 pitches); no window repeats. Unique max E5 and unique min B3. Starts with the tonic.
C = [P("C4"), P("G4"), P("E5"), HOLD, P("D5"), P("C5"), P("B4"), P("A4")]
C += [P("G4"), P("F4"), P("E4"), P("D4"), P("B3"), HOLD, HOLD, HOLD]
# D: six E4 attacks (the 6th, t = 5, is excessive), three rests (the 3rd, t = 8, is excessive),
#    F#4 out of key and the unique maximum; E4 (six times) is the minimum. No motif: no window
#    holds 3 distinct pitches. No leap.
D = [P("E4")] * 6 + [REST, REST, REST, HOLD, P("F#4")] + [HOLD] * 5


def _direct_autocorrelation(x, lag):
    x = np.asarray(x, dtype=np.float64)
    centred = x - x.mean()
    with np.errstate(divide="ignore", invalid="ignore"):
        return (centred[lag:] * centred[: len(x) - lag]).sum() / len(x) / np.var(x)


def test_hand_counted_statistics():
    stats = composition_statistics(np.array([A, C, D]))
    steps = 3 * 16
    assert stats["num_compositions"] == 3 and stats["num_steps"] == steps
    assert stats["notes_excessively_repeated"] == pytest.approx(100 * 2 / steps)
    assert stats["notes_not_in_key"] == pytest.approx(100 * 1 / steps)
    assert stats["starts_with_tonic"] == pytest.approx(100 * 2 / 3)
    assert stats["num_leaps"] == 3
    assert stats["num_leaps_resolved"] == 2 and stats["num_leaps_doubled"] == 1
    assert stats["leaps_resolved"] == pytest.approx(100 * 2 / 3)
    assert stats["unique_max_note"] == pytest.approx(100 * 2 / 3)  # C and D
    assert stats["unique_min_note"] == pytest.approx(100 * 1 / 3)  # C
    assert stats["notes_in_motif"] == pytest.approx(100 * 18 / steps)
    assert stats["notes_in_repeated_motif"] == pytest.approx(100 * 1 / steps)
    for lag in (1, 2, 3):
        expected = np.mean([_direct_autocorrelation(x, lag) for x in (A, C, D)])
        assert stats[f"autocorrelation_lag{lag}"] == pytest.approx(expected, abs=1e-12)


def test_single_compositions():
    a = composition_statistics(np.array([A]))
    assert a["notes_in_repeated_motif"] == pytest.approx(100 / 16)
    assert a["leaps_resolved"] == 100.0 and a["num_leaps"] == 1
    assert a["unique_max_note"] == 0 and a["unique_min_note"] == 0
    d = composition_statistics(np.array([D]))
    assert math.isnan(d["leaps_resolved"]) and d["num_leaps"] == 0
    assert d["notes_in_motif"] == 0 and d["starts_with_tonic"] == 0


def test_all_hold_and_all_rest_compositions():
    stats = composition_statistics(np.array([[HOLD] * 32, [REST] * 32]))
    for lag in (1, 2, 3):  # constant sequences: autocorrelation undefined everywhere
        assert math.isnan(stats[f"autocorrelation_lag{lag}"])
    assert math.isnan(stats["leaps_resolved"])
    assert stats["unique_max_note"] == 0 and stats["unique_min_note"] == 0
    assert stats["notes_in_motif"] == 0 and stats["notes_not_in_key"] == 0
    # Holds never count as repetition; rests do from the third one on (t = 2..31).
    assert stats["notes_excessively_repeated"] == pytest.approx(100 * 30 / 64)
    # NaN compositions are left out of the mean, the others still count.
    stats = composition_statistics(np.array([[HOLD] * 16, A]))
    assert stats["autocorrelation_lag1"] == pytest.approx(_direct_autocorrelation(A, 1))


def test_keys_and_types():
    stats = composition_statistics(np.random.default_rng(0).integers(0, 38, size=(10, 32)))
    assert set(stats) == set(STATISTIC_KEYS) | set(COUNT_KEYS)
    for key in STATISTIC_KEYS:
        assert isinstance(stats[key], float)
    for key in COUNT_KEYS:
        assert isinstance(stats[key], int)
    for key in STATISTIC_KEYS:
        if not key.startswith("autocorrelation") and not math.isnan(stats[key]):
            assert 0 <= stats[key] <= 100
    for column in PAPER_TABLE1.values():
        assert set(column) == set(STATISTIC_KEYS)


def test_invalid_compositions():
    with pytest.raises(ValueError, match="expected \\(N, L\\)"):
        composition_statistics(np.zeros(5, dtype=np.int64))
    with pytest.raises(ValueError, match="token 38 is out of range"):
        composition_statistics(np.array([[0, 38]]))
    with pytest.raises(ValueError, match="integer dtype"):
        composition_statistics(np.zeros((2, 4)))


def test_markdown_table():
    stats = composition_statistics(np.array([A, C, D]))
    table = format_statistics_table({"seqtutor Note RNN": stats})
    lines = table.splitlines()
    assert lines[0] == ("| Statistic | seqtutor Note RNN | Note RNN (paper) | Q (paper) | Psi (paper) | G (paper) |")
    assert len(lines) == 2 + len(STATISTIC_KEYS) + 1  # header, rule, statistics, compositions
    note_rnn = next(line for line in lines if line.startswith("| Notes excessively repeated"))
    assert note_rnn.split(" | ")[1:3] == ["4.2%", "63.3%"]
    for value in ("-0.16", "0.14", "-0.13", "0.1%", "0.9%", "77.2%", "64.7%", "49.4%", "5.9%", "0.007%"):
        assert value in table
    assert "| Leaps resolved | 66.7% | 77.2% | 91.1% | 90.0% | 52.2% |" in table
    assert "| Compositions | 3 | – | – | – | – |" in table

    only = format_statistics_table({"mine": stats}, include_paper=["Note RNN"])
    assert only.splitlines()[0] == "| Statistic | mine | Note RNN (paper) |"
    none = format_statistics_table({"mine": stats}, include_paper=False)
    assert "(paper)" not in none
    nan_table = format_statistics_table({"holds": composition_statistics(np.zeros((2, 8), dtype=np.int64))}, False)
    assert "| Leaps resolved | n/a |" in nan_table
    with pytest.raises(ValueError, match="unknown paper column"):
        format_statistics_table({"mine": stats}, include_paper=["RL Tuner"])
