"""SMILES training corpora: canonical, filtered, deduplicated, with a record of how they were made.

Sources: the MOSES data set (``moses.py``, from the ``molsets`` wheel) and user files
(``smiles_files.py``); both modules' names are re-exported here, the corpus's public path. Every
SMILES is canonicalised with RDKit; invalid, untokenizable, too long and duplicate ones are dropped
and counted (:func:`prepare_corpus`). :func:`pretrain_data` turns a corpus into the pre-training
data of ``seqtutor pretrain smiles``; ``python -m seqtutor_envs.smiles.corpus`` prepares a file.
"""

from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing as mp
import os
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rdkit import Chem, RDLogger, rdBase

from ..child_processes import bind_to_parent
from ..io import atomic_write_bytes
from ..pretrain import PretrainData, PretrainInputError
from ..progress import progress_bar
from .moses import (  # noqa: F401  (re-exported: the MOSES names' public path)
    MOSES_REQUIREMENT,
    MOSES_SPLIT_SIZES,
    MOSES_SPLITS,
    MOSES_WHEEL_NAME,
    MOSES_WHEEL_SHA256,
    default_cache_dir,
    moses_wheel,
    read_moses_split,
)
from .smiles_files import (  # noqa: F401  (re-exported: the file readers' public path)
    SMILES_COLUMNS,
    SmilesFileError,
    _file_text,
    read_smiles_file,
)
from .tokenizer import Vocabulary, try_tokenize

# RDKit logs every parse failure to stderr; a corpus holds thousands of them.
RDLogger.DisableLog("rdApp.*")

CORPUS_FORMAT = "seqtutor.smiles.corpus/1"


def require_smiles(corpus: SmilesCorpus, path: str | os.PathLike[str]) -> SmilesCorpus:
    """``corpus`` if it kept a SMILES, else a :class:`SmilesFileError` with the counts of why not.

    :param corpus: a corpus prepared (or loaded) from ``path``.
    :param path: the file it came from, for the message.
    """
    if len(corpus):
        return corpus
    report = corpus.report
    counted = ("invalid", "untokenizable", "too_long", "duplicates")
    reasons = ", ".join(f"{report[k]} {k.replace('_', ' ')}" for k in counted if report.get(k))
    read = report.get("lines_read", 0)
    raise SmilesFileError(
        f"no valid SMILES in {path} ({read} lines read, {read - report.get('kept', 0)} rejected: "
        f"{reasons or 'none kept'}); expected one SMILES per line (or a SMILES column in a .csv)"
    )


# ------------------------------------------------------------------------------------------------
# Canonicalisation and filtering
# ------------------------------------------------------------------------------------------------


def canonicalize(smiles: str) -> str | None:
    """RDKit canonical SMILES, or ``None`` for an unparsable or empty molecule (never raises)."""
    try:
        mol = Chem.MolFromSmiles(smiles)
        if mol is None or mol.GetNumAtoms() == 0:
            return None
        return Chem.MolToSmiles(mol)
    except Exception:  # RDKit can raise on pathological input; such a string is simply invalid
        return None


def _canonicalize_chunk(chunk: list[str]) -> list[str | None]:
    RDLogger.DisableLog("rdApp.*")  # a spawned worker starts with RDKit's default logging
    return [canonicalize(s) for s in chunk]


@dataclass
class SmilesCorpus:
    """A filtered, canonical, deduplicated list of SMILES with a record of how it was made.

    :param smiles: canonical SMILES, first-occurrence order of the input.
    :param report: counts ``lines_read, invalid, untokenizable, too_long, duplicates, kept``.
    :param provenance: where the SMILES came from and with which settings (JSON-serialisable).
    """

    smiles: list[str]
    report: dict[str, int] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.smiles)

    def split(self, valid_fraction: float, seed: int = 0) -> tuple[list[str], list[str]]:
        """Deterministic random train/validation split.

        :param valid_fraction: fraction in ``[0, 1)`` of molecules held out (at least one when > 0
            and the corpus has two or more molecules).
        :param seed: seed of the permutation; the same seed and corpus give the same split.
        :returns: ``(train_smiles, valid_smiles)``.
        """
        if not 0.0 <= valid_fraction < 1.0:
            raise ValueError(f"valid_fraction must be in [0, 1), got {valid_fraction}")
        n = len(self.smiles)
        n_valid = int(round(n * valid_fraction))  # noqa: RUF046  (numpy 1.x: round() of a numpy float is a numpy float)
        if valid_fraction > 0 and n >= 2:
            n_valid = min(max(n_valid, 1), n - 1)
        order = list(range(n))
        random.Random(seed).shuffle(order)
        held = set(order[:n_valid])
        train = [s for i, s in enumerate(self.smiles) if i not in held]
        valid = [self.smiles[i] for i in sorted(held)]
        return train, valid

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write ``path`` (gzip text, one SMILES a line) and ``path + ".json"`` (report, provenance).

        Both are written to a temporary file first and moved into place, so an interrupted save
        never leaves a truncated corpus behind.

        :returns: the path of the SMILES file.
        """
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        text = "\n".join(self.smiles) + ("\n" if self.smiles else "")
        data = gzip.compress(text.encode("utf-8"), mtime=0)  # mtime=0: identical corpora, identical bytes
        meta = {
            "format": CORPUS_FORMAT,
            "n": len(self.smiles),
            "report": self.report,
            "provenance": self.provenance,
        }
        atomic_write_bytes(p, data)
        atomic_write_bytes(_meta_path(p), (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode("utf-8"))
        return p

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SmilesCorpus:
        """Read a corpus written by :meth:`save` (the ``.json`` side file is optional)."""
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"no SMILES corpus file at {p}")
        smiles = [line.strip() for line in _file_text(p, gzipped=True).splitlines() if line.strip()]
        report: dict[str, int] = {}
        provenance: dict[str, Any] = {}
        mp = _meta_path(p)
        if mp.is_file():
            meta = json.loads(mp.read_text(encoding="utf-8"))
            if meta.get("format") != CORPUS_FORMAT:
                raise ValueError(f"{mp}: unsupported corpus format {meta.get('format')!r}")
            if meta.get("n") != len(smiles):
                raise ValueError(f"{p}: holds {len(smiles)} SMILES but {mp.name} says {meta.get('n')}")
            report, provenance = meta.get("report", {}), meta.get("provenance", {})
        return cls(smiles=smiles, report=report, provenance=provenance)


def _meta_path(p: Path) -> Path:
    return p.with_name(p.name + ".json")


def _canonicalize_all(items: list[str], workers: int, chunk_size: int, progress: bool) -> list[str | None]:
    """Canonical SMILES of each item (None if invalid), in chunks, in ``workers`` processes when > 1."""
    chunks = [items[i : i + chunk_size] for i in range(0, len(items), chunk_size)]
    canon: list[str | None] = []
    with progress_bar(len(items), "canonicalising SMILES", "mol", enabled=progress) as bar:
        if workers > 1 and len(chunks) > 1:
            # fork where the OS has it: workers only run RDKit, and spawn would demand an
            # ``if __name__ == "__main__"`` guard from every script calling this function.
            method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
            # bind_to_parent: a worker forked from a process whose SIGTERM handler does not exit (Ray's
            # driver leaves one) would survive Pool.terminate and hang the join at the end of this block
            with mp.get_context(method).Pool(workers, initializer=bind_to_parent, initargs=(os.getpid(),)) as pool:
                for res in pool.imap(_canonicalize_chunk, chunks):
                    canon.extend(res)
                    bar.update(len(res))
        else:
            for chunk in chunks:
                res = _canonicalize_chunk(chunk)
                canon.extend(res)
                bar.update(len(res))
    return canon


def _filter_canonical(canon: list[str | None], max_tokens: int | None) -> tuple[list[str], dict[str, int]]:
    """The distinct, tokenizable, short enough canonical SMILES, and the count of each reason to drop one."""
    report = dict.fromkeys(("lines_read", "invalid", "untokenizable", "too_long", "duplicates", "kept"), 0)
    report["lines_read"] = len(canon)
    kept: list[str] = []
    seen: set[str] = set()
    for c in canon:
        if c is None:
            report["invalid"] += 1
            continue
        toks = try_tokenize(c)
        if toks is None:
            report["untokenizable"] += 1
        elif max_tokens is not None and len(toks) > max_tokens:
            report["too_long"] += 1
        elif c in seen:
            report["duplicates"] += 1
        else:
            seen.add(c)
            kept.append(c)
    report["kept"] = len(kept)
    return kept, report


def prepare_corpus(
    smiles: Iterable[str],
    max_tokens: int | None = None,
    progress: bool = True,
    workers: int = 1,
    limit: int | None = None,
    seed: int = 0,
    provenance: dict[str, Any] | None = None,
    chunk_size: int = 2000,
) -> SmilesCorpus:
    """Canonicalise, filter and deduplicate SMILES into a :class:`SmilesCorpus`.

    Each SMILES is parsed and re-written by RDKit (``MolToSmiles``, canonical, stereo kept); then
    invalid ones (unparsable or empty), untokenizable ones, ones longer than ``max_tokens`` tokens
    (END/BOS not counted) and duplicates of an earlier canonical SMILES are dropped and counted.

    :param smiles: input SMILES (e.g. :func:`read_moses_split` or :func:`read_smiles_file`).
    :param max_tokens: drop molecules with more SMILES tokens than this (``None``: keep all).
    :param progress: show a tqdm progress bar.
    :param workers: processes canonicalising in parallel (1: in this process).
    :param limit: keep only a seeded random subset of this many input lines (before filtering), so
        that a quick run need not canonicalise all 1.6M MOSES molecules.
    :param seed: seed of the ``limit`` subset.
    :param provenance: extra provenance entries (e.g. ``{"source": "moses/train"}``).
    :param chunk_size: SMILES per work unit for the worker pool.
    """
    items = list(smiles)
    n_input = len(items)
    if limit is not None and limit < len(items):
        rng = random.Random(seed)
        idx = sorted(rng.sample(range(len(items)), int(limit)))
        items = [items[i] for i in idx]
    kept, report = _filter_canonical(_canonicalize_all(items, workers, chunk_size, progress), max_tokens)
    prov: dict[str, Any] = {
        "format": CORPUS_FORMAT,
        "input_size": n_input,
        "limit": limit,
        "seed": seed if limit is not None else None,
        "max_tokens": max_tokens,
        "canonicalizer": f"rdkit {rdBase.rdkitVersion} MolToSmiles(MolFromSmiles(s))",
    }
    prov.update(provenance or {})
    return SmilesCorpus(smiles=kept, report=report, provenance=prov)


def moses_corpus(
    split: str = "train",
    max_tokens: int | None = None,
    limit: int | None = None,
    seed: int = 0,
    workers: int = 1,
    progress: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
) -> SmilesCorpus:
    """:func:`prepare_corpus` over a MOSES split, with the source recorded in the provenance.

    :param split: MOSES split name (see :func:`read_moses_split`).
    """
    raw = read_moses_split(split, cache_dir=cache_dir)
    prov = {"source": f"MOSES {split} split ({MOSES_REQUIREMENT} wheel, {MOSES_SPLITS[split]}), MIT licence"}
    return prepare_corpus(
        raw,
        max_tokens=max_tokens,
        progress=progress,
        workers=workers,
        limit=limit,
        seed=seed,
        provenance=prov,
    )


#: Fewest molecules a pre-training run validates on.
MIN_VALID_MOLECULES = 10


def format_report(report: dict[str, int]) -> str:
    """``kept 282 of 300 lines: 18 invalid, 0 untokenizable, 0 too long, 0 duplicates`` (from a corpus report)."""
    if not report:
        return "no report"
    dropped = ", ".join(
        f"{report.get(k, 0):,} {k.replace('_', ' ')}" for k in ("invalid", "untokenizable", "too_long", "duplicates")
    )
    return f"kept {report.get('kept', 0):,} of {report.get('lines_read', 0):,} lines; dropped {dropped}"


def _pretrain_corpus(corpus_path: str | None, workers: int) -> tuple[SmilesCorpus, str]:
    """The corpus :func:`pretrain_data` reads (MOSES train, prepared once and cached, or a user file), its name.

    :raises PretrainInputError: a user file that cannot be read or holds no valid SMILES.
    """
    if corpus_path is None:
        cached = default_cache_dir() / "moses_train_canonical.smi.gz"
        if cached.is_file():
            corpus = SmilesCorpus.load(cached)
        else:
            corpus = moses_corpus("train", workers=workers)
            corpus.save(cached)
        return corpus, "MOSES train (molsets 0.3.1 wheel), canonicalised with RDKit"
    try:
        if str(corpus_path).endswith(".smi.gz"):
            corpus = SmilesCorpus.load(corpus_path)
        else:
            corpus = prepare_corpus(
                read_smiles_file(corpus_path), workers=workers, provenance={"source": str(corpus_path)}
            )
        require_smiles(corpus, corpus_path)
    except SmilesFileError as error:
        raise PretrainInputError(str(error)) from error
    return corpus, str(corpus_path)


def _validation_size(corpus: SmilesCorpus, valid_fraction: float, source: str) -> int:
    """Molecules held out: ``valid_fraction``, more for a small file; refused below MIN_VALID_MOLECULES."""
    n = len(corpus)
    # A small file gets a larger share held out: a handful of validation molecules measures nothing.
    n_valid = max(int(round(n * valid_fraction)), min(1_000, n // 10))  # noqa: RUF046  (numpy 1.x: round() of a numpy float is a numpy float)
    if n_valid < MIN_VALID_MOLECULES:
        raise PretrainInputError(
            f"{source} holds {n} usable SMILES ({format_report(corpus.report)}): that leaves {n_valid} to validate "
            f"on, and at least {MIN_VALID_MOLECULES} are needed for the validation likelihood to mean anything; "
            f"give at least {10 * MIN_VALID_MOLECULES} molecules"
        )
    return n_valid


def pretrain_data(corpus_path: str | None = None, valid_fraction: float = 0.005, workers: int = 2) -> PretrainData:
    """SMILES: the MOSES training set (default, prepared once and cached) or a user ``.smi``/``.csv`` file.

    Every SMILES is canonicalised with RDKit; invalid, untokenizable and duplicate lines are
    dropped and counted. A seeded ``valid_fraction`` of molecules is held out for validation.

    :param corpus_path: a ``.smi``/``.csv`` file (optionally gzipped), a prepared ``.smi.gz`` corpus, or None.
    :param valid_fraction: share of molecules held out.
    :param workers: canonicalising processes.
    :raises PretrainInputError: the file is not UTF-8 text, binary, a damaged gzip, a CSV without a SMILES
        column, or holds fewer than 2 valid SMILES (the message gives the counts of what was rejected).
    """
    corpus, source = _pretrain_corpus(corpus_path, workers)
    n_valid = _validation_size(corpus, valid_fraction, source)
    train_smiles, valid_smiles = corpus.split(n_valid / len(corpus), seed=0)
    vocab = Vocabulary.build(corpus.smiles)
    return PretrainData(
        train=[vocab.encode(s) for s in train_smiles],
        valid=[vocab.encode(s) for s in valid_smiles],
        num_outputs=vocab.num_actions,
        num_inputs=vocab.bos_id + 1,  # BOS is read, never predicted; PAD is never read
        metadata={
            "domain": "smiles",
            "vocabulary": vocab.to_json(),
            "data": {
                "corpus": source,
                "corpus_path": str(Path(corpus_path).resolve()) if corpus_path is not None else None,
                "molecules_train": len(train_smiles),
                "molecules_valid": len(valid_smiles),
                "report": corpus.report,
                "provenance": corpus.provenance,
            },
        },
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m seqtutor_envs.smiles.corpus IN --out OUT.smi.gz``: a SMILES file as a prepared corpus."""
    parser = argparse.ArgumentParser(
        prog="python -m seqtutor_envs.smiles.corpus",
        description="Canonicalise, filter and deduplicate a SMILES file (.smi / .csv, optionally gzipped) into a "
        "corpus for `seqtutor pretrain smiles --data OUT.smi.gz`; prints what was dropped and why.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "input", help="SMILES file: one SMILES per line (optional name after it) or a CSV with a SMILES column"
    )
    parser.add_argument("--out", required=True, help="prepared corpus (.smi.gz; a .json report is written beside it)")
    parser.add_argument("--max-tokens", type=int, default=None, help="drop molecules longer than this many tokens")
    parser.add_argument("--workers", type=int, default=1, help="canonicalising processes")
    args = parser.parse_args(argv)
    if not str(args.out).endswith(".smi.gz"):
        parser.error(f"--out must end in .smi.gz, got {args.out!r}")
    try:
        corpus = require_smiles(
            prepare_corpus(
                read_smiles_file(args.input),
                max_tokens=args.max_tokens,
                workers=args.workers,
                provenance={"source": str(args.input)},
            ),
            args.input,
        )
    except (SmilesFileError, FileNotFoundError) as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    path = corpus.save(args.out)
    print(f"{args.input}: {format_report(corpus.report)}")
    print(f"corpus of {len(corpus):,} canonical SMILES written to {path} (report: {_meta_path(path)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
