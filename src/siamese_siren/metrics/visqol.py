"""ViSQOL v3 (visqol-python): audio mode at 48 kHz with the SVR mapper for music, speech mode at 16 kHz for speech.

Speech mode has two similarity-to-quality mappers in visqol-python: ``lattice`` (the deep-lattice TFLite model,
the C++ tool's default, needs the ai-edge-litert runtime) and ``polynomial`` (its fallback fit, scaled so a
perfect match reads 5). They disagree by a lot (white noise at 30 dB SNR: 2.94 vs 4.61), so the mapper is always
chosen explicitly and recorded in the mode: a missing runtime must be an error, never a silent switch.
"""

from __future__ import annotations

from functools import cache, partial
from typing import Any

import numpy as np

from .common import PairMetric, Undefined, package_version, reject_silent_degraded

VISQOL_RATE = {"music": 48000, "speech": 16000}
#: Speech-mode mappers by name, with the package that implements each (recorded as the metric's version).
SPEECH_MAPPERS = {"lattice": "ai-edge-litert", "polynomial": None}
DEFAULT_SPEECH_MAPPER = "lattice"
#: Its patches need about 1 s: speech mode fails below ~0.75 s, audio mode below ~1 s.
MIN_SECONDS = 1.5


def _mapper(kind: str, speech_mapper: str) -> str:
    # Checked for music too: a misspelt setting must fail on the first run, not on the first speech dataset.
    if speech_mapper not in SPEECH_MAPPERS:
        raise ValueError(f"unknown ViSQOL speech mapper {speech_mapper!r}; choose from {sorted(SPEECH_MAPPERS)}")
    return speech_mapper if kind == "speech" else "svr"


@cache
def api(kind: str, speech_mapper: str = DEFAULT_SPEECH_MAPPER) -> Any:
    """One configured ViSQOL per process, mode and mapper (the SVR / lattice models load once)."""
    from siamese_siren.codec import numba_cache
    numba_cache.configure()  # visqol imports numba: its compiled code must land in a cache we can write
    from visqol import VisqolApi

    visqol_api = VisqolApi()
    if kind == "speech":
        visqol_api.create(mode="speech", use_lattice_model=_mapper(kind, speech_mapper) == "lattice")
    else:
        visqol_api.create(mode="audio")
    return visqol_api


def moslqo(kind: str, speech_mapper: str, ref: np.ndarray, deg: np.ndarray) -> float:
    reject_silent_degraded(deg, "ViSQOL", " (it returns NaN)")
    rate = VISQOL_RATE[kind]
    try:
        with np.errstate(all="ignore"):
            return api(kind, speech_mapper).measure_from_arrays(ref.astype(np.float64), deg.astype(np.float64),
                                                                rate).moslqo
    except (IndexError, ValueError) as err:
        seconds = len(ref) / rate
        if seconds < MIN_SECONDS:
            raise Undefined(f"{seconds:.2f} s is too short for ViSQOL ({type(err).__name__}: {err}); "
                            "score clips of at least 1 s") from err
        raise


def version(kind: str, speech_mapper: str = DEFAULT_SPEECH_MAPPER) -> str:
    mapper = _mapper(kind, speech_mapper)
    mapper_package = SPEECH_MAPPERS[mapper] if kind == "speech" else "libsvm-official"
    return package_version("visqol-python") + (f" + {package_version(mapper_package)}" if mapper_package else "")


def metric(kind: str, speech_mapper: str = DEFAULT_SPEECH_MAPPER) -> PairMetric:
    mapper = _mapper(kind, speech_mapper)
    if kind != "speech":
        speech_mapper = DEFAULT_SPEECH_MAPPER  # unused in audio mode: one cached API for music whatever the setting
    mode = f"speech 16000 Hz {mapper}" if kind == "speech" else "audio 48000 Hz svr"
    return PairMetric("visqol", VISQOL_RATE[kind], mode, version(kind, speech_mapper),
                      partial(moslqo, kind, speech_mapper), prepare=partial(api, kind, speech_mapper))
