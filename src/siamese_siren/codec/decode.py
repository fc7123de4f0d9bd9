"""Playing a network back: evaluate both heads at any rate, then optionally denoise.

Siamese denoising gives noisereduce the difference of the two heads as its noise estimate. Alpha, the estimate's
gain, defaults to 1: the authors' public code, which produced the paper's numbers, uses 1 (the text says 2). The
command line bounds it to 0..MAX_ALPHA. A zero noise estimate (two identical heads, or alpha 0) means there is no
noise to remove: denoising then returns head a unchanged, rather than whatever noisereduce makes of a silent
noise clip.

A file also bounds the work of playing it back (:func:`decode_work`, :data:`MAX_WORK`): a header within every
format bound can still ask for weeks of CPU (sixteen 4096-wide layers for an hour at 192 kHz), so decoding more
than MAX_WORK multiply-adds needs the caller's explicit consent (``decode --max-work``).
"""

from __future__ import annotations

from collections.abc import Iterator

import noisereduce
import numpy as np
import torch

from .bitstream import MIN_SAMPLES, CompressedClip, layer_shapes
from .models import SiameseSiren, Variant, time_grid
from .quantize import paper_mode

DENOISE_MODES = ("none", "siamese", "stationary", "nonstationary")
DEFAULT_ALPHA = 1.0
#: The largest gain of the noise estimate the command line accepts: 5x the paper's text (2), 10x its code (1). The
#: estimate is the difference of two fits of the same signal, far below the signal; past a few times its own level
#: noisereduce treats the signal itself as noise, and a huge alpha (1e30) turns every file into silence.
MAX_ALPHA = 10.0
#: The most multiply-adds a decode may take without ``--max-work``: output samples x multiply-adds of the linear
#: layers per sample (:func:`decode_work`). The largest of the paper's models (Tables 1-3: 139,776 multiply-adds a
#: sample) over the longest output the format allows (an hour at 192 kHz, 691,200,000 samples) is 9.7e13, so
#: every such file decodes; a hostile header within the format's bounds asks for up to 2.7e17 (weeks of CPU). At
#: about 1e10 multiply-adds a second (a laptop CPU) the limit is some 3 hours.
MAX_WORK = 10**14
#: Points per forward call: bounds memory (a 256-wide layer costs 1 KiB per point) at any duration.
CHUNK = 1 << 16
#: Output bounds beyond the file's own (at most MAX_SECONDS at MAX_SAMPLE_RATE, streamed in chunks, so memory stays
#: flat: 691,200,000 samples, 1.4 GB as 16-bit audio). Paper mode evaluates the whole output in one forward call
#: (PyTorch picked activation ranges per call), so it may hold at most this many activations of the widest layer
#: (about 36 bytes each while quantized: 2.4 GB): 262,144 samples for the 256-wide variants, 11.9 s at 22050 Hz.
PAPER_MODE_MAX_VALUES = 1 << 26
#: Siamese denoising needs the whole signal in memory (noisereduce, about 60 bytes a sample): 10 min at 48 kHz.
MAX_DENOISE_SAMPLES = 28_800_000


def output_length(num_samples: int, sample_rate: int, target_rate: int) -> int:
    """Samples at ``target_rate`` for a clip of ``num_samples`` at ``sample_rate`` (same duration)."""
    return int(round(num_samples * target_rate / sample_rate))


def multiply_adds(variant: Variant) -> int:
    """Multiply-adds of one output sample: every linear layer, both heads included (both are always computed)."""
    return sum(out * inp for out, inp in layer_shapes(variant))


def decode_work(clip: CompressedClip, sample_rate: int) -> int:
    """Multiply-adds of decoding ``clip`` at ``sample_rate``: output samples x :func:`multiply_adds`."""
    return output_length(clip.num_samples, clip.sample_rate, sample_rate) * multiply_adds(clip.variant)


def heads_identical(clip: CompressedClip) -> bool:
    """Whether the two heads are the same network (same stored integers, scales and biases), so their difference,
    the noise estimate of siamese denoising, is zero. A model without head layers has one shared head: True."""
    v = clip.variant
    if not v.siam:
        return True
    trunk, head = len(v.hidden), len(v.siam) + 1
    a, b = clip.layers[trunk : trunk + head], clip.layers[trunk + head : trunk + 2 * head]
    return all(np.array_equal(x.weights, y.weights) and np.array_equal(x.scales, y.scales)
               and np.array_equal(x.bias, y.bias) for x, y in zip(a, b, strict=True))


def _widest(variant: Variant) -> int:
    return max(variant.in_features, *variant.hidden, *variant.siam)


def points_per_call(variant: Variant) -> int:
    """Points a streamed forward call evaluates: CHUNK for the paper's 256-wide layers and narrower, fewer for
    wider ones, so one call's activations stay within CHUNK x 256 values (64 MiB) whatever a header says."""
    return max(1, min(CHUNK, CHUNK * 256 // _widest(variant)))


def _grid_slice(num_samples: int, start: int, stop: int, device: torch.device) -> torch.Tensor:
    """Rows ``start:stop`` of :func:`time_grid`, bit for bit, without building the whole grid.

    torch's CPU linspace computes ``-1 + step * i`` (first half) and ``1 - step * (n - 1 - i)`` (second half) with
    a float32 step and one fused multiply-add; float64 arithmetic rounded once to float32 is that FMA exactly.
    """
    if num_samples == 1:
        return time_grid(1, device)
    i = torch.arange(start, stop, dtype=torch.float64)
    step = float(torch.tensor(2.0, dtype=torch.float32) / (num_samples - 1))
    t = torch.where(i < num_samples // 2, -1.0 + step * i, 1.0 - step * (num_samples - 1 - i))
    return t.float().unsqueeze(1).to(device)


@torch.no_grad()
def stream_heads(model: SiameseSiren, num_samples: int, chunk: int | None = CHUNK) -> Iterator[np.ndarray]:
    """Both heads at ``num_samples`` points spread over the clip, as float32 arrays (k, 2) of ``chunk`` rows.

    Memory is that of one chunk, whatever ``num_samples`` is; ``chunk=None`` evaluates everything in one call.
    """
    device = next(model.parameters()).device
    step = num_samples if chunk is None else chunk
    for start in range(0, num_samples, step):
        stop = min(start + step, num_samples)
        yield model(_grid_slice(num_samples, start, stop, device)).cpu().numpy().astype(np.float32, copy=False)


def synthesize(model: SiameseSiren, num_samples: int, chunk: int | None = CHUNK) -> np.ndarray:
    """Both heads at ``num_samples`` points spread over the clip: float32 array (num_samples, 2).

    The network is continuous in time, so any ``num_samples`` works: that is how one file decodes at any rate.
    ``chunk=None`` evaluates in one call, which paper mode needs (activation ranges are per call).
    """
    return np.concatenate(list(stream_heads(model, num_samples, chunk)))


def output_problem(
    clip: CompressedClip, sample_rate: int, denoised: bool, paper: bool, max_work: float = MAX_WORK
) -> str | None:
    """Why decoding ``clip`` at ``sample_rate`` (denoised, in paper mode) is refused by a bound, or None."""
    n = output_length(clip.num_samples, clip.sample_rate, sample_rate)
    work = decode_work(clip, sample_rate)
    if work > max_work:
        per = multiply_adds(clip.variant)
        step = 10 ** max(len(str(work)) - 3, 0)  # three digits, rounded up: the option it suggests is enough
        enough = -(-work // step) * step
        return (f"decoding it asks for {work:.3g} multiply-adds ({n} samples x {per} per sample), more than the "
                f"limit of {max_work:.3g}; if you trust the file, allow it with --max-work {enough:.3g} (it will "
                "take long), or use a lower --sample-rate")
    if paper and n * _widest(clip.variant) > PAPER_MODE_MAX_VALUES:
        most = PAPER_MODE_MAX_VALUES // _widest(clip.variant)
        return (f"paper mode evaluates the whole output in one call and is limited to {most} samples for this "
                f"model, {n} asked; use a lower --sample-rate or leave out --paper-mode")
    if denoised and n > MAX_DENOISE_SAMPLES:
        return (f"siamese denoising holds the whole output in memory and is limited to {MAX_DENOISE_SAMPLES} "
                f"samples, {n} asked; use --no-denoise or a lower --sample-rate")
    if denoised and n < MIN_SAMPLES:
        return (f"siamese denoising needs at least {MIN_SAMPLES} samples, {n} at {sample_rate} Hz; use --no-denoise "
                "or a higher --sample-rate")
    return None


def decoded_chunks(
    clip: CompressedClip, sample_rate: int, denoised: bool, alpha: float = DEFAULT_ALPHA, paper: bool = False,
    max_work: float = MAX_WORK,
) -> Iterator[np.ndarray]:
    """The decoded signal at the original level, in pieces: streamed from the network when nothing needs the
    whole signal (no denoising, no paper mode), else computed whole within :func:`output_problem`'s bounds."""
    problem = output_problem(clip, sample_rate, denoised, paper, max_work)
    if problem is not None:
        raise ValueError(problem)
    if not (denoised or paper):
        n = output_length(clip.num_samples, clip.sample_rate, sample_rate)
        for heads in stream_heads(clip.model(), n, points_per_call(clip.variant)):
            yield heads[:, 0] * clip.peak
        return
    heads = reconstruct(clip, sample_rate, precision="int8-paper" if paper else "int8")
    yield denoise(heads, sample_rate, "siamese" if denoised else "none", alpha=alpha) * clip.peak


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

    ``none``: head a as it is. ``siamese``: noisereduce, stationary, with ``alpha * (a - b)`` as the noise clip;
    a zero noise clip (identical heads, or alpha 0) removes nothing, so head a is returned as it is.
    ``stationary``/``nonstationary``: noisereduce without a noise estimate (the paper's ablation).
    """
    a, b = heads[:, 0].astype(np.float32), heads[:, 1].astype(np.float32)
    if mode == "none":
        return a
    if mode == "siamese":
        if alpha == 0 or not np.any(a != b):
            return a
        out = noisereduce.reduce_noise(y=a, sr=sample_rate, y_noise=alpha * (a - b), stationary=True)
    elif mode == "stationary":
        out = noisereduce.reduce_noise(y=a, sr=sample_rate, stationary=True)
    elif mode == "nonstationary":
        out = noisereduce.reduce_noise(y=a, sr=sample_rate, stationary=False)
    else:
        raise ValueError(f"unknown denoise mode {mode!r}; choose one of {', '.join(DENOISE_MODES)}")
    return np.asarray(out, dtype=np.float32)
