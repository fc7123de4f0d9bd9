import numpy as np
import pytest
import torch

from siamese_siren.codec.bitstream import CompressedClip
from siamese_siren.codec.decode import (
    MAX_WORK,
    decode_work,
    decoded_chunks,
    denoise,
    heads_identical,
    multiply_adds,
    output_length,
    output_problem,
    reconstruct,
    synthesize,
)
from siamese_siren.codec.models import VARIANTS, SiameseSiren, Siren, Variant


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


def test_a_zero_noise_estimate_does_not_denoise(trained_small):
    # issue 28, row 8: two identical heads (or alpha 0) make the noise estimate zero; denoising then returns head a
    # as it is, instead of refusing with "no siamese layers" (or noisereduce smearing a signal it has no noise for)
    heads = synthesize(Siren(VARIANTS["siren-3x64"]), 2000)
    assert np.array_equal(heads[:, 0], heads[:, 1])
    assert np.array_equal(denoise(heads, 22050, "siamese"), heads[:, 0])
    different = synthesize(trained_small, 4000)
    assert np.array_equal(denoise(different, 22050, "siamese", alpha=0.0), different[:, 0])


def test_identical_heads_are_recognised_from_the_stored_weights():
    torch.manual_seed(0)
    model = SiameseSiren(VARIANTS["siamese-2x64+1x32"])
    assert not heads_identical(CompressedClip.from_model(model, 22050, 4410, 0.5))
    model.heads[1].load_state_dict(model.heads[0].state_dict())
    twin = CompressedClip.from_model(model, 22050, 4410, 0.5)
    assert heads_identical(twin)
    assert np.array_equal(*reconstruct(twin).T)
    assert heads_identical(CompressedClip.from_model(Siren(VARIANTS["siren-3x64"]), 22050, 4410, 0.5))


def test_the_decode_work_is_samples_times_multiply_adds_and_bounded():
    # issue 28, row 14: every file of the paper's models (Tables 1-3) decodes within the default limit, even an hour
    # at the highest rate; a header within the format's bounds but with wide layers asks for more and is refused
    from siamese_siren.codec.bitstream import MAX_SAMPLE_RATE, MAX_SECONDS, layer_shapes

    longest = MAX_SECONDS * MAX_SAMPLE_RATE
    paper = ["original-siren", "pe-siren", "optimized-siren", "siamese-siren", "siamese-2x128+1x64",
             "siamese-2x64+1x32", "siamese-1x256+2x128", "siamese-0+3x128"]
    for name in paper:
        v = VARIANTS[name]
        assert multiply_adds(v) == sum(o * i for o, i in layer_shapes(v))
        assert multiply_adds(v) * longest <= MAX_WORK, name
    torch.manual_seed(0)
    wide = CompressedClip.from_model(SiameseSiren(Variant((512, 512), (256,))), MAX_SAMPLE_RATE, longest, 0.5)
    assert decode_work(wide, MAX_SAMPLE_RATE) == longest * multiply_adds(wide.variant) > MAX_WORK
    assert decode_work(wide, 8000) == longest // 24 * multiply_adds(wide.variant)
    problem = output_problem(wide, MAX_SAMPLE_RATE, False, False)
    assert "multiply-adds" in problem and "--max-work" in problem
    suggested = float(problem.split("--max-work ")[1].split()[0])  # the value the message suggests is enough
    assert suggested >= decode_work(wide, MAX_SAMPLE_RATE)
    assert output_problem(wide, MAX_SAMPLE_RATE, False, False, max_work=suggested) is None
    with pytest.raises(ValueError, match="multiply-adds"):
        next(decoded_chunks(wide, MAX_SAMPLE_RATE, False))
