import numpy as np
import pytest
import soundfile as sf

from siamese_siren.codec.audio import RESAMPLER, AudioError, load_clip, resample


def test_speech_clip_is_mono_22050_padded_and_normalised(speech_path):
    info = sf.info(str(speech_path))
    assert info.samplerate == 16000 and info.duration < 10
    clip = load_clip(speech_path)
    assert clip.sample_rate == 22050 and clip.samples.shape == (220_500,)
    assert clip.samples.dtype == np.float32
    assert np.max(np.abs(clip.samples)) == pytest.approx(1.0)
    # Zero padding after the 3 s recording.
    assert not clip.samples[int(3.1 * 22050) :].any()
    raw, _ = sf.read(str(speech_path), dtype="float32")
    assert clip.peak == pytest.approx(np.max(np.abs(resample(raw, 16000, 22050))), rel=1e-6)


def test_stereo_is_averaged_and_offset_window_kept(tmp_path):
    sr = 44100
    t = np.arange(3 * sr) / sr
    left, right = np.sin(2 * np.pi * 440 * t), 0.5 * np.sin(2 * np.pi * 440 * t)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, right], axis=1).astype(np.float32), sr, subtype="FLOAT")
    clip = load_clip(path, sample_rate=sr, offset=1.0, duration=1.0)
    assert clip.samples.shape == (sr,)
    assert clip.peak == pytest.approx(0.75, rel=1e-3)
    np.testing.assert_allclose(clip.samples * clip.peak, 0.75 * np.sin(2 * np.pi * 440 * t[sr : 2 * sr]), atol=1e-4)


def test_resampler_is_named_and_band_limits():
    assert RESAMPLER == "soxr-VHQ"
    x = np.random.default_rng(0).standard_normal(48000).astype(np.float32)
    y = resample(x, 48000, 16000)
    assert y.shape == (16000,) and y.dtype == np.float32
    assert resample(x, 16000, 16000) is not None


def test_silent_unreadable_nan_and_missing_are_named(tmp_path):
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(22050, dtype=np.float32), 22050)
    with pytest.raises(AudioError, match="silent.wav.*silence"):
        load_clip(silent)
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio")
    with pytest.raises(AudioError, match="notes.wav.*cannot read audio"):
        load_clip(text)
    nan = tmp_path / "nan.wav"
    sf.write(nan, np.array([0.1, np.nan, 0.2] * 100, dtype=np.float32), 22050, subtype="FLOAT")
    with pytest.raises(AudioError, match="nan.wav.*NaN"):
        load_clip(nan)
    with pytest.raises(AudioError, match="missing.flac: no such file"):
        load_clip(tmp_path / "missing.flac")
    with pytest.raises(AudioError, match="no samples after"):
        load_clip(silent, offset=5.0)
