"""MLE pre-training: windows, learning, early stopping, checkpoints and resume."""

import numpy as np
import pytest

from seqtutor_envs.pretrain import PretrainConfig, evaluate, make_windows, pretrain
from seqtutor_envs.prior import LSTMPrior, PriorConfig


def _cyclic_sequences(n: int, seed: int) -> list[np.ndarray]:
    """Sequences that repeat a 3-token cycle: after two tokens the next one is certain."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        cycle = rng.choice(8, size=3, replace=False)
        out.append(np.tile(cycle, 20)[: rng.integers(10, 60)])
    return out


def test_windows_cover_each_target_once():
    seq = np.arange(10)
    windows = make_windows([seq], window=4)
    targets = np.concatenate([w[1:] for w in windows])
    assert np.array_equal(targets, np.arange(1, 10))
    assert all(len(w) <= 5 for w in windows)
    assert make_windows([np.array([3])], window=4) == []


def test_pretraining_learns_and_saves_best_weights(tmp_path):
    config = PretrainConfig(max_epochs=6, batch_size=16, learning_rate=3e-2, progress=False, seed=1)
    result = pretrain(
        PriorConfig(num_outputs=8, hidden_size=32),
        _cyclic_sequences(200, 0),
        _cyclic_sequences(40, 1),
        tmp_path / "prior.pt",
        config,
        metadata={"domain": "test"},
        log=lambda _: None,
    )
    # Uniform guessing over 8 tokens is ln 8 = 2.08 nats; the cycle makes most tokens predictable.
    assert result.best.nll < 0.5
    assert result.best.accuracy > 0.85
    prior, meta = LSTMPrior.load(tmp_path / "prior.pt")
    assert meta["domain"] == "test"
    assert meta["validation"]["nll_per_token"] == pytest.approx(result.best.nll, abs=1e-4)
    assert len(meta["training"]["history"]) == len(result.history) >= 1
    again = evaluate(prior, make_windows(_cyclic_sequences(40, 1), 128))
    assert again.nll == pytest.approx(result.best.nll, abs=1e-4)


def test_early_stopping_and_resume(tmp_path):
    out = tmp_path / "prior.pt"
    kw = {"batch_size": 16, "learning_rate": 1e-2, "progress": False, "seed": 0}
    first = pretrain(
        PriorConfig(8, hidden_size=16),
        _cyclic_sequences(80, 0),
        _cyclic_sequences(20, 1),
        out,
        PretrainConfig(max_epochs=2, **kw),
        log=lambda _: None,
    )
    assert len(first.history) == 2
    state = out.with_name(out.name + ".train-state.pt")
    assert state.exists()
    lines: list[str] = []
    resumed = pretrain(
        PriorConfig(8, hidden_size=16),
        _cyclic_sequences(80, 0),
        _cyclic_sequences(20, 1),
        out,
        PretrainConfig(max_epochs=4, **kw),
        resume=True,
        log=lines.append,
    )
    assert any("resumed" in line for line in lines)
    assert len(resumed.history) == 4  # two epochs carried over, two new ones
    assert resumed.best.nll <= first.best.nll + 1e-6


def test_patience_stops_training(tmp_path):
    # Pure noise cannot be learnt: validation NLL stops improving quickly.
    rng = np.random.default_rng(0)
    noise = [rng.integers(0, 8, 40) for _ in range(60)]
    result = pretrain(
        PriorConfig(8, hidden_size=8),
        noise[:50],
        noise[50:],
        tmp_path / "p.pt",
        PretrainConfig(max_epochs=50, patience=2, batch_size=8, learning_rate=3e-2, progress=False),
        log=lambda _: None,
    )
    assert "did not improve" in result.stopped_because
    assert len(result.history) < 50


def test_bad_inputs(tmp_path):
    with pytest.raises(ValueError, match="batch_size"):
        PretrainConfig(batch_size=0)
    with pytest.raises(ValueError, match="validation"):
        pretrain(
            PriorConfig(8),
            [np.arange(5)],
            [np.array([1])],
            tmp_path / "p.pt",
            PretrainConfig(progress=False),
            log=lambda _: None,
        )
    assert not (tmp_path / "p.pt").exists()


def test_warm_start_continues_from_a_saved_prior(tmp_path):
    data, valid = _cyclic_sequences(200, 0), _cyclic_sequences(40, 1)
    kw = {"batch_size": 16, "learning_rate": 3e-2, "progress": False, "seed": 1}
    first = pretrain(
        PriorConfig(8, hidden_size=32),
        data,
        valid,
        tmp_path / "a.pt",
        PretrainConfig(max_epochs=6, **kw),
        metadata={"command": "first run"},
        log=lambda _: None,
    )
    # Zero epochs of further training would be pointless; one epoch at a tiny learning rate must start
    # (and so stay) near the first run's loss, far below a fresh network's ln 8.
    warm = pretrain(
        PriorConfig(8, hidden_size=32),
        data,
        valid,
        tmp_path / "b.pt",
        PretrainConfig(max_epochs=1, **{**kw, "learning_rate": 1e-5}),
        init_from=tmp_path / "a.pt",
        log=lambda _: None,
    )
    assert warm.best.nll == pytest.approx(first.best.nll, abs=0.05)
    assert first.best.nll < 1.0
    _, meta = LSTMPrior.load(tmp_path / "b.pt")
    assert meta["warm_started_from"]["command"] == "first run"
    assert meta["warm_started_from"]["validation"]["nll_per_token"] == pytest.approx(first.best.nll, abs=1e-4)
    with pytest.raises(ValueError, match=r"--hidden-size 16: --init-from .*a.pt has hidden_size=32"):
        pretrain(
            PriorConfig(8, hidden_size=16),
            data,
            valid,
            tmp_path / "c.pt",
            PretrainConfig(max_epochs=1, **kw),
            init_from=tmp_path / "a.pt",
            log=lambda _: None,
        )
