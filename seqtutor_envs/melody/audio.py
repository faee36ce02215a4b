"""Melody tokens -> WAV files to listen to, next to the MIDI files of ``midi.py``.

Two synthesizers, picked by ``synth="auto"``:

* ``"fluidsynth"``: a General-MIDI soundfont played by FluidSynth through ``pretty_midi``, when
  the ``fluidsynth`` Python module (pyfluidsynth, with its C library) imports. The soundfont is
  the ``soundfont`` argument, else the file named by ``$SEQTUTOR_SOUNDFONT``, else the first of
  :data:`SOUNDFONT_PATHS` that exists, else the small GM soundfont (TimGM6mb) that ships inside
  ``pretty_midi``.
* ``"sine"``: ``pretty_midi``'s own ``Instrument.synthesize`` (a sine per note, decaying, with a
  0.1 s fade-out at each note's end), which needs nothing else.

:func:`synthesis_backend` says which one ``"auto"`` uses here. Whatever the synthesizer, the
audio lasts exactly ``len(tokens)`` 16th-note steps at ``qpm`` (a release tail past the end is
cut, with a 10 ms fade so the cut does not click), is scaled so its peak sits at -1 dBFS (no
clipping, equal loudness across files; silence stays silent), and is written as mono 16-bit PCM
with the stdlib ``wave`` module, atomically.
"""

from __future__ import annotations

import inspect
import logging
import os
import warnings
import wave
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pretty_midi

from seqtutor_envs.io import atomic_write
from seqtutor_envs.melody.encoding import STEPS_PER_QUARTER, VOCAB_SIZE
from seqtutor_envs.melody.midi import DEFAULT_QPM, tokens_to_pretty_midi, write_each

logger = logging.getLogger(__name__)

DEFAULT_SAMPLE_RATE = 22050
SOUNDFONT_ENV = "SEQTUTOR_SOUNDFONT"
SOUNDFONT_PATHS: tuple[str, ...] = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",  # Debian/Ubuntu fluid-soundfont-gm
    "/usr/share/sounds/sf2/default-GM.sf2",  # Debian's alternatives link
    "/usr/share/soundfonts/FluidR3_GM.sf2",  # Fedora, Arch
    "/usr/share/soundfonts/default.sf2",
    "/usr/share/sounds/sf2/TimGM6mb.sf2",  # Debian timgm6mb-soundfont
    "/usr/local/share/soundfonts/default.sf2",
    "/opt/homebrew/share/soundfonts/default.sf2",
)
BUNDLED_SOUNDFONT = Path(pretty_midi.__file__).resolve().parent / "TimGM6mb.sf2"
SYNTHS = ("auto", "fluidsynth", "sine")
PEAK = 10 ** (-1 / 20)  # -1 dBFS
END_FADE_SECONDS = 0.01


# ---------------------------------------------------------------------------------------------
# which synthesizer


def fluidsynth_import_error() -> str | None:
    """Why the ``fluidsynth`` module cannot be used (``None`` when it imports)."""
    try:
        import fluidsynth  # noqa: F401  (pyfluidsynth; loads libfluidsynth)
    except (ImportError, OSError) as error:  # OSError: the module is there, the C library is not
        return f"{type(error).__name__}: {error}"
    return None


def fluidsynth_available() -> bool:
    """Whether FluidSynth can be used from ``pretty_midi`` here."""
    return fluidsynth_import_error() is None


def find_soundfont(soundfont: str | os.PathLike | None = None) -> Path | None:
    """The soundfont FluidSynth would use: the argument, ``$SEQTUTOR_SOUNDFONT``, a common path, or pretty_midi's.

    :param soundfont: an explicit ``.sf2`` file.
    :raises FileNotFoundError: the argument or ``$SEQTUTOR_SOUNDFONT`` names a file that does not exist
        (an explicit choice that silently falls back would be worse than an error).
    """
    explicit_choices: tuple[tuple[str | os.PathLike | None, str], ...] = (
        (soundfont, "soundfont argument"),
        (os.environ.get(SOUNDFONT_ENV), f"${SOUNDFONT_ENV}"),
    )
    for explicit, origin in explicit_choices:
        if explicit:
            path = Path(explicit).expanduser()
            if not path.is_file():
                raise FileNotFoundError(f"{origin} names {path}, which is not a file (expected a .sf2 soundfont)")
            return path
    candidates: tuple[str | Path, ...] = (*SOUNDFONT_PATHS, BUNDLED_SOUNDFONT)
    for candidate in candidates:
        if Path(candidate).is_file():
            return Path(candidate)
    return None


def synthesis_backend(soundfont: str | os.PathLike | None = None) -> str:
    """What ``synth="auto"`` uses here: ``"fluidsynth (<soundfont>)"`` or ``"sine (<why not fluidsynth>)"``.

    :param soundfont: an explicit ``.sf2`` file.
    """
    reason = fluidsynth_import_error()
    if reason is not None:
        return f"sine (fluidsynth unavailable: {reason})"
    path = find_soundfont(soundfont)
    if path is None:
        return "sine (no soundfont found)"
    return f"fluidsynth ({path})"


_WARNED: set[str] = set()


def _warn_sine_fallback(reason: str) -> None:
    """Say once per process that melodies will sound like test tones, and what to install."""
    if reason in _WARNED:
        return
    _WARNED.add(reason)
    # stacklevel 4: the warning points at render_audio's caller (past this, _synthesize and render_audio)
    warnings.warn(
        f"WAV audio falls back to sine tones ({reason}); for instrument audio install FluidSynth and a General MIDI "
        "soundfont (Debian/Ubuntu: apt-get install fluidsynth fluid-soundfont-gm; `make install` does it as root) "
        "and the pyfluidsynth module (a seqtutor dependency)",
        RuntimeWarning,
        stacklevel=4,
    )


# ---------------------------------------------------------------------------------------------
# rendering


def _check_tokens(tokens: Sequence[int] | np.ndarray) -> np.ndarray:
    array = np.asarray(tokens)
    if array.ndim != 1:
        raise ValueError(f"expected a 1-D token sequence, got shape {array.shape}")
    if len(array) == 0:
        raise ValueError("the token sequence is empty; there is nothing to synthesize")
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"tokens have dtype {array.dtype}, expected integers in 0..{VOCAB_SIZE - 1}")
    bad = (array < 0) | (array >= VOCAB_SIZE)
    if np.any(bad):
        i = int(np.argmax(bad))
        raise ValueError(f"token {int(array[i])} at step {i} is outside the vocabulary 0..{VOCAB_SIZE - 1}")
    return array.astype(np.int64)


def _fluidsynth(pm: pretty_midi.PrettyMIDI, sample_rate: int, soundfont: Path) -> np.ndarray:
    # pretty_midi 0.2.11 renamed sf2_path to synthesizer (and warns about the old name)
    keyword = "synthesizer" if "synthesizer" in inspect.signature(pm.fluidsynth).parameters else "sf2_path"
    return np.asarray(pm.fluidsynth(fs=sample_rate, **{keyword: str(soundfont)}), dtype=np.float64)


def _check_settings(synth: str, sample_rate: int, qpm: float) -> None:
    if synth not in SYNTHS:
        raise ValueError(f"synth={synth!r}, expected one of {SYNTHS}")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise ValueError(f"sample_rate={sample_rate!r}, expected a positive integer")
    if not qpm > 0:
        raise ValueError(f"qpm={qpm!r}, expected a positive tempo")


def _synthesize(
    pm: pretty_midi.PrettyMIDI, sample_rate: int, synth: str, soundfont: str | os.PathLike | None
) -> tuple[np.ndarray | None, str]:
    """Raw audio of ``pm`` (None without notes) and the backend that made it, per ``synth`` (see render_audio)."""
    notes = pm.instruments[0].notes
    backend, audio, why = "sine", None, "no soundfont found"
    if synth != "sine":
        reason = fluidsynth_import_error()
        why = f"fluidsynth unavailable: {reason}" if reason is not None else why
        path = find_soundfont(soundfont) if reason is None else None
        if synth == "fluidsynth" and reason is not None:
            raise RuntimeError(f"synth='fluidsynth' but the fluidsynth module cannot be used ({reason})")
        if synth == "fluidsynth" and path is None:
            raise RuntimeError(
                f"synth='fluidsynth' but no soundfont was found (set ${SOUNDFONT_ENV} or install one at "
                f"one of {SOUNDFONT_PATHS})"
            )
        if path is not None:
            backend = "fluidsynth"
            if notes:  # pretty_midi returns an empty array without notes
                try:
                    audio = _fluidsynth(pm, sample_rate, path)
                except Exception as error:  # a broken libfluidsynth/soundfont: "auto" still gives audio
                    if synth == "fluidsynth":
                        raise
                    logger.warning("FluidSynth failed (%s: %s); using sine synthesis", type(error).__name__, error)
                    backend, why = "sine", f"FluidSynth failed: {type(error).__name__}: {error}"
    if backend == "sine" and synth == "auto":
        _warn_sine_fallback(why)
    if backend == "sine" and notes:
        # the instrument's method: PrettyMIDI.synthesize divides by the peak, and its signature varies by version
        audio = pm.instruments[0].synthesize(fs=sample_rate, wave=np.sin)
    return audio, backend


def _fit(audio: np.ndarray | None, num_samples: int, sample_rate: int) -> np.ndarray:
    """Exactly ``num_samples``: the release tail cut with a short fade, the peak at -1 dBFS (silence stays)."""
    samples = np.zeros(num_samples, dtype=np.float64)
    if audio is not None and len(audio):
        kept = min(len(audio), num_samples)
        samples[:kept] = audio[:kept]
        fade = min(int(END_FADE_SECONDS * sample_rate), num_samples)
        samples[num_samples - fade :] *= np.linspace(1.0, 0.0, fade)
    peak = float(np.max(np.abs(samples)))
    if peak > 0:
        samples *= PEAK / peak
    return samples


def render_audio(
    tokens: Sequence[int] | np.ndarray,
    sample_rate: int = DEFAULT_SAMPLE_RATE,
    qpm: float = DEFAULT_QPM,
    program: int = 0,
    velocity: int = 100,
    synth: str = "auto",
    soundfont: str | os.PathLike | None = None,
) -> tuple[np.ndarray, str]:
    """Mono audio of a token sequence in [-1, 1] (peak at -1 dBFS unless silent), and the synthesizer used.

    :param tokens: 1-D integer tokens in 0..37.
    :param sample_rate: samples per second.
    :param qpm: tempo in quarter notes per minute (16th-note steps), as :func:`midi.tokens_to_pretty_midi`.
    :param program: General MIDI program (0 = acoustic grand piano; FluidSynth only).
    :param velocity: MIDI velocity of every note.
    :param synth: ``"auto"`` (FluidSynth if it works, else sine), ``"fluidsynth"`` or ``"sine"``.
    :param soundfont: ``.sf2`` file for FluidSynth (see :func:`find_soundfont`).
    :returns: ``(samples, backend)`` with ``backend`` ``"fluidsynth"`` or ``"sine"``.
    :raises ValueError: bad tokens (naming the first bad one and its step) or settings.
    :raises RuntimeError: ``synth="fluidsynth"`` where FluidSynth or a soundfont is missing.
    """
    tokens = _check_tokens(tokens)
    _check_settings(synth, sample_rate, qpm)
    seconds_per_step = 60.0 / qpm / STEPS_PER_QUARTER
    num_samples = round(len(tokens) * seconds_per_step * sample_rate)
    pm = tokens_to_pretty_midi(tokens, qpm=qpm, program=program, velocity=velocity)
    audio, backend = _synthesize(pm, sample_rate, synth, soundfont)
    return _fit(audio, num_samples, sample_rate), backend


# ---------------------------------------------------------------------------------------------
# WAV files


def _to_pcm16(samples: np.ndarray) -> bytes:
    return np.round(np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()  # WAV is little-endian


def write_wav(
    tokens: Sequence[int] | np.ndarray, path: str | os.PathLike, sample_rate: int = DEFAULT_SAMPLE_RATE, **render: Any
) -> Path:
    """Write a token sequence as a mono 16-bit WAV file, atomically; returns the path.

    The synthesizer used is logged (INFO); :func:`synthesis_backend` tells it in advance.

    :param tokens: 1-D integer tokens in 0..37.
    :param path: destination ``.wav`` file (parent folders are created).
    :param sample_rate: samples per second.
    :param render: :func:`render_audio`'s other settings (``qpm``, ``program``, ``velocity``, ``synth``,
        ``soundfont``).
    """
    path = Path(path)
    samples, backend = render_audio(tokens, sample_rate, **render)
    pcm = _to_pcm16(samples)

    def write(name: str) -> None:
        with wave.open(name, "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(int(sample_rate))
            out.writeframes(pcm)

    atomic_write(path, write, suffix=".wav")
    logger.info("wrote %s (%s synthesis, %.2f s)", path, backend, len(samples) / sample_rate)
    return path


def write_wavs(
    compositions: Iterable[Sequence[int] | np.ndarray], folder: str | os.PathLike, prefix: str = "composition", **kwargs
) -> list[Path]:
    """Write each composition (a token sequence, or a row of a 2-D array) to ``folder/{prefix}_{i:04d}.wav``.

    :param kwargs: passed to :func:`write_wav` (``sample_rate``, ``qpm``, ``synth``, ...).
    """
    return write_each(write_wav, compositions, folder, prefix, ".wav", **kwargs)
