"""PESQ wideband (ITU-T P.862.2) at 16 kHz, the only rate its wideband mode accepts."""

from __future__ import annotations

import numpy as np

from .common import PairMetric, package_version, reject_silent_degraded

PESQ_RATE = 16000
PESQ_MODE = "wb 16000 Hz"


def pesq_wb(ref: np.ndarray, deg: np.ndarray) -> float:
    # pesq's own errors (BufferTooShortError below 0.25 s, NoUtterancesError on a silent reference) are reasons
    # enough; a silent degraded signal only gets a bare ValueError, hence this clearer one.
    from pesq import pesq

    reject_silent_degraded(deg, "PESQ")
    return pesq(PESQ_RATE, ref, deg, "wb")


def metric() -> PairMetric:
    return PairMetric("pesq", PESQ_RATE, PESQ_MODE, package_version("pesq"), pesq_wb)
