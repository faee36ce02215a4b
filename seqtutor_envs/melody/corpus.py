"""The monophonic melody corpus the Note RNN prior is trained on, built from real tunes.

Sources: the folk-tune collections shipped inside music21's corpus (ABC files, many tunes per
file) and, optionally, folders of MIDI files with one monophonic melody per track. Every tune is
quantized to 16th notes, transposed to C major / A minor (white-key modes in general), shifted
by octaves into the token range [48, 84) and encoded with :func:`midi.encode_notes`.

Build the shipped corpus with::

    python -m seqtutor_envs.melody.corpus --out seqtutor_envs/data/melody_corpus.npz --workers 2

A corpus of your own MIDI alone (seconds; add ``--collections NAME ...`` to mix in music21's)::

    python -m seqtutor_envs.melody.corpus --midi-dir my_midi/ --out my_corpus.npz

``--out`` is required: there is no default destination, so a build never overwrites the corpus
shipped inside the installed package by accident. A build that accepts no tune (an empty or wrong
``--midi-dir``, say) writes nothing and exits with status 1, printing the rejection counts.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from seqtutor_envs.melody.dataset import (
    DEFAULT_CORPUS_PATH,
    VALIDATION_FRACTION,
    MelodyCorpus,
    validation_split,
)
from seqtutor_envs.melody.tunes import (
    ENCODING_DESCRIPTION,
    MAX_STEPS,
    MIN_NOTES,
    MIN_STEPS,
    REJECT_REASONS,
    TRANSPOSITION_RULE,
    TuneResult,
    read_text,
    split_abc_file,
    tune_from_abc,
    tune_name,
    tunes_from_midi,
)

DEFAULT_COLLECTIONS: tuple[str, ...] = ("essenFolksong", "oneills1850", "airdsAirs", "ryansMammoth", "miscFolk")

MUSIC21_LICENCE = (
    "Tunes come from the corpus distributed with music21 (music21/corpus/license.txt): the encodings are "
    "distributed with the encoders' permission and 'some encodings included in the corpus may not be used for "
    "commercial uses or have other restrictions'. Essen Folksong Collection (essenFolksong/license.txt): legal "
    "status unclear, permission given by Prof. Ewa Dahlig-Turek for non-commercial distribution and use in "
    "music21; ABC encodings by Seymour Shlien. O'Neill's 1850 (transcribed by Norbert Paap), Aird's Airs "
    "(Jack Campin), Ryan's Mammoth Collection and miscFolk have no separate licence file; the music itself is "
    "public domain (18th/19th-century publications). Treat this derived corpus as for NON-COMMERCIAL RESEARCH "
    "USE ONLY."
)


# ---------------------------------------------------------------------------------------------
# building


def music21_corpus_dir() -> Path:
    """Folder of music21's shipped corpus."""
    from music21 import common

    return Path(common.getCorpusFilePath())


def _tasks(collections: Sequence[str], midi_dirs: Sequence[str | os.PathLike]):
    """(kind, source, name, payload) work items plus the number of files per source."""
    root = music21_corpus_dir()
    tasks: list[tuple[str, str, str, str]] = []
    files: dict[str, int] = {}
    for collection in collections:
        folder = root / collection
        paths = sorted(folder.glob("*.abc"))
        if not paths:
            raise FileNotFoundError(f"music21 corpus collection {collection!r} has no .abc files in {folder}")
        files[collection] = len(paths)
        for path in paths:
            for tune in split_abc_file(read_text(path)):
                tasks.append(("abc", collection, tune_name(collection, path, tune), tune))
    for midi_dir in midi_dirs:
        folder = Path(midi_dir)
        check_midi_dir(folder)
        source = f"midi:{folder.name}"
        paths = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in (".mid", ".midi"))
        files[source] = len(paths)
        tasks.extend(("midi", source, str(p.relative_to(folder)), str(p)) for p in paths)
    return tasks, files


def check_midi_dir(folder: Path) -> None:
    """A precise error unless ``folder`` is an existing folder.

    :param folder: a ``--midi-dir`` / ``midi_dirs`` entry.
    :raises NotADirectoryError: it is a file (say which, and what was expected).
    :raises FileNotFoundError: nothing is there.
    """
    if folder.is_dir():
        return
    if folder.exists():
        raise NotADirectoryError(
            f"MIDI folder {folder} is a file, not a folder: expected a folder of .mid/.midi files "
            f"(searched recursively); to use this one file, pass its folder {folder.parent}"
        )
    raise FileNotFoundError(f"MIDI folder {folder} does not exist (expected a folder of .mid/.midi files)")


def _run_task(task: tuple[str, str, str, str]) -> list[TuneResult]:
    kind, source, name, payload = task
    if kind == "abc":
        return [tune_from_abc(payload, source, name)]
    return tunes_from_midi(payload, source, name)


def _empty_source_report(files: int) -> dict:
    return {
        "files": files,
        "tunes_seen": 0,
        "kept": 0,
        "rejected": dict.fromkeys(REJECT_REASONS, 0),
        "quantization_collisions": 0,
        "tunes_with_collisions": 0,
        "steps": 0,
    }


def _tokens(result: TuneResult) -> np.ndarray:
    """A kept tune's tokens (a :class:`TuneResult` has tokens exactly when it has no rejection reason)."""
    assert result.tokens is not None, f"tune {result.name} has neither tokens nor a rejection reason"
    return result.tokens


def _assemble(results: Iterable[TuneResult], files: dict[str, int]) -> tuple[list[TuneResult], dict]:
    """Keep the good tunes (dropping exact duplicates, first one wins) and count everything."""
    per_source = {source: _empty_source_report(count) for source, count in files.items()}
    seen: set[bytes] = set()
    kept = []
    for result in results:
        entry = per_source[result.source]
        entry["tunes_seen"] += 1
        reason = result.reason
        if reason is None:
            fingerprint = _tokens(result).tobytes()
            if fingerprint in seen:
                reason = "duplicate"  # the same melody in two collections/files would leak into validation
            seen.add(fingerprint)
        if reason is not None:
            entry["rejected"][reason] += 1
            continue
        kept.append(result)
        entry["kept"] += 1
        entry["steps"] += len(_tokens(result))
        entry["quantization_collisions"] += result.collisions
        entry["tunes_with_collisions"] += int(result.collisions > 0)
    total = _empty_source_report(0)
    for entry in per_source.values():
        for field, value in entry.items():
            if field == "rejected":
                for reason, count in value.items():
                    total["rejected"][reason] += count
            else:
                total[field] += value
    return kept, {"sources": per_source, "total": total}


def _parse_all(tasks: list[tuple[str, str, str, str]], workers: int, progress: bool) -> list[TuneResult]:
    """Every task's tunes, in task order, parsed here (``workers <= 1``) or in ``workers`` processes."""
    bar = tqdm(total=len(tasks), desc="parsing tunes", unit="tune", disable=not progress)
    results: list[TuneResult] = []
    if workers <= 1:
        for task in tasks:
            results.extend(_run_task(task))
            bar.update()
    else:
        # spawn, not fork: the caller may hold threads (torch) that a forked child would inherit broken
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
            for batch in pool.map(_run_task, tasks, chunksize=16):
                results.extend(batch)
                bar.update()
    bar.close()
    return results


def _provenance(
    collections: Sequence[str], midi_dirs: Sequence[str | os.PathLike], seed: int, command: str | None
) -> dict:
    """What a corpus records of its making: sources, encoding, filters, split, licence, date, command."""
    import music21

    return {
        "music21_version": music21.__version__,
        "collections": list(collections),
        "midi_dirs": [str(d) for d in midi_dirs],
        "encoding": ENCODING_DESCRIPTION,
        "transposition": TRANSPOSITION_RULE,
        "filters": (
            "chord symbols and grace notes skipped, ties between equal contiguous pitches merged (ties between "
            "different pitches are slurs: kept as two notes); rejected: tunes with chords, several "
            f"parts/voices, fewer than {MIN_NOTES} notes or {MIN_STEPS} steps, more than {MAX_STEPS} steps, no "
            f"octave fitting [48, 84), exact "
            f"duplicates of an earlier kept tune; onsets colliding on one 16th-note step keep the first"
        ),
        "validation": f"tune-level, {VALIDATION_FRACTION:.0%} by numpy default_rng({seed}).permutation",
        "seed": seed,
        "licence": MUSIC21_LICENCE,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": command if command is not None else " ".join([Path(sys.executable).name, *sys.argv]),
    }


def build_corpus(
    collections: Sequence[str] = DEFAULT_COLLECTIONS,
    midi_dirs: Sequence[str | os.PathLike] = (),
    workers: int | None = None,
    progress: bool = True,
    seed: int = 0,
    command: str | None = None,
) -> MelodyCorpus:
    """Parse, filter, normalise and encode every tune of the given sources.

    :param collections: music21 corpus collections (folders of ABC files) to read.
    :param midi_dirs: folders of MIDI files (searched recursively), one monophonic melody per track.
    :param workers: parser processes; None = all CPU cores, 0 or 1 = parse in this process.
    :param progress: show a tqdm progress bar.
    :param seed: seed of the validation split.
    :param command: command line recorded in the provenance (default: ``sys.argv``).
    """
    started = time.perf_counter()
    tasks, files = _tasks(collections, midi_dirs)
    workers = (os.cpu_count() or 1) if workers is None else workers
    kept, report = _assemble(_parse_all(tasks, workers, progress), files)
    report["build_seconds"] = round(time.perf_counter() - started, 1)
    lengths = [len(_tokens(r)) for r in kept]
    return MelodyCorpus(
        tokens=np.concatenate([r.tokens for r in kept]) if kept else np.zeros(0, np.uint8),
        offsets=np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]),
        names=[r.name for r in kept],
        sources=[r.source for r in kept],
        split=validation_split(len(kept), seed),
        report=report,
        provenance=_provenance(collections, midi_dirs, seed, command),
    )


def format_report(report: dict) -> str:
    """The build report as a plain-text table, one row per source plus a total."""
    columns = ["files", "tunes_seen", "kept", *REJECT_REASONS, "quantization_collisions", "steps"]
    headers = ["source", "files", "seen", "kept", *REJECT_REASONS, "collisions", "steps"]
    rows = []
    for source, entry in [*report["sources"].items(), ("TOTAL", report["total"])]:
        # .get: reports written before a reason existed (too_long) lack its count
        values = [entry[c] if c in entry else entry["rejected"].get(c, 0) for c in columns]
        rows.append([source, *[str(v) for v in values]])
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.rjust(w) if i else h.ljust(w) for i, (h, w) in enumerate(zip(headers, widths, strict=True)))]
    lines.append("  ".join("-" * w for w in widths))
    lines += [
        "  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(row, widths, strict=True)))
        for row in rows
    ]
    return "\n".join(lines)


def rejection_summary(report: dict) -> str:
    """Why tunes were not kept, e.g. ``"3 unreadable, 1 too_long"`` (``"none"`` when nothing was rejected).

    :param report: a build report (:func:`build_corpus`).
    """
    rejected = report["total"]["rejected"]
    parts = [f"{count} {reason}" for reason, count in rejected.items() if count]
    return ", ".join(parts) if parts else "none"


def empty_corpus_message(report: dict, out: Path) -> str:
    """Why a build accepted no tune, for the command line: files and tunes seen, rejections by reason.

    :param report: the build report.
    :param out: the destination that was not written.
    """
    total = report["total"]
    sources = ", ".join(f"{name}: {entry['files']} file(s)" for name, entry in report["sources"].items()) or "no source"
    if total["tunes_seen"] == 0:
        from_midi = any(name.startswith("midi:") for name in report["sources"])
        why = "no tune was found" + (" (no .mid/.midi files in the MIDI folder(s))" if from_midi else "")
    else:
        why = f"all {total['tunes_seen']} tunes were rejected ({rejection_summary(report)})"
    return f"error: no tune was accepted, so {out} was not written: {why}; sources read: {sources}"


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: build the corpus, print the report, save it (refusing an empty corpus).

    :param argv: arguments (default: ``sys.argv[1:]``).
    :returns: 0 on success, 1 when no tune was accepted (nothing is written).
    """
    parser = argparse.ArgumentParser(
        prog="python -m seqtutor_envs.melody.corpus",
        description=__doc__.split("\n")[0],
        epilog="Exit status: 0 when the corpus was written; 1 when no tune was accepted (nothing is written); 2 for "
        "bad arguments.",
    )
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        help="destination .npz, required (a .json summary is written beside it); no default, so the corpus "
        f"shipped in the package ({DEFAULT_CORPUS_PATH}) is only replaced when named explicitly",
    )
    parser.add_argument(
        "--collections",
        nargs="*",
        default=None,
        help="music21 corpus collections to read (default: the shipped corpus's "
        f"{', '.join(DEFAULT_COLLECTIONS)} -- unless --midi-dir is given: then only your MIDI, "
        "and these are added only when named)",
    )
    parser.add_argument(
        "--midi-dir",
        action="append",
        default=[],
        type=Path,
        help="folder of MIDI files, searched recursively (repeatable)",
    )
    parser.add_argument("--workers", type=int, default=None, help="parser processes (default: all cores)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the validation split")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = parser.parse_args(argv)
    if args.out.is_dir():
        parser.error(
            f"--out {args.out} is a folder; expected the path of a .npz file, e.g. {args.out / 'melody_corpus.npz'}"
        )
    for folder in args.midi_dir:  # checked before minutes of ABC parsing, not after
        try:
            check_midi_dir(folder)
        except OSError as error:
            parser.error(f"--midi-dir: {error}")
    if args.workers is not None and args.workers < 0:
        parser.error(f"--workers must be >= 0, got {args.workers}")
    if args.collections is None:  # your own MIDI alone builds in seconds; the 12,560 shipped tunes take minutes
        args.collections = [] if args.midi_dir else list(DEFAULT_COLLECTIONS)
    command = "python -m seqtutor_envs.melody.corpus " + " ".join(sys.argv[1:] if argv is None else argv)
    try:
        corpus = build_corpus(args.collections, args.midi_dir, args.workers, not args.no_progress, args.seed, command)
    except OSError as error:  # an unknown music21 collection, a folder removed meanwhile
        parser.error(str(error))
    print(format_report(corpus.report))
    if len(corpus) == 0:
        print(empty_corpus_message(corpus.report, args.out), file=sys.stderr)
        return 1
    path = corpus.save(args.out)
    print(
        f"\n{len(corpus)} tunes ({int(corpus.split.sum())} validation), {corpus.num_steps} steps, "
        f"built in {corpus.report['build_seconds']} s -> {path} ({path.stat().st_size / 1e6:.2f} MB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
