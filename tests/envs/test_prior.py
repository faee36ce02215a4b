"""The generic LSTM prior: step API, fast stepper, sampling, checkpoints and their errors."""

import json

import numpy as np
import pytest
import torch

from seqtutor_envs.prior import CheckpointError, LSTMPrior, PriorConfig


def _prior(**kw) -> LSTMPrior:
    torch.manual_seed(0)
    return LSTMPrior(PriorConfig(**{"num_outputs": 38, "hidden_size": 16, **kw})).eval()


def test_step_matches_forward_over_a_sequence():
    prior = _prior()
    tokens = torch.randint(0, 38, (3, 7))
    logits, _ = prior(tokens)
    state = prior.initial_state(3)
    for t in range(7):
        log_probs, state = prior.step(tokens[:, t], state)
        assert torch.allclose(log_probs, torch.log_softmax(logits[:, t], -1), atol=1e-5)
        assert torch.allclose(log_probs.exp().sum(-1), torch.ones(3), atol=1e-5)


@pytest.mark.parametrize("kw", [{}, {"num_inputs": 40, "embedding_dim": 8, "num_layers": 3}])
def test_frozen_stepper_equals_step(kw):
    prior = _prior(**kw)
    stepper = prior.frozen_stepper()
    tokens = torch.randint(0, prior.config.input_vocab, (5, 6))
    state_a = state_b = prior.initial_state(5)
    for t in range(6):
        a, state_a = prior.step(tokens[:, t], state_a)
        b, state_b = stepper(tokens[:, t], state_b)
        assert torch.allclose(a, b, atol=1e-5)
    assert torch.allclose(state_a[0], state_b[0], atol=1e-5)


def test_sampling_is_reproducible_with_a_seeded_generator():
    prior = _prior()
    primers = torch.full((4,), 14)
    a = prior.sample(primers, 10, generator=torch.Generator().manual_seed(1))
    b = prior.sample(primers, 10, generator=torch.Generator().manual_seed(1))
    c = prior.sample(primers, 10, generator=torch.Generator().manual_seed(2))
    assert a.shape == (4, 10) and torch.equal(a, b) and not torch.equal(a, c)


def test_sampling_stops_at_the_stop_token():
    prior = _prior()
    with torch.no_grad():
        prior.head.bias.fill_(-20.0)
        prior.head.bias[0] = 20.0  # token 0 is almost certain
    out = prior.sample(torch.zeros(3, dtype=torch.long), 5, stop_token=0)
    assert torch.all(out == 0)


def test_save_load_round_trip(tmp_path):
    prior = _prior(num_layers=2)
    meta = {"vocabulary": ["a", "b"], "validation": {"nll_per_token": 1.25}}
    path = prior.save(tmp_path / "p.pt", metadata=meta)
    loaded, loaded_meta = LSTMPrior.load(path)
    assert loaded_meta == meta
    assert loaded.config == prior.config
    tokens = torch.randint(0, 38, (2, 5))
    assert torch.allclose(loaded(tokens)[0], prior(tokens)[0], atol=1e-6)
    assert not any(p.requires_grad for p in loaded.parameters())
    assert [f.name for f in tmp_path.iterdir()] == ["p.pt"]  # no temp files left behind
    raw = torch.load(path, weights_only=True)  # plain tensors and JSON types only
    assert raw["format"] == "seqtutor-lstm-prior"


def test_metadata_must_be_json(tmp_path):
    with pytest.raises(TypeError, match="JSON"):
        _prior().save(tmp_path / "p.pt", metadata={"bad": object()})
    assert not (tmp_path / "p.pt").exists()


def test_missing_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint file"):
        LSTMPrior.load(tmp_path / "nope.pt")


def test_corrupt_and_truncated_checkpoints(tmp_path):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="corrupt"):
        LSTMPrior.load(garbage)
    good = _prior().save(tmp_path / "good.pt")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(CheckpointError):
        LSTMPrior.load(truncated)


def test_foreign_and_mismatched_checkpoints(tmp_path):
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(CheckpointError, match="not a seqtutor prior"):
        LSTMPrior.load(foreign)
    path = _prior().save(tmp_path / "p.pt")
    payload = torch.load(path, weights_only=True)
    payload["config"]["hidden_size"] = 32  # weights no longer fit the config
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="do not match"):
        LSTMPrior.load(path)


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"num_outputs": 1}, "num_outputs"),
        ({"num_outputs": 10, "num_inputs": 5}, "num_inputs"),
        ({"num_outputs": 10, "hidden_size": 0}, "positive"),
        ({"num_outputs": 10, "dropout": 1.0}, "dropout"),
    ],
)
def test_config_validation(kw, match):
    with pytest.raises(ValueError, match=match):
        PriorConfig(**kw)


def test_out_of_vocabulary_tokens_are_rejected():
    prior = _prior()
    with pytest.raises(ValueError, match=r"\[0, 38\)"):
        prior(torch.tensor([[3, 38]]))


def test_shipped_melody_prior_has_provenance():
    from seqtutor_envs.melody.env import default_prior_path

    prior, meta = LSTMPrior.load(default_prior_path())
    assert prior.config.num_outputs == 38 and prior.config.hidden_size == 100 and prior.config.num_layers == 1
    assert len(meta["vocabulary"]) == 38
    assert 0 < meta["validation"]["nll_per_token"] < 2.0
    assert 0.5 < meta["validation"]["accuracy"] < 1.0
    assert "pretrain" in meta["command"]
    json.dumps(meta)
    # A trained prior is far from uniform: its samples hold, rest and move like melodies do.
    samples = prior.sample(torch.full((64,), 14), 32, generator=torch.Generator().manual_seed(0)).numpy()
    assert (samples == 0).mean() > 0.2  # holds are the most frequent event in the corpus
    assert np.isin(samples, np.arange(2, 38)).mean() > 0.1


def test_loading_a_prior_leaves_the_torch_rng_alone(tmp_path):
    """A seeded run that makes its env after torch.manual_seed draws the same numbers whether or not the
    prior was loaded before (the layers' throwaway initial weights used to draw from the global RNG)."""
    path = tmp_path / "p.pt"
    LSTMPrior(PriorConfig(num_outputs=6, hidden_size=8)).save(path)
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    LSTMPrior.load(path)
    assert torch.equal(torch.rand(3), expected)
