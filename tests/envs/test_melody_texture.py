"""Texture and diversity metrics on small hand-built sets whose answers are worked out by hand."""

import math

import numpy as np
import pytest

from seqtutor_envs.melody import kde, texture
from seqtutor_envs.melody.midi import decode_tokens

H, R = 0, 1  # hold (NO_EVENT), rest (NOTE_OFF)
C4, D4, E4, G4, C5 = 14, 16, 18, 21, 26  # MIDI 60, 62, 64, 67, 72


def random_melodies(num: int, length: int = 32, seed: int = 0) -> np.ndarray:
    """Plausible-looking random melodies: mostly holds, some onsets in C major, a few rests."""
    rng = np.random.default_rng(seed)
    kind = rng.choice(3, size=(num, length), p=[0.6, 0.05, 0.35])
    pitches = rng.choice([C4, D4, E4, 19, G4, 23, 25, C5], size=(num, length))
    return np.where(kind == 2, pitches, kind).astype(np.int64)


# ---------------------------------------------------------------------------------------------
# diversity


def test_distinct_compositions_counts_repeated_rows_once():
    row = [C4, H, D4, H]
    assert texture.distinct_compositions(np.array([row, row])) == 0.5
    assert texture.distinct_compositions(np.array([row, row, [C4, H, H, H]])) == pytest.approx(2 / 3)
    assert texture.distinct_compositions(np.array([row])) == 1.0


def test_distinct_openings_looks_at_the_first_eight_steps_only():
    opening = [C4, H, D4, H, E4, H, G4, H]
    comps = np.array([[*opening, C5, H], [*opening, R, H], [*opening, G4, R]])
    assert texture.distinct_compositions(comps) == 1.0
    assert texture.distinct_openings(comps) == pytest.approx(1 / 3)
    # a difference inside the first 8 steps counts
    comps[2, 7] = R
    assert texture.distinct_openings(comps) == pytest.approx(2 / 3)
    # rows shorter than the opening: the whole row is the opening
    assert texture.distinct_openings(np.array([[C4, H], [C4, R]])) == 1.0


def test_distinct_ngram_rate_pools_windows_inside_each_row():
    row = [C4, H, C4, H, C4, H]  # 4-grams: (C4 H C4 H), (H C4 H C4), (C4 H C4 H)
    assert texture.distinct_ngram_rate(np.array([row])) == pytest.approx(2 / 3)
    assert texture.distinct_ngram_rate(np.array([row, row])) == pytest.approx(2 / 6)
    # windows never straddle two rows: rows [1 2 3 4] and [5 6 7 8] give 2 windows, not 5
    assert texture.distinct_ngram_rate(np.array([[2, 3, 4, 5], [6, 7, 8, 9]])) == 1.0
    assert texture.distinct_ngram_rate(np.array([row]), n=2) == pytest.approx(2 / 5)
    assert math.isnan(texture.distinct_ngram_rate(np.array([[C4, H, H]])))


def test_mean_pairwise_hamming_by_hand():
    a, b, c = [C4, H, H, H], [C4, H, H, R], [D4, H, H, R]
    # a-b differ at 1 of 4 steps, a-c at 2, b-c at 1: mean (1/4 + 2/4 + 1/4) / 3
    assert texture.mean_pairwise_hamming(np.array([a, b, c])) == pytest.approx(1 / 3)
    assert texture.mean_pairwise_hamming(np.array([a, a])) == 0.0
    assert texture.mean_pairwise_hamming(np.array([[C4, H], [D4, R]])) == 1.0
    assert math.isnan(texture.mean_pairwise_hamming(np.array([a])))


def test_mean_pairwise_hamming_equals_brute_force():
    comps = random_melodies(40, length=16, seed=3)
    pairs = [(i, j) for i in range(40) for j in range(i + 1, 40)]
    brute = np.mean([np.mean(comps[i] != comps[j]) for i, j in pairs])
    assert texture.mean_pairwise_hamming(comps) == pytest.approx(brute, abs=1e-12)


# ---------------------------------------------------------------------------------------------
# texture


def test_token_shares_of_all_holds_and_of_a_mixed_set():
    holds = np.zeros((3, 8), dtype=np.int64)
    assert texture.token_shares(holds) == {"hold_share": 1.0, "rest_share": 0.0, "onset_share": 0.0}
    comps = np.array([[C4, H, H, R], [D4, E4, H, H]])  # 8 tokens: 4 holds, 1 rest, 3 onsets
    assert texture.hold_share(comps) == 0.5
    assert texture.rest_share(comps) == 1 / 8
    assert texture.onset_share(comps) == 3 / 8


def test_mean_pitch_range_skips_compositions_without_onsets():
    comps = np.array(
        [
            [C4, H, G4, R],  # 67 - 60 = 7
            [H, C5, H, H],  # one onset: 0
            [H, H, R, H],  # no onset: left out
            [G4, C4, C5, H],  # 72 - 60 = 12
        ]
    )
    assert texture.mean_pitch_range(comps) == pytest.approx((7 + 0 + 12) / 3)
    assert math.isnan(texture.mean_pitch_range(np.array([[H, R, H]])))


def test_pitch_class_entropy_by_hand():
    assert texture.pitch_class_entropy(np.array([[C4, H, G4, H], [G4, C4, H, H]])) == pytest.approx(1.0)
    assert texture.pitch_class_entropy(np.array([[C4, H, C5, H]])) == 0.0  # C4 and C5: one pitch class
    chromatic = np.arange(14, 26)[None, :]  # C4..B4, every pitch class once
    assert texture.pitch_class_entropy(chromatic) == pytest.approx(math.log2(12))
    assert math.isnan(texture.pitch_class_entropy(np.array([[H, R]])))


# ---------------------------------------------------------------------------------------------
# notes and histograms


def test_note_durations_leave_out_the_cut_off_note_and_leading_holds():
    row = [H, H, C4, H, H, D4, R, H, E4, H]
    rows, steps, durations = texture.note_durations(np.array([row]))
    # C4 at step 2 ends at the D4 onset (3 steps); D4 at 5 ends at the rest (1 step);
    # E4 at 8 is still sounding at the end: unknown duration, left out
    assert steps.tolist() == [2, 5] and durations.tolist() == [3, 1] and rows.tolist() == [0, 0]
    _, steps, durations = texture.note_durations(np.array([row]), include_cut_off=True)
    assert steps.tolist() == [2, 5, 8] and durations.tolist() == [3, 1, 2]


def test_note_durations_match_decode_tokens():
    comps = random_melodies(50, length=24, seed=1)
    rows, steps, durations = texture.note_durations(comps)
    expected = [(i, s, e - s) for i, comp in enumerate(comps) for s, e, _ in decode_tokens(comp) if e < 24]
    assert list(zip(rows.tolist(), steps.tolist(), durations.tolist(), strict=False)) == expected


def test_duration_histogram_by_hand():
    comps = np.array(
        [
            [C4, H, H, D4, R, H, E4, H],  # 3 steps, 1 step, (E4 cut off)
            [G4, D4, H, R, C4, H, R, H],  # 1, 2, 2
        ]
    )
    hist = texture.duration_histogram(comps)
    assert hist.shape == (16,)
    expected = np.zeros(16)
    expected[[0, 1, 2]] = [2 / 5, 2 / 5, 1 / 5]  # bins hold 1, 2 and 3 steps
    np.testing.assert_allclose(hist, expected)
    # per composition
    features = texture.duration_features(comps)
    np.testing.assert_allclose(features[0, :3], [0.5, 0, 0.5])
    np.testing.assert_allclose(features[1, :3], [1 / 3, 2 / 3, 0])


def test_duration_histogram_last_bin_holds_a_bar_or_more():
    row = [C4] + [H] * 17 + [R, D4] + [H] * 15 + [R]  # 18 steps, then 16 steps
    hist = texture.duration_histogram(np.array([row]))
    assert hist[-1] == 1.0
    assert np.isnan(texture.duration_histogram(np.array([[C4, H, H]]))).all()  # only a cut-off note
    assert np.all(texture.duration_features(np.array([[C4, H, H]])) == 0)


def test_pitch_class_histogram_counts_onsets():
    hist = texture.pitch_class_histogram(np.array([[C4, H, G4, C5], [E4, R, H, H]]))
    expected = np.zeros(12)
    expected[[0, 4, 7]] = [2 / 4, 1 / 4, 1 / 4]
    np.testing.assert_allclose(hist, expected)


def test_tv_of_identical_disjoint_and_known_histograms():
    p = np.array([0.5, 0.5, 0.0])
    assert texture.tv(p, p) == 0.0
    assert texture.tv(p, np.array([0.0, 0.0, 1.0])) == 1.0
    assert texture.tv(p, np.array([0.5, 0.0, 0.5])) == pytest.approx(0.5)
    assert math.isnan(texture.tv(p, np.full(3, np.nan)))
    with pytest.raises(ValueError, match=r"histograms have shapes \(3,\) and \(2,\)"):
        texture.tv(p, np.array([0.5, 0.5]))


# ---------------------------------------------------------------------------------------------
# KDE and overlap


def test_scott_bandwidth_and_its_floor():
    assert kde.scott_bandwidth(np.array([0.0, 1.0])) == pytest.approx(math.sqrt(0.5) * 2**-0.2)
    assert kde.scott_bandwidth(np.zeros(10)) == kde.MIN_BANDWIDTH
    assert kde.scott_bandwidth(np.array([3.0])) == kde.MIN_BANDWIDTH


def test_gaussian_kde_is_a_density_and_the_binned_one_agrees():
    data = np.random.default_rng(0).normal(size=500)
    h = kde.scott_bandwidth(data)
    start, delta = data.min() - 6 * h, h / 10
    size = int((data.max() - data.min() + 12 * h) / delta) + 2
    grid = start + delta * np.arange(size)
    exact = kde.gaussian_kde(data, grid, h)
    binned = kde.binned_gaussian_kde(data, start, delta, size, h)
    assert exact.sum() * delta == pytest.approx(1.0, abs=1e-6)
    assert binned.sum() * delta == pytest.approx(1.0, abs=1e-9)
    assert np.max(np.abs(binned - exact)) < 2e-3 * exact.max()


def test_overlap_area_of_known_distributions():
    rng = np.random.default_rng(1)
    a = rng.normal(size=5000)
    assert kde.overlap_area(a, a) == pytest.approx(1.0, abs=1e-9)
    assert kde.overlap_area(a, a + 100.0) < 1e-9
    # N(0, 1) and N(1, 1) overlap in 2 * Phi(-1/2) = 0.617
    b = rng.normal(loc=1.0, size=5000)
    assert kde.overlap_area(a, b) == pytest.approx(2 * 0.5 * math.erfc(0.5 / math.sqrt(2)), abs=0.03)
    # degenerate samples (zero spread) use the bandwidth floor and still integrate to 1
    assert kde.overlap_area(np.zeros(10), np.zeros(20)) == pytest.approx(1.0, abs=1e-9)
    assert math.isnan(kde.overlap_area(np.array([]), a))


def test_pair_distances_exact_when_few_pairs_and_seeded_otherwise():
    points = np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 1.0]])
    np.testing.assert_allclose(kde.pair_distances(points), [5.0, 1.0, math.sqrt(18)])
    np.testing.assert_allclose(kde.pair_distances(points[:1], points[1:]), [5.0, 1.0])
    many = np.random.default_rng(0).normal(size=(300, 3))  # 44850 pairs > max_pairs
    d1 = kde.pair_distances(many, max_pairs=1000)
    d2 = kde.pair_distances(many, max_pairs=1000)
    assert len(d1) == 1000 and np.array_equal(d1, d2)
    assert np.all(d1 > 0)  # sampled intra-set pairs never pair a row with itself
    assert not np.array_equal(d1, kde.pair_distances(many, max_pairs=1000, seed=5))


def test_overlap_of_a_set_with_itself_is_near_one():
    comps = random_melodies(400, seed=2)
    stats = texture.texture_statistics(comps, reference=comps)
    assert stats["duration_tv"] == 0.0 and stats["pitch_class_tv"] == 0.0
    assert stats["duration_overlap"] > 0.95
    assert stats["pitch_class_overlap"] > 0.95


def test_overlap_of_very_different_sets_is_small():
    quick = np.array([[C4, D4] * 15 + [E4, R]] * 50)  # every note 1 step, all C/D
    slow = np.array([[G4] + [H] * 15 + [G4] + [H] * 14 + [R]] * 50)  # every note 16 steps (the second 15), all G
    stats = texture.texture_statistics(slow, reference=quick)
    assert stats["duration_tv"] == 1.0 and stats["pitch_class_tv"] == 1.0
    assert stats["duration_overlap"] < 0.01
    assert stats["pitch_class_overlap"] < 0.01


# ---------------------------------------------------------------------------------------------
# reference windows


def test_reference_windows_start_on_onsets_and_do_not_overlap():
    tune = np.array([C4, H, H, H, D4, H, H, H, E4, H, H, H, R, H, H, H, G4, H, H])
    windows = texture.reference_windows([tune], length=4)
    # windows at 0, 4 and 8; the next onset at or after 12 is at 16, whose window would run past the end
    np.testing.assert_array_equal(windows, [[C4, H, H, H], [D4, H, H, H], [E4, H, H, H]])
    assert windows.dtype == np.uint8
    # a window starts at the first onset at or after the end of the previous one
    tune = np.array([R, H, C4, H, D4, E4, H, H, G4, H])
    np.testing.assert_array_equal(texture.reference_windows([tune], length=3), [[C4, H, D4], [E4, H, H]])
    assert texture.reference_windows([np.array([C4, H])], length=4).shape == (0, 4)


def test_corpus_reference_windows_are_cached_read_only_onset_windows():
    windows = texture.corpus_reference_windows(32)
    assert windows is texture.corpus_reference_windows(32)
    assert windows.ndim == 2 and windows.shape[1] == 32 and len(windows) > 1000
    assert np.all(windows[:, 0] >= 2)
    assert not windows.flags.writeable
    reference = texture.reference_texture(32)
    assert reference is texture.reference_texture()
    assert reference.duration_histogram.sum() == pytest.approx(1.0)
    assert reference.pitch_class_histogram.sum() == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------------
# entry point, table, validation


def test_texture_statistics_keys_and_determinism():
    comps = random_melodies(300, seed=4)
    first = texture.texture_statistics(comps)  # against the corpus reference
    second = texture.texture_statistics(comps.copy())
    assert set(first) == set(texture.TEXTURE_KEYS) | {"num_compositions", "num_notes"}
    assert first == second
    assert first["num_compositions"] == 300
    assert first["hold_share"] + first["rest_share"] + first["onset_share"] == pytest.approx(1.0)


def test_texture_statistics_of_all_holds():
    holds = np.zeros((4, 32), dtype=np.int64)
    stats = texture.texture_statistics(holds, reference=random_melodies(50, seed=5))
    assert stats["distinct_compositions"] == 0.25 and stats["distinct_openings"] == 0.25
    assert stats["distinct_4gram_rate"] == 1 / (4 * 29)
    assert stats["mean_pairwise_hamming"] == 0.0 and stats["hold_share"] == 1.0
    for key in ("mean_pitch_range", "pitch_class_entropy", "duration_tv", "pitch_class_tv"):
        assert math.isnan(stats[key]), key
    assert stats["num_notes"] == 0


def test_format_texture_table():
    stats = texture.texture_statistics(random_melodies(20, seed=6), reference=random_melodies(20, seed=7))
    table = texture.format_texture_table(
        {"Model A": stats, "Model B": {"hold_share": 0.5, "mean_pitch_range": math.nan}}
    )
    lines = table.splitlines()
    assert lines[0] == "| Figure | Model A | Model B |"
    assert len(lines) == 2 + len(texture.TEXTURE_LABELS) + 2
    assert "| Hold (NO_EVENT) tokens | " in table and "| 50.0% |" in table
    assert "| Mean pitch range (semitones) | " in table and "n/a" in table and "–" in table
    with pytest.raises(ValueError, match="no columns"):
        texture.format_texture_table({})


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.array([C4, H]), r"compositions has shape \(2,\), expected \(N, L\)"),
        (np.zeros((0, 32), dtype=np.int64), r"compositions has shape \(0, 32\)"),
        (np.zeros((2, 4)), r"compositions has dtype float64, expected an integer dtype"),
        (np.array([[C4, H], [H, 38]]), r"compositions token 38 at row 1, step 1 is out of range, expected 0..37"),
        (np.array([[-1, H]]), r"compositions token -1 at row 0, step 0 is out of range"),
    ],
)
def test_input_validation(bad, message):
    with pytest.raises(ValueError, match=message):
        texture.texture_statistics(bad, reference=random_melodies(5))
    with pytest.raises(ValueError, match=message):
        texture.distinct_compositions(bad)


def test_reference_is_validated_too():
    with pytest.raises(ValueError, match=r"reference token 40 at row 0, step 1"):
        texture.texture_statistics(random_melodies(5), reference=np.array([[C4, 40]]))
