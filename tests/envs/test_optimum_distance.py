"""The distance to π* in nats against its closed form, on the toy domain small enough to enumerate (4^6 sequences).

Coverage checks use 99 % intervals (the 95 % ones of the defaults cover 56 of 60 fresh prior samples
and draws here, as they should, so a fixed seed could miss). Exact values: log Z = log Σ_x p(x)^w exp(R(x)/c),
J(π) = Σ_x π(x)(R/c + w log p − log π), so
KL(p ‖ π*) = log Z − J(p), KL(π* ‖ π*) = 0, and the share is 0 at the prior and 1 at π*.
"""

from __future__ import annotations

import itertools
import math
import os

import numpy as np
import pytest
import torch
from toy_domain import ENV_ID, LENGTH, VOCAB, registered_toy_domain

from seqtutor_envs.optimum import MIN_ESS, sample_prior
from seqtutor_envs.optimum_distance import (
    SequenceTerms,
    distance_to_optimum,
    optimum_row,
    prior_replicates,
)
from seqtutor_envs.prior import LSTMPrior

SEQUENCES = np.array(list(itertools.product(range(VOCAB), repeat=LENGTH)))  # lexicographic: x_1 most significant
RETURNS = (SEQUENCES == 1).sum(1).astype(float)
BOOT = {"n_boot": 300, "confidence": 0.99, "seed": 0}


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    folder = tmp_path_factory.mktemp("toy")
    old = os.environ.get("SEQTUTOR_CACHE_DIR")
    os.environ["SEQTUTOR_CACHE_DIR"] = str(folder / "cache")
    with registered_toy_domain(folder, seed=3) as prior_path:
        yield prior_path
    if old is None:
        os.environ.pop("SEQTUTOR_CACHE_DIR", None)
    else:
        os.environ["SEQTUTOR_CACHE_DIR"] = old


@pytest.fixture(scope="module")
def prior_steps(toy) -> np.ndarray:
    """``(4^6, 6, 4)``: the prior's next-token log-probabilities at every step of every sequence."""
    prior, _ = LSTMPrior.load(toy)
    inputs = torch.as_tensor(np.concatenate([np.zeros((len(SEQUENCES), 1), dtype=np.int64), SEQUENCES[:, :-1]], 1))
    with torch.no_grad():
        logits, _ = prior(inputs)
    return torch.log_softmax(logits.double(), -1).numpy()


@pytest.fixture(scope="module")
def sample(toy):
    return sample_prior(ENV_ID, 60_000, seed=1, progress=False)


def log_prior(prior_steps: np.ndarray) -> np.ndarray:
    return np.take_along_axis(prior_steps, SEQUENCES[:, :, None], 2)[:, :, 0].sum(1)


def optimum_joint(prior_steps: np.ndarray, c: float, w: float) -> tuple[np.ndarray, float]:
    """π*(x) over every sequence and the exact log Z."""
    log_unnormalised = w * log_prior(prior_steps) + RETURNS / c
    log_z = float(np.logaddexp.reduce(log_unnormalised))
    return np.exp(log_unnormalised - log_z), log_z


def step_terms(joint: np.ndarray, prior_steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per sequence, the exact KL(π ‖ p) and entropy of π's next-token distribution at each step, summed.

    π's conditionals come from its joint: π(a | x_<t) = π(x_<t a) / π(x_<t), marginals by summing the tail.
    """
    kl, entropy = np.zeros(len(SEQUENCES)), np.zeros(len(SEQUENCES))
    tensor = joint.reshape((VOCAB,) * LENGTH)
    for t in range(LENGTH):
        marginal = tensor.sum(axis=tuple(range(t + 1, LENGTH))).reshape(-1, VOCAB)  # (4^t, 4)
        conditional = marginal / np.maximum(marginal.sum(1, keepdims=True), 1e-300)
        rows = conditional[np.arange(len(SEQUENCES)) // VOCAB ** (LENGTH - t)]  # each sequence's prefix
        with np.errstate(divide="ignore", invalid="ignore"):
            log_q = np.where(rows > 0, np.log(rows), 0.0)
        kl += (rows * (log_q - prior_steps[:, t])).sum(1)
        entropy -= (rows * log_q).sum(1)
    return kl, entropy


def exact_objective(joint: np.ndarray, prior_steps: np.ndarray, c: float, w: float) -> float:
    """J(π) = Σ_x π(x) (R/c + w log p(x) − log π(x)), by enumeration."""
    with np.errstate(divide="ignore"):
        log_joint = np.where(joint > 0, np.log(joint), 0.0)
    return float(joint @ (RETURNS / c + w * log_prior(prior_steps) - log_joint))


def drawn_terms(joint: np.ndarray, prior_steps: np.ndarray, m: int, seed: int) -> SequenceTerms:
    """``m`` sequences drawn from ``joint`` with their exact per-step KL and entropy sums (as evaluation logs them)."""
    kl, entropy = step_terms(joint, prior_steps)
    rows = np.random.default_rng(seed).choice(len(SEQUENCES), size=m, p=joint / joint.sum())
    return SequenceTerms(RETURNS[rows], kl[rows], entropy[rows])


@pytest.mark.parametrize("c, w", [(0.7, 1.0), (1.0, 0.5), (2.0, 1.5)])
def test_the_per_sequence_terms_average_exactly_to_the_objective(prior_steps, c, w):
    """The Rao-Blackwellised terms R/c − w·ΣKL_t + (1 − w)·ΣH_t have expectation J(π) = log Z − KL(π ‖ π*), any π."""
    _, log_z = optimum_joint(prior_steps, c, w)
    star, _ = optimum_joint(prior_steps, c, w)
    rng = np.random.default_rng(0)
    some_policy = rng.dirichlet(np.full(len(SEQUENCES), 0.3))
    for joint in (some_policy, np.exp(log_prior(prior_steps)), star):
        kl, entropy = step_terms(joint, prior_steps)
        terms = SequenceTerms(RETURNS, kl, entropy)
        expected = float(joint @ terms.objective(c, w))
        assert expected == pytest.approx(exact_objective(joint, prior_steps, c, w), abs=1e-9)
        kl_to_optimum = float(joint @ (np.log(joint) - np.log(star)))
        assert expected == pytest.approx(log_z - kl_to_optimum, abs=1e-9)


@pytest.mark.parametrize("c, w", [(0.7, 1.0), (1.0, 0.5)])
def test_log_z_and_the_prior_objective_match_the_closed_form(toy, sample, prior_steps, c, w):
    _, log_z = optimum_joint(prior_steps, c, w)
    p = np.exp(log_prior(prior_steps))
    (rep,) = prior_replicates(sample, [c], w, n_boot=300, seed=0)
    row = optimum_row(rep, confidence=0.99)
    assert rep.ess > MIN_ESS and row["distance_reason"] == ""
    assert row["log_z_low"] <= log_z <= row["log_z_high"] and row["log_z_high"] - row["log_z_low"] < 0.1
    assert rep.log_z == pytest.approx(log_z, abs=0.02)
    prior_objective = float(p @ (RETURNS / c + (w - 1.0) * log_prior(prior_steps)))
    assert rep.prior_objective == pytest.approx(prior_objective, abs=0.02)
    if w == 1.0:  # KL(p ‖ π*) = log Z − E_p[R]/c
        exact = log_z - float(p @ RETURNS) / c
        assert row["prior_distance_low"] <= exact <= row["prior_distance_high"]
        assert row["prior_distance_to_optimum"] == pytest.approx(exact, abs=0.02)


@pytest.mark.parametrize("c, w", [(0.7, 1.0), (1.0, 0.5)])
def test_the_prior_and_the_optimum_are_placed_exactly(toy, sample, prior_steps, c, w):
    star, log_z = optimum_joint(prior_steps, c, w)
    p = np.exp(log_prior(prior_steps))
    exact_prior_distance = log_z - exact_objective(p, prior_steps, c, w)
    assert exact_prior_distance > 0.3  # a gap worth measuring

    prior = distance_to_optimum(sample, drawn_terms(p, prior_steps, 4_000, seed=5), c, w, **BOOT)
    assert prior.reliable and prior.share_reliable
    assert prior.distance_interval[0] <= exact_prior_distance <= prior.distance_interval[1]
    assert prior.distance == pytest.approx(exact_prior_distance, abs=0.1)
    assert prior.share_interval[0] <= 0.0 <= prior.share_interval[1]

    optimum = distance_to_optimum(sample, drawn_terms(star, prior_steps, 4_000, seed=6), c, w, **BOOT)
    assert optimum.distance_interval[0] <= 0.0 <= optimum.distance_interval[1]
    assert abs(optimum.distance) < 0.1
    assert optimum.share_interval[0] <= 1.0 <= optimum.share_interval[1]
    assert "nats per sequence" in optimum.describe()


def test_a_policy_between_them_gets_its_exact_distance(toy, sample, prior_steps):
    """A mixture of prior and π* (not a π* of any c): its distance and share, against enumeration."""
    c = 0.7
    star, log_z = optimum_joint(prior_steps, c, 1.0)
    p = np.exp(log_prior(prior_steps))
    mixture = 0.5 * p + 0.5 * star
    exact = float(mixture @ (np.log(mixture) - np.log(star)))
    j_p = exact_objective(p, prior_steps, c, 1.0)
    share = (exact_objective(mixture, prior_steps, c, 1.0) - j_p) / (log_z - j_p)
    result = distance_to_optimum(sample, drawn_terms(mixture, prior_steps, 4_000, seed=7), c, **BOOT)
    assert result.distance_interval[0] <= exact <= result.distance_interval[1]
    assert result.share_interval[0] <= share <= result.share_interval[1]
    assert 0.2 < share < 0.95 and result.distance_interval[1] - result.distance_interval[0] < 0.2


def test_an_unreliable_estimate_gives_a_reason_not_a_number(toy, sample, prior_steps):
    terms = drawn_terms(np.exp(log_prior(prior_steps)), prior_steps, 500, seed=1)
    result = distance_to_optimum(sample, terms, 0.02, n_boot=50)
    assert result.ess < MIN_ESS and not result.reliable and not result.share_reliable
    assert "effective sample size" in result.reason
    row = result.row()
    assert row["distance_to_optimum"] is None and row["improvement_share"] is None
    assert "not estimated" in result.describe() and "KL(π ‖ π*) =" not in result.describe()


def test_the_intervals_are_seeded(toy, sample, prior_steps):
    terms = drawn_terms(np.exp(log_prior(prior_steps)), prior_steps, 500, seed=1)
    first = distance_to_optimum(sample, terms, 1.0, n_boot=50, seed=3)
    assert distance_to_optimum(sample, terms, 1.0, n_boot=50, seed=3).row() == first.row()
    assert distance_to_optimum(sample, terms, 1.0, n_boot=50, seed=4).distance_interval != first.distance_interval


def test_terms_need_one_value_per_sequence_and_the_entropy_when_w_is_not_1():
    with pytest.raises(ValueError, match="one value per sequence"):
        SequenceTerms(np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match="needs the per-sequence entropy"):
        SequenceTerms(np.zeros(3), np.zeros(3)).objective(1.0, prior_weight=0.5)
    assert math.isclose(SequenceTerms([2.0], [0.5], [1.0]).objective(2.0, 0.5)[0], 1.0 - 0.25 + 0.5)
