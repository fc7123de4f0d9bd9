import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from siamese_siren.codec import models, quantize, variants
from siamese_siren.codec.bitstream import layer_shapes
from siamese_siren.codec.models import (
    VARIANTS,
    SiameseSiren,
    SineLayer,
    Siren,
    Variant,
    get_variant,
    parameter_count,
    positional_encoding,
    time_grid,
    variant_name,
)

# Counted from the authors' definitions (reference-facts.md), each shared layer once.
EXACT_COUNTS = {
    "original-siren": 132_353,
    "pe-siren": 140_545,
    "optimized-siren": 140_545,
    "siamese-siren": 140_546,
    "siamese-2x128+1x64": 37_506,
    "siamese-2x64+1x32": 10_562,
    "siamese-1x256+2x128": 107_778,
    "siamese-0+3x128": 75_010,
}


@pytest.mark.parametrize("name,count", EXACT_COUNTS.items())
def test_exact_parameter_counts(name, count):
    assert parameter_count(VARIANTS[name]) == count


FAMILIES = [
    Variant((16, 8), (8,), activation="finer", finer_bias_scale=2.0),
    Variant((16,), (8, 4), activation="gauss", encoding="fourier", fourier_sigma=3.0, fourier_features=5),
    Variant((), (8,), activation="gabor", encoding="none"),
    Variant((8, 8), (), activation="gauss"),
]


@pytest.mark.parametrize("variant", [*VARIANTS.values(), *FAMILIES], ids=lambda v: f"{v.name} {v.label} {v.activation}")
def test_parameter_count_and_layer_shapes_without_torch_match_the_network(variant):
    # codec.variants counts from the shapes (no torch, for info); the network built by torch is the reference
    network = SiameseSiren(variant)
    assert parameter_count(variant) == sum(p.numel() for p in network.parameters())
    assert layer_shapes(variant) == [tuple(linear.weight.shape) for linear in network.linear_layers()]


def test_the_plain_data_and_the_file_reader_import_no_torch():
    code = ("import sys\nimport siamese_siren.codec.variants, siamese_siren.codec.bitstream\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "[]", (done.stdout, done.stderr)


def test_models_still_exports_the_plain_data():
    assert models.Variant is variants.Variant and models.VARIANTS is variants.VARIANTS
    assert models.parameter_count is variants.parameter_count and quantize.QuantizedLinear is variants.QuantizedLinear


def test_table1_variants_are_the_authors():
    original = VARIANTS["original-siren"]
    assert (original.hidden, original.siam, original.pe_frequencies) == ((256, 256, 256), (), 0)
    assert (original.omega_first, original.omega_hidden) == (3000.0, 30.0)
    assert VARIANTS["pe-siren"].omega_first == VARIANTS["pe-siren"].omega_hidden == 30.0
    siamese = VARIANTS["siamese-siren"]
    assert (siamese.hidden, siamese.siam, siamese.pe_frequencies, siamese.omega_hidden) == ((256, 256), (128,), 16, 100)
    assert siamese.label == "2x256+1x128"


def test_positional_encoding_closed_form():
    t = torch.linspace(-1, 1, 7).unsqueeze(1)
    encoded = positional_encoding(t, 16, 2.0)
    assert encoded.shape == (7, 33)
    expected = [t[:, 0]]
    for k in range(16):
        expected += [torch.sin(2.0**k * math.pi * t[:, 0]), torch.cos(2.0**k * math.pi * t[:, 0])]
    torch.testing.assert_close(encoded, torch.stack(expected, dim=1))
    assert positional_encoding(t, 0) is t


def test_time_grid_spans_minus_one_to_one():
    grid = time_grid(220_500)
    assert grid.shape == (220_500, 1)
    assert grid[0, 0] == -1.0 and grid[-1, 0] == 1.0


def _bound(layer: torch.nn.Linear) -> float:
    return layer.weight.abs().max().item()


def test_initialisation_bounds_per_layer():
    torch.manual_seed(0)
    original = SiameseSiren(VARIANTS["original-siren"])
    first = original.trunk[0].linear
    assert _bound(first) <= 1.0 / 1 and _bound(first) > 0.5  # U(-1/in, 1/in) with in = 1
    for layer in list(original.trunk)[1:]:
        limit = math.sqrt(6 / 256) / 30.0
        assert limit * 0.9 < _bound(layer.linear) <= limit
    final = original.heads[0]
    assert math.sqrt(6 / 256) / 30.0 * 0.9 < _bound(final) <= math.sqrt(6 / 256) / 30.0

    siamese = SiameseSiren(VARIANTS["siamese-siren"])
    first = siamese.trunk[0].linear  # after PE: the hidden-layer rule with omega_first
    assert math.sqrt(6 / 33) / 100 * 0.9 < _bound(first) <= math.sqrt(6 / 33) / 100
    for head in siamese.heads:
        assert _bound(head[0].linear) <= math.sqrt(6 / 256) / 100
        assert _bound(head[1]) <= math.sqrt(6 / 128) / 100
    # Biases keep PyTorch's default U(-1/sqrt(in), 1/sqrt(in)).
    assert _bound_bias(siamese.trunk[1].linear) <= 1 / math.sqrt(256)
    assert _bound_bias(siamese.trunk[1].linear) > 0.5 / math.sqrt(256)


def _bound_bias(layer: torch.nn.Linear) -> float:
    return layer.bias.abs().max().item()


def test_heads_are_initialised_independently_and_shared_final_layer_without_siam():
    torch.manual_seed(0)
    siamese = SiameseSiren(VARIANTS["siamese-siren"])
    a, b = siamese.heads
    assert not torch.equal(a[0].linear.weight, b[0].linear.weight)
    out = siamese(time_grid(100))
    assert out.shape == (100, 2) and not torch.equal(out[:, 0], out[:, 1])

    siren = Siren(VARIANTS["optimized-siren"])
    assert len(siren.heads) == 1
    out = siren(time_grid(100))
    assert torch.equal(out[:, 0], out[:, 1])
    with pytest.raises(ValueError, match="no siamese layers"):
        Siren(VARIANTS["siamese-siren"])


def test_no_shared_layers_heads_take_the_encoding():
    model = SiameseSiren(VARIANTS["siamese-0+3x128"])
    assert len(model.trunk) == 0
    assert model.heads[0][0].linear.in_features == 33


def test_trunk_runs_once_per_forward_pass():
    model = SiameseSiren(VARIANTS["siamese-siren"])
    calls = []
    model.trunk.register_forward_hook(lambda *_: calls.append(1))
    model(time_grid(10))
    assert len(calls) == 1


def test_variant_is_plain_data():
    v = Variant.from_dict(VARIANTS["siamese-siren"].to_dict())
    assert v == VARIANTS["siamese-siren"]
    assert variant_name(Variant((256, 256), (128,))) == "siamese-siren"
    assert variant_name(Variant((7,), ())) == "custom"
    with pytest.raises(KeyError, match="unknown variant 'nope'"):
        get_variant("nope")
    with pytest.raises(ValueError, match="positive"):
        Variant((0,), ())


def test_linear_layer_order_is_trunk_then_heads():
    model = SiameseSiren(VARIANTS["siamese-2x64+1x32"])
    shapes = [tuple(layer.weight.shape) for layer in model.linear_layers()]
    assert shapes == [(64, 33), (64, 64), (32, 64), (1, 32), (32, 64), (1, 32)]


def test_sine_layer_is_sine_of_scaled_linear():
    layer = SineLayer(3, 4, omega=30.0)
    x = torch.randn(5, 3)
    torch.testing.assert_close(layer(x), torch.sin(30.0 * layer.linear(x)))
    assert np.isfinite(layer(x).detach().numpy()).all()
