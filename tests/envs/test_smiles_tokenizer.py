"""SMILES tokenizer, vocabulary and corpus preparation (fixture only, no network)."""

from __future__ import annotations

import gzip
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqtutor_envs.smiles import corpus as corpus_mod
from seqtutor_envs.smiles import moses
from seqtutor_envs.smiles.corpus import SmilesCorpus, prepare_corpus, read_smiles_file
from seqtutor_envs.smiles.tokenizer import (
    BOS_TOKEN,
    END_TOKEN,
    PAD_TOKEN,
    Vocabulary,
    tokenize,
)

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "smiles_fixture.smi"
FIXTURE_SMILES = read_smiles_file(FIXTURE)
FIXTURE_VALID = FIXTURE_SMILES[:211]  # 200 MOSES + 11 hand-written; then 3 duplicates, 5 corrupt


@pytest.mark.parametrize(
    "smiles, expected",
    [
        ("CCO", ["C", "C", "O"]),
        ("c1cc[nH]c1", ["c", "1", "c", "c", "[nH]", "c", "1"]),
        ("C[C@@H](N)C(=O)[O-]", ["C", "[C@@H]", "(", "N", ")", "C", "(", "=", "O", ")", "[O-]"]),
        ("[NH3+]CC(=O)[O-]", ["[NH3+]", "C", "C", "(", "=", "O", ")", "[O-]"]),
        ("ClCBr", ["Cl", "C", "Br"]),
        ("BrC(Cl)B", ["Br", "C", "(", "Cl", ")", "B"]),
        ("C%10CC%10", ["C", "%10", "C", "C", "%10"]),
        ("C/C=C\\C", ["C", "/", "C", "=", "C", "\\", "C"]),
        ("C#N.[Na+]", ["C", "#", "N", ".", "[Na+]"]),
        ("C$C", ["C", "$", "C"]),
        ("Sc1ccccc1", ["S", "c", "1", "c", "c", "c", "c", "c", "1"]),
        ("[2H]C*", ["[2H]", "C", "*"]),
    ],
)
def test_tokenize_known(smiles: str, expected: list[str]) -> None:
    assert tokenize(smiles) == expected
    assert "".join(tokenize(smiles)) == smiles


@pytest.mark.parametrize("bad, pos", [("CC X", 2), ("C[NH3", 1), ("CC+", 2), ("C%1C", 1), ("C1CC%(100)", 4), ("Cé", 1)])
def test_tokenize_rejects_with_position(bad: str, pos: int) -> None:
    with pytest.raises(ValueError) as info:
        tokenize(bad)
    msg = str(info.value)
    assert repr(bad) in msg and f"position {pos}" in msg


def test_fixture_reads_first_field_and_skips_comments() -> None:
    assert len(FIXTURE_SMILES) == 219
    assert all(" " not in s and "\t" not in s and not s.startswith("#") for s in FIXTURE_SMILES)
    assert FIXTURE_SMILES[0] == "O=C(CCc1ccco1)Nc1ccc(F)cc1Cl"  # had a tab-separated name


def test_vocabulary_layout_and_round_trip() -> None:
    vocab = Vocabulary.build(FIXTURE_VALID)
    assert vocab.tokens[0] == END_TOKEN and vocab.end_id == 0
    assert vocab.tokens[vocab.bos_id] == BOS_TOKEN and vocab.bos_id == vocab.num_actions
    assert vocab.tokens[vocab.pad_id] == PAD_TOKEN and vocab.pad_id == vocab.num_actions + 1
    assert vocab.size == vocab.num_actions + 2 == len(vocab)
    assert list(vocab.smiles_tokens) == sorted(vocab.smiles_tokens)
    for tok in ("[nH]", "[C@@H]", "[O-]", "[NH3+]", "Cl", "Br", "c", "="):
        assert tok in vocab
    for s in FIXTURE_VALID:
        ids = vocab.encode(s)
        assert ids.dtype == np.int64 and ids[0] == vocab.bos_id and ids[-1] == vocab.end_id
        assert vocab.decode(ids) == s
        bare = vocab.encode(s, add_bos=False, add_end=False)
        assert len(bare) == len(tokenize(s)) and vocab.decode(bare) == s
    # decode stops at END and skips BOS / PAD
    ids = [*list(vocab.encode("CCO")), vocab.pad_id, vocab.token_id("N")]
    assert vocab.decode(ids) == "CCO"
    assert vocab.decode([vocab.bos_id, vocab.token_id("C"), vocab.pad_id, vocab.token_id("N")]) == "CN"


def test_vocabulary_encode_batch() -> None:
    vocab = Vocabulary.build(FIXTURE_VALID)
    ids, lengths = vocab.encode_batch(["CCO", "c1ccccc1"])
    assert ids.shape == (2, 10) and list(lengths) == [5, 10]
    assert ids[0, 5:].tolist() == [vocab.pad_id] * 5
    with pytest.raises(ValueError, match="max_len"):
        vocab.encode_batch(["c1ccccc1"], max_len=4)


def test_vocabulary_unknown_tokens_and_ids() -> None:
    vocab = Vocabulary.from_smiles_tokens(["C", "O", "(", ")", "=", "1"])
    with pytest.raises(ValueError) as info:
        vocab.encode("C[Se]CBr")
    assert "[Se]" in str(info.value) and "Br" in str(info.value) and "C[Se]CBr" in str(info.value)
    with pytest.raises(ValueError, match="position"):
        vocab.encode("C?")
    with pytest.raises(ValueError):
        vocab.decode([vocab.size])


def test_vocabulary_json_round_trip() -> None:
    vocab = Vocabulary.build(FIXTURE_VALID)
    data = vocab.to_json()
    assert isinstance(data["tokens"], list) and all(isinstance(t, str) for t in data["tokens"])
    text = json.dumps(data)
    assert Vocabulary.from_json(json.loads(text)) == vocab
    assert Vocabulary.from_json(text) == vocab
    assert Vocabulary.from_json(data["tokens"]) == vocab
    with pytest.raises(ValueError):
        Vocabulary(("C", "O"))  # no specials
    with pytest.raises(ValueError):
        Vocabulary((END_TOKEN, "O", "C", BOS_TOKEN, PAD_TOKEN))  # unsorted


def test_vocabulary_in_torch_checkpoint(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    vocab = Vocabulary.build(FIXTURE_VALID)
    torch.save({"vocab": vocab.to_json(), "w": torch.zeros(2)}, tmp_path / "ckpt.pt")
    loaded = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    assert Vocabulary.from_json(loaded["vocab"]) == vocab


def test_vocabulary_min_count() -> None:
    vocab = Vocabulary.build(["CCO", "CCN", "CBr"], min_count=2)
    assert vocab.smiles_tokens == ("C",)
    assert Vocabulary.build(["CCO", "CCN", "CBr"]).smiles_tokens == ("Br", "C", "N", "O")


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(FIXTURE_VALID), st.integers(0, 2**31 - 1))
def test_round_trip_random_smiles_forms(smiles: str, seed: int) -> None:
    """Non-canonical random SMILES of fixture molecules (other ring numbers, orders) round-trip."""
    from rdkit import Chem
    from rdkit.Chem import rdmolfiles

    mol = Chem.MolFromSmiles(smiles)
    params = rdmolfiles.SmilesWriteParams()
    params.doRandom = True
    params.canonical = False
    Chem.rdBase.SeedRandomNumberGenerator(seed)
    variant = Chem.MolToSmiles(mol, params)
    toks = tokenize(variant)
    assert "".join(toks) == variant
    vocab = Vocabulary.build([variant])
    assert vocab.decode(vocab.encode(variant)) == variant


# ---- corpus -----------------------------------------------------------------------------------


def test_prepare_corpus_counts_fixture() -> None:
    corpus = prepare_corpus(FIXTURE_SMILES, progress=False)
    assert corpus.report == {
        "lines_read": 219,
        "invalid": 5,
        "untokenizable": 0,
        "too_long": 0,
        "duplicates": 3,
        "kept": 211,
    }
    assert len(corpus) == 211 and len(set(corpus.smiles)) == 211
    from rdkit import Chem

    assert all(Chem.MolToSmiles(Chem.MolFromSmiles(s)) == s for s in corpus.smiles)  # canonical


def test_prepare_corpus_max_tokens_limit_and_workers() -> None:
    short = prepare_corpus(FIXTURE_SMILES, max_tokens=20, progress=False)
    assert short.report["too_long"] > 0
    r = short.report
    assert r["kept"] + r["too_long"] + r["invalid"] + r["duplicates"] + r["untokenizable"] == 219
    assert all(len(tokenize(s)) <= 20 for s in short.smiles)
    sub_a = prepare_corpus(FIXTURE_SMILES, limit=50, seed=3, progress=False)
    sub_b = prepare_corpus(FIXTURE_SMILES, limit=50, seed=3, progress=False, workers=2, chunk_size=10)
    assert sub_a.report["lines_read"] == 50 and sub_a.smiles == sub_b.smiles
    assert sub_a.provenance["limit"] == 50 and sub_a.provenance["input_size"] == 219


def test_corpus_split_save_load(tmp_path: Path) -> None:
    corpus = prepare_corpus(FIXTURE_SMILES, progress=False, provenance={"source": "fixture"})
    train, valid = corpus.split(0.1, seed=7)
    assert len(valid) == 21 and len(train) == 190 and not set(train) & set(valid)
    assert (train, valid) == corpus.split(0.1, seed=7)
    assert valid != corpus.split(0.1, seed=8)[1]
    path = corpus.save(tmp_path / "sub" / "corpus.smi.gz")
    assert path.is_file() and (tmp_path / "sub" / "corpus.smi.gz.json").is_file()
    assert not [p for p in path.parent.iterdir() if p.suffix == ".tmp"]
    loaded = SmilesCorpus.load(path)
    assert loaded.smiles == corpus.smiles and loaded.report == corpus.report
    assert loaded.provenance["source"] == "fixture"


def test_read_smiles_csv(tmp_path: Path) -> None:
    p = tmp_path / "mols.csv"
    p.write_text("id,SMILES,score\n1,CCO,0.5\n2,c1ccccc1,0.1\n")
    assert read_smiles_file(p) == ["CCO", "c1ccccc1"]
    q = tmp_path / "first.csv.gz"
    with gzip.open(q, "wt") as fh:  # other accepted names: canonical_smiles, isomeric_smiles (any case)
        fh.write("name,Canonical_SMILES\nethylamine,CCN\n")
    assert read_smiles_file(q) == ["CCN"]


def test_read_moses_split_from_cached_wheel(tmp_path: Path) -> None:
    """A tiny stand-in wheel in the cache: no download is attempted when the file is present."""
    wheel = tmp_path / corpus_mod.MOSES_WHEEL_NAME
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(corpus_mod.MOSES_SPLITS["test"], gzip.compress(b"SMILES\nCCO\nc1ccccc1\n"))
    assert corpus_mod.read_moses_split("test", cache_dir=tmp_path, verify=False) == ["CCO", "c1ccccc1"]
    with pytest.raises(ValueError, match="test_scaffolds"):
        corpus_mod.read_moses_split("validation", cache_dir=tmp_path, verify=False)
    with pytest.raises(RuntimeError, match="sha256"):  # not the PyPI file
        corpus_mod.read_moses_split("test", cache_dir=tmp_path)


def test_moses_wheel_download_failure_is_clear(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    calls = []

    def fake_run(cmd, **kw):  # stands in for pip, so the test never touches the network
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 1, stdout="", stderr="ERROR: No matching distribution found")

    monkeypatch.setattr(moses.subprocess, "run", fake_run)  # where the download runs
    with pytest.raises(RuntimeError) as info:
        corpus_mod.moses_wheel(tmp_path)
    assert "No matching distribution" in str(info.value) and corpus_mod.MOSES_WHEEL_NAME in str(info.value)
    assert calls and calls[0][1:5] == ["-m", "pip", "download", "--no-deps"] and "molsets==0.3.1" in calls[0]
