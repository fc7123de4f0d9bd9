"""SIREN and Siamese SIREN, as in the paper and the authors' code, and the activation and encoding families a
variant may use instead of the paper's sine layers and positional encoding.

A Siamese SIREN is a shared trunk of sine layers followed by two heads ("a" and
"b"), each a stack of sine layers and a final linear layer. Both heads learn the
same signal; their independent initialisation makes their errors differ, and the
difference is the noise estimate used for denoising. With no head layers the
final linear layer is shared and both outputs are identical: a plain SIREN.

Families (``Variant.activation``, ``Variant.encoding``; docs/model.md): the layers may be FINER, Gaussian or
real-valued Gabor (WIRE) layers instead of sine layers, and the time may enter through random Fourier features or
unencoded instead of through the positional encoding. Every family keeps one weight matrix and one bias per layer,
so quantization, the file's payload and training are the same for all.

The network is built from a :class:`~siamese_siren.codec.variants.Variant`, its architecture as plain data; that
module holds what needs no torch (the variants, their layer shapes and parameter counts), and this one re-exports it.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

# The architecture as plain data (torch-free, so that reading a file needs no torch) lives in .variants; these names
# were defined here first and stay importable from here.
from .variants import (  # noqa: F401
    ACTIVATIONS,
    ENCODINGS,
    FAMILY_PARAMETERS,
    FOURIER_FEATURES,
    FOURIER_FIELDS,
    GABOR_SCALE,
    GAUSS_SIGMA,
    PE_FREQUENCIES,
    PE_SCALE,
    VARIANTS,
    Variant,
    get_variant,
    parameter_count,
    variant_name,
)


def positional_encoding(t: torch.Tensor, frequencies: int, scale: float = PE_SCALE) -> torch.Tensor:
    """NeRF-style encoding ``[t, sin(s^0 pi t), cos(s^0 pi t), ..., sin(s^(L-1) pi t), cos(...)]``.

    ``t`` has shape (N, 1); the result has shape (N, 1 + 2L), in the authors' interleaved order.
    """
    if frequencies == 0:
        return t
    angles = t * (math.pi * scale ** torch.arange(frequencies, dtype=t.dtype, device=t.device))  # (N, L)
    sin_cos = torch.stack([torch.sin(angles), torch.cos(angles)], dim=-1).flatten(1)  # (N, 2L) interleaved
    return torch.cat([t, sin_cos], dim=1)


def fourier_frequencies(count: int, sigma: float, seed: int) -> torch.Tensor:
    """``2 pi B`` of random Fourier features, B ~ N(0, sigma^2) drawn from ``seed``: float32, shape (count,).

    Tancik et al., "Fourier Features Let Networks Learn High Frequency Functions in Low Dimensional Domains"
    (NeurIPS 2020), their Gaussian mapping: gamma(v) = [cos(2 pi B v), sin(2 pi B v)]^T with every entry of B drawn
    from N(0, sigma^2). B is regenerated from the seed wherever the network is built, so files do not store it. The
    draws are NumPy's legacy ``RandomState`` normals, a stream NumPy keeps frozen (NEP 19), computed in float64
    and rounded once to float32: any machine gets the same matrix.
    """
    normals = np.random.RandomState(seed).standard_normal(count)
    return torch.from_numpy((2.0 * math.pi * sigma * normals).astype(np.float32))


def fourier_encoding(t: torch.Tensor, frequencies: torch.Tensor) -> torch.Tensor:
    """``[cos(2 pi B t), sin(2 pi B t)]`` (Tancik et al.'s gamma) of ``t`` (N, 1) with ``frequencies`` = 2 pi B
    (:func:`fourier_frequencies`): shape (N, 2m), the cosines first, without the raw time."""
    angles = t * frequencies  # (N, m)
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=1)


def time_grid(num_samples: int, device: torch.device | str | None = None) -> torch.Tensor:
    """The clip's time coordinates: ``num_samples`` points evenly over [-1, 1], endpoints included, shape (N, 1)."""
    return torch.linspace(-1.0, 1.0, num_samples, device=device).unsqueeze(1)


def _siren_weights(linear: nn.Linear, omega: float, is_first: bool) -> None:
    """SIREN's weights (Sitzmann et al., NeurIPS 2020, Sec. 3.2): U(-1/in, 1/in) for the first layer of a network
    that takes the raw time, U(-sqrt(6/in)/omega, sqrt(6/in)/omega) for every other layer."""
    in_features = linear.in_features
    bound = 1.0 / in_features if is_first else math.sqrt(6.0 / in_features) / omega
    with torch.no_grad():
        linear.weight.uniform_(-bound, bound)


class SineLayer(nn.Module):
    """``sin(omega * (W x + b))`` with SIREN's initialisation.

    The first layer of a network without positional encoding draws W from U(-1/in, 1/in); every other sine layer
    from U(-sqrt(6/in)/omega, sqrt(6/in)/omega). Biases keep PyTorch's default.
    """

    def __init__(self, in_features: int, out_features: int, omega: float, is_first: bool = False) -> None:
        super().__init__()
        self.omega = float(omega)
        self.linear = nn.Linear(in_features, out_features)
        _siren_weights(self.linear, self.omega, is_first)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(self.omega * self.linear(x))


class FinerLayer(nn.Module):
    """FINER's variable-periodic activation ``sin(omega (|z| + 1) z)``, ``z = W x + b``.

    Liu et al., "FINER: Flexible Spectral-bias Tuning in Implicit NEural Representation by Variable-periodic
    Activation Functions" (CVPR 2024): the variable-periodic activation sin(omega alpha(z) z) with alpha(z) = |z| + 1,
    and its initialisation: SIREN's weights, and the network's first layer's biases from U(-k, k) with a k larger
    than PyTorch's 1/sqrt(in), which lets the first layer reach the higher-frequency parts of the activation. The
    authors' code (liuzhen0212/FINER, models.py) draws the biases so only when ``first_bias_scale`` (k) is given
    and keeps PyTorch's default otherwise, and treats the factor |z| + 1 as a constant in the backward pass
    (``scale_req_grad=False``, its default): both are done here.
    """

    def __init__(self, in_features: int, out_features: int, omega: float, is_first: bool = False,
                 raw_time: bool = False, bias_scale: float | None = None) -> None:
        super().__init__()
        self.omega = float(omega)
        self.linear = nn.Linear(in_features, out_features)
        _siren_weights(self.linear, self.omega, is_first and raw_time)
        if is_first and bias_scale is not None:
            with torch.no_grad():
                self.linear.bias.uniform_(-bias_scale, bias_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.linear(x)
        return torch.sin(self.omega * (z.abs() + 1).detach() * z)


class GaussLayer(nn.Module):
    """The Gaussian activation ``exp(-z^2 / (2 sigma^2))``, ``z = W x + b``.

    Ramasinghe & Lucey, "Beyond Periodicity: Towards a Unifying Framework for Activations in Coordinate-MLPs"
    (ECCV 2022), the Gaussian activation exp(-x^2 / (2 sigma^2)): such networks need no special initialisation, and the
    authors' and later public implementations (WIRE's, FINER's baselines) keep PyTorch's default linear layers,
    weights and biases U(-1/sqrt(in), 1/sqrt(in)), as here.
    """

    def __init__(self, in_features: int, out_features: int, sigma: float) -> None:
        super().__init__()
        self.sigma = float(sigma)
        self.linear = nn.Linear(in_features, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.exp(-0.5 * torch.square(self.linear(x) / self.sigma))


class GaborLayer(nn.Module):
    """The real Gabor wavelet ``cos(omega z) exp(-(s0 z)^2)``, ``z = W x + b`` (WIRE's real-valued variant).

    Saragadam et al., "WIRE: Wavelet Implicit Neural Representations" (CVPR 2023), the real Gabor wavelet
    psi(x) = cos(omega0 x) exp(-(s0 x)^2); WIRE keeps PyTorch's default linear layers (weights and biases
    U(-1/sqrt(in), 1/sqrt(in)), the authors' code, vishwa91/wire), as here. The authors' code's real layer
    computes the window from a second linear map of its own; this one applies both factors to the same z, as the
    equation does, so a layer keeps one weight matrix like every other family.
    """

    def __init__(self, in_features: int, out_features: int, omega: float, scale: float) -> None:
        super().__init__()
        self.omega = float(omega)
        self.scale = float(scale)
        self.linear = nn.Linear(in_features, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.linear(x)
        return torch.cos(self.omega * z) * torch.exp(-torch.square(self.scale * z))


def _final_linear(in_features: int, variant: Variant) -> nn.Linear:
    """The output layer: SIREN's hidden-layer rule for sine and FINER networks (both authors' code), PyTorch's
    default for Gaussian and Gabor ones (their authors' code)."""
    layer = nn.Linear(in_features, 1)
    if variant.activation in ("sine", "finer"):
        _siren_weights(layer, variant.omega_hidden, is_first=False)
    return layer


def _activation_layer(in_features: int, out_features: int, variant: Variant, is_first: bool) -> nn.Module:
    omega = variant.omega_first if is_first else variant.omega_hidden
    # After an encoding the first layer uses the hidden-layer initialisation (authors' code).
    raw_time = variant.time_encoding == "none"
    if variant.activation == "sine":
        return SineLayer(in_features, out_features, omega, is_first=is_first and raw_time)
    if variant.activation == "finer":
        return FinerLayer(in_features, out_features, omega, is_first, raw_time, variant.finer_bias_scale)
    if variant.activation == "gauss":
        return GaussLayer(in_features, out_features, variant.gauss_sigma)
    return GaborLayer(in_features, out_features, omega, variant.gabor_scale)


def _layer_stack(widths: tuple[int, ...], in_features: int, variant: Variant, first: bool) -> nn.Sequential:
    layers = []
    for i, width in enumerate(widths):
        layers.append(_activation_layer(in_features, width, variant, is_first=first and i == 0))
        in_features = width
    return nn.Sequential(*layers)


class SiameseSiren(nn.Module):
    """Shared trunk, two heads; ``forward`` returns (N, 2): head a and head b for every time point.

    The trunk runs once per forward pass and feeds both heads (the authors' code ran it once per head).
    """

    def __init__(self, variant: Variant) -> None:
        super().__init__()
        self.variant = variant
        if variant.encoding == "fourier":
            # Not persistent: regenerated from the seed, so state dicts (trained weights, learned inits) hold only
            # the parameters, as for every other family.
            self.register_buffer("fourier", fourier_frequencies(variant.fourier_features, variant.fourier_sigma,
                                                                variant.fourier_seed), persistent=False)
        self.trunk = _layer_stack(variant.hidden, variant.in_features, variant, first=True)
        trunk_out = variant.hidden[-1] if variant.hidden else variant.in_features
        if variant.siam:
            heads = []
            for _ in range(2):
                body = _layer_stack(variant.siam, trunk_out, variant, first=not variant.hidden)
                heads.append(nn.Sequential(*body, _final_linear(variant.siam[-1], variant)))
            self.heads = nn.ModuleList(heads)
        else:
            # No siamese layers: one shared final layer, i.e. a plain SIREN whose two outputs coincide.
            self.heads = nn.ModuleList([_final_linear(trunk_out, variant)])

    def encode_time(self, t: torch.Tensor) -> torch.Tensor:
        if self.variant.encoding == "fourier":
            return fourier_encoding(t, self.fourier)
        return positional_encoding(t, self.variant.pe_frequencies, self.variant.pe_scale)

    def forward_encoded(self, x: torch.Tensor) -> torch.Tensor:
        """Forward from already-encoded inputs, so training can encode the time grid once."""
        shared = self.trunk(x)
        outputs = [head(shared) for head in self.heads]
        if len(outputs) == 1:
            outputs = outputs * 2
        return torch.cat(outputs, dim=1)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.forward_encoded(self.encode_time(t))

    def linear_layers(self) -> list[nn.Linear]:
        """Every linear layer in a fixed order (trunk, then head a, then head b): the order of the file format."""
        return [m for m in self.modules() if isinstance(m, nn.Linear)]


class Siren(SiameseSiren):
    """A plain SIREN: a Siamese SIREN without head layers (both outputs identical)."""

    def __init__(self, variant: Variant) -> None:
        if variant.siam:
            raise ValueError(f"a plain SIREN has no siamese layers, got {variant.siam}")
        super().__init__(variant)
