"""Playing a network back: evaluate both heads at any rate, then optionally denoise.

Siamese denoising gives noisereduce the difference of the two heads as its noise estimate. Alpha, the estimate's
gain, defaults to 1: the authors' public code, which produced the paper's numbers, uses 1 (the text says 2).
"""

from __future__ import annotations

import noisereduce
import numpy as np
import torch

from .bitstream import CompressedClip
from .models import SiameseSiren, time_grid
from .quantize import paper_mode

DENOISE_MODES = ("none", "siamese", "stationary", "nonstationary")
DEFAULT_ALPHA = 1.0
PRECISIONS = ("float", "int8", "int8-paper")
#: Points per forward call: bounds memory (a 256-wide layer costs 1 KiB per point) at any duration.
CHUNK = 1 << 16


def output_length(num_samples: int, sample_rate: int, target_rate: int) -> int:
    """Samples at ``target_rate`` for a clip of ``num_samples`` at ``sample_rate`` (same duration)."""
    return int(round(num_samples * target_rate / sample_rate))


@torch.no_grad()
def synthesize(model: SiameseSiren, num_samples: int, chunk: int | None = CHUNK) -> np.ndarray:
    """Both heads at ``num_samples`` points spread over the clip: float32 array (num_samples, 2).

    The network is continuous in time, so any ``num_samples`` works: that is how one file decodes at any rate.
    ``chunk=None`` evaluates in one call, which paper mode needs (activation ranges are per call).
    """
    device = next(model.parameters()).device
    t = time_grid(num_samples, device)
    step = num_samples if chunk is None else chunk
    parts = [model(t[i : i + step]).cpu() for i in range(0, num_samples, step)]
    return torch.cat(parts).numpy().astype(np.float32)


def reconstruct(clip: CompressedClip, sample_rate: int | None = None, precision: str = "int8") -> np.ndarray:
    """Both heads of a compressed clip at ``sample_rate`` (default: the clip's), normalised level.

    ``precision`` is ``int8`` (dequantized weights, float activations) or ``int8-paper`` (activations quantized
    too, as the paper's PyTorch dynamic quantization did).
    """
    if precision not in ("int8", "int8-paper"):
        raise ValueError(f"precision must be int8 or int8-paper for a compressed file, got {precision!r}")
    model = clip.model()
    n = output_length(clip.num_samples, clip.sample_rate, sample_rate or clip.sample_rate)
    if precision == "int8-paper":
        return synthesize(paper_mode(model), n, chunk=None)
    return synthesize(model, n)


def denoise(heads: np.ndarray, sample_rate: int, mode: str = "siamese", alpha: float = DEFAULT_ALPHA) -> np.ndarray:
    """One signal from the two heads (N, 2).

    ``none``: head a as it is. ``siamese``: noisereduce, stationary, with ``alpha * (a - b)`` as the noise clip.
    ``stationary``/``nonstationary``: noisereduce without a noise estimate (the paper's ablation).
    """
    a, b = heads[:, 0].astype(np.float32), heads[:, 1].astype(np.float32)
    if mode == "none":
        return a
    if mode == "siamese":
        if not np.any(a != b):
            raise ValueError("siamese denoising needs two different heads; this model has no siamese layers")
        out = noisereduce.reduce_noise(y=a, sr=sample_rate, y_noise=alpha * (a - b), stationary=True)
    elif mode == "stationary":
        out = noisereduce.reduce_noise(y=a, sr=sample_rate, stationary=True)
    elif mode == "nonstationary":
        out = noisereduce.reduce_noise(y=a, sr=sample_rate, stationary=False)
    else:
        raise ValueError(f"unknown denoise mode {mode!r}; choose one of {', '.join(DENOISE_MODES)}")
    return np.asarray(out, dtype=np.float32)
