"""What every metric shares: signal checks, the silence test and NaN-with-a-reason."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np

from siamese_siren.codec.audio import Clip

SignalLike = tuple[np.ndarray, int] | Clip

KINDS = ("music", "speech")
#: Peaks below half an int16 step are silence once written as 16-bit audio.
SILENCE_PEAK = 2.0**-16


class Undefined(Exception):
    """The metric has no meaningful value for this pair; the message is the reason recorded."""


@cache
def package_version(package: str) -> str:
    try:
        return f"{package} {version(package)}"
    except PackageNotFoundError:
        return f"{package} (not installed)"


def as_signal(x: SignalLike, what: str) -> tuple[np.ndarray, int]:
    """Mono float32 samples and their rate, from a ``(samples, rate)`` tuple or a Clip; bad input raises."""
    if isinstance(x, Clip):
        samples, rate = x.samples, x.sample_rate
    else:
        samples, rate = x
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim != 1:
        raise ValueError(f"{what}: expected a mono signal of shape (n,), got shape {samples.shape}")
    if int(rate) <= 0:
        raise ValueError(f"{what}: sample rate must be positive, got {rate}")
    return samples, int(rate)


def is_silent(x: np.ndarray) -> bool:
    return x.size == 0 or float(np.max(np.abs(x))) < SILENCE_PEAK


def reject_silent_degraded(deg: np.ndarray, metric: str, consequence: str = "") -> None:
    """Raise :class:`Undefined` for a silent degraded signal, which ``metric`` cannot score."""
    if is_silent(deg):
        raise Undefined(f"degraded signal is digital silence; {metric} is undefined{consequence}")


def run(fn: Callable[..., float], *args: Any) -> tuple[float, str | None]:
    """Value and reason for one metric on one pair: a failing pair must never sink the whole batch."""
    try:
        value = float(fn(*args))
    except Undefined as err:
        return float("nan"), str(err)
    except Exception as err:  # noqa: BLE001 - the reason goes into the record
        return float("nan"), f"{type(err).__name__}: {err}"
    return finite(value)


def finite(value: float) -> tuple[float, str | None]:
    if not np.isfinite(value):
        return float("nan"), "metric returned a non-finite value"
    return value, None


@dataclass(frozen=True)
class PairMetric:
    """A metric scored one pair at a time on the CPU (in this process or a pool worker), at a rate of its own.

    ``score`` and ``prepare`` must be picklable (module-level functions or partials of them): pool workers get
    the metric itself, not its name.
    """

    name: str
    rate: int  # both signals are resampled to it with the project's resampler before ``score``
    mode: str  # recorded as ``<name>_mode``
    version: str  # recorded as ``<name>_version``
    score: Callable[[np.ndarray, np.ndarray], float]  # raises Undefined (or anything) for NaN with a reason
    #: Called once per process before scoring, outside the NaN-with-a-reason net: a metric that cannot be set up
    #: (missing package, bad option) is a configuration error that must stop the run.
    prepare: Callable[[], object] | None = None
