"""Tests of the nine music-theory rules (seqtutor_envs/melody/rules.py).

`reference_reward` below is a deliberately slow, literal transcription of the rule text (plain
Python, one token at a time, RL Tuner's backward scans, the leap state recomputed by replaying the
composition). The vectorised `MusicTheoryRules` must agree with it on any token sequence.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seqtutor_envs.melody.encoding import (
    NO_EVENT,
    NOTE_OFF,
    TONIC,
    VOCAB_SIZE,
    pitch_to_token,
)
from seqtutor_envs.melody.rules import (
    RULE_NAMES,
    MusicTheoryRules,
    score_compositions,
)

HOLD, REST = NO_EVENT, NOTE_OFF
L = 32


def P(name: str) -> int:
    """Token of a note name like 'C4', 'F#3', 'Bb4'."""
    names = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
    letter, rest = name[0], name[1:]
    semitone = names[letter]
    while rest and rest[0] in "#b":
        semitone += 1 if rest[0] == "#" else -1
        rest = rest[1:]
    return pitch_to_token(12 * (int(rest) + 1) + semitone)


# ---------------------------------------------------------------------------------------------
# Slow reference, straight from the rule text.
# ---------------------------------------------------------------------------------------------
def _is_pitch(tok: int) -> bool:
    return tok not in (HOLD, REST)


def _pitch(tok: int) -> int:
    return tok + 46


def _last_pitch(comp: list[int]) -> int | None:
    for tok in reversed(comp):
        if _is_pitch(tok):
            return tok
    return None


def _leap_update(comp: list[int], a: int, state: dict) -> int:
    """RL Tuner's detect_leap_up_back on `comp` + `a`; mutates `state`, returns +1/-1/0."""
    if not comp:
        return 0
    if not _is_pitch(a):
        state["steps"] += 1
        return 0
    prev = _last_pitch(comp)
    interval = 0 if prev is None else abs(_pitch(a) - _pitch(prev))
    outcome = 0
    if interval >= 7:
        d = 1 if a > prev else -1
        if state["dir"] != 0:
            if d != state["dir"]:
                if state["steps"] > 6:
                    outcome = 1
                state["dir"], state["from"] = 0, None
            else:
                outcome = -1
        else:
            state["dir"], state["from"] = d, prev
        state["steps"] = 0
    else:
        state["steps"] += 1
        if (state["dir"] == 1 and _pitch(a) <= _pitch(state["from"])) or (
            state["dir"] == -1 and _pitch(a) >= _pitch(state["from"])
        ):
            outcome = 1
            state["dir"], state["from"] = 0, None
    return outcome


def _autocorrelations(x: list[int]) -> list[float]:
    arr = np.asarray(x, dtype=np.float64)
    n = len(arr)
    centred = arr - arr.mean()
    variance = np.var(arr)
    out = []
    with np.errstate(divide="ignore", invalid="ignore"):
        for lag in (1, 2, 3):
            out.append(float((centred[lag:] * centred[: n - lag]).sum() / n / variance))
    return out


def reference_reward(comp: list[int], a: int, length: int = 32) -> dict[str, float]:
    """The nine rule rewards for appending token `a` to composition `comp`."""
    comp = [int(x) for x in comp]
    a = int(a)
    t = len(comp)
    r = dict.fromkeys(RULE_NAMES, 0.0)

    # 1. key
    if _is_pitch(a) and _pitch(a) % 12 not in (0, 2, 4, 5, 7, 9, 11):
        r["key"] = -1.0

    # 2. tonic
    last_beat = length - 4
    if t == 0 or t == last_beat:
        if a == TONIC:
            r["tonic"] = 3.0
    elif t == last_beat + 1:
        if a == HOLD:
            r["tonic"] = 3.0
    elif t > last_beat + 1 and a in (HOLD, REST):
        r["tonic"] = 3.0

    # 3. repetition
    fires = False
    if a == REST:
        count = 0
        for tok in reversed(comp):
            if tok == REST:
                count += 1
            elif tok == HOLD:
                continue
            else:
                break
        fires = count > 1
    elif a != HOLD:
        count, broken = 0, False
        for tok in reversed(comp):
            if tok == a:
                count += 1
            elif tok in (HOLD, REST):
                broken = True
            else:
                break
        fires = count > 6 if broken else count > 4
    if fires:
        r["repetition"] = -100.0

    # 4. autocorrelation
    for rho in _autocorrelations([*comp, a]):
        if not math.isnan(rho) and abs(rho) > 0.15:
            r["autocorrelation"] -= 3.0 * abs(rho)

    # 5. and 6. motif, repeated motif
    full = [*comp, a]
    if len(full) >= 8:
        window = full[-8:]
        k = len({tok for tok in window if _is_pitch(tok)})
        if k >= 3:
            r["motif"] = 3.0 + 0.3 * max(k - 3, 0)
            before = comp[: len(comp) - 7]
            if any(before[i : i + 8] == window for i in range(len(before) - 7)):
                r["repeated_motif"] = 4.0 + max(k - 3, 0)

    # 7. intervals
    prev = _last_pitch(comp)
    if prev is not None:
        c_or_g = _pitch(prev) in (48, 60, 72, 55, 67, 79)
        c_or_e = _pitch(prev) in (48, 60, 72, 52, 64, 76)
        if a == HOLD:
            r["intervals"] = 1.5 if c_or_g else 0.375
        elif a == REST:
            r["intervals"] = 0.75 if c_or_g else 0.25
        else:
            interval = abs(_pitch(a) - _pitch(prev))
            if interval == 7 and c_or_g:
                r["intervals"] = 0.5
            elif interval == 4 and c_or_e:
                r["intervals"] = 0.75
            elif interval > 12:
                r["intervals"] = -5.0
            else:
                r["intervals"] = {4: 0.45, 2: 0.4, 5: 0.35, 9: 0.25, 7: 0.1, 11: -1.5}.get(interval, 0.0)

    # 8. leap: replay the composition to rebuild the state, then score `a`
    state = {"dir": 0, "from": None, "steps": 0}
    for i, tok in enumerate(comp):
        _leap_update(comp[:i], tok, state)
    r["leap"] = {1: 5.0, -1: -5.0, 0: 0.0}[_leap_update(comp, a, state)]

    # 9. unique extremes
    if t == length - 1:
        pitches = [tok for tok in full if _is_pitch(tok)]
        if pitches:
            r["unique_extremes"] += 3.0 if pitches.count(max(pitches)) == 1 else 0.0
            r["unique_extremes"] += 3.0 if pitches.count(min(pitches)) == 1 else 0.0
    return r


def _reference_breakdown(comp: list[int], length: int = L) -> np.ndarray:
    rows = [reference_reward(comp[:t], comp[t], length) for t in range(len(comp))]
    return np.array([[row[name] for name in RULE_NAMES] for row in rows])


def _near_autocorr_threshold(prefix: list[int]) -> bool:
    """True if some lag's |rho| is within float noise of 0.15 (where float and exact may differ)."""
    return any(abs(abs(rho) - 0.15) < 1e-9 for rho in _autocorrelations(prefix) if not math.isnan(rho))


def assert_step_matches(prefix: list[int], a: int, got: np.ndarray, length: int = L) -> None:
    """The vectorised rule rewards `got` for appending `a` to `prefix` equal the reference's."""
    expected = reference_reward(prefix, a, length)
    for rule, name in enumerate(RULE_NAMES):
        if math.isclose(got[rule], expected[name], rel_tol=1e-9, abs_tol=1e-9):
            continue
        if name == "autocorrelation" and _near_autocorr_threshold([*prefix, a]):
            # |rho| == 0.15 exactly (e.g. x = 16,14,14,14,14 at lag 3): the vectorised rule decides
            # with exact integers (not > 0.15), the float reference may land either side.
            continue
        raise AssertionError(
            f"composition {prefix} + {a}: rule {name}: vectorised {got[rule]} != reference {expected[name]}"
        )


def assert_matches_reference(comps: np.ndarray, length: int = L) -> None:
    _, breakdown = score_compositions(comps, composition_length=length)
    for i, comp in enumerate(comps.tolist()):
        for t in range(len(comp)):
            assert_step_matches(comp[:t], comp[t], breakdown[i, t], length)


def test_autocorrelation_threshold_is_decided_exactly():
    # x = 16, 14, 14, 14, 14 has rho = -0.05, -0.1 and exactly -0.15 at lags 1, 2, 3 (float
    # arithmetic gives -0.15000000000000008). A tie is not "more than 0.15": no penalty.
    comp = [16, 14, 14, 14, 14]
    assert abs(_autocorrelations(comp)[2]) == pytest.approx(0.15, abs=1e-12)
    assert rewards_of(comp)["autocorrelation"][4] == 0.0


def rewards_of(comp: list[int], length: int = L) -> dict[str, np.ndarray]:
    """Per-rule reward sequences of one composition (vectorised implementation)."""
    _, breakdown = score_compositions(np.asarray([comp]), composition_length=length)
    return {name: breakdown[0, :, i] for i, name in enumerate(RULE_NAMES)}


# ---------------------------------------------------------------------------------------------
# Hand-built melodies, rule by rule.
# ---------------------------------------------------------------------------------------------
def test_rule_names_and_shapes():
    assert RULE_NAMES == (
        "key",
        "tonic",
        "repetition",
        "autocorrelation",
        "motif",
        "repeated_motif",
        "intervals",
        "leap",
        "unique_extremes",
    )
    rules = MusicTheoryRules(4)
    out = rules.step(np.array([TONIC, HOLD, REST, P("C#4")]))
    assert out.shape == (4, 9) and out.dtype == np.float64
    assert rules.lengths.tolist() == [1, 1, 1, 1]
    assert rules.compositions.shape == (4, L)
    assert rules.compositions[:, 0].tolist() == [TONIC, HOLD, REST, P("C#4")]
    assert (rules.compositions[:, 1:] == -1).all()


def test_key():
    r = rewards_of([P("C4"), P("F#4"), HOLD, REST, P("Bb3"), P("B3")])["key"]
    assert r.tolist() == [0, -1, 0, 0, -1, 0]


def test_tonic_start_and_ending():
    comp = [TONIC] + [HOLD] * 27 + [TONIC, HOLD, REST, HOLD]
    r = rewards_of(comp)["tonic"]
    assert r[0] == 3 and r[28] == 3 and r[29] == 3 and r[30] == 3 and r[31] == 3
    assert r[1:28].sum() == 0
    assert r.sum() == 15
    # The wrong tokens at the ending positions earn nothing: a rest at t = 29 (the tonic must keep
    # sounding), a pitch at 30, a non-tonic at 28 and at 0.
    comp = [P("D4")] + [HOLD] * 27 + [P("G4"), REST, P("C4"), TONIC]
    r = rewards_of(comp)["tonic"]
    assert r.sum() == 0
    # The tonic anywhere else earns nothing.
    assert rewards_of([P("D4"), TONIC, TONIC])["tonic"].sum() == 0


def test_repetition_of_pitches_fires_on_the_sixth_attack():
    r = rewards_of([P("E4")] * 7)["repetition"]
    assert r.tolist() == [0, 0, 0, 0, 0, -100, -100]
    # With holds/rests in between, up to 7 attacks are tolerated: fires on the 8th.
    comp = [P("E4"), HOLD] * 8
    r = rewards_of(comp)["repetition"]
    attacks = r[0::2]
    assert attacks.tolist() == [0, 0, 0, 0, 0, 0, 0, -100]
    assert r[1::2].sum() == 0
    # A different pitch breaks the run.
    comp = [P("E4")] * 5 + [P("F4")] + [P("E4")] * 5
    assert rewards_of(comp)["repetition"].sum() == 0
    # The scan also passes the specials between the previous pitch and the run's first attack,
    # so these six attacks count as "with breaks" (RL Tuner's scan stops only at D4).
    comp = [P("D4"), HOLD, P("E4"), P("E4"), P("E4"), P("E4"), P("E4"), P("E4"), P("E4"), P("E4")]
    assert rewards_of(comp)["repetition"].tolist() == [0] * 9 + [-100]


def test_repetition_of_rests():
    r = rewards_of([P("E4"), REST, REST, HOLD, REST, REST, P("D4"), REST])["repetition"]
    assert r.tolist() == [0, 0, 0, 0, -100, -100, 0, 0]
    # Before any pitch, rests from the start count.
    assert rewards_of([REST, REST, REST])["repetition"].tolist() == [0, 0, -100]


def test_holds_never_fire_repetition():
    comp = [P("G4")] + [HOLD] * 31
    assert rewards_of(comp)["repetition"].sum() == 0
    assert rewards_of([HOLD] * 32)["repetition"].sum() == 0
    assert rewards_of([REST] + [HOLD] * 20)["repetition"].sum() == 0


def test_autocorrelation_matches_direct_formula():
    comp = [P("C4"), P("E4"), P("G4"), P("C4"), P("E4"), P("G4"), HOLD, REST, P("A4"), P("A4")]
    r = rewards_of(comp)["autocorrelation"]
    for t in range(len(comp)):
        rhos = _autocorrelations(comp[: t + 1])
        expected = sum(-3 * abs(rho) for rho in rhos if not math.isnan(rho) and abs(rho) > 0.15)
        assert r[t] == pytest.approx(expected, abs=1e-12)
    assert r[0] == 0  # a single token has zero variance: NaN, skipped
    assert r.min() < 0  # the period-3 figure is strongly autocorrelated


def test_autocorrelation_events_equal_direct_rho():
    rng = np.random.default_rng(3)
    comps = rng.integers(0, VOCAB_SIZE, size=(20, L))
    comps[:3] = HOLD  # constant: rho undefined everywhere
    comps[3, :] = P("C4")
    rules = MusicTheoryRules(len(comps))
    for t in range(L):
        rules.step(comps[:, t])
        rho = rules.last_events["autocorrelation"]
        assert rho.shape == (len(comps), 3)
        for i in range(len(comps)):
            expected = _autocorrelations(comps[i, : t + 1].tolist())
            np.testing.assert_allclose(rho[i], expected, rtol=1e-12, atol=1e-12)


def test_motif_and_complexity_bonus():
    # 3 distinct pitches in the last 8 tokens: +3; with a 4th pitch: +3.3.
    comp = [P("C4"), HOLD, P("D4"), HOLD, P("E4"), HOLD, HOLD, HOLD, P("F4")]
    r = rewards_of(comp)["motif"]
    assert r[:7].sum() == 0  # fewer than 8 tokens
    assert r[7] == 3.0  # window C - D - E - - -: {C, D, E}
    assert r[8] == 3.0  # C left the window, F entered: {D, E, F}
    comp = [P("C4"), P("D4"), P("E4"), P("F4"), HOLD, HOLD, HOLD, HOLD]
    assert rewards_of(comp)["motif"][7] == pytest.approx(3.3)
    # Only two distinct pitches: no motif.
    assert rewards_of([P("C4"), P("D4")] * 4)["motif"].sum() == 0


def test_repeated_motif():
    motif = [P("C4"), P("D4"), P("E4"), HOLD, P("G4"), HOLD, REST, HOLD]
    comp = motif + motif
    r = rewards_of(comp)
    # The first full repeat ends at t = 15; every earlier window overlaps it.
    assert r["repeated_motif"][:15].sum() == 0
    assert r["repeated_motif"][15] == 4.0 + 1  # 4 distinct pitches: +4 + (4 - 3)
    assert r["motif"][15] == pytest.approx(3.3)
    # An overlapping earlier occurrence does not count: period-4 melody, windows overlap at t < 15.
    comp = [P("C4"), P("D4"), P("E4"), HOLD] * 4
    r = rewards_of(comp)["repeated_motif"]
    assert r[:15].sum() == 0 and r[15] == 4.0
    # An incomplete window at the start (fewer than 8 tokens) is not a motif occurrence, even
    # though padding it with holds would match a later window that starts with five holds.
    figure = [P("C4"), P("D4"), P("E4")]
    comp = figure + [P("G4"), P("A4"), P("B4"), P("C5"), P("F4")] + [HOLD] * 5 + figure
    r = rewards_of(comp)
    assert r["motif"][15] == 3.0 and r["repeated_motif"].sum() == 0
    # ... whereas a complete window with leading holds does repeat.
    comp = [HOLD] * 5 + figure + [REST] * 2 + [HOLD] * 5 + figure
    r = rewards_of(comp)["repeated_motif"]
    assert np.flatnonzero(r).tolist() == [17]
    # A gap between the occurrences is fine.
    comp = [*motif, REST, HOLD, HOLD, *motif]
    r = rewards_of(comp)["repeated_motif"]
    assert np.flatnonzero(r).tolist() == [18]


@pytest.mark.parametrize(
    "prev, a, expected",
    [
        (P("C4"), HOLD, 1.5),
        (P("G3"), HOLD, 1.5),
        (P("D4"), HOLD, 0.375),
        (P("C5"), REST, 0.75),
        (P("E4"), REST, 0.25),
        (P("C4"), P("G4"), 0.5),  # in-key fifth
        (P("G4"), P("C4"), 0.5),  # down counts too
        (P("D4"), P("A4"), 0.1),  # other fifth
        (P("C4"), P("E4"), 0.75),  # in-key third
        (P("E4"), P("G#4"), 0.75),  # in-key third from E (even to G#)
        (P("D4"), P("F#4"), 0.45),  # other major third
        (P("D4"), P("E4"), 0.4),  # second
        (P("D4"), P("G4"), 0.35),  # fourth
        (P("D4"), P("B4"), 0.25),  # sixth
        (P("D4"), P("C#5"), -1.5),  # major seventh
        (P("C4"), P("D5"), -5.0),  # more than an octave
        (P("C4"), P("C5"), 0.0),  # octave
        (P("C4"), P("C4"), 0.0),  # unison
        (P("C4"), P("C#4"), 0.0),  # minor second: 0 in RL Tuner
        (P("D4"), P("F4"), 0.0),  # minor third: 0 in RL Tuner
        (P("C4"), P("F#4"), 0.0),  # tritone
        (P("E4"), P("C5"), 0.0),  # minor sixth
        (P("D4"), P("C5"), 0.0),  # minor seventh
    ],
)
def test_intervals(prev, a, expected):
    assert rewards_of([prev, a])["intervals"][1] == pytest.approx(expected)
    # Specials between the two pitches are skipped when finding the previous pitch.
    assert rewards_of([prev, HOLD, REST, HOLD, a])["intervals"][4] == pytest.approx(expected)


def test_intervals_without_previous_pitch():
    assert rewards_of([HOLD, REST, P("C4")])["intervals"].tolist() == [0, 0, 0]


def test_leap_resolved_by_gradual_return():
    # C4 -> A4 leaps up 9; G4, F4 step down; E4 is still above C4; C4 reaches the origin: +5.
    comp = [P("C4"), P("A4"), P("G4"), P("F4"), P("E4"), P("C4")]
    r = rewards_of(comp)["leap"]
    assert r.tolist() == [0, 0, 0, 0, 0, 5]
    # Passing below the origin also resolves.
    r = rewards_of([P("C4"), P("A4"), P("G4"), P("E4"), P("D4"), P("B3")])["leap"]
    assert r.tolist() == [0, 0, 0, 0, 0, 5]
    # Downward leap resolved by going back up to the origin.
    r = rewards_of([P("A4"), P("C4"), P("D4"), P("F4"), P("A4")])["leap"]
    assert r.tolist() == [0, 0, 0, 0, 5]


def test_leap_resolved_by_counter_leap_only_after_more_than_six_steps():
    # Leap up, then a leap down more than 6 steps later: +5 (holds count as steps).
    comp = [P("C4"), P("A4")] + [HOLD] * 6 + [P("B4"), P("D4")]
    r = rewards_of(comp)["leap"]
    assert r[-1] == 5 and r[:-1].sum() == 0
    # Exactly 6 steps is not enough (the code's test is "more than 6").
    comp = [P("C4"), P("A4")] + [HOLD] * 5 + [P("B4"), P("D4")]
    assert rewards_of(comp)["leap"].sum() == 0
    # Leap back too soon: 0, and the leap is cleared (no later resolution).
    comp = [P("C4"), P("A4"), HOLD, P("B4"), P("D4"), P("C4"), P("B3")]
    r = rewards_of(comp)["leap"]
    assert r.sum() == 0


def test_leap_doubled():
    comp = [P("C4"), P("G4"), P("E5")]  # two leaps up in a row (the in-key fifth is a leap)
    assert rewards_of(comp)["leap"].tolist() == [0, 0, -5]
    # The state is kept: a third leap up doubles again.
    comp = [P("C3"), P("G3"), P("E4"), P("C5")]
    assert rewards_of(comp)["leap"].tolist() == [0, 0, -5, -5]
    # Nothing happens at t = 0, and small steps are not leaps.
    assert rewards_of([P("C4"), P("D4"), P("E4")])["leap"].sum() == 0


def test_unique_extremes_only_at_the_last_step():
    body = [P("E4"), P("D4"), P("E4"), P("D4")] * 7 + [P("E4"), P("D4")]
    comp = [*body, P("G4"), P("C4")]  # G4 unique max, C4 unique min, at t = 30, 31
    r = rewards_of(comp)["unique_extremes"]
    assert r[:31].sum() == 0 and r[31] == 6
    comp = [*body, P("G4"), P("D4")]  # min D4 repeated
    assert rewards_of(comp)["unique_extremes"][31] == 3
    comp = [*body, P("E4"), P("D4")]
    assert rewards_of(comp)["unique_extremes"][31] == 0
    assert rewards_of([HOLD] * 32)["unique_extremes"].sum() == 0  # no pitches: no bonus
    # A shorter composition_length moves the last step.
    r = rewards_of([P("C4"), P("G4"), P("E4"), HOLD], length=4)["unique_extremes"]
    assert r.tolist() == [0, 0, 0, 6]


def test_total_is_the_sum_of_the_rules():
    rng = np.random.default_rng(0)
    comps = rng.integers(0, VOCAB_SIZE, size=(5, L))
    total, breakdown = score_compositions(comps)
    assert total.shape == (5, L) and breakdown.shape == (5, L, 9)
    np.testing.assert_allclose(total, breakdown.sum(axis=2))


# ---------------------------------------------------------------------------------------------
# Vectorised == reference on random sequences.
# ---------------------------------------------------------------------------------------------
# Tokens biased towards what makes rules fire: specials, a few nearby pitches, the tonic.
_token = st.one_of(
    st.sampled_from([HOLD, REST]),
    st.sampled_from([P("C4"), P("D4"), P("E4"), P("G4"), P("C5"), P("F#4")]),
    st.integers(0, VOCAB_SIZE - 1),
)


@st.composite
def melodies(draw, length: int = L):
    """Compositions of `length` tokens with runs of specials, repeated notes and copied segments."""
    tokens: list[int] = []
    while len(tokens) < length:
        kind = draw(st.integers(0, 3))
        if kind == 0:
            tokens.append(draw(_token))
        elif kind == 1:  # a run of one token (repetition, long holds/rests)
            tokens.extend([draw(_token)] * draw(st.integers(2, 9)))
        elif kind == 2 and len(tokens) >= 8:  # copy an earlier segment (repeated motifs)
            start = draw(st.integers(0, len(tokens) - 8))
            tokens.extend(tokens[start : start + draw(st.integers(8, 12))])
        else:  # a leap and a walk back
            base = draw(st.integers(2, VOCAB_SIZE - 13))
            tokens.extend([base, base + draw(st.integers(7, 12)), base + 5, base + 3, base + 1, base])
    return tokens[:length]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(melodies(), min_size=1, max_size=4))
def test_vectorised_matches_reference(comps):
    assert_matches_reference(np.asarray(comps, dtype=np.int64))


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 12).flatmap(lambda n: st.tuples(st.just(n), melodies(n))))
def test_vectorised_matches_reference_short_compositions(case):
    length, comp = case
    assert_matches_reference(np.asarray([comp], dtype=np.int64), length=length)


def test_vectorised_matches_reference_on_uniform_random_tokens():
    rng = np.random.default_rng(1)
    comps = rng.integers(0, VOCAB_SIZE, size=(40, L))
    comps[:10] = rng.choice([HOLD, REST, P("C4"), P("E4"), P("G4")], size=(10, L))
    assert_matches_reference(comps)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(st.integers(0, VOCAB_SIZE - 1), min_size=L, max_size=L), min_size=1, max_size=6))
def test_rewards_finite_and_shaped(comps):
    comps = np.asarray(comps)
    rules = MusicTheoryRules(len(comps))
    for t in range(L):
        out = rules.step(comps[:, t].astype(np.int32))
        assert out.shape == (len(comps), 9)
        assert np.isfinite(out).all()
        assert all(ev.shape[0] == len(comps) for ev in rules.last_events.values())


# ---------------------------------------------------------------------------------------------
# State handling: partial resets, validation.
# ---------------------------------------------------------------------------------------------
def test_reset_of_a_subset_leaves_the_others_unchanged():
    rng = np.random.default_rng(7)
    comps = rng.choice([HOLD, REST, P("C4"), P("D4"), P("E4"), P("G4"), P("A4")], size=(6, L))
    _, expected = score_compositions(comps)
    rules = MusicTheoryRules(6)
    split = 13
    for t in range(split):
        rules.step(comps[:, t])
    reset = np.array([True, False, True, False, False, True])
    rules.reset(reset)
    assert rules.lengths.tolist() == [0, split, 0, split, split, 0]
    assert (rules.compositions[reset] == -1).all()
    # Untouched envs continue their compositions; reset envs start the same ones from scratch.
    for t in range(L - split):
        actions = np.where(reset, comps[:, t], comps[:, split + t])
        out = rules.step(actions)
        np.testing.assert_allclose(out[~reset], expected[~reset, split + t])
        np.testing.assert_allclose(out[reset], expected[reset, t])
    # Integer indices work too and a full env must be reset before it is stepped again.
    with pytest.raises(ValueError, match="env 1 already holds a full composition"):
        rules.step(np.zeros(6, dtype=np.int64))
    rules.reset(np.array([1, 3, 4]))
    assert rules.lengths.tolist() == [L - split, 0, L - split, 0, 0, L - split]


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_vectorised_matches_reference_with_staggered_resets(seed):
    """Envs at different beats (the non-lockstep code path) still score like the reference."""
    rng = np.random.default_rng(seed)
    num_envs, length = 5, 12
    palette = [HOLD, REST, P("C4"), P("D4"), P("E4"), P("G4"), P("C5"), P("F#4"), P("A3")]
    rules = MusicTheoryRules(num_envs, composition_length=length)
    comps: list[list[int]] = [[] for _ in range(num_envs)]
    for _ in range(4 * length):
        done = np.array([len(c) == length for c in comps]) | (rng.random(num_envs) < 0.05)
        if done.any():
            rules.reset(done)
            for i in np.flatnonzero(done):
                comps[i] = []
        if rng.random() < 0.3:  # keep repeating a token so repetition and motifs occur
            actions = np.array([c[-1] if c else HOLD for c in comps])
        else:
            actions = rng.choice(palette, size=num_envs)
        if rng.random() < 0.3:  # step only some envs, in any order
            stepped = rng.permutation(num_envs)[: rng.integers(1, num_envs + 1)]
            out = rules.step(actions[stepped], env_indices=stepped)
        else:
            stepped = np.arange(num_envs)
            out = rules.step(actions)
        assert out.shape == (len(stepped), 9)
        for row, i in enumerate(stepped):
            assert_step_matches(comps[i], int(actions[i]), out[row], length)
            comps[i].append(int(actions[i]))
        assert rules.lengths.tolist() == [len(c) for c in comps]
        for i in range(num_envs):
            assert rules.compositions[i, : len(comps[i])].tolist() == comps[i]


def test_step_a_subset_of_envs():
    rng = np.random.default_rng(11)
    comps = rng.choice([HOLD, REST, P("C4"), P("D4"), P("E4"), P("G4"), P("A4")], size=(4, L))
    _, expected = score_compositions(comps)
    rules = MusicTheoryRules(4)
    for t in range(5):  # envs 3 and 1 first (rows follow env_indices)
        out = rules.step(comps[[3, 1], t], env_indices=np.array([3, 1]))
        np.testing.assert_allclose(out, expected[[3, 1], t])
        assert rules.last_events["in_motif"].shape == (2,)
    assert rules.lengths.tolist() == [0, 5, 0, 5]
    for t in range(5):  # then 0 and 2 catch up
        out = rules.step(comps[[0, 2], t], env_indices=[0, 2])
        np.testing.assert_allclose(out, expected[[0, 2], t])
    for t in range(5, L):  # back in lockstep
        np.testing.assert_allclose(rules.step(comps[:, t]), expected[:, t])
    assert rules.step(np.zeros(0, dtype=np.int64), env_indices=np.zeros(0, dtype=np.int64)).shape == (0, 9)


def test_every_per_env_array_is_gathered_for_subset_steps():
    from seqtutor_envs.melody.rules import _ENV_STATE

    rules = MusicTheoryRules(7)
    per_env = {
        name
        for name, value in vars(rules).items()
        if isinstance(value, np.ndarray) and value.shape[-1] == 7 and name != "_rows"
    }
    assert per_env == set(_ENV_STATE)


def test_invalid_actions_raise_and_leave_state_unchanged():
    rules = MusicTheoryRules(3, composition_length=4)
    rules.step(np.array([P("C4"), P("E4"), HOLD]))
    before = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in vars(rules).items()}
    cases = [
        (np.array([1, 2]), r"actions has shape \(2,\), expected \(3,\)"),
        (np.array([[1, 2, 3]]), r"shape \(1, 3\)"),
        (np.array([1.0, 2.0, 3.0]), "dtype float64, expected an integer dtype"),
        (np.array([True, False, True]), "dtype bool"),
        (np.array([1, 38, 2]), "action 38 for env 1 is out of range, expected a token in 0..37"),
        (np.array([-1, 2, 2]), "action -1 for env 0 is out of range"),
    ]
    for actions, message in cases:
        with pytest.raises(ValueError, match=message):
            rules.step(actions)
        for key, value in vars(rules).items():
            if isinstance(value, np.ndarray):
                np.testing.assert_array_equal(value, before[key], err_msg=key)
    subset_cases = [
        (np.array([1]), np.array([0, 0]), "repeat an env"),
        (np.array([1]), np.array([3]), "env index 3 is out of range"),
        (np.array([1, 1]), np.array([2]), r"actions has shape \(2,\), expected \(1,\)"),
        (np.array([1, 40]), np.array([2, 1]), "action 40 for env 1 is out of range"),
        (np.array([1]), np.array([[1]]), "1-D integer array"),
    ]
    for actions, env_indices, message in subset_cases:
        with pytest.raises(ValueError, match=message):
            rules.step(actions, env_indices=env_indices)
        for key, value in vars(rules).items():
            if isinstance(value, np.ndarray):
                np.testing.assert_array_equal(value, before[key], err_msg=key)
    for _ in range(2):
        rules.step(np.array([HOLD, HOLD, HOLD]))
    rules.step(np.array([HOLD, HOLD]), env_indices=np.array([0, 1]))
    with pytest.raises(ValueError, match="env 0 already holds a full composition of 4 tokens"):
        rules.step(np.array([HOLD, HOLD, HOLD]))
    with pytest.raises(ValueError, match="env 1 already holds a full composition of 4 tokens"):
        rules.step(np.array([HOLD, HOLD]), env_indices=np.array([2, 1]))
    rules.step(np.array([HOLD]), env_indices=np.array([2]))  # env 2 was one token behind
    with pytest.raises(ValueError, match=r"boolean env_mask has shape \(2,\)"):
        rules.reset(np.array([True, False]))
    with pytest.raises(ValueError, match="env index 3 in env_mask is out of range"):
        rules.reset(np.array([3]))


def test_constructor_validation():
    with pytest.raises(ValueError, match="num_envs"):
        MusicTheoryRules(0)
    with pytest.raises(ValueError, match="composition_length"):
        MusicTheoryRules(2, composition_length=0)
    with pytest.raises(ValueError, match="more than composition_length"):
        score_compositions(np.zeros((1, 5), dtype=np.int64), composition_length=4)
