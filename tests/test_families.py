"""Activation and encoding families (docs/model.md) and format version 2 (docs/file-format.md): each family trains
stacked, quantizes, and round-trips through every file setting to the very audio its quantized model makes; the
paper's variants and the committed version-1 files stay bit for bit what they were."""

import dataclasses
import hashlib
import json
import math
import platform
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from snakemake.utils import update_config, validate

from siamese_siren.cli import main
from siamese_siren.codec import bitstream
from siamese_siren.codec.bitstream import BitstreamError, CompressedClip, RateControl, file_size
from siamese_siren.codec.coders import STORED_CODINGS
from siamese_siren.codec.decode import reconstruct, synthesize
from siamese_siren.codec.models import (
    VARIANTS,
    FinerLayer,
    GaborLayer,
    GaussLayer,
    SiameseSiren,
    Variant,
    fourier_frequencies,
    time_grid,
)
from siamese_siren.codec.quantize import paper_mode
from siamese_siren.codec.train import TrainConfig, load_model, train_batch
from siamese_siren.pipeline.config import validate_config
from siamese_siren.pipeline.plan import Plan

ROOT = Path(__file__).resolve().parents[1]
FORMAT_V1 = ROOT / "tests" / "data" / "format-v1"

#: One tiny variant per family, with the encodings mixed in (2x8+1x4 keeps training and coding quick).
FAMILIES = {
    "finer": Variant((8, 8), (4,), activation="finer", omega_first=30.0, omega_hidden=30.0),
    "finer-bias-k-fourier": Variant((8,), (6, 4), activation="finer", finer_bias_scale=2.0, encoding="fourier",
                                    fourier_sigma=40.0, fourier_features=6, fourier_seed=3),
    "gauss": Variant((8, 8), (4,), activation="gauss", gauss_sigma=0.25),
    "gauss-none": Variant((8,), (4,), activation="gauss", encoding="none"),
    "gabor": Variant((8, 8), (4,), activation="gabor", omega_first=20.0, omega_hidden=20.0),
    "gabor-fourier-siren": Variant((), (8, 4), activation="gabor", encoding="fourier", fourier_sigma=10.0),
    "sine-fourier": Variant((8, 8), (4,), encoding="fourier", fourier_sigma=25.0, fourier_seed=11),
    "sine-fourier-plain-siren": Variant((8, 8), (), encoding="fourier", fourier_sigma=25.0),
}
SETTINGS = [(8, False), (6, True), (4, False), (3, True), (2, False)]
LEGACY_KEYS = {"hidden", "siam", "pe_frequencies", "omega_first", "omega_hidden", "pe_scale", "name"}


def _signal(n: int = 1024, seed: int = 0) -> np.ndarray:
    t = np.linspace(0, 1, n, dtype=np.float32)
    noise = np.random.default_rng(seed).normal(0, 0.05, n).astype(np.float32)
    return (np.sin(2 * np.pi * 7 * t) * np.sin(2 * np.pi * 90 * t) + noise).astype(np.float32)


@pytest.fixture(scope="module")
def trained() -> dict[str, torch.nn.Module]:
    """Each family fitted briefly, two clips stacked as one network (StackedSiren), as models."""
    models = {}
    for name, variant in FAMILIES.items():
        results = train_batch(variant, [_signal(), _signal(seed=1)],
                              TrainConfig(steps=12, lr=1e-3, progress=False, device="cpu"))
        models[name] = load_model(variant, results[1].state)
    return models


# ---- the paper's variants do not change ---------------------------------------------------------------------


def test_paper_variants_keep_their_dicts_so_their_training_cache_keys_do_not_change():
    # train._cache_key hashes variant.to_dict(): the paper's dicts are what they were before families existed.
    legacy = {"hidden": [256, 256], "siam": [128], "pe_frequencies": 16, "omega_first": 100.0, "omega_hidden": 100.0,
              "pe_scale": 2.0, "name": "siamese-siren"}
    assert json.dumps(VARIANTS["siamese-siren"].to_dict(), sort_keys=True) == json.dumps(legacy, sort_keys=True)
    for variant in VARIANTS.values():
        d = variant.to_dict()
        assert set(d) == LEGACY_KEYS
        assert Variant.from_dict(d) == variant
        assert (variant.activation, variant.encoding) == ("sine", "positional")
    for family in FAMILIES.values():  # a family is part of the key
        assert Variant.from_dict(family.to_dict()) == family
        assert set(family.to_dict()) > LEGACY_KEYS


def _legacy_model(variant: Variant) -> torch.nn.Module:
    """The pre-family construction, draw for draw: nn.Linear, then SIREN's uniform weights (reference-facts.md)."""

    def linear(inp: int, out: int, bound: float) -> torch.nn.Linear:
        layer = torch.nn.Linear(inp, out)
        with torch.no_grad():
            layer.weight.uniform_(-bound, bound)
        return layer

    def stack(widths, inp, first):
        layers = []
        for i, width in enumerate(widths):
            is_first = first and i == 0
            omega = variant.omega_first if is_first else variant.omega_hidden
            raw = is_first and variant.pe_frequencies == 0
            layers.append(linear(inp, width, 1.0 / inp if raw else math.sqrt(6.0 / inp) / omega))
            inp = width
        return layers

    layers = stack(variant.hidden, variant.in_features, True)
    trunk_out = variant.hidden[-1] if variant.hidden else variant.in_features
    for _ in range(2 if variant.siam else 1):
        layers += stack(variant.siam, trunk_out, not variant.hidden)
        last = variant.siam[-1] if variant.siam else trunk_out
        layers.append(linear(last, 1, math.sqrt(6.0 / last) / variant.omega_hidden))
    return torch.nn.ModuleList(layers)


@pytest.mark.parametrize("name", list(VARIANTS))
def test_paper_variants_initialise_draw_for_draw_as_before(name):
    torch.manual_seed(5)
    model = SiameseSiren(VARIANTS[name])
    torch.manual_seed(5)
    legacy = _legacy_model(VARIANTS[name])
    assert len(model.linear_layers()) == len(legacy)
    for ours, theirs in zip(model.linear_layers(), legacy, strict=True):
        assert torch.equal(ours.weight, theirs.weight) and torch.equal(ours.bias, theirs.bias)
    assert dict(model.named_buffers()) == {}  # nothing beyond the parameters


# ---- the variant's family fields ----------------------------------------------------------------------------


def test_family_fields_are_checked_and_defaulted():
    assert Variant((8,), encoding="none") == Variant((8,), pe_frequencies=0)
    assert Variant((8,), encoding="none").time_encoding == VARIANTS["original-siren"].time_encoding == "none"
    assert Variant((8,), activation="gauss").gauss_sigma == np.float32(0.1)
    assert Variant((8,), activation="gabor").gabor_scale == 10.0
    assert Variant((8,), activation="finer").finer_bias_scale is None  # PyTorch's default, as the authors' code
    fourier = Variant((8,), encoding="fourier", fourier_sigma=0.3)
    assert (fourier.pe_frequencies, fourier.fourier_features, fourier.fourier_seed) == (0, 16, 0)
    assert fourier.fourier_sigma == float(np.float32(0.3)) and fourier.in_features == 32
    with pytest.raises(ValueError, match="activation must be one of sine, finer, gauss, gabor"):
        Variant((8,), activation="relu")
    with pytest.raises(ValueError, match="gauss_sigma is a parameter of activation gauss, not of sine"):
        Variant((8,), gauss_sigma=0.1)
    with pytest.raises(ValueError, match="encoding fourier needs fourier_sigma"):
        Variant((8,), encoding="fourier")
    with pytest.raises(ValueError, match="parameters of encoding fourier"):
        Variant((8,), fourier_seed=3)
    with pytest.raises(ValueError, match="gabor_scale must be a positive finite float32 number"):
        Variant((8,), activation="gabor", gabor_scale=math.inf)
    with pytest.raises(ValueError, match="fourier_seed must be a whole number"):
        Variant((8,), encoding="fourier", fourier_sigma=1.0, fourier_seed=-1)


def test_each_familys_layers_compute_their_published_activation():
    torch.manual_seed(0)
    x = torch.randn(20, 5)
    finer = FinerLayer(5, 3, omega=30.0)
    z = finer.linear(x)
    torch.testing.assert_close(finer(x), torch.sin(30.0 * (z.abs() + 1) * z))
    gauss = GaussLayer(5, 3, sigma=0.5)
    torch.testing.assert_close(gauss(x), torch.exp(-gauss.linear(x) ** 2 / (2 * 0.5**2)))
    gabor = GaborLayer(5, 3, omega=20.0, scale=10.0)
    z = gabor.linear(x)
    torch.testing.assert_close(gabor(x), torch.cos(20.0 * z) * torch.exp(-((10.0 * z) ** 2)))
    # FINER's |z| + 1 is a constant in the backward pass (the authors' scale_req_grad=False)
    z = torch.tensor([0.3], requires_grad=True)
    layer = FinerLayer(1, 1, omega=2.0)
    with torch.no_grad():
        layer.linear.weight.fill_(1.0)
        layer.linear.bias.zero_()
    (grad,) = torch.autograd.grad(layer(z.unsqueeze(0)).sum(), z)
    assert grad.item() == pytest.approx(2.0 * 1.3 * math.cos(2.0 * 1.3 * 0.3))


def test_each_family_initialises_as_its_authors_published():
    torch.manual_seed(0)
    finer = SiameseSiren(Variant((256, 256), (128,), activation="finer", finer_bias_scale=5.0,
                                 omega_first=30.0, omega_hidden=30.0))
    first = finer.trunk[0].linear  # after the positional encoding: SIREN's hidden rule, as for sine layers
    assert first.weight.abs().max() <= math.sqrt(6 / 33) / 30 < 1.1 * first.weight.abs().max()
    assert 4.5 < first.bias.abs().max() <= 5.0  # FINER's wider first-layer biases, U(-k, k)
    assert finer.trunk[1].linear.bias.abs().max() <= 1 / math.sqrt(256)  # PyTorch's default elsewhere
    assert finer.heads[0][1].weight.abs().max() <= math.sqrt(6 / 128) / 30  # SIREN's final layer
    raw = SiameseSiren(Variant((64,), activation="finer", encoding="none")).trunk[0].linear
    assert raw.weight.abs().max() <= 1.0  # the first layer on the raw time: U(-1/in, 1/in), in = 1
    for activation in ("gauss", "gabor"):  # PyTorch's default everywhere, final layer included
        model = SiameseSiren(Variant((256, 256), (128,), activation=activation))
        for layer in model.linear_layers():
            bound = 1 / math.sqrt(layer.in_features)
            assert 0.9 * bound < layer.weight.abs().max() <= bound and layer.bias.abs().max() <= bound


def test_fourier_features_are_tanciks_and_regenerated_from_the_seed():
    variant = FAMILIES["sine-fourier"]
    model = SiameseSiren(variant)
    expected = (2 * np.pi * 25.0 * np.random.RandomState(11).standard_normal(16)).astype(np.float32)
    assert torch.equal(model.fourier, torch.from_numpy(expected))
    t = time_grid(9)
    angles = t * torch.from_numpy(expected)
    assert torch.equal(model.encode_time(t), torch.cat([torch.cos(angles), torch.sin(angles)], dim=1))
    assert torch.equal(SiameseSiren(variant).fourier, model.fourier)  # any model of the variant: same matrix
    assert not torch.equal(fourier_frequencies(16, 25.0, 12), model.fourier)  # another seed, another matrix
    assert "fourier" not in model.state_dict()  # never stored: not in weights, inits or files


# ---- training, quantization and the file, for every family --------------------------------------------------


@pytest.mark.parametrize("name", list(FAMILIES))
def test_every_family_trains_stacked_and_round_trips_every_file_setting(trained, name):
    model = trained[name]
    variant = FAMILIES[name]
    # every setting uncoded, every coding at one setting (another for each family): all pairs over the families
    rotated = SETTINGS[list(FAMILIES).index(name) % len(SETTINGS)]
    cases = {setting: ["none"] for setting in SETTINGS}
    cases[rotated] += [*STORED_CODINGS[1:], "auto"]
    for (bits, per_channel), codings in cases.items():
        expected = None
        for coding in codings:
            clip = CompressedClip.from_model(model, 22050, 1100, 0.7, bits, per_channel, coding)
            data, used = bitstream.encode(clip)
            assert data[4] == 2  # a family other than the paper's: version 2
            if coding == "none":
                assert len(data) == file_size(variant, bits, per_channel) == 38 + 16 + 2 * (
                    len(variant.hidden) + len(variant.siam)) + sum(
                    4 * (out if per_channel else 1) + 4 * out + -(-out * inp * bits // 8)
                    for out, inp in bitstream.layer_shapes(variant))
            back = bitstream.from_bytes(data, "family.ssr")
            assert (back.variant, back.entropy, back.bits, back.per_channel) == (variant, used, bits, per_channel)
            decoded = reconstruct(back)
            if expected is None:  # the model's quantized synthesis, on the encoder's side
                expected = synthesize(clip.model(), 1100)
                assert np.isfinite(expected).all()
                paper = synthesize(paper_mode(clip.model()), 1100, chunk=None)
            assert np.array_equal(decoded, expected), (bits, per_channel, coding)
            assert np.array_equal(reconstruct(back, precision="int8-paper"), paper)
            if variant.encoding == "fourier":
                assert torch.equal(back.model().fourier, model.fourier)


@pytest.mark.parametrize("name", ["finer-bias-k-fourier", "gauss", "gabor"])
def test_quantization_aware_training_of_a_family_gives_the_file_it_evaluated(name):
    variant, signal = FAMILIES[name], _signal()
    result = train_batch(variant, [signal], TrainConfig(steps=8, lr=1e-3, progress=False, device="cpu",
                                                        qat_bits=4, qat_per_channel=True))[0]
    clip = CompressedClip.from_model(load_model(variant, result.state), 22050, len(signal), 1.0, 4, True, "auto")
    heads = reconstruct(bitstream.from_bytes(bitstream.to_bytes(clip)))
    loss = float(np.mean((heads - signal[:, None]) ** 2))
    assert loss == pytest.approx(result.best_loss, rel=1e-4)  # the rounded network training kept is the file's


def test_a_family_file_carries_a_rate_control_record_and_rate_control_counts_its_family_record(trained):
    from siamese_siren.analysis.rate_control import MIN_CODED_FRACTION, smallest_file

    variant = FAMILIES["finer-bias-k-fourier"]
    record = RateControl("pesq", 3.0, 3.25, True, 9, "snr", 12.5)
    clip = CompressedClip.from_model(trained["finer-bias-k-fourier"], 22050, 1100, 0.7, 5, True, "rans-prior")
    data = bitstream.to_bytes(dataclasses.replace(clip, rate_control=record))
    back = bitstream.from_bytes(data)
    assert back.rate_control == record and back.variant == variant
    assert np.array_equal(reconstruct(back), synthesize(clip.model(), 1100))
    least = MIN_CODED_FRACTION * file_size(variant, 5, False) + bitstream.RATE_CONTROL_BYTES  # 16 family bytes in
    assert smallest_file(variant, [5], [False]) == least


# ---- version 1 files keep decoding bit for bit --------------------------------------------------------------

EXPECTED_V1 = json.loads((FORMAT_V1 / "expected.json").read_text())
#: The digests of decoded audio were taken with this torch on this kind of CPU; float kernels elsewhere may round
#: the last bits differently, and there the heads are compared to the stored ones within float rounding.
SAME_KERNELS = (EXPECTED_V1["torch"], EXPECTED_V1["cpu_capability"], EXPECTED_V1["machine"]) == (
    torch.__version__, torch.backends.cpu.get_cpu_capability(), platform.machine())


def _sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array, dtype=np.float32).tobytes()).hexdigest()


@pytest.mark.parametrize("name", list(EXPECTED_V1["files"]))
def test_committed_version_1_files_decode_bit_identically_and_rewrite_byte_identically(name):
    expected = EXPECTED_V1["files"][name]
    data = (FORMAT_V1 / f"{name}.ssr").read_bytes()
    assert hashlib.sha256(data).hexdigest() == expected["bytes_sha256"] and data[4] == 1
    clip = bitstream.from_bytes(data, name)
    assert (clip.variant.activation, clip.variant.encoding) == ("sine", "positional")
    assert bitstream.to_bytes(clip) == data  # the paper's family is still written as version 1, byte for byte
    heads = reconstruct(clip)
    if SAME_KERNELS:
        assert _sha256(heads) == expected["heads"]
        assert _sha256(reconstruct(clip, 44100)) == expected["heads_44100"]
        assert _sha256(reconstruct(clip, precision="int8-paper")) == expected["heads_paper_mode"]
    else:
        np.testing.assert_allclose(heads, np.load(FORMAT_V1 / f"{name}.heads.npy"), rtol=0, atol=1e-5)


# ---- hostile version-2 headers --------------------------------------------------------------------------------


def _v2_file() -> bytes:
    torch.manual_seed(0)
    variant = Variant((8,), (4,), activation="gabor", encoding="fourier", fourier_sigma=5.0, fourier_features=4)
    return bitstream.to_bytes(CompressedClip.from_model(SiameseSiren(variant), 22050, 2048, 0.5))


V2 = _v2_file()
FAMILY_AT = 34 + 2 * 2  # after the version-1 header of a 1x8+1x4 network


def _patched(offset: int, fmt: str, *values) -> bytes:
    body = bytearray(V2[:-4])
    struct.pack_into(fmt, body, FAMILY_AT + offset, *values)
    return bytes(body) + struct.pack("<I", zlib.crc32(bytes(body)))


@pytest.mark.parametrize("offset,fmt,value,says", [
    (0, "<B", 4, "unknown activation 4"),
    (1, "<B", 2, "unknown encoding 2"),
    (2, "<f", -1.0, "gabor parameter -1 is not positive"),
    (2, "<f", math.nan, "non-finite family parameters"),
    (6, "<H", 0, "0 Fourier features outside 1..2048"),
    (6, "<H", 2049, "2049 Fourier features outside"),
    (8, "<f", 2e9, "Fourier features' sigma 2e\\+09 outside"),
    (8, "<f", 0.0, "Fourier features' sigma 0 outside"),
])
def test_hostile_family_records_are_refused(offset, fmt, value, says):
    with pytest.raises(BitstreamError, match=f"hostile.ssr: {says}"):
        bitstream.from_bytes(_patched(offset, fmt, value), "hostile.ssr")


def test_family_records_that_contradict_the_header_are_refused():
    with pytest.raises(BitstreamError, match="Fourier fields set without Fourier features"):
        bitstream.from_bytes(_patched(1, "<B", 0), "x.ssr")  # fourier fields left set under no encoding
    with pytest.raises(BitstreamError, match="sine layers take no parameter, the file gives 10"):
        bitstream.from_bytes(_patched(0, "<B", 0), "x.ssr")  # gabor's scale left set for sine layers
    body = bytearray(V2[:-4])
    body[7] = 16  # positional frequencies beside Fourier features
    with pytest.raises(BitstreamError, match="Fourier features with 16 positional frequencies"):
        bitstream.from_bytes(bytes(body) + struct.pack("<I", zlib.crc32(bytes(body))), "x.ssr")
    torch.manual_seed(0)
    paper = bytearray(bitstream.to_bytes(CompressedClip.from_model(SiameseSiren(Variant((8,), (4,))), 22050, 2048,
                                                                    0.5))[:-4])
    paper[4] = 2  # the paper's family with an all-zero family record: written as version 1, never as 2
    paper[FAMILY_AT:FAMILY_AT] = bytes(bitstream.FAMILY_BYTES)
    with pytest.raises(BitstreamError, match="a version-2 file of the paper's family"):
        bitstream.from_bytes(bytes(paper) + struct.pack("<I", zlib.crc32(bytes(paper))), "x.ssr")
    with pytest.raises(BitstreamError, match="family record cut short"):
        body = V2[: FAMILY_AT + 5]
        bitstream.from_bytes(body + struct.pack("<I", zlib.crc32(body)), "x.ssr")


def test_the_writer_refuses_what_the_reader_would():
    wide = Variant((8,), encoding="fourier", fourier_sigma=1.0, fourier_features=bitstream.MAX_FOURIER_FEATURES + 1)
    torch.manual_seed(0)
    clip = CompressedClip.from_model(SiameseSiren(wide), 22050, 2048, 0.5)
    with pytest.raises(ValueError, match="cannot store this network: 2049 Fourier features, at most 2048"):
        bitstream.to_bytes(clip)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=FAMILY_AT, max_value=FAMILY_AT + bitstream.FAMILY_BYTES - 1),
       st.binary(min_size=1, max_size=6))
def test_fuzzed_family_records_are_refused_or_within_bounds(offset, junk):
    body = bytearray(V2[:-4])
    junk = junk[: FAMILY_AT + bitstream.FAMILY_BYTES - offset]  # the record only: huge weight scales are another test
    body[offset : offset + len(junk)] = junk
    try:
        clip = bitstream.from_bytes(bytes(body) + struct.pack("<I", zlib.crc32(bytes(body))), "fuzzed.ssr")
    except BitstreamError as err:
        assert "fuzzed.ssr" in str(err)
        return
    assert bitstream.variant_problem(clip.variant) is None
    assert np.isfinite(reconstruct(clip)).all()


# ---- info and the configuration ------------------------------------------------------------------------------


def test_info_prints_the_family(tmp_path, capsys):
    torch.manual_seed(0)
    path = tmp_path / "finer.ssr"
    bitstream.write(path, CompressedClip.from_model(SiameseSiren(FAMILIES["finer-bias-k-fourier"]), 22050, 2048, 0.5))
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "format:      version 2" in out
    assert "activation:  finer, omega 100/100 (first/other layers), first-layer biases from U(-2, 2)" in out
    assert "encoding:    fourier, 6 features, sigma 40, seed 3" in out
    assert main(["info", str(FORMAT_V1 / "siren-no-pe-5bit-zstd.ssr")]) == 0
    out = capsys.readouterr().out
    assert "format:      version 1" in out and "activation:  sine, omega 3000/30" in out
    assert "encoding:    none (the raw time)" in out


def test_a_config_variant_may_choose_its_family():
    schema = ROOT / "workflow" / "schemas" / "config.schema.yaml"
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    for overlay in (yaml.safe_load((ROOT / "tests" / "workflow" / "config.yaml").read_text()), {"results": "res"}):
        update_config(config, overlay)
    update_config(config, {"variants": {
        "gabor": {"model": "siamese-2x64+1x32", "activation": "gabor", "omega_first": 20, "omega_hidden": 20},
        "rff": {"hidden": [16], "siam": [8], "activation": "gauss", "gauss_sigma": 0.5, "encoding": "fourier",
                "fourier_sigma": 30, "fourier_seed": 4}}})
    validate_config(config, lambda checked: validate(checked, str(schema)))
    plan = Plan(config)
    assert plan.variant("gabor") == Variant((64, 64), (32,), omega_first=20.0, omega_hidden=20.0, activation="gabor")
    assert plan.variant("rff") == Variant((16,), (8,), activation="gauss", gauss_sigma=0.5, encoding="fourier",
                                          fourier_sigma=30.0, fourier_seed=4)
