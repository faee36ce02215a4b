"""Transfer learning onto a saved prior: its vocabulary kept (lines with tokens it lacks dropped and counted,
or the vocabulary extended), its weights as the starting point, a quality line and a warning after pre-training."""

import types
from pathlib import Path

import numpy as np
import pytest
import torch

from seqtutor_agents.cli import main
from seqtutor_envs.pretrain import PretrainConfig, pretrain
from seqtutor_envs.prior import LSTMPrior, PriorConfig
from seqtutor_envs.smiles.env import default_prior_path
from seqtutor_envs.smiles.tokenizer import Vocabulary
from seqtutor_envs.transfer import align_to_prior, extend_prior

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "smiles_fixture.smi"


@pytest.fixture(scope="module")
def small_prior(tmp_path_factory):
    """An untrained prior on the shipped SMILES prior's vocabulary (which lacks the fixture's charged atoms)."""
    meta = LSTMPrior.load(default_prior_path())[1]
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("prior") / "small.pt"
    LSTMPrior(PriorConfig(num_outputs=24, num_inputs=25, embedding_dim=8, hidden_size=16)).save(
        path, {"domain": "smiles", "vocabulary": meta["vocabulary"]}
    )
    return path


def _pretrain(tmp_path, capsys, *args):
    out = tmp_path / "mine.pt"
    assert (
        main(
            [
                "pretrain",
                "smiles",
                "--data",
                str(FIXTURE),
                "--out",
                str(out),
                "--max-epochs",
                "1",
                "--no-progress",
                *args,
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    return LSTMPrior.load(out), captured.out, captured.err


def test_init_from_keeps_the_prior_s_vocabulary_and_drops_lines_it_cannot_encode(tmp_path, capsys, small_prior):
    (prior, meta), out, err = _pretrain(tmp_path, capsys, "--init-from", str(small_prior))
    shipped = LSTMPrior.load(default_prior_path())[1]["vocabulary"]
    assert meta["vocabulary"] == shipped and prior.config.num_outputs == 24
    assert "lacks 9 token(s): '[O-]' (in 3)" in out and "dropped 5 training and 1 validation sequences" in out
    assert meta["transfer"]["dropped_train"] == 5 and meta["transfer"]["missing_tokens"]["[O-]"] == 3
    assert meta["warm_started_from"]["path"] == str(small_prior)
    assert meta["training"]["history"][0]["at"] == "start"  # the starting prior is evaluated first
    assert "prior quality (1,000 samples): valid " in out
    valid = float(out.split("prior quality (1,000 samples): valid ")[1].split("%")[0])
    assert valid < 50 and "warning: only" in err and "--init-from" in err  # an untrained prior: warned


def test_extend_vocab_adds_the_missing_tokens(tmp_path, capsys, small_prior):
    (prior, meta), out, _ = _pretrain(tmp_path, capsys, "--init-from", str(small_prior), "--extend-vocab")
    vocab = Vocabulary.from_json(meta["vocabulary"])
    assert {"[O-]", "[NH3+]", "[Na+]"} <= set(vocab.smiles_tokens) and vocab.num_actions == 24 + 9
    assert prior.config.num_outputs == 33 and prior.config.num_inputs == 34
    assert "added to the vocabulary" in out and meta["transfer"]["dropped_train"] == 0


def test_extended_prior_scores_old_tokens_as_before():
    prior, meta = LSTMPrior.load(default_prior_path())
    old = Vocabulary.from_json(meta["vocabulary"])
    new = Vocabulary.from_smiles_tokens([*old.smiles_tokens, "[O-]", "[NH3+]"])
    extended = extend_prior(prior, meta["vocabulary"], new.to_json())
    smiles = "CC(=O)Nc1ccc(O)cc1"
    old_logits, _ = prior(torch.as_tensor(old.encode(smiles))[None])
    new_logits, _ = extended(torch.as_tensor(new.encode(smiles))[None])
    ids = [new.token_id(t) for t in old.tokens[:-2]]  # every old action at its new id
    assert torch.allclose(new_logits[0][:, ids], old_logits[0], atol=1e-5)
    added = [new.token_id("[O-]"), new.token_id("[NH3+]")]
    assert (new_logits[0][:, added] <= old_logits[0].min(dim=1, keepdim=True).values + 1e-5).all()


def test_alignment_maps_by_token_string():
    data = Vocabulary.from_smiles_tokens(["C", "O", "[Na+]"])
    prior = Vocabulary.from_smiles_tokens(["C", "N", "O"])
    seqs = [data.encode("CCO"), data.encode("C[Na+]"), data.encode("OC")]
    aligned = align_to_prior(seqs[:2], seqs[2:], data.to_json(), prior.to_json())
    assert [prior.decode(s) for s in aligned.train] == ["CCO"] and aligned.dropped_train == 1
    assert np.array_equal(aligned.valid[0], prior.encode("OC"))
    with pytest.raises(ValueError, match="leaves 0 training"):
        align_to_prior(seqs[1:2], seqs[2:], data.to_json(), prior.to_json())


def test_init_from_errors_are_one_line_naming_the_argument(tmp_path, capsys, small_prior):
    for args, message in [
        (["--init-from", str(tmp_path / "none.pt")], "--init-from"),
        (["--extend-vocab"], "--extend-vocab extends"),
        (["--init-from", str(small_prior), "--hidden-size", "32"], "--hidden-size 32: --init-from"),
    ]:
        with pytest.raises(SystemExit) as exc:
            main(["pretrain", "smiles", "--data", str(FIXTURE), "--out", str(tmp_path / "x.pt"), *args])
        err = capsys.readouterr().err
        assert exc.value.code == 2 and err.strip().startswith("seqtutor: error: ") and message in err
        assert err.count("\n") == 1  # before the data is read: nothing else printed


def test_max_minutes_is_checked_within_an_epoch(tmp_path, monkeypatch):
    # a clock that moves 0.05 s a reading, so the 1.2 s budget runs out within the first epoch on any machine
    # (on the real clock a fast, idle machine finished the epoch first)
    readings = iter(np.arange(0.0, 1e6, 0.05))
    monkeypatch.setattr("seqtutor_envs.pretrain.time", types.SimpleNamespace(monotonic=lambda: float(next(readings))))
    rng = np.random.default_rng(0)
    data = [rng.integers(0, 8, 60) for _ in range(4000)]  # 250 batches an epoch
    result = pretrain(
        PriorConfig(8, hidden_size=64),
        data,
        data[:50],
        tmp_path / "p.pt",
        PretrainConfig(max_epochs=5, batch_size=16, max_minutes=0.02, progress=False),
        log=lambda _: None,
    )
    assert "time budget" in result.stopped_because
    assert [h["at"] for h in result.history] == ["epoch 0, end"]  # stopped inside the first epoch
    assert result.history[-1]["minutes"] < 0.02 + 0.05
