"""Bad inputs are named, not fatal; untrusted compressed files are safe; same seed, same bytes."""

import struct
import tracemalloc
import zlib

import numpy as np
import pytest
import soundfile as sf
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siamese_siren.codec import bitstream
from siamese_siren.codec.audio import AudioError, load_clip
from siamese_siren.codec.bitstream import BitstreamError, CompressedClip
from siamese_siren.codec.decode import CHUNK, points_per_call
from siamese_siren.codec.models import VARIANTS, SiameseSiren, Variant
from siamese_siren.codec.train import TrainConfig, load_model, train

SMALL = VARIANTS["siamese-2x64+1x32"]


def _tone(seconds: float, rate: int, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    x = 0.5 * np.sin(2 * np.pi * 330 * t)
    return np.repeat(x[:, None], channels, axis=1) if channels > 1 else x


# (name, writer) pairs: each file is either loaded correctly or refused with an AudioError that names it.
GOOD_FORMATS = [
    ("pcm8.wav", dict(data=_tone(1, 22050), samplerate=22050, subtype="PCM_U8")),
    ("pcm24.wav", dict(data=_tone(1, 22050), samplerate=22050, subtype="PCM_24")),
    ("pcm32.wav", dict(data=_tone(1, 22050), samplerate=22050, subtype="PCM_32")),
    ("float.wav", dict(data=_tone(1, 22050), samplerate=22050, subtype="FLOAT")),
    ("double.wav", dict(data=_tone(1, 22050), samplerate=22050, subtype="DOUBLE")),
    ("six_channels.wav", dict(data=_tone(1, 48000, channels=6), samplerate=48000, subtype="PCM_16")),
    ("rate8k.flac", dict(data=_tone(1, 8000), samplerate=8000, subtype="PCM_16")),
    ("rate96k.wav", dict(data=_tone(1, 96000), samplerate=96000, subtype="PCM_24")),
    ("short.wav", dict(data=_tone(0.1, 22050), samplerate=22050, subtype="PCM_16")),
    ("vorbis.ogg", dict(data=_tone(1, 44100), samplerate=44100, format="OGG", subtype="VORBIS")),
    ("lame.mp3", dict(data=_tone(1, 44100), samplerate=44100, format="MP3", subtype="MPEG_LAYER_III")),
]


@pytest.mark.parametrize("name,spec", GOOD_FORMATS, ids=[n for n, _ in GOOD_FORMATS])
def test_every_common_format_prepares_to_the_same_clip_shape(tmp_path, name, spec):
    path = tmp_path / name
    sf.write(path, **spec)
    clip = load_clip(path, duration=2.0)
    assert clip.samples.shape == (44100,) and clip.sample_rate == 22050
    assert np.max(np.abs(clip.samples)) == pytest.approx(1.0)
    assert 0.3 < clip.peak < 0.7  # the tone's level, whatever the container and rate


BAD_FILES = {
    "empty.wav": b"",
    "notes.wav": b"this is a text file named .wav\n" * 10,
    "truncated.flac": None,  # filled in below from a real file
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_unreadable_files_are_refused_with_their_name(tmp_path, name, speech_path):
    path = tmp_path / name
    data = BAD_FILES[name]
    path.write_bytes(data if data is not None else speech_path.read_bytes()[:200])
    with pytest.raises(AudioError, match=name):
        load_clip(path)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_samples_are_refused(tmp_path, bad):
    x = _tone(1, 22050).astype(np.float32)
    x[100] = bad
    path = tmp_path / "nonfinite.wav"
    sf.write(path, x, 22050, subtype="FLOAT")
    with pytest.raises(AudioError, match="nonfinite.wav.*NaN or infinite"):
        load_clip(path)


def test_digital_silence_is_refused(tmp_path):
    path = tmp_path / "silence.flac"
    sf.write(path, np.zeros(22050, dtype=np.int16), 22050, subtype="PCM_16")
    with pytest.raises(AudioError, match="silence.flac: digital silence"):
        load_clip(path)


def test_a_two_hour_file_costs_what_ten_seconds_cost(tmp_path):
    rate, path = 8000, tmp_path / "two_hours.wav"
    block = (_tone(60, rate) * 32767).astype(np.int16)
    with sf.SoundFile(path, "w", samplerate=rate, channels=1, subtype="PCM_16") as f:
        for _ in range(120):
            f.write(block)
    assert sf.info(str(path)).duration == pytest.approx(7200)
    tracemalloc.start()
    clip = load_clip(path, offset=3600.0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert clip.samples.shape == (220_500,)
    assert peak < 30 * 2**20  # 10 s at 22050 Hz is ~1 MB per copy; the file is 115 MB


# ---- untrusted compressed files ------------------------------------------------------------------------------


def _valid_file() -> bytes:
    torch.manual_seed(0)
    model = SiameseSiren(Variant((8,), (4,), name="fuzz"))
    return bitstream.to_bytes(CompressedClip.from_model(model, 22050, 22050, 0.5))


VALID = _valid_file()


def _reseal(body: bytes) -> bytes:
    """Give a tampered header a valid checksum, so the parser's own checks are what is tested."""
    return body + struct.pack("<I", zlib.crc32(body))


def _decode_or_refuse(data: bytes) -> None:
    try:
        clip = bitstream.from_bytes(data, "fuzzed.ssr")
    except BitstreamError as err:
        assert "fuzzed.ssr" in str(err)
        return
    # Whatever parses is within the documented bounds and decodes to finite audio of the stated length.
    assert clip.num_samples <= bitstream.MAX_SECONDS * clip.sample_rate
    assert all(w <= bitstream.MAX_WIDTH for w in clip.variant.hidden + clip.variant.siam)


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.integers(min_value=0, max_value=len(VALID) - 1))
def test_fuzz_truncations(cut):
    with pytest.raises(BitstreamError):
        bitstream.from_bytes(VALID[:cut], "fuzzed.ssr")


@FUZZ
@given(st.integers(min_value=0, max_value=8 * len(VALID) - 1))
def test_fuzz_bit_flips(bit):
    data = bytearray(VALID)
    data[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(BitstreamError, match="fuzzed.ssr"):
        bitstream.from_bytes(bytes(data), "fuzzed.ssr")


@FUZZ
@given(st.integers(min_value=4, max_value=bitstream.HEADER_FIXED_BYTES + 4), st.binary(min_size=1, max_size=8))
def test_fuzz_hostile_header_fields_with_valid_checksums(offset, junk):
    body = bytearray(VALID[:-4])
    body[offset : offset + len(junk)] = junk
    _decode_or_refuse(_reseal(bytes(body)))


@FUZZ
@given(st.binary(max_size=256))
def test_fuzz_random_bytes(data):
    _decode_or_refuse(data)
    _decode_or_refuse(bitstream.MAGIC + bytes([bitstream.VERSION]) + data)


def test_huge_header_dimensions_are_refused_before_allocating():
    body = bytearray(VALID[:-4])
    sample_count_at = 22 + 2 * 2 + 4  # after the fixed header, two layer widths and the sample rate
    struct.pack_into("<I", body, sample_count_at, 0xFFFFFFFF)  # 4 billion samples: far beyond MAX_SECONDS
    with pytest.raises(BitstreamError, match="samples is out of range"):
        bitstream.from_bytes(_reseal(bytes(body)), "huge.ssr")


def test_the_widest_layers_a_header_may_ask_for_are_evaluated_in_bounded_calls():
    widest = Variant((bitstream.MAX_WIDTH,) * 8, (bitstream.MAX_WIDTH,) * 8)
    assert points_per_call(widest) * bitstream.MAX_WIDTH <= CHUNK * 256  # 64 MiB of float32 activations a layer
    assert points_per_call(SMALL) == CHUNK  # the paper's widths keep the chunking they always had


# ---- determinism -----------------------------------------------------------------------------------------------


@pytest.mark.slow  # trains twice (5-14 s on a busy 2-core machine)
def test_same_seed_same_machine_gives_identical_weights_and_bytes(speech_half_second):
    config = TrainConfig(steps=20, seed=7, progress=False, device="cpu")
    files = []
    for _ in range(2):
        result = train(SMALL, speech_half_second, config)
        model = load_model(SMALL, result.state)
        files.append(bitstream.to_bytes(CompressedClip.from_model(model, 22050, len(speech_half_second), 0.8)))
    assert files[0] == files[1]


def test_a_cuda_device_this_machine_lacks_ends_the_job_with_one_line_naming_the_key(monkeypatch):
    """Planning may run where there is no GPU; the job, where the device is used, says which key to change."""
    import torch

    from siamese_siren.pipeline import jobs

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit, match=r"config key training.device: 'cuda', but torch sees 0 CUDA device"):
        jobs.usable_device("training.device", "cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(SystemExit, match="'cuda:2', but torch sees 2 CUDA device"):
        jobs.usable_device("training.device", "cuda:2")
    jobs.usable_device("training.device", "cuda:1")  # there: nothing happens
    jobs.usable_device("training.device", None)
    jobs.usable_device("training.device", "cpu")
