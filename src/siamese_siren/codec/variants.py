"""A network as plain data, without torch: its architecture (:class:`Variant`, the named :data:`VARIANTS`), the
layer shapes and parameter count that follow from it, and its quantized layers (:class:`QuantizedLinear`) as an
``.ssr`` file holds them.

Whatever only reads or describes a file (:mod:`siamese_siren.codec.bitstream`, ``siamese-siren info``) needs this
module and NumPy, never torch, which takes seconds to import. :mod:`siamese_siren.codec.models` builds the torch
network of a Variant (and re-exports the architecture's names, which it defined before);
:mod:`siamese_siren.codec.quantize` makes the QuantizedLinear layers of a trained network and loads them back into
one. The activation and encoding families a Variant may name are described in docs/model.md.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

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


def layer_shapes(variant: Variant) -> list[tuple[int, int]]:
    """(out, in) of every linear layer in file order: trunk, head a, head b (one shared final layer without heads)."""
    shapes = []
    width = variant.in_features
    for out in variant.hidden:
        shapes.append((out, width))
        width = out
    if not variant.siam:
        return shapes + [(1, width)]
    for _ in range(2):
        head_in = width
        for out in variant.siam:
            shapes.append((out, head_in))
            head_in = out
        shapes.append((1, head_in))
    return shapes


def parameter_count(variant: Variant) -> int:
    """Exact number of parameters, each shared layer counted once: every layer of every family is one weight matrix
    and one bias (the Fourier features' matrix is regenerated from its seed, not a parameter)."""
    return sum(out * inp + out for out, inp in layer_shapes(variant))


SUPPORTED_BITS = range(2, 9)


@dataclass(frozen=True)
class QuantizedLinear:
    """One linear layer: integer weights (out, in), their scales (1 or out), and float32 biases (out)."""

    weights: np.ndarray  # int8 values in [-2^(bits-1), 2^(bits-1) - 1]
    scales: np.ndarray  # float32
    bias: np.ndarray  # float32

    def dequantized_weight(self) -> np.ndarray:
        scales = self.scales.reshape(-1, 1)  # broadcasts per tensor (1,1) or per channel (out,1)
        return (self.weights.astype(np.float32) * scales).astype(np.float32)
