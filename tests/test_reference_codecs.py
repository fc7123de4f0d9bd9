"""Reference codecs through the real ffmpeg on real recordings, and the rate-distortion table logic."""

import shutil

import numpy as np
import pandas as pd
import pytest

from siamese_siren.analysis import reference_codecs as codecs
from siamese_siren.analysis.rate_distortion import codec_points, inr_points, kbps_for_quality, kbps_needed, rd_summary
from siamese_siren.codec.audio import load_clip, resample

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
                                reason="ffmpeg is a system dependency (apt-get install ffmpeg; .ci/run installs it)")


@pytest.fixture(scope="module")
def speech_5s(speech_path):
    return load_clip(speech_path, offset=0.0, duration=5.0)


@pytest.fixture(scope="module")
def music_5s(music_path):
    return load_clip(music_path, offset=0.0, duration=5.0)


@pytest.mark.parametrize("name,kbps", [("opus", 6), ("opus", 24), ("opus", 128), ("mp3", 8), ("mp3", 32),
                                       ("mp3", 128)])
def test_round_trip_hits_the_bitrate_with_zero_lag(speech_5s, music_5s, tmp_path, name, kbps):
    for clip in (speech_5s, music_5s):
        rt = codecs.round_trip(clip.samples, clip.sample_rate, name, kbps, tmp_path / f"x.{name}")
        assert rt.sample_rate == (48000 if name == "opus" else clip.sample_rate)
        assert len(rt.decoded) == len(rt.reference) == round(5.0 * rt.sample_rate)
        assert rt.kbps == pytest.approx(kbps, rel=0.02)  # payload only, over the clip's duration
        assert rt.container_bytes > rt.payload_bytes  # Ogg pages / LAME frame are counted apart
        assert rt.container_kbps < kbps * 1.25
        # after alignment the decode sits exactly on the reference
        assert codecs.find_lag(rt.reference, rt.decoded, 1000) == 0
        assert abs(rt.lag) <= 10  # ffmpeg already trims Opus pre-skip and the MP3 encoder delay
        if kbps >= 24:
            error = np.sqrt(np.mean((rt.decoded - rt.reference) ** 2) / np.mean(rt.reference**2))
            assert error < 0.5  # really the same audio, not just the same length


def test_opus_reference_is_the_projects_48khz_resampling(speech_5s, tmp_path):
    rt = codecs.round_trip(speech_5s.samples, speech_5s.sample_rate, "opus", 32, tmp_path / "x.opus")
    np.testing.assert_array_equal(rt.reference, resample(speech_5s.samples, speech_5s.sample_rate, 48000))


def test_alignment_finds_and_removes_a_known_lag(speech_5s):
    ref = speech_5s.samples
    for lag in (-37, 0, 5, 300):
        shifted = np.concatenate([np.zeros(lag, np.float32), ref])[: len(ref)] if lag >= 0 else ref[-lag:]
        aligned, found = codecs.align(ref, shifted, 1000)
        assert found == lag and len(aligned) == len(ref)
        assert codecs.find_lag(ref, aligned, 1000) == 0


def test_bitrates_are_checked_per_codec_and_rate():
    codecs.check_bitrate("mp3", 128, 22050)
    with pytest.raises(ValueError, match="no 320 kbps mode"):
        codecs.check_bitrate("mp3", 320, 22050)
    codecs.check_bitrate("mp3", 320, 44100)
    with pytest.raises(ValueError, match="6..510"):
        codecs.check_bitrate("opus", 4, 22050)
    with pytest.raises(ValueError, match="unknown codec"):
        codecs.check_bitrate("aac", 64, 22050)


def test_kbps_for_quality_interpolates_on_the_running_best():
    assert kbps_for_quality([10, 20, 40], [2.0, 3.0, 4.0], 3.5) == (30.0, "interpolated")
    assert kbps_for_quality([10, 20, 40], [2.0, 3.0, 4.0], 1.0) == (10.0, "at most")
    rate, how = kbps_for_quality([10, 20], [2.0, 3.0], 4.0)
    assert np.isnan(rate) and how == "not reached"
    assert kbps_for_quality([40, 10, 20], [4.0, 3.0, 2.0], 3.0) == (10.0, "at most")  # unsorted, non-monotone
    assert kbps_for_quality([10, 20, 40], [0.5, 0.3, 0.1], 0.2, higher_is_better=False) == (30.0, "interpolated")


def test_rate_distortion_points_and_table():
    scores = pd.DataFrame({
        "dataset": "speech", "variant": ["v", "v", "v", "v"], "clip": ["a", "b", "a", "b"],
        "precision": ["int8-paper", "int8-paper", "int4-pc", "int4-pc"], "denoise": "siamese",
        "visqol": [3.0, 3.2, 2.9, 3.1], "seconds": 10.0,
    })
    sizes = pd.DataFrame({"dataset": "speech", "variant": "v", "setting": ["int8", "int8", "int4-pc", "int4-pc"],
                          "clip": ["a", "b", "a", "b"], "bytes": [10000, 10000, 5000, 5000], "seconds": 10.0})
    inr = inr_points(scores, sizes, {"int8-paper": "int8", "int4-pc": "int4-pc"}, {"v": "siamese"}, {"v": 40000})
    assert sorted(inr["kbps"].unique()) == [4.0, 8.0] and set(inr["method"]) == {"INR int8-paper", "INR int4-pc"}
    codec = codec_points(pd.DataFrame({"dataset": "speech", "codec": "opus", "target_kbps": [6, 12], "clip": "a",
                                       "kbps": [6.0, 12.0], "container_kbps": [7.0, 13.0],
                                       "payload_bytes": [7500, 15000], "visqol": [2.0, 4.0]}))
    summary = rd_summary(pd.concat([inr, codec], ignore_index=True), ["visqol"])
    assert len(summary) == 4
    table = kbps_needed(summary, {"visqol": [3.0]})
    got = {row.method: (row.kbps, row.found) for row in table.itertuples()}
    assert got["opus"] == (9.0, "interpolated")
    assert got["INR int4-pc"] == (4.0, "at most") and got["INR int8-paper"] == (8.0, "at most")
    assert got["INR (best setting)"] == (4.0, "at most")
