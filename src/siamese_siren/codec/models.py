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
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

PE_FREQUENCIES = 16
PE_SCALE = 2.0
#: Activation families, in the order the file stores them as an id: never reorder, only append.
ACTIVATIONS = ("sine", "finer", "gauss", "gabor")
#: What a variant's ``encoding`` may say. ``none`` is the positional encoding with L = 0 (the raw time): the same
#: network, so a variant stores it that way (``original-siren`` is one) and ``Variant.time_encoding`` names it.
ENCODINGS = ("positional", "fourier", "none")
#: Defaults of the families' parameters where the family is chosen without them. Gauss: a starting point, the
#: width is tuned per signal (Ramasinghe & Lucey; WIRE's public Gaussian baseline, exp(-(10 z)^2), is sigma 0.07).
#: Gabor: WIRE's public scripts' s0 = 10. Fourier: 16 features, 32 inputs as the positional encoding's 33.
GAUSS_SIGMA = 0.1
GABOR_SCALE = 10.0
FOURIER_FEATURES = 16
#: Which family each parameter field belongs to; a field of another family must stay unset (None).
FAMILY_PARAMETERS = {"finer_bias_scale": "finer", "gauss_sigma": "gauss", "gabor_scale": "gabor"}
FOURIER_FIELDS = ("fourier_features", "fourier_sigma", "fourier_seed")
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _float32(value: float, what: str) -> float:
    """A positive finite parameter as the float32 number the file stores, so a read variant equals the written one
    and the decoder computes with the very constants the encoder trained with."""
    value = float(value)
    if not (math.isfinite(value) and 0 < value <= _FLOAT32_MAX and np.float32(value) > 0):
        raise ValueError(f"{what} must be a positive finite float32 number, got {value}")
    return float(np.float32(value))


@dataclass(frozen=True)
class Variant:
    """A model variant as plain data: layer widths of trunk and heads, the input encoding, the activation family and
    their parameters.

    The paper's family is the default (``activation="sine"``, ``encoding="positional"``); the family fields are left
    out of :meth:`to_dict` at their defaults, so the paper's variants keep their dicts (and training cache keys).
    The omegas are the frequencies of sine, FINER and Gabor layers (unused by Gaussian ones); ``pe_frequencies``
    and ``pe_scale`` belong to the positional encoding (``pe_frequencies`` is 0 under any other). Each family's
    own parameter (``finer_bias_scale``, ``gauss_sigma``, ``gabor_scale``) and the Fourier features' fields are
    None unless their family is chosen, and are stored as float32 numbers, as the file holds them.
    """

    hidden: tuple[int, ...]
    siam: tuple[int, ...] = ()
    pe_frequencies: int = PE_FREQUENCIES
    omega_first: float = 100.0
    omega_hidden: float = 100.0
    pe_scale: float = PE_SCALE
    name: str = field(default="custom", compare=False)
    activation: str = field(default="sine", kw_only=True)
    #: FINER: the first layer's biases ~ U(-k, k); None keeps PyTorch's default, as the authors' code does.
    finer_bias_scale: float | None = field(default=None, kw_only=True)
    gauss_sigma: float | None = field(default=None, kw_only=True)  # exp(-z^2 / (2 sigma^2))
    gabor_scale: float | None = field(default=None, kw_only=True)  # s0 of cos(omega z) exp(-(s0 z)^2)
    encoding: str = field(default="positional", kw_only=True)
    fourier_features: int | None = field(default=None, kw_only=True)  # m: 2m inputs
    fourier_sigma: float | None = field(default=None, kw_only=True)  # B ~ N(0, sigma^2), cycles per unit of t
    fourier_seed: int | None = field(default=None, kw_only=True)  # B is drawn from it, never stored

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(int(w) for w in self.hidden))
        object.__setattr__(self, "siam", tuple(int(w) for w in self.siam))
        if not self.hidden and not self.siam:
            raise ValueError(f"variant {self.name!r}: needs at least one hidden or siam layer")
        if any(w <= 0 for w in self.hidden + self.siam):
            raise ValueError(f"variant {self.name!r}: layer widths must be positive, got {self.hidden}/{self.siam}")
        if self.pe_frequencies < 0:
            raise ValueError(f"variant {self.name!r}: pe_frequencies must be >= 0")
        self._check_activation()
        self._check_encoding()

    def _set(self, **values) -> None:
        for key, value in values.items():
            object.__setattr__(self, key, value)

    def _check_activation(self) -> None:
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"variant {self.name!r}: activation must be one of {', '.join(ACTIVATIONS)}, "
                             f"got {self.activation!r}")
        for key, family in FAMILY_PARAMETERS.items():
            if getattr(self, key) is not None and self.activation != family:
                raise ValueError(f"variant {self.name!r}: {key} is a parameter of activation {family}, not of "
                                 f"{self.activation}; leave it out")
        if self.activation == "finer" and self.finer_bias_scale is not None:
            self._set(finer_bias_scale=_float32(self.finer_bias_scale, f"variant {self.name!r}: finer_bias_scale"))
        elif self.activation == "gauss":
            sigma = GAUSS_SIGMA if self.gauss_sigma is None else self.gauss_sigma
            self._set(gauss_sigma=_float32(sigma, f"variant {self.name!r}: gauss_sigma"))
        elif self.activation == "gabor":
            scale = GABOR_SCALE if self.gabor_scale is None else self.gabor_scale
            self._set(gabor_scale=_float32(scale, f"variant {self.name!r}: gabor_scale"))

    def _check_encoding(self) -> None:
        if self.encoding not in ENCODINGS:
            raise ValueError(f"variant {self.name!r}: encoding must be one of {', '.join(ENCODINGS)}, "
                             f"got {self.encoding!r}")
        if self.encoding != "fourier":
            if any(getattr(self, key) is not None for key in FOURIER_FIELDS):
                raise ValueError(f"variant {self.name!r}: {'/'.join(FOURIER_FIELDS)} are parameters of encoding "
                                 f"fourier, not of {self.encoding}; leave them out")
            if self.encoding == "none":
                self._set(encoding="positional", pe_frequencies=0)
            return
        if self.fourier_sigma is None:
            raise ValueError(f"variant {self.name!r}: encoding fourier needs fourier_sigma, the standard deviation "
                             "of its frequencies in cycles per unit of time (the clip spans 2 units)")
        count = FOURIER_FEATURES if self.fourier_features is None else self.fourier_features
        seed = 0 if self.fourier_seed is None else self.fourier_seed
        if count != int(count) or count < 1:
            raise ValueError(f"variant {self.name!r}: fourier_features must be a whole number >= 1, got {count}")
        if seed != int(seed) or not 0 <= seed < 2**32:
            raise ValueError(f"variant {self.name!r}: fourier_seed must be a whole number in 0..2^32-1, got {seed}")
        self._set(pe_frequencies=0, fourier_features=int(count), fourier_seed=int(seed),
                  fourier_sigma=_float32(self.fourier_sigma, f"variant {self.name!r}: fourier_sigma"))

    @property
    def in_features(self) -> int:
        if self.encoding == "fourier":
            return 2 * self.fourier_features
        return 1 + 2 * self.pe_frequencies

    @property
    def time_encoding(self) -> str:
        """How the time enters the network: ``positional``, ``fourier`` or ``none`` (the raw time)."""
        return "none" if self.encoding == "positional" and self.pe_frequencies == 0 else self.encoding

    @property
    def label(self) -> str:
        """The paper's notation, e.g. ``2x256+1x128``."""
        return f"{_layers_label(self.hidden)}+{_layers_label(self.siam)}"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["hidden"], d["siam"] = list(self.hidden), list(self.siam)
        defaults = {"activation": "sine", "encoding": "positional", **dict.fromkeys(FAMILY_PARAMETERS),
                    **dict.fromkeys(FOURIER_FIELDS)}
        return {k: v for k, v in d.items() if k not in defaults or v != defaults[k]}

    @classmethod
    def from_dict(cls, d: dict) -> Variant:
        return cls(**{**d, "hidden": tuple(d.get("hidden", ())), "siam": tuple(d.get("siam", ()))})


def _layers_label(widths: tuple[int, ...]) -> str:
    if not widths:
        return "0"
    if len(set(widths)) == 1:
        return f"{len(widths)}x{widths[0]}"
    return ",".join(str(w) for w in widths)


def _named(name: str, hidden, siam=(), pe=PE_FREQUENCIES, omega_first=100.0, omega_hidden=100.0) -> Variant:
    return Variant(tuple(hidden), tuple(siam), pe, omega_first, omega_hidden, name=name)


#: The variants of the paper's Tables 1-3 and the extra sizes of the authors' sweep.
VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in [
        # Table 1
        _named("original-siren", [256] * 3, pe=0, omega_first=3000.0, omega_hidden=30.0),
        _named("pe-siren", [256] * 3, omega_first=30.0, omega_hidden=30.0),
        _named("optimized-siren", [256] * 3),
        _named("siamese-siren", [256] * 2, [128]),
        # Table 2 (sizes) beyond the two above
        _named("siamese-2x128+1x64", [128] * 2, [64]),
        _named("siamese-2x64+1x32", [64] * 2, [32]),
        # Table 3 (sharing) beyond the two above
        _named("siamese-1x256+2x128", [256], [128] * 2),
        _named("siamese-0+3x128", [], [128] * 3),
        # the authors' sweep
        _named("siren-3x64", [64] * 3),
        _named("siren-3x128", [128] * 3),
        _named("siamese-2x256+1x64", [256] * 2, [64]),
        _named("siamese-2x512+1x256", [512, 512], [256]),
        _named("siamese-2x512+1x128", [512, 512], [128]),
        _named("siamese-1024-1024-512+2x256", [1024, 1024, 512], [256, 256]),
    ]
}


def get_variant(name: str) -> Variant:
    try:
        return VARIANTS[name]
    except KeyError:
        raise KeyError(f"unknown variant {name!r}; known variants: {', '.join(VARIANTS)}") from None


def variant_name(variant: Variant) -> str:
    """The first named variant with this architecture, or ``custom``."""
    return next((name for name, v in VARIANTS.items() if v == variant), "custom")


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


def parameter_count(variant: Variant) -> int:
    """Exact number of parameters, each shared layer counted once."""
    return sum(p.numel() for p in SiameseSiren(variant).parameters())
