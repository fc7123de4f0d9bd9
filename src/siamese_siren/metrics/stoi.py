"""STOI and extended STOI (pystoi), fed at pystoi's internal 10 kHz so its own resampler never runs.

The paper's "STOI" column behaves like extended STOI (Jensen & Taal 2016): scored on the authors' published
reconstructions, ESTOI matches it within 0.01, negative value included, while classic STOI reads ~0.04 high.
"""

from __future__ import annotations

import warnings
from functools import partial

import numpy as np

from .common import PairMetric, Undefined, package_version

STOI_RATE = 10000


def stoi(ref: np.ndarray, deg: np.ndarray, extended: bool = False) -> float:
    from pystoi import stoi as pystoi_stoi

    # ESTOI's row and column normalisation adds noise of machine-epsilon size from numpy's global generator, which
    # near-silent frames amplify: unseeded, two calls on the same arrays differed by up to 0.01. A fixed seed, with
    # the caller's generator state put back, makes every score reproducible.
    state = np.random.get_state()
    np.random.seed(0)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            value = pystoi_stoi(ref, deg, STOI_RATE, extended=extended)
    finally:
        np.random.set_state(state)
    for w in caught:
        # pystoi only *warns* when too few non-silent frames are left, and returns 1e-5, which looks like a score.
        if "Not enough STFT frames" in str(w.message):
            raise Undefined(f"too short or too quiet for STOI: {w.message}")
    return value


def metric(extended: bool) -> PairMetric:
    name = "estoi" if extended else "stoi"
    mode = f"{'extended' if extended else 'classic'} {STOI_RATE} Hz"
    return PairMetric(name, STOI_RATE, mode, package_version("pystoi"), partial(stoi, extended=extended))
