"""SIREN and Siamese SIREN, as in the paper and the authors' code.

A Siamese SIREN is a shared trunk of sine layers followed by two heads ("a" and
"b"), each a stack of sine layers and a final linear layer. Both heads learn the
same signal; their independent initialisation makes their errors differ, and the
difference is the noise estimate used for denoising. With no head layers the
final linear layer is shared and both outputs are identical: a plain SIREN.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

PE_FREQUENCIES = 16
PE_SCALE = 2.0


@dataclass(frozen=True)
class Variant:
    """A model variant as plain data: layer widths of trunk and heads, positional encoding, omegas."""

    hidden: tuple[int, ...]
    siam: tuple[int, ...] = ()
    pe_frequencies: int = PE_FREQUENCIES
    omega_first: float = 100.0
    omega_hidden: float = 100.0
    pe_scale: float = PE_SCALE
    name: str = field(default="custom", compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(int(w) for w in self.hidden))
        object.__setattr__(self, "siam", tuple(int(w) for w in self.siam))
        if not self.hidden and not self.siam:
            raise ValueError(f"variant {self.name!r}: needs at least one hidden or siam layer")
        if any(w <= 0 for w in self.hidden + self.siam):
            raise ValueError(f"variant {self.name!r}: layer widths must be positive, got {self.hidden}/{self.siam}")
        if self.pe_frequencies < 0:
            raise ValueError(f"variant {self.name!r}: pe_frequencies must be >= 0")

    @property
    def in_features(self) -> int:
        return 1 + 2 * self.pe_frequencies

    @property
    def label(self) -> str:
        """The paper's notation, e.g. ``2x256+1x128``."""
        return f"{_layers_label(self.hidden)}+{_layers_label(self.siam)}"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["hidden"], d["siam"] = list(self.hidden), list(self.siam)
        return d

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


def time_grid(num_samples: int, device: torch.device | str | None = None) -> torch.Tensor:
    """The clip's time coordinates: ``num_samples`` points evenly over [-1, 1], endpoints included, shape (N, 1)."""
    return torch.linspace(-1.0, 1.0, num_samples, device=device).unsqueeze(1)


class SineLayer(nn.Module):
    """``sin(omega * (W x + b))`` with SIREN's initialisation.

    The first layer of a network without positional encoding draws W from U(-1/in, 1/in); every other sine layer
    from U(-sqrt(6/in)/omega, sqrt(6/in)/omega). Biases keep PyTorch's default.
    """

    def __init__(self, in_features: int, out_features: int, omega: float, is_first: bool = False) -> None:
        super().__init__()
        self.omega = float(omega)
        self.linear = nn.Linear(in_features, out_features)
        bound = 1.0 / in_features if is_first else math.sqrt(6.0 / in_features) / self.omega
        with torch.no_grad():
            self.linear.weight.uniform_(-bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(self.omega * self.linear(x))


def _final_linear(in_features: int, omega_hidden: float) -> nn.Linear:
    layer = nn.Linear(in_features, 1)
    bound = math.sqrt(6.0 / in_features) / omega_hidden
    with torch.no_grad():
        layer.weight.uniform_(-bound, bound)
    return layer


def _sine_stack(widths: tuple[int, ...], in_features: int, variant: Variant, first: bool) -> nn.Sequential:
    layers = []
    for i, width in enumerate(widths):
        is_first = first and i == 0
        omega = variant.omega_first if is_first else variant.omega_hidden
        # After positional encoding the first layer uses the hidden-layer initialisation (authors' code).
        layers.append(SineLayer(in_features, width, omega, is_first=is_first and variant.pe_frequencies == 0))
        in_features = width
    return nn.Sequential(*layers)


class SiameseSiren(nn.Module):
    """Shared trunk, two heads; ``forward`` returns (N, 2): head a and head b for every time point.

    The trunk runs once per forward pass and feeds both heads (the authors' code ran it once per head).
    """

    def __init__(self, variant: Variant) -> None:
        super().__init__()
        self.variant = variant
        self.trunk = _sine_stack(variant.hidden, variant.in_features, variant, first=True)
        trunk_out = variant.hidden[-1] if variant.hidden else variant.in_features
        if variant.siam:
            heads = []
            for _ in range(2):
                body = _sine_stack(variant.siam, trunk_out, variant, first=not variant.hidden)
                heads.append(nn.Sequential(*body, _final_linear(variant.siam[-1], variant.omega_hidden)))
            self.heads = nn.ModuleList(heads)
        else:
            # No siamese layers: one shared final layer, i.e. a plain SIREN whose two outputs coincide.
            self.heads = nn.ModuleList([_final_linear(trunk_out, variant.omega_hidden)])

    def encode_time(self, t: torch.Tensor) -> torch.Tensor:
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
