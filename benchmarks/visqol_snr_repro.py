"""Minimal reproduction, for visqol-python's issue tracker: speech-mode MOS is not monotonic in white noise.

    python benchmarks/visqol_snr_repro.py resources/audio/speech_librivox_0890.flac [more 16 kHz speech files]

Needs only visqol-python[lattice], numpy and soundfile. For each 16 kHz mono speech file it adds white noise at
0..50 dB SNR (fixed seeds) and prints, per SNR, the mean NSIM similarity (which rises with SNR), the MOS of the
polynomial mapper (an increasing function of it) and the MOS of the lattice mapper (the default, as in the C++
tool), which does not rise at low SNR although the similarity does.
"""

from __future__ import annotations

import sys

import numpy as np
import soundfile as sf
from visqol import VisqolApi

SNRS = (0, 10, 20, 30, 40, 50)


def with_noise(x: np.ndarray, snr_db: float, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal(len(x))
    return x + noise * np.sqrt(np.mean(x**2) / np.mean(noise**2) / 10 ** (snr_db / 10))


def main() -> None:
    lattice, polynomial = VisqolApi(), VisqolApi()
    lattice.create(mode="speech", use_lattice_model=True)
    polynomial.create(mode="speech", use_lattice_model=False)
    print(f"{'file':<28}{'SNR dB':>7}{'mean NSIM':>11}{'polynomial':>12}{'lattice':>9}")
    for path in sys.argv[1:]:
        x, rate = sf.read(path, dtype="float64")
        assert rate == 16000 and x.ndim == 1, "a 16 kHz mono file"
        x = x / np.max(np.abs(x))
        for snr in SNRS:
            y = with_noise(x, snr, seed=snr)
            lat = lattice.measure_from_arrays(x, y, rate)
            poly = polynomial.measure_from_arrays(x, y, rate)
            name = path.rsplit("/", 1)[-1]
            print(f"{name:<28}{snr:>7}{np.mean(lat.fvnsim):>11.3f}{poly.moslqo:>12.2f}{lat.moslqo:>9.2f}", flush=True)


if __name__ == "__main__":
    main()
