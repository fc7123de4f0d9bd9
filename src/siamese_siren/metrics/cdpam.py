"""CDPAM (Manocha et al. 2021): a learned perceptual distance, run batched with torch in the calling process.

Costly (~20 s per 10 s clip encode on a CPU core), so reference embeddings are cached by content and equal-length
signals are encoded together on CUDA.
"""

from __future__ import annotations

import hashlib
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

from siamese_siren.codec.audio import resample

from .common import package_version

CDPAM_RATE = 22050

_MODELS: dict[str, Any] = {}
#: Embeddings by (device, content hash): a reference scored against N degraded signals is encoded once, also
#: across calls (a pipeline scoring float, int8 and denoised reconstructions one after another).
EMBEDDINGS: OrderedDict[tuple[str, str], Any] = OrderedDict()
_CACHE_SIZE = 4096  # 512 floats each: a few MB at most


def device_for(device: str | None) -> str:
    """``device``, or CUDA when present, else the CPU."""
    if device is not None:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def mode(device: str | None) -> str:
    return f"{CDPAM_RATE} Hz int16-scale acoustics distance, {device_for(device)}"


def version() -> str:
    return package_version("cdpam") + " + " + package_version("torch")


def load(device: str) -> Any:
    """The CDPAM model on ``device``, loaded once per process.

    WORKAROUNDS for cdpam 0.0.6, all in this one place:

    * It imports ``resampy`` without declaring it as a dependency: the project declares it; a clear error here.
      It also imports the deprecated ``numpy.matlib``: that warning is silenced.
    * Its default device is 'cuda:0' (fails on CPU-only machines): we always pass ``dev`` explicitly.
    * Its checkpoint is a legacy pickle that torch >= 2.6 refuses under the new default ``weights_only=True``:
      ``torch.load`` is wrapped with ``weights_only=False`` for this one load only (the file ships in the wheel).
    * Its ``load_audio`` uses ``np.float`` (removed from numpy) and librosa's resampler: never called; audio is
      resampled with the project's resampler and scaled to int16 range here (:func:`_model_input`).
    """
    if device in _MODELS:
        return _MODELS[device]
    import torch

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PendingDeprecationWarning)  # its `import numpy.matlib`
            import cdpam
    except ModuleNotFoundError as err:
        raise ImportError(f"cdpam cannot be imported ({err}); cdpam 0.0.6 also needs `pip install resampy`") from err
    original_load = torch.load

    def load_full_pickle(*args: Any, **kwargs: Any) -> Any:
        kwargs["weights_only"] = False
        return original_load(*args, **kwargs)

    torch.load = load_full_pickle
    try:
        model = cdpam.CDPAM(dev=device)
    finally:
        torch.load = original_load
    _MODELS[device] = model
    return model


def _model_input(x: np.ndarray, rate: int) -> np.ndarray:
    # CDPAM was trained on int16-valued floats: with inputs in [-1, 1] every distance comes out 0.0.
    x = resample(x, rate, CDPAM_RATE)
    return np.clip(np.round(x.astype(np.float64) * 32768.0), -32768, 32767).astype(np.float32)


def _embed(signals: list[np.ndarray], device: str, batch_size: int) -> list[Any]:
    """Normalised CDPAM 'acoustics' embeddings, as in ``CDPAM.forward``, cached by content.

    Signals of equal length are encoded together: the encoder averages over time, so zero-padding to batch
    unequal lengths would change the embeddings.
    """
    import torch
    import torch.nn.functional as F  # noqa: N812

    keys = [(device, hashlib.sha1(s.tobytes()).hexdigest() + f":{len(s)}") for s in signals]
    todo: dict[tuple[str, str], np.ndarray] = {}
    for key, s in zip(keys, signals, strict=True):
        if key in EMBEDDINGS:
            EMBEDDINGS.move_to_end(key)
        else:
            todo[key] = s
    by_length: dict[int, list[tuple[str, str]]] = {}
    for key, s in todo.items():
        by_length.setdefault(len(s), []).append(key)
    if todo:
        model = load(device).model
        with torch.inference_mode():  # 0.86 GB instead of 6.8 GB per 10 s clip: no autograd graph
            for group in by_length.values():
                for i in range(0, len(group), batch_size):
                    chunk = group[i : i + batch_size]
                    batch = torch.from_numpy(np.stack([todo[k] for k in chunk])).to(device)
                    _, acoustics, _ = model.base_encoder.forward(batch.unsqueeze(1))
                    for key, emb in zip(chunk, F.normalize(acoustics, dim=1), strict=True):
                        EMBEDDINGS[key] = emb
    result = [EMBEDDINGS[k] for k in keys]
    while len(EMBEDDINGS) > _CACHE_SIZE:
        EMBEDDINGS.popitem(last=False)
    return result


def cdpam_distances(
    pairs: Sequence[tuple[np.ndarray, np.ndarray]],
    sample_rate: int,
    device: str | None = None,
    batch_size: int | None = None,
) -> list[float]:
    """CDPAM distance (0 = identical, larger is worse) for equal-length (reference, degraded) float pairs.

    ``device`` defaults to CUDA when present. ``batch_size`` defaults to 16 clips on CUDA and 1 on CPU, where
    batching measured slower per clip (memory-bound convolutions over 220,500-sample inputs).
    """
    import torch

    device = device_for(device)
    if batch_size is None:
        batch_size = 16 if device.startswith("cuda") else 1
    if not pairs:
        return []
    inputs = [_model_input(x, sample_rate) for pair in pairs for x in pair]
    emb = _embed(inputs, device, batch_size)
    model = load(device).model
    with torch.inference_mode():
        dist = model.model_dist.forward(torch.stack(emb[0::2]), torch.stack(emb[1::2]))
    return [float(d) for d in dist.cpu()]
