"""Rank-based sampling (p ∝ 1/(k·N + rank)): the probabilities, the tie order, the draws and bad input."""

import numpy as np
import pytest

from seqtutor_envs.sampling import rank_probabilities, rank_sample, stable_rank_order


def test_probabilities_are_one_over_kn_plus_rank_with_earlier_first_among_ties():
    scores = np.array([0.5, 0.9, 0.5, 0.1, 0.5])
    k, n = 0.01, 5
    # best first: index 1 (rank 0), then the three 0.5s in input order (ranks 1, 2, 3), then index 3 (rank 4)
    ranks = np.array([1, 0, 2, 4, 3])
    expected = 1.0 / (k * n + ranks)
    np.testing.assert_allclose(rank_probabilities(scores, k), expected / expected.sum(), rtol=1e-12)
    assert stable_rank_order(scores).tolist() == [1, 0, 2, 4, 3]


def test_a_large_coefficient_is_nearly_uniform_and_a_small_one_greedy():
    scores = np.arange(100.0)
    flat, greedy = rank_probabilities(scores, 1e6), rank_probabilities(scores, 1e-4)
    assert flat.max() / flat.min() < 1.0001
    assert greedy.argmax() == 99 and greedy[99] > 0.3  # 1/(0.01) against the harmonic tail


def test_the_probabilities_do_not_depend_on_the_scores_scale():
    scores = np.array([3.0, -1.0, 7.0, 0.0])
    np.testing.assert_allclose(rank_probabilities(scores), rank_probabilities(scores * 1000 - 5), rtol=0)


def test_draws_follow_the_probabilities_and_repeat_under_the_seed():
    scores = np.array([0.2, 0.8, 0.4, 0.6])
    draws = rank_sample(scores, 40_000, np.random.default_rng(0), coefficient=0.5)
    freq = np.bincount(draws, minlength=4) / len(draws)
    np.testing.assert_allclose(freq, rank_probabilities(scores, 0.5), atol=0.01)
    again = rank_sample(scores, 40_000, np.random.default_rng(0), coefficient=0.5)
    assert np.array_equal(draws, again) and draws.dtype == np.int64
    unique = rank_sample(scores, 4, np.random.default_rng(1), replace=False)
    assert sorted(unique.tolist()) == [0, 1, 2, 3]


@pytest.mark.parametrize(
    "scores, k, message",
    [
        ([], 0.01, "non-empty 1-D"),
        ([[1.0, 2.0]], 0.01, "non-empty 1-D"),
        ([1.0, np.nan], 0.01, "finite"),
        ([1.0, 2.0], 0.0, "rank coefficient k"),
        ([1.0, 2.0], -1.0, "rank coefficient k"),
    ],
)
def test_bad_input_is_refused_by_name(scores, k, message):
    with pytest.raises(ValueError, match=message):
        rank_probabilities(np.array(scores), k)


def test_sizes_out_of_range_are_refused():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="size must be >= 0"):
        rank_sample([1.0, 2.0], -1, rng)
    with pytest.raises(ValueError, match="exceeds the 2 scores"):
        rank_sample([1.0, 2.0], 3, rng, replace=False)
