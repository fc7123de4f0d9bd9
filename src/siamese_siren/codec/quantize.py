"""Post-training quantization of a trained network's linear weights.

Weights are quantized symmetrically (zero point 0) with ``scale = max|w| / ((qmax - qmin) / 2)``, per tensor by
default or per output channel as an option: for 8 bits per tensor this is exactly what PyTorch's dynamic
quantization stores (its default weight observer). Biases stay float32, as in PyTorch.

"Paper mode" also quantizes each linear layer's *input* on the fly, as PyTorch's dynamic int8 quantization does
at inference on x86 (fbgemm/onednn): per tensor, unsigned 8 bit storage with a reduced 7 bit range. The paper's
numbers include that extra noise; :func:`paper_mode` reproduces it without the deprecated ``torch.ao`` API.

The quantized layers themselves (:class:`QuantizedLinear`, :data:`SUPPORTED_BITS`) are plain data, defined in
:mod:`siamese_siren.codec.variants` so that reading a file needs no torch, and importable from here as before.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .models import SiameseSiren
from .variants import SUPPORTED_BITS, QuantizedLinear


def quantize_weight(weight: torch.Tensor, bits: int = 8, per_channel: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric quantization of a (out, in) weight; returns (integers as int8, float32 scales)."""
    if bits not in SUPPORTED_BITS:
        raise ValueError(f"weight bits must be in 2..8, got {bits}")
    qmin, qmax = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    w = weight.detach().to(torch.float32).cpu()
    amax = w.abs().amax(dim=1, keepdim=True) if per_channel else w.abs().max().reshape(1, 1)
    # As PyTorch's observer: the largest magnitude maps to the middle of the range's span, never a zero scale.
    scales = torch.clamp(amax / ((qmax - qmin) / 2), min=torch.finfo(torch.float32).eps)
    # Multiplying by the float32 inverse (not dividing) rounds exactly as torch.quantize_per_tensor does.
    q = torch.clamp(torch.round(w * (1.0 / scales)), qmin, qmax)
    return q.to(torch.int8).numpy(), scales.reshape(-1).numpy().astype(np.float32)


def fake_quantize(weight: torch.Tensor, bits: int, per_channel: bool = False) -> torch.Tensor:
    """``weight`` (..., out, in) rounded exactly as :func:`quantize_weight` stores it, with a straight-through
    gradient: the forward pass sees the dequantized weights, the backward pass treats rounding as the identity.

    Leading dimensions are independent tensors (the clip axis of a stacked training), each with its own scales.
    This is quantization-aware fine-tuning's forward: after it, :func:`quantize_model` of the float weights gives
    the very network the fine-tuning evaluated.
    """
    qmin, qmax = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    w = weight.detach()
    amax = w.abs().amax(dim=-1, keepdim=True) if per_channel else w.abs().amax(dim=(-2, -1), keepdim=True)
    scales = torch.clamp(amax / ((qmax - qmin) / 2), min=torch.finfo(torch.float32).eps)
    rounded = torch.clamp(torch.round(w * (1.0 / scales)), qmin, qmax) * scales
    return rounded + (weight - w)  # exactly `rounded` forward (x - x is 0), the identity backward


def quantize_model(model: SiameseSiren, bits: int = 8, per_channel: bool = False) -> list[QuantizedLinear]:
    """Quantize every linear layer of ``model`` in the file format's order."""
    layers = []
    for linear in model.linear_layers():
        weights, scales = quantize_weight(linear.weight, bits, per_channel)
        bias = linear.bias.detach().to(torch.float32).cpu().numpy()
        layers.append(QuantizedLinear(weights=weights, scales=scales, bias=bias))
    return layers


def load_quantized(model: SiameseSiren, layers: list[QuantizedLinear]) -> SiameseSiren:
    """Put the dequantized weights of ``layers`` into ``model`` (in place) and return it in eval mode."""
    linears = model.linear_layers()
    if len(linears) != len(layers):
        raise ValueError(f"model has {len(linears)} linear layers, quantized data has {len(layers)}")
    with torch.no_grad():
        for linear, q in zip(linears, layers, strict=True):
            linear.weight.copy_(torch.from_numpy(q.dequantized_weight()))
            linear.bias.copy_(torch.from_numpy(q.bias))
    return model.eval()


def quantize_activation(x: torch.Tensor) -> torch.Tensor:
    """Round ``x`` as PyTorch's x86 dynamic quantization does before its int8 matmul (quint8, reduce_range).

    Bit-exact with ``torch.quantize_per_tensor`` (itself deprecated): fbgemm computes ``x * (1/scale) + zero_point``
    as one fused multiply-add in float32, which float64 arithmetic rounded once to float32 reproduces.
    """
    lo = min(float(x.min()), 0.0)
    hi = max(float(x.max()), 0.0)
    scale = (hi - lo) / 127  # reduce_range: 7 of the 8 bits, to keep fbgemm's int16 accumulation from overflowing
    if scale == 0.0:
        scale = 0.1  # fbgemm's choice for an all-zero tensor
    zero_point = int(np.clip(round(-lo / scale), 0, 255))
    inverse_scale = float(np.float32(1.0) / np.float32(scale))
    q = torch.round((x.double() * inverse_scale + zero_point).float()).clamp_(0, 255)
    return (q - zero_point) * float(np.float32(scale))


class DynamicInt8Linear(nn.Module):
    """A linear layer whose input is quantized on the fly, as in the paper's PyTorch dynamic quantization."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.weight = linear.weight
        self.bias = linear.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(quantize_activation(x), self.weight, self.bias)


def paper_mode(model: SiameseSiren) -> SiameseSiren:
    """A copy of a model (already carrying int8-dequantized weights) that also quantizes activations.

    PyTorch picks activation ranges per forward call: evaluate the whole clip in one call to match the paper.
    """
    model = copy.deepcopy(model)
    for module in list(model.modules()):
        for name, child in module.named_children():
            if isinstance(child, nn.Linear):
                setattr(module, name, DynamicInt8Linear(child))
    return model.eval()
