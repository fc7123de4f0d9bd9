import dataclasses
import struct
import warnings
import zlib

import numpy as np
import pytest
import torch

from siamese_siren.codec import bitstream
from siamese_siren.codec.bitstream import RATE_CONTROL_BYTES, BitstreamError, CompressedClip, RateControl, file_size
from siamese_siren.codec.coders import STORED_CODINGS
from siamese_siren.codec.decode import synthesize
from siamese_siren.codec.models import VARIANTS, SiameseSiren
from siamese_siren.codec.quantize import paper_mode, quantize_weight


def _compressed(model, bits=8, per_channel=False):
    return CompressedClip.from_model(model, 22050, 11025, 0.42, bits, per_channel)


@pytest.mark.parametrize("bits,per_channel", [(8, False), (8, True), (6, False), (4, True)])
def test_round_trip_size_matches_the_documented_formula(trained_small, tmp_path, bits, per_channel):
    clip = _compressed(trained_small, bits, per_channel)
    path = tmp_path / "clip.ssr"
    size = bitstream.write(path, clip)
    v = trained_small.variant
    expected = 38 + 2 * (len(v.hidden) + len(v.siam))
    for out, inp in bitstream.layer_shapes(v):
        expected += 4 * (out if per_channel else 1) + 4 * out + -(-out * inp * bits // 8)
    assert size == path.stat().st_size == expected == file_size(v, bits, per_channel)
    back = bitstream.read(path)
    assert (back.variant, back.sample_rate, back.num_samples, back.bits, back.per_channel) == (
        v, 22050, 11025, bits, per_channel
    )
    assert back.peak == pytest.approx(0.42)
    for a, b in zip(clip.layers, back.layers, strict=True):
        np.testing.assert_array_equal(a.weights, b.weights)
        np.testing.assert_array_equal(a.scales, b.scales)
        np.testing.assert_array_equal(a.bias, b.bias)
    assert not list(tmp_path.glob("*.tmp"))


def test_paper_variant_file_size():
    # 140,546 parameters: 139,776 int8 weights, 770 float32 biases, one scale per layer, 44 header + 4 CRC bytes.
    size = file_size(VARIANTS["siamese-siren"])
    assert size == 38 + 2 * 3 + 139_776 + 4 * 770 + 4 * 6
    assert bitstream.kbps(size, 10.0) == pytest.approx(8 * size / 10 / 1000)


def test_decoded_int8_matches_float_model_closely(trained_small):
    n = 11025
    float_out = synthesize(trained_small, n)
    int8_out = synthesize(_compressed(trained_small).model(), n)
    error = np.sqrt(np.mean((float_out - int8_out) ** 2)) / np.sqrt(np.mean(float_out**2))
    assert error < 0.05
    assert not np.array_equal(float_out, int8_out)  # it really was quantized


def test_weight_quantization_is_pytorchs_per_tensor_symmetric():
    w = torch.randn(16, 8)
    q, scales = quantize_weight(w)
    assert scales.shape == (1,)
    assert scales[0] == pytest.approx(w.abs().max().item() / 127.5)
    assert q.min() >= -128 and q.max() <= 127
    q4, scales4 = quantize_weight(w, bits=4, per_channel=True)
    assert scales4.shape == (16,) and q4.min() >= -8 and q4.max() <= 7


def _dynamic_reference(model):
    ao = pytest.importorskip("torch.ao.quantization")
    if not hasattr(ao, "quantize_dynamic") or "x86" not in torch.backends.quantized.supported_engines:
        pytest.skip("this torch has no dynamic quantization on x86")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.backends.quantized.engine = "x86"
        return ao.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


def test_paper_mode_layers_match_pytorch_dynamic_quantization(trained_small):
    reference = _dynamic_reference(trained_small)
    ours = dict(paper_mode(_compressed(trained_small).model()).named_modules())
    seen = []
    for name, module in reference.named_modules():
        if type(module).__module__.endswith("dynamic.modules.linear"):
            module.register_forward_hook(lambda _m, inp, out, name=name: seen.append((name, inp[0], out)))
    with torch.no_grad():
        reference(torch.linspace(-1, 1, 11025).unsqueeze(1))
        assert len(seen) == 6
        for name, layer_input, layer_output in seen:
            # Same input, same layer: equal up to float32 rounding of the int32 accumulation (1-2 ulp).
            torch.testing.assert_close(ours[name](layer_input), layer_output, atol=1e-6, rtol=0)


def test_paper_mode_reproduces_pytorch_dynamic_quantization_end_to_end(trained_small):
    reference = _dynamic_reference(trained_small)
    with torch.no_grad():
        expected = reference(torch.linspace(-1, 1, 11025).unsqueeze(1)).numpy()
    ours = synthesize(paper_mode(_compressed(trained_small).model()), 11025, chunk=None)
    weights_only = synthesize(_compressed(trained_small).model(), 11025)

    def rms(x):
        return float(np.sqrt(np.mean(x**2)))

    # sin(100 x) turns 1-ulp differences into an occasional flipped rounding step downstream, so compare energies:
    # our emulation sits far closer to PyTorch than weights-only int8 does.
    assert rms(ours - expected) < 0.2 * rms(weights_only - expected)
    assert np.mean(np.abs(ours - expected) < 1e-5) > 0.8


def test_identical_file_gives_identical_output(trained_small, tmp_path):
    path = tmp_path / "a.ssr"
    bitstream.write(path, _compressed(trained_small))
    a = synthesize(bitstream.read(path).model(), 5000)
    b = synthesize(bitstream.read(path).model(), 5000)
    assert np.array_equal(a, b)


def _valid_bytes() -> bytes:
    torch.manual_seed(0)
    return bitstream.to_bytes(_compressed(SiameseSiren(VARIANTS["siamese-2x64+1x32"])))


def test_truncated_file_is_refused():
    data = _valid_bytes()
    for cut in (0, 3, 30, len(data) // 2, len(data) - 1):
        with pytest.raises(BitstreamError, match="short|checksum|bytes where"):
            bitstream.from_bytes(data[:cut], "cut.ssr")


def test_bit_flip_is_refused():
    data = bytearray(_valid_bytes())
    data[len(data) // 2] ^= 0x10
    with pytest.raises(BitstreamError, match="flipped.ssr: checksum mismatch"):
        bitstream.from_bytes(bytes(data), "flipped.ssr")


def test_wrong_magic_and_version_are_refused():
    data = bytearray(_valid_bytes())
    with pytest.raises(BitstreamError, match="not a siamese-siren file"):
        bitstream.from_bytes(b"RIFF" + bytes(data[4:]), "x.wav")
    data[4] = 9
    with pytest.raises(BitstreamError, match="format version 9"):
        bitstream.from_bytes(bytes(data), "future.ssr")


def test_hostile_header_with_valid_checksum_is_refused():
    body = bytearray(_valid_bytes()[:-4])
    struct.pack_into("<H", body, 22, 60000)  # absurd first layer width
    data = bytes(body) + struct.pack("<I", zlib.crc32(body))
    with pytest.raises(BitstreamError, match="layer widths"):
        bitstream.from_bytes(data, "hostile.ssr")


def test_missing_file_is_named(tmp_path):
    with pytest.raises(BitstreamError, match="nothing.ssr: cannot read"):
        bitstream.read(tmp_path / "nothing.ssr")


# --- entropy-coded payloads (flags bit 1) --------------------------------------------------------------------


def _recrc(body: bytes | bytearray) -> bytes:
    return bytes(body) + struct.pack("<I", zlib.crc32(bytes(body)))


@pytest.mark.parametrize("coder", ["zstd", "rans", "rans-prior"])
@pytest.mark.parametrize("bits,per_channel", [(8, False), (8, True), (6, True), (4, True), (2, False)])
def test_entropy_coded_file_decodes_bit_identically_to_its_uncompressed_twin(trained_small, tmp_path, bits,
                                                                             per_channel, coder):
    plain = CompressedClip.from_model(trained_small, 22050, 11025, 0.42, bits, per_channel)
    coded = CompressedClip.from_model(trained_small, 22050, 11025, 0.42, bits, per_channel, entropy=coder)
    size_plain = bitstream.write(tmp_path / "plain.ssr", plain)
    size_coded = bitstream.write(tmp_path / "coded.ssr", coded)
    assert size_plain == file_size(trained_small.variant, bits, per_channel)  # uncompressed: the exact formula
    assert size_coded == (tmp_path / "coded.ssr").stat().st_size  # coded: what was written
    data = (tmp_path / "coded.ssr").read_bytes()
    assert data[5] == (bitstream.FLAG_ENTROPY | (bitstream.FLAG_PER_CHANNEL if per_channel else 0))
    a, b = bitstream.read(tmp_path / "plain.ssr"), bitstream.read(tmp_path / "coded.ssr")
    assert (a.entropy, b.entropy) == ("none", coder)
    assert data[34 + 2 * (len(a.variant.hidden) + len(a.variant.siam))] == bitstream.CODERS[coder].file_id
    assert (b.variant, b.bits, b.per_channel, b.num_samples, b.peak) == (a.variant, a.bits, a.per_channel,
                                                                         a.num_samples, a.peak)
    for x, y in zip(a.layers, b.layers, strict=True):
        assert np.array_equal(x.weights, y.weights) and np.array_equal(x.scales, y.scales)
        assert np.array_equal(x.bias, y.bias)
    assert np.array_equal(synthesize(a.model(), 4000), synthesize(b.model(), 4000))  # bit-identical audio
    assert np.array_equal(synthesize(paper_mode(a.model()), 4000, chunk=None),
                          synthesize(paper_mode(b.model()), 4000, chunk=None))


def test_rans_coding_beats_bit_packing_on_trained_weights(trained_small):
    # the adaptive model needs no stored table, so coding never costs more than a few bytes over the packed file
    for bits, per_channel in [(8, False), (6, False), (6, True), (4, True)]:
        plain = len(bitstream.to_bytes(CompressedClip.from_model(trained_small, 22050, 11025, 0.42, bits, per_channel)))
        coded = len(bitstream.to_bytes(CompressedClip.from_model(trained_small, 22050, 11025, 0.42, bits, per_channel,
                                                                 entropy="rans")))
        assert coded < plain + 16, (bits, per_channel, plain, coded)


@pytest.mark.parametrize("coder", ["zstd", "rans", "rans-prior"])
def test_damaged_entropy_coded_files_are_refused(coder):
    torch.manual_seed(0)
    model = SiameseSiren(VARIANTS["siamese-2x64+1x32"])
    data = bitstream.to_bytes(CompressedClip.from_model(model, 22050, 11025, 0.42, 6, True, entropy=coder))
    assert bitstream.from_bytes(data).entropy == coder
    coder_at = 34 + 2 * 3
    body = bytearray(data[:-4])
    body[coder_at] = 7  # an unknown coder
    with pytest.raises(BitstreamError, match="unknown entropy coder 7"):
        bitstream.from_bytes(_recrc(body), "coder.ssr")
    body = bytearray(data[:-4])
    struct.pack_into("<I", body, coder_at + 1, 1 << 30)  # claims a huge decoded payload
    with pytest.raises(BitstreamError, match="decodes to 1073741824 bytes"):
        bitstream.from_bytes(_recrc(body), "bomb.ssr")
    body = bytearray(data[:-4])
    body[-20] ^= 0xFF  # damage inside the coded payload, checksum recomputed
    if coder != "rans":  # a rans stream decodes most damaged words to some symbols: only the CRC catches that
        with pytest.raises(BitstreamError, match="corrupt|outside|size"):
            bitstream.from_bytes(_recrc(body), "payload.ssr")
    with pytest.raises(BitstreamError, match="corrupt|size"):
        bitstream.from_bytes(_recrc(bytearray(data[:-4])[:-6]), "short.ssr")
    with pytest.raises(BitstreamError, match="short|checksum"):
        bitstream.from_bytes(data[: coder_at + 3], "cut.ssr")
    body = bytearray(data[:-4])
    body[5] |= 0x08  # a flag this version does not know
    with pytest.raises(BitstreamError, match="unknown flags 0x0b"):
        bitstream.from_bytes(_recrc(body), "flags.ssr")
    with pytest.raises(ValueError, match="entropy coding must be one of"):
        CompressedClip.from_model(model, 22050, 11025, 0.42, 8, False, entropy="gzip")


def test_weights_are_stored_offset_by_half_the_range_as_documented(trained_small):
    clip = _compressed(trained_small)
    data = bitstream.to_bytes(clip)
    v = trained_small.variant
    out, inp = bitstream.layer_shapes(v)[0]
    start = 34 + 2 * (len(v.hidden) + len(v.siam)) + 4 + 4 * out  # header, then layer 0's scale and biases
    expected = (clip.layers[0].weights.astype(np.int16) + 128).astype(np.uint8).tobytes()
    assert data[start : start + out * inp] == expected


def test_rans_prior_beats_rans_on_trained_weights(trained_small):
    # measured on this network: 1.6-3.8 % smaller per tensor, 0.4-1.2 % (26-114 bytes) per channel, bits 2..8
    for bits, per_channel in [(8, False), (6, False), (3, False), (8, True), (4, True)]:
        rans, prior = (len(bitstream.to_bytes(CompressedClip.from_model(trained_small, 22050, 11025, 0.42, bits,
                                                                        per_channel, entropy=coder)))
                       for coder in ("rans", "rans-prior"))
        assert prior < (1.0 if per_channel else 0.99) * rans, (bits, per_channel, rans, prior)


def test_any_damaged_byte_of_a_rans_prior_file_is_refused(trained_small):
    data = bitstream.to_bytes(CompressedClip.from_model(trained_small, 22050, 11025, 0.42, 4, True, "rans-prior"))
    for at in range(40, len(data) - 4, 11):  # the coder header, the layer models and the words
        bad = bytearray(data)
        bad[at] ^= 0x20
        with pytest.raises(BitstreamError, match="bad.ssr: checksum mismatch"):
            bitstream.from_bytes(bytes(bad), "bad.ssr")


# --- entropy "auto": the smallest of none and every coder ---------------------------------------------------------


@pytest.mark.parametrize("bits,per_channel", [(8, False), (4, True), (2, False)])
def test_auto_writes_the_smallest_coding_and_names_it(trained_small, bits, per_channel):
    def clip(entropy):
        return CompressedClip.from_model(trained_small, 22050, 11025, 0.42, bits, per_channel, entropy)

    sizes = {entropy: len(bitstream.to_bytes(clip(entropy))) for entropy in STORED_CODINGS}
    auto = clip("auto")
    data = bitstream.to_bytes(auto)
    back = bitstream.from_bytes(data)
    assert len(data) == min(sizes.values()) and back.entropy == min(sizes, key=sizes.get) != "auto"
    for x, y in zip(auto.layers, back.layers, strict=True):
        assert np.array_equal(x.weights, y.weights) and np.array_equal(x.scales, y.scales)
        assert np.array_equal(x.bias, y.bias)


def test_auto_keeps_the_plain_payload_when_nothing_compresses():
    torch.manual_seed(0)  # an untrained SIREN: uniform weights, 8 bits per channel leave nothing to code away
    model = SiameseSiren(VARIANTS["siamese-2x64+1x32"])
    data = bitstream.to_bytes(CompressedClip.from_model(model, 22050, 11025, 0.42, 8, True, entropy="auto"))
    assert bitstream.from_bytes(data).entropy == "none" and len(data) == file_size(model.variant, 8, True)


# --- the rate-control record (flags bit 2) ------------------------------------------------------------------------

RECORD = RateControl(target="kbps", asked=24.0, got=23.5, met=True, candidates=12, objective="snr",
                     objective_value=14.25)


@pytest.mark.parametrize("entropy", ["none", "rans-prior", "auto"])
def test_rate_control_record_round_trips(trained_small, tmp_path, entropy):
    clip = CompressedClip.from_model(trained_small, 22050, 11025, 0.42, 6, True, entropy)
    quality = RateControl("visqol", 3.5, 3.25, False, 65535, "snr", -2.5)
    for record in (RECORD, quality):
        path = tmp_path / "rc.ssr"
        size = bitstream.write(path, dataclasses.replace(clip, rate_control=record))
        back = bitstream.read(path)
        assert back.rate_control == record  # values chosen exact in float32
        plain = bitstream.to_bytes(clip)
        assert size == len(plain) + RATE_CONTROL_BYTES
        assert back.entropy == bitstream.from_bytes(plain).entropy
        for x, y in zip(clip.layers, back.layers, strict=True):
            assert np.array_equal(x.weights, y.weights) and np.array_equal(x.bias, y.bias)


@pytest.mark.parametrize("entropy", ["none", "rans"])
def test_rate_control_record_sits_after_the_header_and_files_without_it_are_unchanged(trained_small, entropy):
    clip = CompressedClip.from_model(trained_small, 22050, 11025, 0.42, 8, False, entropy)
    without = bitstream.to_bytes(clip)
    if entropy == "none":
        assert len(without) == file_size(clip.variant, 8, False)
    assert without[5] & bitstream.FLAG_RATE_CONTROL == 0
    header_end = 34 + 2 * 3
    record = struct.pack("<BBBHfff", 0, 6, 1, 12, 24.0, 23.5, 14.25)  # kbps, snr, met, as documented
    assert RECORD.to_bytes() == record and RATE_CONTROL_BYTES == 17
    expected = _recrc(without[:5] + bytes([without[5] | 4]) + without[6:header_end] + record + without[header_end:-4])
    assert bitstream.to_bytes(dataclasses.replace(clip, rate_control=RECORD)) == expected
    assert bitstream.from_bytes(without).rate_control is None


def test_damaged_rate_control_records_are_refused(trained_small):
    clip = CompressedClip.from_model(trained_small, 22050, 11025, 0.42, 4, True, "rans-prior")
    data = bitstream.to_bytes(dataclasses.replace(clip, rate_control=RECORD))
    at = 34 + 2 * 3

    def damaged(offset: int, value: bytes) -> bytes:
        body = bytearray(data[:-4])
        body[at + offset : at + offset + len(value)] = value
        return _recrc(body)

    for offset, value, why in [
        (0, b"\x07", "rc.ssr: unknown rate-control target 7 \\(this program reads kbps = 0,"),
        (1, b"\xc8", "rc.ssr: unknown rate-control objective 200"),
        (2, b"\x03", "rc.ssr: unknown rate-control flags 0x03"),
        (5, struct.pack("<f", float("nan")), "rc.ssr: non-finite rate-control values"),
        (13, struct.pack("<f", float("inf")), "rc.ssr: non-finite rate-control values"),
    ]:
        with pytest.raises(BitstreamError, match=why):
            bitstream.from_bytes(damaged(offset, value), "rc.ssr")
    body = bytearray(_valid_bytes()[:-4])
    body[5] |= bitstream.FLAG_RATE_CONTROL  # a plain file claiming a record it does not have
    with pytest.raises(BitstreamError, match="claims.ssr: (unknown rate-control|.* bytes where the header implies)"):
        bitstream.from_bytes(_recrc(body), "claims.ssr")
    with pytest.raises(BitstreamError, match="record cut short"):
        bitstream.from_bytes(_recrc(data[: at + 9]), "cut.ssr")


def test_rate_control_refuses_what_a_reader_would():
    for change, why in [({"target": "mos"}, "must be one of kbps, visqol"), ({"objective": "lsd"}, "must be one of"),
                        ({"candidates": 70000}, "0..65535"), ({"got": float("nan")}, "finite"),
                        ({"asked": 1e40}, "finite float32")]:
        with pytest.raises(ValueError, match=why):
            dataclasses.replace(RECORD, **change)
    assert RECORD.summary() == "kbps 24 asked, 23.5 reached (met); snr 14.25; 12 candidates measured"
