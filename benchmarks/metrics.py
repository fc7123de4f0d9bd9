"""Seconds per 10 s clip pair for each metric, one pair at a time and batched, on this machine.

    python benchmarks/metrics.py [--pairs 8] [--cdpam-pairs 2] [--workers N] [--metrics visqol-audio,cdpam,...]

"single" scores N pairs one call each, nothing cached (for CDPAM each pair encodes its reference and its
degraded signal). "batched" scores the same N pairs in one ``score_pairs`` call: the cheap CPU metrics spread
over a process pool of ``--workers`` processes (pool start-up included), CDPAM batched on CUDA when present.
"cdpam 1 ref x N" is the pipeline case: one reference against N reconstructions, the reference encoded once
(its batched/single column compares it with "single"). First calls (model loads, numba compilation; on a 1 s
pair) are timed separately and excluded from the per-pair figures.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from siamese_siren import metrics as M
from siamese_siren.codec.audio import load_clip
from siamese_siren.metrics import cdpam as cdpam_metric

DATA = Path(__file__).resolve().parents[1] / "resources" / "audio"
SR = 22050
SECONDS = 10.0
BENCHES = ("snr", "lsd", "visqol-audio", "visqol-speech", "pesq", "stoi", "cdpam")


def ten_seconds(path: Path) -> np.ndarray:
    """A 10 s clip at 22.05 kHz; short files are repeated (not zero-padded) so every second is real audio."""
    x = load_clip(path, SR, duration=None).samples
    return np.tile(x, int(np.ceil(SECONDS * SR / len(x))))[: int(SECONDS * SR)]


def make_pairs(clip: np.ndarray, n: int) -> list[tuple[tuple[np.ndarray, int], tuple[np.ndarray, int]]]:
    """n pairs with distinct references (so no cache helps) and 20 dB SNR white noise as the degradation."""
    rng = np.random.default_rng(0)
    pairs = []
    for i in range(n):
        ref = (clip * (1.0 - 0.01 * i)).astype(np.float32)
        noise = rng.standard_normal(len(ref)) * np.sqrt(np.mean(ref**2) / 100.0)
        pairs.append(((ref, SR), ((ref + noise).astype(np.float32), SR)))
    return pairs


def timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=8, help="pairs per CPU metric")
    parser.add_argument("--cdpam-pairs", type=int, default=2, help="pairs for CDPAM (~20 s per encode on CPU)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--metrics", default=",".join(BENCHES), help=f"comma-separated subset of {BENCHES}")
    parser.add_argument("--device", default=None, help="CDPAM device (default: cuda when present)")
    args = parser.parse_args()
    chosen = [b for b in args.metrics.split(",") if b]

    import torch

    device = cdpam_metric.device_for(args.device)
    gpu = f" ({torch.cuda.get_device_name()})" if device.startswith("cuda") else ""
    print(f"{platform.node()}: {os.cpu_count()} CPUs, torch {torch.__version__}, CDPAM on {device}{gpu}")
    print(f"{args.pairs} pairs ({args.cdpam_pairs} for CDPAM) of {SECONDS:.0f} s clips at {SR} Hz, ", end="")
    print(f"batched with {args.workers} workers\n")

    speech = make_pairs(ten_seconds(DATA / "speech_librivox_0880.flac"), args.pairs)
    music = make_pairs(ten_seconds(DATA / "music_sonicpi_loop_tabla.flac"), args.pairs)
    warm_ref, warm_deg = make_pairs(ten_seconds(DATA / "speech_librivox_0880.flac")[:SR] * 0.5, 1)[0]

    rows = []
    header = f"{'metric':<22}{'first call s':>13}{'single s/pair':>15}{'batched s/pair':>16}{'batched/single':>16}"
    print(header)
    for bench in chosen:
        n = args.pairs
        if bench in ("snr", "lsd"):
            fn = M.snr_db if bench == "snr" else M.log_spectral_distance
            first = timed(lambda fn=fn: fn(warm_ref[0], warm_deg[0]))
            single = timed(lambda fn=fn: [fn(r[0], d[0]) for r, d in music]) / n
            batched = float("nan")  # no batched form: numpy already vectorises one pair
        else:
            kind, metric = {
                "visqol-audio": ("music", "visqol"),
                "visqol-speech": ("speech", "visqol"),
                "pesq": ("speech", "pesq"),
                "stoi": ("speech", "stoi"),
                "cdpam": ("music", "cdpam"),
            }[bench]
            pairs = music if kind == "music" else speech
            if bench == "cdpam":
                n, pairs = args.cdpam_pairs, pairs[: args.cdpam_pairs]
            first = timed(lambda k=kind, m=metric: M.score_pair(warm_ref, warm_deg, k, (m,), device=device))
            cdpam_metric.EMBEDDINGS.clear()
            single = timed(lambda p=pairs, k=kind, m=metric: [M.score_pair(*pr, k, (m,), device) for pr in p]) / n
            cdpam_metric.EMBEDDINGS.clear()
            batched = (
                timed(lambda p=pairs, k=kind, m=metric: M.score_pairs(p, k, (m,), workers=args.workers, device=device))
                / n
            )
        rows.append((bench, first, single, batched))
        print(f"{bench:<22}{first:>13.2f}{single:>15.3f}{batched:>16.3f}{batched / single:>16.2f}", flush=True)
        if bench == "cdpam":
            cdpam_metric.EMBEDDINGS.clear()
            ref, degs = music[0][0], [d for _, d in music[:n]]
            one_ref = timed(lambda r=ref, ds=degs: M.score_many(r, ds, "music", ("cdpam",), device=device))
            per_pair = one_ref / n
            print(f"{'cdpam 1 ref x N':<22}{'':>13}{single:>15.3f}{per_pair:>16.3f}{per_pair / single:>16.2f}")


if __name__ == "__main__":
    main()
