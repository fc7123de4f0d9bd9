"""The entropy codings of the ``.ssr`` payload on trained networks, side by side in one run; prints sizes and time
ratios, never asserts a time.

    python benchmarks/entropy_coders.py                                   # profiles/paper-small's networks
    python benchmarks/entropy_coders.py --models results/models --bits 8 4 3

For every trained network under ``--models`` (``<dataset>/<variant>/<batch>/<clip>.pt``) and every bit depth, per
tensor and per channel: the file's bytes with each coding (none, zstd, rans, rans-prior), the entropy of its weight
symbols (each layer's empirical distribution, the floor of any model of independent symbols, its table unpaid),
and each coder's encode and decode time over rans's.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from siamese_siren.codec import bitstream
from siamese_siren.codec.bitstream import CompressedClip
from siamese_siren.codec.coders import STORED_CODINGS
from siamese_siren.codec.models import Variant
from siamese_siren.codec.quantize import quantize_model
from siamese_siren.codec.train import load_model, load_state

ROOT = Path(__file__).resolve().parents[1]


def symbol_entropy_bytes(clip: CompressedClip) -> float:
    """Bytes of the weight symbols at each layer's empirical entropy, plus the scales and biases as stored."""
    total_bits = 0.0
    for layer in clip.layers:
        _, counts = np.unique(layer.weights, return_counts=True)
        p = counts / counts.sum()
        total_bits += float(-(counts * np.log2(p)).sum()) + 32 * (layer.scales.size + layer.bias.size)
    return total_bits / 8


def timed(fn, repeat: int = 3) -> tuple[object, float]:
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return out, best


def measure(models: Path, bits: list[int], limit: int) -> pd.DataFrame:
    rows = []
    for meta_file in sorted(models.glob("*/*/*/*.json"))[:limit]:
        meta = json.loads(meta_file.read_text())
        variant = Variant.from_dict(meta["variant"])
        model = load_model(variant, load_state(meta_file.with_suffix(".pt")))
        dataset, name = meta_file.parts[-4], meta_file.parts[-3]
        for b in bits:
            for per_channel in (False, True):
                layers = quantize_model(model, b, per_channel)
                row = {"dataset": dataset, "variant": name, "clip": meta["clip"], "bits": b,
                       "scales": "per channel" if per_channel else "per tensor"}
                for coding in STORED_CODINGS:
                    clip = CompressedClip(variant, 22050, 24255, 1.0, b, per_channel, layers, coding)
                    data, encode = timed(lambda clip=clip: bitstream.to_bytes(clip))
                    decoded, decode = timed(lambda data=data: bitstream.from_bytes(data))
                    assert all(np.array_equal(a.weights, d.weights) for a, d in zip(layers, decoded.layers,
                                                                                     strict=True))
                    row |= {coding: len(data), f"{coding}_encode_s": encode, f"{coding}_decode_s": decode}
                payload = sum(4 * (q.scales.size + q.bias.size) + -(-q.weights.size * b // 8) for q in layers)
                row["entropy floor"] = symbol_entropy_bytes(clip) + row["none"] - payload  # + header and CRC
                rows.append(row)
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=Path, default=ROOT / "results" / "paper-small" / "models")
    parser.add_argument("--bits", type=int, nargs="+", default=[8, 6, 5, 4, 3])
    parser.add_argument("--limit", type=int, default=40, help="networks at most (sorted by path)")
    args = parser.parse_args()
    table = measure(args.models, args.bits, args.limit)
    if table.empty:
        raise SystemExit(f"no trained networks under {args.models}; run the workflow (profiles/paper-small) first")
    sizes = table.groupby(["variant", "bits", "scales"])[[*STORED_CODINGS, "entropy floor"]].mean().round(0)
    sizes["rans-prior / rans"] = (sizes["rans-prior"] / sizes["rans"]).round(3)
    print(f"mean bytes per file over {table['clip'].nunique()} clips\n")
    print(sizes.to_string())
    times = {f"{c} {way} / rans": (table[f"{c}_{way}_s"] / table[f"rans_{way}_s"]).median()
             for c in STORED_CODINGS for way in ("encode", "decode")}
    print("\nmedian time over rans's:\n" + "\n".join(f"  {k}: {v:.2f}" for k, v in times.items()))


if __name__ == "__main__":
    main()
