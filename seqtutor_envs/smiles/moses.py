"""The MOSES data set (Polykovskiy et al. 2020, MIT licence), read from the ``molsets`` wheel on PyPI.

The default SMILES corpus is the MOSES training split (1,584,663 SMILES, a filtered subset of ZINC
Clean Leads). It ships inside the ``molsets==0.3.1`` wheel as
``moses/dataset/data/{train,test,test_scaffolds}.csv.gz`` (one ``SMILES`` column). The wheel is
fetched with ``pip download --no-deps`` into a cache folder, checked against its PyPI sha256 and read
with ``zipfile``; the ``molsets`` package itself is never installed (its pinned dependencies are ancient).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from .smiles_files import _smiles_from_csv_text

MOSES_WHEEL_NAME = "molsets-0.3.1-py3-none-any.whl"
MOSES_REQUIREMENT = "molsets==0.3.1"
# sha256 of the PyPI file (PyPI files are immutable): a wrong or damaged download is refused.
MOSES_WHEEL_SHA256 = "7f4450e3ebecebe79c3a2a55950c93daddee071120daf64a163d03481e811d34"
MOSES_SPLITS = {
    "train": "moses/dataset/data/train.csv.gz",
    "test": "moses/dataset/data/test.csv.gz",
    "test_scaffolds": "moses/dataset/data/test_scaffolds.csv.gz",
}
# SMILES per split (header excluded), for reference.
MOSES_SPLIT_SIZES = {"train": 1_584_663, "test": 176_074, "test_scaffolds": 176_225}


def default_cache_dir() -> Path:
    """``$SEQTUTOR_CACHE`` if set, else ``~/.cache/seqtutor``."""
    env = os.environ.get("SEQTUTOR_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "seqtutor"


def moses_wheel(cache_dir: str | os.PathLike[str] | None = None, verify: bool = True) -> Path:
    """Path of the ``molsets-0.3.1`` wheel, downloading it from PyPI into the cache if absent.

    :param cache_dir: folder holding the wheel (default :func:`default_cache_dir`).
    :param verify: check the wheel's sha256 against :data:`MOSES_WHEEL_SHA256` (~0.1 s).
    :raises RuntimeError: if ``pip download`` fails or the wheel's checksum is wrong.
    """
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    wheel = cache / MOSES_WHEEL_NAME
    if wheel.is_file():
        if verify:
            _check_sha256(wheel)
        return wheel
    cache.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--disable-pip-version-check",
        MOSES_REQUIREMENT,
        "-d",
        str(cache),
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True)
    except OSError as exc:  # pip missing from this interpreter, for instance
        raise RuntimeError(f"could not run {' '.join(cmd)}: {exc}") from exc
    if proc.returncode != 0 or not wheel.is_file():
        tail = (proc.stderr or proc.stdout or "").strip()[-2000:]
        raise RuntimeError(
            f"downloading the MOSES data set failed: `{' '.join(cmd)}` exited with {proc.returncode}.\n"
            f"{tail}\n"
            f"Fix the network access to PyPI, or place {MOSES_WHEEL_NAME} in {cache} by hand "
            "(or point $SEQTUTOR_CACHE at a folder holding it)."
        )
    _check_sha256(wheel)
    return wheel


def _check_sha256(path: Path) -> None:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != MOSES_WHEEL_SHA256:
        raise RuntimeError(
            f"{path} has sha256 {digest.hexdigest()}, not the PyPI file's {MOSES_WHEEL_SHA256}: "
            "delete it and run again to download a fresh copy."
        )


def read_moses_split(
    split: str = "train", cache_dir: str | os.PathLike[str] | None = None, verify: bool = True
) -> list[str]:
    """SMILES of one MOSES split, in file order.

    :param split: ``"train"``, ``"test"`` or ``"test_scaffolds"``.
    :param cache_dir: wheel cache folder (see :func:`moses_wheel`).
    :param verify: check the wheel's checksum (see :func:`moses_wheel`).
    """
    if split not in MOSES_SPLITS:
        raise ValueError(f"unknown MOSES split {split!r}; expected one of {sorted(MOSES_SPLITS)}")
    with zipfile.ZipFile(moses_wheel(cache_dir, verify=verify)) as zf:
        raw = zf.read(MOSES_SPLITS[split])
    text = gzip.decompress(raw).decode("utf-8")
    return _smiles_from_csv_text(text)
