"""WAV rendering of melodies: duration, silence where nothing plays, synthesizer choice, errors."""

import wave

import numpy as np
import pretty_midi
import pytest

from seqtutor_envs.melody import audio
from seqtutor_envs.melody.midi import DEFAULT_QPM

H, R = 0, 1
C4, G4 = 14, 21
SR = 8000  # small files, fast tests

# note 0..8, rest 8..16, note 16..24, rest 24..32 (16th-note steps)
TWO_NOTES = [C4] + [H] * 7 + [R] + [H] * 7 + [G4] + [H] * 7 + [R] + [H] * 7


def read_wav(path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as wav:
        assert wav.getnchannels() == 1 and wav.getsampwidth() == 2
        frames = wav.readframes(wav.getnframes())
        return np.frombuffer(frames, dtype="<i2").astype(np.float64) / 32767, wav.getframerate()


def step_slice(first: int, last: int, qpm: float = DEFAULT_QPM, sample_rate: int = SR) -> slice:
    samples_per_step = 60.0 / qpm / 4 * sample_rate
    return slice(round(first * samples_per_step), round(last * samples_per_step))


def test_wav_has_the_duration_of_32_sixteenths(tmp_path):
    path = audio.write_wav(TWO_NOTES, tmp_path / "a.wav", sample_rate=SR)
    samples, rate = read_wav(path)
    assert rate == SR
    assert len(samples) == round(32 * 60 / DEFAULT_QPM / 4 * SR)  # 6.0 s at 80 qpm
    path = audio.write_wav(TWO_NOTES, tmp_path / "b.wav", sample_rate=SR, qpm=120)
    assert len(read_wav(path)[0]) == 32 * SR // 8  # 4.0 s at 120 qpm


def test_sine_audio_sounds_during_notes_and_is_silent_in_rests(tmp_path):
    samples, _ = read_wav(audio.write_wav(TWO_NOTES, tmp_path / "a.wav", sample_rate=SR, synth="sine"))
    rms = {
        name: np.sqrt(np.mean(samples[step_slice(a, b)] ** 2))
        for name, (a, b) in {"note1": (0, 8), "rest1": (8, 16), "note2": (16, 24), "rest2": (24, 32)}.items()
    }
    assert rms["note1"] > 0.1 and rms["note2"] > 0.1
    assert rms["rest1"] == 0.0 and rms["rest2"] == 0.0
    assert np.max(np.abs(samples)) == pytest.approx(audio.PEAK, abs=1e-4)  # normalised, no clipping


def test_auto_backend_sounds_louder_in_notes_than_late_in_rests(tmp_path):
    samples, _ = read_wav(audio.write_wav(TWO_NOTES, tmp_path / "a.wav", sample_rate=SR))
    loud = np.sqrt(np.mean(samples[step_slice(0, 8)] ** 2))
    late_rest = np.sqrt(np.mean(samples[step_slice(12, 16)] ** 2))  # past any release tail
    assert loud > 0.05 and late_rest < 0.05 * loud


@pytest.mark.parametrize("tokens", [[R] + [H] * 31, [H] * 32], ids=["all-rest", "all-hold"])
def test_composition_without_notes_is_silent(tmp_path, tokens):
    samples, _ = read_wav(audio.write_wav(tokens, tmp_path / "silent.wav", sample_rate=SR))
    assert len(samples) == round(32 * 60 / DEFAULT_QPM / 4 * SR)
    assert np.all(samples == 0)


@pytest.mark.parametrize(
    "tokens, message",
    [
        ([C4, H, 38], r"token 38 at step 2 is outside the vocabulary 0..37"),
        ([C4, -1], r"token -1 at step 1 is outside the vocabulary 0..37"),
        ([[C4, H], [H, H]], r"expected a 1-D token sequence, got shape \(2, 2\)"),
        ([14.0, 0.0], r"tokens have dtype float64, expected integers in 0..37"),
        ([], r"the token sequence is empty"),
    ],
)
def test_bad_tokens_raise_a_precise_error_and_write_nothing(tmp_path, tokens, message):
    with pytest.raises(ValueError, match=message):
        audio.write_wav(tokens, tmp_path / "bad.wav")
    assert list(tmp_path.iterdir()) == []


def test_bad_settings_raise(tmp_path):
    with pytest.raises(ValueError, match=r"synth='organ', expected one of"):
        audio.write_wav(TWO_NOTES, tmp_path / "a.wav", synth="organ")
    with pytest.raises(ValueError, match=r"sample_rate=0, expected a positive integer"):
        audio.write_wav(TWO_NOTES, tmp_path / "a.wav", sample_rate=0)
    with pytest.raises(ValueError, match=r"qpm=-1, expected a positive tempo"):
        audio.write_wav(TWO_NOTES, tmp_path / "a.wav", qpm=-1)


def test_write_wavs_names_files_like_write_midis_and_leaves_no_temporary_files(tmp_path):
    comps = np.array([TWO_NOTES, [R] + [H] * 31])
    paths = audio.write_wavs(comps, tmp_path / "out", prefix="rl", sample_rate=SR)
    assert [p.name for p in paths] == ["rl_0000.wav", "rl_0001.wav"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["rl_0000.wav", "rl_0001.wav"]


def test_fluidsynth_is_used_when_available(tmp_path, monkeypatch):
    calls = []

    def fake_fluidsynth(self, fs=None, **kwargs):
        calls.append((fs, kwargs))
        return 0.3 * np.ones(int(10 * fs))  # longer than the composition, as a release tail would be

    monkeypatch.setattr(audio, "fluidsynth_import_error", lambda: None)
    monkeypatch.setattr(pretty_midi.PrettyMIDI, "fluidsynth", fake_fluidsynth)
    font = tmp_path / "font.sf2"
    font.write_bytes(b"")
    monkeypatch.setenv(audio.SOUNDFONT_ENV, str(font))
    assert audio.synthesis_backend() == f"fluidsynth ({font})"
    samples, backend = audio.render_audio(TWO_NOTES, sample_rate=SR, synth="auto")
    assert backend == "fluidsynth"
    assert calls and calls[0][0] == SR and str(font) in calls[0][1].values()
    assert len(samples) == 6 * SR  # the tail is cut to the composition's length
    assert samples[-1] == 0.0 and np.max(samples) == pytest.approx(audio.PEAK)  # faded end, normalised


def test_auto_falls_back_to_sine_without_fluidsynth(monkeypatch):
    monkeypatch.setattr(audio, "fluidsynth_import_error", lambda: "ImportError: No module named 'fluidsynth'")
    assert audio.synthesis_backend().startswith("sine (fluidsynth unavailable")
    samples, backend = audio.render_audio(TWO_NOTES, sample_rate=SR)
    assert backend == "sine" and np.max(np.abs(samples)) > 0
    with pytest.raises(RuntimeError, match="synth='fluidsynth' but the fluidsynth module cannot be used"):
        audio.render_audio(TWO_NOTES, sample_rate=SR, synth="fluidsynth")


def test_soundfont_search(tmp_path, monkeypatch):
    monkeypatch.delenv(audio.SOUNDFONT_ENV, raising=False)
    monkeypatch.setattr(audio, "SOUNDFONT_PATHS", ())
    assert audio.find_soundfont() == audio.BUNDLED_SOUNDFONT  # pretty_midi ships a GM soundfont
    monkeypatch.setenv(audio.SOUNDFONT_ENV, str(tmp_path / "missing.sf2"))
    with pytest.raises(FileNotFoundError, match=r"\$SEQTUTOR_SOUNDFONT names .*missing.sf2, which is not a file"):
        audio.find_soundfont()
    font = tmp_path / "mine.sf2"
    font.write_bytes(b"")
    assert audio.find_soundfont(font) == font  # the argument wins over the environment


def _harmonic_share(samples: np.ndarray, fundamental: float, sample_rate: int = audio.DEFAULT_SAMPLE_RATE) -> float:
    """Energy at the 2nd..6th harmonics over the energy at the fundamental (+-15 Hz bands)."""
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples)))) ** 2
    freqs = np.fft.rfftfreq(len(samples), 1 / sample_rate)

    def band(f: float) -> float:
        return float(spectrum[(freqs > f - 15) & (freqs < f + 15)].sum())

    return sum(band(k * fundamental) for k in range(2, 7)) / band(fundamental)


def test_soundfont_audio_is_an_instrument_not_a_pure_tone():
    """Where FluidSynth and a GM soundfont are installed (Debian: fluidsynth, fluid-soundfont-gm), "auto" plays
    them: the A4 of a piano has partials; the sine fallback has (almost) none."""
    backend = audio.synthesis_backend()
    if not backend.startswith("fluidsynth"):
        pytest.skip(
            f"no soundfont audio here ({backend}); install fluidsynth and fluid-soundfont-gm (make install, as root)"
        )
    a4 = np.array([2 + 69 - 48] + [0] * 15)  # one quarter-plus note: token of MIDI 69, then holds
    instrument, used = audio.render_audio(a4)
    tone, _ = audio.render_audio(a4, synth="sine")
    assert used == "fluidsynth"
    assert _harmonic_share(instrument, 440.0) > 0.05
    assert _harmonic_share(tone, 440.0) < 0.01
