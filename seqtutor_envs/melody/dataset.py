"""The melody corpus as data: tunes as one token array with a fixed train/validation split, saved as ``.npz``.

:class:`MelodyCorpus` is what :mod:`seqtutor_envs.melody.corpus` builds and what the Note RNN is
pre-trained on (:func:`pretrain_data`); the shipped one (music21's folk collections) is
:func:`load_default_corpus`.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from seqtutor_envs.io import atomic_write_bytes, atomic_write_text
from seqtutor_envs.melody import encoding as enc
from seqtutor_envs.melody.encoding import VOCAB_SIZE
from seqtutor_envs.pretrain import PretrainData, PretrainInputError

FORMAT = "seqtutor.melody_corpus/1"
DEFAULT_CORPUS_PATH = Path(__file__).resolve().parent.parent / "data" / "melody_corpus.npz"
VALIDATION_FRACTION = 0.1


# ---------------------------------------------------------------------------------------------
# the corpus


def _encode_strings(strings: Sequence[str]) -> np.ndarray:
    """Newline-joined UTF-8 bytes: far smaller in an npz than a fixed-width unicode array."""
    return np.frombuffer("\n".join(s.replace("\n", " ") for s in strings).encode("utf-8"), dtype=np.uint8)


def _decode_strings(data: np.ndarray, count: int) -> list[str]:
    return data.tobytes().decode("utf-8").split("\n") if count else []


def validation_split(num_tunes: int, seed: int = 0, fraction: float = VALIDATION_FRACTION) -> np.ndarray:
    """Tune-level split mask (True = validation), deterministic in ``seed``.

    :param num_tunes: number of tunes.
    :param seed: seed of the numpy Generator.
    :param fraction: share of tunes held out.
    """
    split = np.zeros(num_tunes, dtype=bool)
    split[np.random.default_rng(seed).permutation(num_tunes)[: int(round(fraction * num_tunes))]] = True  # noqa: RUF046  (numpy 1.x: round() of a numpy float is a numpy float)
    return split


@dataclasses.dataclass
class MelodyCorpus:
    """Tunes as one concatenated uint8 token array; tune ``i`` is ``tokens[offsets[i]:offsets[i+1]]``."""

    tokens: np.ndarray
    offsets: np.ndarray
    names: list[str]
    sources: list[str]
    split: np.ndarray  # True = validation
    report: dict
    provenance: dict

    def __post_init__(self) -> None:
        self.tokens = np.asarray(self.tokens, dtype=np.uint8)
        self.offsets = np.asarray(self.offsets, dtype=np.int64)
        self.split = np.asarray(self.split, dtype=bool)
        problem = self._problem()
        if problem:
            raise ValueError(f"inconsistent melody corpus: {problem}")

    def _problem(self) -> str | None:
        n = len(self.names)
        if self.tokens.ndim != 1 or self.offsets.ndim != 1:
            return "tokens and offsets must be 1-D"
        if len(self.offsets) != n + 1 or len(self.sources) != n or len(self.split) != n:
            return (
                f"{n} names but {len(self.offsets)} offsets, {len(self.sources)} sources, {len(self.split)} split flags"
            )
        if self.offsets[0] != 0 or self.offsets[-1] != len(self.tokens) or np.any(np.diff(self.offsets) <= 0):
            return "offsets must rise strictly from 0 to len(tokens)"
        if len(self.tokens) and int(self.tokens.max()) >= VOCAB_SIZE:
            return f"token {int(self.tokens.max())} outside 0..{VOCAB_SIZE - 1}"
        return None

    def __len__(self) -> int:
        return len(self.names)

    @property
    def num_steps(self) -> int:
        """Total number of 16th-note steps (tokens) over all tunes."""
        return len(self.tokens)

    def tune(self, i: int) -> np.ndarray:
        """Tokens of tune ``i`` (a read-only view).

        :param i: tune index.
        """
        view = self.tokens[self.offsets[i] : self.offsets[i + 1]]
        view.flags.writeable = False
        return view

    def _sequences(self, validation: bool) -> list[np.ndarray]:
        return [self.tune(int(i)) for i in np.flatnonzero(self.split == validation)]

    def train_sequences(self) -> list[np.ndarray]:
        """Token arrays of the training tunes."""
        return self._sequences(validation=False)

    def validation_sequences(self) -> list[np.ndarray]:
        """Token arrays of the held-out validation tunes."""
        return self._sequences(validation=True)

    def save(self, path: str | os.PathLike) -> Path:
        """Write a compressed ``.npz`` and a human-readable ``.json`` side file, both atomically.

        :param path: destination ``.npz`` path.
        :raises ValueError: the corpus holds no tune (nothing could be trained on it; an existing file
            at ``path`` is left as it was).
        """
        path = Path(path)
        if len(self) == 0:
            raise ValueError(f"refusing to write an empty melody corpus (0 tunes) to {path}")
        source_names = sorted(set(self.sources))
        source_index = np.array([source_names.index(s) for s in self.sources], dtype=np.int32)
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            format=np.array(FORMAT),
            tokens=self.tokens,
            offsets=self.offsets,
            names=_encode_strings(self.names),
            source_names=np.array(source_names),
            source_index=source_index,
            split=self.split,
            report=np.array(json.dumps(self.report)),
            provenance=np.array(json.dumps(self.provenance)),
        )
        atomic_write_bytes(path, buffer.getvalue())
        summary = {
            "format": FORMAT,
            "file": path.name,
            "num_tunes": len(self),
            "num_validation_tunes": int(self.split.sum()),
            "num_steps": self.num_steps,
            "report": self.report,
            "provenance": self.provenance,
        }
        text = json.dumps(summary, indent=2) + "\n"
        atomic_write_text(path.with_suffix(".json"), text)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> MelodyCorpus:
        """Read a corpus written by :meth:`save`.

        :param path: the ``.npz`` file.
        :raises ValueError: naming the path, when the file is missing, unreadable or not a melody corpus.
        """
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"{path}: no such melody corpus file")
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files}
        except Exception as error:
            raise ValueError(f"{path} is not a melody corpus (cannot read it as .npz: {error})") from error
        if "format" not in arrays or str(arrays["format"]) != FORMAT:
            raise ValueError(f"{path} is not a melody corpus (expected format {FORMAT!r})")
        try:
            source_names = [str(s) for s in arrays["source_names"]]
            count = len(arrays["offsets"]) - 1
            return cls(
                tokens=arrays["tokens"],
                offsets=arrays["offsets"],
                names=_decode_strings(arrays["names"], count),
                sources=[source_names[i] for i in arrays["source_index"]],
                split=arrays["split"],
                report=json.loads(str(arrays["report"])),
                provenance=json.loads(str(arrays["provenance"])),
            )
        except (KeyError, IndexError, ValueError) as error:
            raise ValueError(f"{path} is a damaged melody corpus: {error}") from error


def load_default_corpus() -> MelodyCorpus:
    """The corpus shipped with the package (music21 folk collections)."""
    return MelodyCorpus.load(DEFAULT_CORPUS_PATH)


def pretrain_data(corpus_path: str | None = None) -> PretrainData:
    """The melody corpus (shipped default, or a corpus file built with ``seqtutor_envs.melody.corpus``).

    :param corpus_path: a corpus ``.npz`` (default: the shipped one).
    :raises PretrainInputError: the file is missing or not a melody corpus, or its split leaves no training
        or no validation tune.
    """
    try:
        corpus = MelodyCorpus.load(corpus_path) if corpus_path else load_default_corpus()
    except ValueError as error:  # missing, unreadable or not a melody corpus: the message names the file
        raise PretrainInputError(str(error)) from error
    train = [s.astype(np.int64) for s in corpus.train_sequences()]
    valid = [s.astype(np.int64) for s in corpus.validation_sequences()]
    if not train or not valid:
        smallest = next(n for n in range(2, 1000) if 0 < validation_split(n).sum() < n)
        raise PretrainInputError(
            f"melody corpus {corpus_path or DEFAULT_CORPUS_PATH} has {len(corpus)} tune(s), {len(train)} for training "
            f"and {len(valid)} for validation: pre-training needs at least one of each (the corpus builder holds "
            f"out a tenth of the tunes, so build it from at least {smallest} tunes)"
        )
    return PretrainData(
        train=train,
        valid=valid,
        num_outputs=enc.VOCAB_SIZE,
        num_inputs=enc.VOCAB_SIZE,
        metadata={
            "domain": "melody",
            "vocabulary": [enc.token_name(t) for t in range(enc.VOCAB_SIZE)],
            "encoding": "note_seq MelodyOneHotEncoding(min_note=48, max_note=84): 0 hold, 1 rest, 2..37 MIDI 48..83",
            "data": {
                "corpus": str(corpus_path or "shipped melody_corpus.npz"),
                "corpus_path": str(Path(corpus_path).resolve() if corpus_path else DEFAULT_CORPUS_PATH),
                "tunes_train": len(train),
                "tunes_valid": len(valid),
                "steps": int(corpus.num_steps),
                "provenance": corpus.provenance,
            },
        },
    )
