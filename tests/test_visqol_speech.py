"""ViSQOL speech mode over a white-noise SNR sweep on real speech: what holds, and the known defect it pins.

Finding (issue 13): the similarity ViSQOL computes (mean NSIM over its 21 bands) rises strictly with SNR, and so
does the polynomial mapper, a fixed increasing function of it; the lattice mapper (visqol-python's default, the C++
tool's too) maps those rising similarities to MOS values that are not monotonic below ~30 dB SNR, where it sits
near its floor (1.0-1.5). Our feeding is not the cause: the authors' files are at the same level (peak 1), and
native 16 kHz input or a shorter clip moves the values without removing the wiggle. We keep the lattice mapper,
since only it reproduces the paper's Table 1 on the authors' own reconstructions (polynomial reads 3.6-4.0 where
the paper has 1.6-2.1); low speech-ViSQOL scores are therefore not ordered below ~2.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from siamese_siren.codec.audio import load_clip, resample
from siamese_siren.metrics import visqol

DATA = Path(__file__).resolve().parents[1] / "resources" / "audio"
SR = 22050
SNRS = (0, 10, 20, 30, 40, 50)
CLIPS = ("speech_librivox_0870.flac", "speech_librivox_0890.flac")
pytestmark = pytest.mark.slow  # the sweep scores 24 clips with ViSQOL (~6 s)


def add_noise(x: np.ndarray, snr_db: float, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal(len(x))
    noise *= np.sqrt(np.mean(x.astype(np.float64) ** 2) / np.mean(noise**2) / 10 ** (snr_db / 10))
    return (x + noise).astype(np.float32)


@pytest.fixture(scope="module")
def sweep() -> dict[str, list]:
    """Per clip, ViSQOL's lattice result at each SNR, fed as the pipeline feeds it (22.05 kHz clip, 10 s padded,
    peak 1, resampled to 16 kHz with the project's resampler)."""
    api = visqol.api("speech", "lattice")
    out = {}
    for name in CLIPS:
        x = load_clip(DATA / name, SR).samples
        ref = resample(x, SR, 16000).astype(np.float64)
        out[name] = [api.measure_from_arrays(ref, resample(add_noise(x, snr, snr), SR, 16000).astype(np.float64),
                                             16000) for snr in SNRS]
    return out


@pytest.mark.parametrize("clip", CLIPS)
def test_similarity_and_polynomial_mapper_rise_with_snr(sweep, clip):
    from visqol.quality_mapper import SpeechSimilarityToQualityMapper

    nsim = [float(np.mean(r.fvnsim)) for r in sweep[clip]]
    assert np.all(np.diff(nsim) > 0.02), nsim
    polynomial = [SpeechSimilarityToQualityMapper().predict_quality(r.fvnsim) for r in sweep[clip]]
    assert np.all(np.diff(polynomial) > 0), polynomial


@pytest.mark.parametrize("clip", CLIPS)
def test_lattice_mapper_is_monotonic_only_from_30_db(sweep, clip):
    mos = dict(zip(SNRS, (r.moslqo for r in sweep[clip]), strict=True))
    assert mos[30] < mos[40] < mos[50], mos
    assert mos[50] > 4.0 and all(mos[snr] <= 1.5 for snr in (0, 10, 20)), mos


def test_lattice_mapper_known_non_monotonicity(sweep):
    """Pinned so that a visqol-python release that fixes it is noticed (then tighten the test above)."""
    mos = [round(r.moslqo, 2) for r in sweep["speech_librivox_0890.flac"]]
    assert mos[0] > mos[1] > mos[2], mos  # 0 dB scores above 10 dB, which scores above 20 dB
