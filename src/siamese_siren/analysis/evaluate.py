"""A batch of trained networks through the rest of the chain: compressed files, reconstructions, scores.

Each step keeps its own artifact: a folder per quantize setting of ``.ssr`` files and one ``sizes.csv`` (from
:mod:`siamese_siren.codec.bitstream`), a folder of decoded WAVs (:mod:`siamese_siren.codec.decode`) and a CSV of
per-clip scores (:mod:`siamese_siren.metrics`). The workflow runs the three for one batch in one job because each
alone was mostly start-up: in the CPU demo a quantize job took 6-9 s (Python, torch) for well under a second of work.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import soundfile as sf

from siamese_siren.codec import bitstream, files, integrity
from siamese_siren.codec.audio import write_audio
from siamese_siren.codec.decode import denoise, reconstruct, synthesize
from siamese_siren.codec.models import Variant
from siamese_siren.codec.train import load_model, load_state
from siamese_siren.metrics import score_pairs

from .precision import Precision, reconstruction_file

SIZE_COLUMNS = ["dataset", "variant", "setting", "clip", "bytes", "seconds", "kbps", "bits", "per_channel", "entropy",
                "qat_steps", "uncompressed_bytes"]


def _variant(models: Path, clip: str) -> Variant:
    """The architecture a clip's record names; a missing or damaged record is a one-line
    :class:`~siamese_siren.codec.integrity.DamagedArtifact`, as is a damaged weights file at :func:`load_state`."""
    return Variant.from_dict(integrity.read_record(models / f"{clip}.json")["variant"])


def compress_batch(models: Path, clips: Sequence[str], metas: Sequence[Path], settings: Mapping[str, Mapping[str, Any]],
                   out: Path, labels: Mapping[str, str], finetuned: Mapping[str, Path] | None = None) -> pd.DataFrame:
    """Each clip's network as a ``.ssr`` file per quantize setting (``out/<setting>/<clip>.ssr``) and one
    ``out/sizes.csv`` row per file, labelled with ``labels`` (dataset, variant). A setting in ``finetuned`` is
    written from that folder's quantization-aware fine-tuned networks instead of ``models``; ``entropy`` of a
    row is the coding the file has (``auto`` resolved)."""
    finetuned = finetuned or {}
    rows = []
    out.mkdir(parents=True, exist_ok=True)  # also with no setting: a float-only variant's folder holds its sizes.csv
    for setting in settings:
        (out / setting).mkdir(parents=True, exist_ok=True)
    for clip, meta_file in zip(clips, metas, strict=True):
        variant = _variant(models, clip)
        meta = json.loads(Path(meta_file).read_text())
        trained = load_model(variant, load_state(models / f"{clip}.pt"))
        seconds = meta["samples"] / meta["sample_rate"]
        for setting, spec in settings.items():
            model = load_model(variant, load_state(finetuned[setting] / f"{clip}.pt")) if setting in finetuned \
                else trained
            compressed = bitstream.CompressedClip.from_model(
                model, meta["sample_rate"], meta["samples"], meta["peak"], spec["bits"], spec["per_channel"],
                spec["entropy"],
            )
            data, coding = bitstream.encode(compressed)
            size = files.write_bytes(out / setting / f"{clip}.ssr", data)
            rows.append({**labels, "setting": setting, "clip": clip, "bytes": size, "seconds": seconds,
                         "kbps": bitstream.kbps(size, seconds), **spec, "entropy": coding,
                         "uncompressed_bytes": bitstream.file_size(variant, spec["bits"], spec["per_channel"])})
    sizes = pd.DataFrame(rows, columns=SIZE_COLUMNS)
    files.write_csv(sizes, out / "sizes.csv")
    return sizes


def _heads(models: Path, compressed: Path, clip: str, precision: Precision, variant: Variant,
           num_samples: int) -> np.ndarray:
    """Both heads of one clip's network: float weights, a training snapshot, or a compressed file."""
    if precision.step is not None:
        state = load_state(models / f"{clip}.snapshots.pt")[precision.step]
        return synthesize(load_model(variant, state), num_samples)
    if precision.setting is None:
        return synthesize(load_model(variant, load_state(models / f"{clip}.pt")), num_samples)
    return reconstruct(bitstream.read(compressed / precision.setting / f"{clip}.ssr"), precision=precision.decode_mode)


def decode_batch(models: Path, compressed: Path, clips: Sequence[str], reconstructions: Sequence[Sequence[str]],
                 out: Path, sample_rate: int, num_samples: int, alpha: float) -> None:
    """Every (precision, denoise) reconstruction of every clip as a float WAV in ``out``; each precision's network
    is decoded once and denoised in each way asked."""
    out.mkdir(parents=True, exist_ok=True)
    for clip in clips:
        variant = _variant(models, clip)
        decoded: dict[str, np.ndarray] = {}
        for name, mode in reconstructions:
            if name not in decoded:
                decoded[name] = _heads(models, compressed, clip, Precision.parse(name), variant, num_samples)
            signal = denoise(decoded[name], sample_rate, mode, alpha)
            write_audio(out / reconstruction_file(clip, name, mode), signal, sample_rate, subtype="FLOAT")


def score_batch(decoded: Path, clips: Sequence[str], clip_wavs: Sequence[Path],
                reconstructions: Sequence[Sequence[str]], labels: Mapping[str, str], out: Path,
                **scoring: Any) -> pd.DataFrame:
    """One row per clip and reconstruction: ``labels``, clip, precision, denoise, step and every metric
    (``scoring``: the keyword arguments of :func:`siamese_siren.metrics.score_pairs`)."""
    pairs, keys = [], []
    for clip, clip_wav in zip(clips, clip_wavs, strict=True):
        reference = sf.read(clip_wav, dtype="float32")  # one array per clip: its resampling and CDPAM work is shared
        for precision, mode in reconstructions:
            pairs.append((reference, sf.read(decoded / reconstruction_file(clip, precision, mode), dtype="float32")))
            keys.append({**labels, "clip": clip, "precision": precision, "denoise": mode,
                         "step": Precision.parse(precision).step})
    records = score_pairs(pairs, **scoring) if pairs else []
    table = pd.DataFrame([{**k, **r} for k, r in zip(keys, records, strict=True)],
                         columns=None if pairs else [*labels, "clip", "precision", "denoise", "step"])
    files.write_csv(table, out)
    return table
