"""The optimum's prior-sample cache: a damaged file, or a well-formed file of other samples, is drawn again
with a warning."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from seqtutor_envs.optimum import cache_dir, sample_prior

ENV = "SeqTutor-Melody-v0"
SETTINGS = {"composition_length": 8}


@pytest.fixture
def cached(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQTUTOR_CACHE_DIR", str(tmp_path / "cache"))
    fresh = sample_prior(ENV, 300, seed=2, env_kwargs=SETTINGS, batch=64, progress=False)
    files = list(cache_dir().glob("*.npz"))
    assert len(files) == 1
    return fresh, files[0]


def same(a, b) -> bool:
    return all(
        np.array_equal(getattr(a, k), getattr(b, k)) for k in ("log_prior", "domain_return", "lengths", "sequences")
    )


def again():
    return sample_prior(ENV, 300, seed=2, env_kwargs=SETTINGS, batch=64, progress=False)


def test_a_cache_hit_is_the_same_sample(cached):
    fresh, _ = cached
    assert same(again(), fresh)


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_a_damaged_cache_file_is_named_and_rebuilt(cached, damage):
    fresh, path = cached
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"not a zip at all")
    with pytest.warns(UserWarning, match=f"optimum cache file {path} is damaged"):
        rebuilt = again()
    assert same(rebuilt, fresh)
    assert same(again(), fresh)  # rewritten whole: the next run reads it without a warning


def rewrite(path, edit) -> None:
    with np.load(path, allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    edit(arrays)
    stream = io.BytesIO()
    np.savez(stream, **arrays)
    path.write_bytes(stream.getvalue())


@pytest.mark.parametrize(
    "edit",
    [
        lambda a: a.update(domain_return=a["domain_return"] + 1.0),  # other values, same shapes
        lambda a: a.update(lengths=a["lengths"][:10]),  # other shapes
        lambda a: a.pop("__meta__", None),  # a file of another release: no checksum
        lambda a: a.update(extra=np.zeros(3)),  # other arrays
    ],
)
def test_a_well_formed_cache_of_other_samples_is_not_used(cached, edit):
    fresh, path = cached
    rewrite(path, edit)
    with pytest.warns(UserWarning, match="damaged or holds other samples"):
        rebuilt = again()
    assert same(rebuilt, fresh)


def test_the_cache_file_carries_its_key_and_checksum(cached):
    _, path = cached
    with zipfile.ZipFile(path) as archive:
        assert "__meta__.npy" in archive.namelist()
