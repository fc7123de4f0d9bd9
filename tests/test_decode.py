import numpy as np
import pytest

from siamese_siren.codec.bitstream import CompressedClip
from siamese_siren.codec.decode import denoise, output_length, reconstruct, synthesize
from siamese_siren.codec.models import VARIANTS, Siren


def test_any_sample_rate_and_chunking(trained_small):
    clip = CompressedClip.from_model(trained_small, 22050, 11025, 1.0)
    assert reconstruct(clip).shape == (11025, 2)
    assert reconstruct(clip, 44100).shape == (22050, 2)
    assert reconstruct(clip, 16000).shape == (output_length(11025, 22050, 16000), 2) == (8000, 2)
    whole = synthesize(trained_small, 3000, chunk=None)
    np.testing.assert_allclose(synthesize(trained_small, 3000, chunk=1000), whole, atol=1e-6)


def test_higher_rate_decode_is_the_same_signal_denser(trained_small):
    at_22k = synthesize(trained_small, 11025)
    at_44k = synthesize(trained_small, 22049)  # 2N-1 points: every other one is an original time point
    np.testing.assert_allclose(at_44k[::2], at_22k, atol=1e-5)


def test_denoise_modes(trained_small, speech_half_second):
    heads = synthesize(trained_small, len(speech_half_second))
    assert np.array_equal(denoise(heads, 22050, "none"), heads[:, 0])
    for mode in ("siamese", "stationary", "nonstationary"):
        out = denoise(heads, 22050, mode)
        assert out.shape == (len(speech_half_second),) and np.isfinite(out).all()
        assert not np.allclose(out, heads[:, 0])
    # The noise estimate's gain matters.
    assert not np.allclose(denoise(heads, 22050, "siamese", alpha=1.0), denoise(heads, 22050, "siamese", alpha=2.0))
    with pytest.raises(ValueError, match="unknown denoise mode"):
        denoise(heads, 22050, "magic")


def test_siamese_denoise_needs_two_heads():
    heads = synthesize(Siren(VARIANTS["siren-3x64"]), 2000)
    with pytest.raises(ValueError, match="two different heads"):
        denoise(heads, 22050, "siamese")
