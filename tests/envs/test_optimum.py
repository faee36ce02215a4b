"""π* by importance sampling against π* in closed form, on a toy domain small enough to enumerate (4^6 sequences)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from toy_domain import ENV_ID, LENGTH, VOCAB, registered_toy_domain

from seqtutor_envs.optimum import MIN_ESS, c_for_kl, interpolate, optimum_at, optimum_curve, sample_prior
from seqtutor_envs.prior import LSTMPrior


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    folder = tmp_path_factory.mktemp("toy")
    with registered_toy_domain(folder, seed=3) as prior_path:
        yield prior_path


def exact_optimum(prior_path, c: float, prior_weight: float = 1.0) -> dict[str, float]:
    """π* over all 4^6 sequences: p(x) from the prior's own forward pass, R(x) = number of 1s."""
    prior, _ = LSTMPrior.load(prior_path)
    sequences = np.array(list(itertools.product(range(VOCAB), repeat=LENGTH)))
    inputs = torch.as_tensor(np.concatenate([np.zeros((len(sequences), 1), dtype=np.int64), sequences[:, :-1]], 1))
    with torch.no_grad():
        logits, _ = prior(inputs)
        log_p_steps = torch.log_softmax(logits, -1).gather(2, torch.as_tensor(sequences)[:, :, None])[:, :, 0]
    log_p = log_p_steps.double().sum(1).numpy()
    returns = (sequences == 1).sum(1).astype(float)
    log_unnormalised = prior_weight * log_p + returns / c
    log_pi = log_unnormalised - np.logaddexp.reduce(log_unnormalised)
    pi = np.exp(log_pi)
    mean = float(pi @ returns)
    return {
        "domain_return": mean,
        "return_std": math.sqrt(float(pi @ (returns - mean) ** 2)),
        "kl_per_step": float(pi @ (log_pi - log_p)) / LENGTH,
    }


@pytest.fixture(scope="module", autouse=True)
def cache_folder(tmp_path_factory):
    """The prior samples' cache of this module's tests (and not of every test that runs after them)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEQTUTOR_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="module")
def sample(toy):
    return sample_prior(ENV_ID, 60_000, seed=1, progress=False)


@pytest.mark.parametrize("c, prior_weight", [(0.7, 1.0), (1.0, 1.0), (2.0, 1.0), (1.0, 0.5)])
def test_the_estimate_matches_the_closed_form(toy, sample, c, prior_weight):
    estimate = optimum_at(sample, c, prior_weight, resample=500)
    exact = exact_optimum(toy, c, prior_weight)
    assert estimate.reliable and estimate.ess > MIN_ESS
    # Within 4 standard errors of an importance-sampling mean (its std / sqrt(ESS)).
    assert estimate.domain_return == pytest.approx(
        exact["domain_return"], abs=4 * exact["return_std"] / math.sqrt(estimate.ess)
    )
    assert estimate.kl_per_step == pytest.approx(exact["kl_per_step"], rel=0.05, abs=2e-3)
    assert estimate.mean_length == pytest.approx(LENGTH)
    # π*'s resampled sequences carry its statistics: they hold more 1s than the prior's.
    assert estimate.statistics["ones_share"] == pytest.approx(exact["domain_return"] / LENGTH, abs=0.04)


def test_the_c_of_a_target_kl_gives_that_kl(toy, sample):
    c = c_for_kl(sample, 0.05)
    assert exact_optimum(toy, c)["kl_per_step"] == pytest.approx(0.05, rel=0.06)
    with pytest.raises(ValueError, match="outside it"):
        c_for_kl(sample, 50.0)


def test_points_resting_on_few_samples_are_flagged_and_never_interpolated(toy, sample):
    points = optimum_curve(sample, cs=[0.01, 0.5, 1.0, 2.0])
    tiny = next(p for p in points if p.c == 0.01)
    assert tiny.ess < MIN_ESS and not tiny.reliable
    reliable = sorted((p for p in points if p.reliable), key=lambda p: p.kl_per_step)
    middle = 0.5 * (reliable[0].kl_per_step + reliable[-1].kl_per_step)
    value = interpolate(points, "kl_per_step", "domain_return", middle)
    assert reliable[0].domain_return <= value <= reliable[-1].domain_return
    assert math.isnan(interpolate(points, "kl_per_step", "domain_return", tiny.kl_per_step))


def test_samples_are_cached_and_reproducible(toy, sample):
    again = sample_prior(ENV_ID, 60_000, seed=1, progress=False)
    assert np.array_equal(again.log_prior, sample.log_prior) and np.array_equal(again.sequences, sample.sequences)
    fresh = sample_prior(ENV_ID, 2_000, seed=1, progress=False, cache=False)
    assert np.array_equal(fresh.sequences[:5], sample_prior(ENV_ID, 2_000, seed=1, progress=False).sequences[:5])
