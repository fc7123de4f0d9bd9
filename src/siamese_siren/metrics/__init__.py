"""Objective quality of degraded signals against a reference: ViSQOL, CDPAM, PESQ, STOI, ESTOI, SNR, LSD.

One record (a flat dict) per (reference, degraded) pair, with each metric's value, the mode it ran in, the
package version that produced it and, where it could not be computed, NaN plus a reason in ``<metric>_error``.

Conventions, so that a score never depends on how the caller happened to hand over the audio:

* Signals are mono float arrays in [-1, 1], each with its own sample rate (a ``(samples, rate)`` tuple or a
  :class:`~siamese_siren.codec.audio.Clip`).
* A degraded signal at another rate than its reference is first resampled to the reference's rate.
* Lengths are then aligned by trimming both to the shorter one (no padding: zeros added to one side would be
  scored as a dropout). ``trimmed_samples`` in the record says how much was cut, at the reference's rate.
* Every rate change uses :func:`siamese_siren.codec.audio.resample` (soxr VHQ): the resampler alone moves ViSQOL by
  0.03-0.09, so the metrics' own resamplers are never used (STOI is fed at its internal 10 kHz for that reason).
* A reference that is digital silence makes every metric of the pair NaN: all of them compare against it, and
  some (ViSQOL) return a confident, meaningless score instead of failing.

Metric set: ``kind="music"`` scores ViSQOL audio mode (48 kHz, SVR mapper) and CDPAM; ``kind="speech"`` scores
ViSQOL speech mode (16 kHz, lattice mapper by default), CDPAM, PESQ wideband, STOI and extended STOI. SNR and
log-spectral distance are always computed. Entry points: :func:`score_pair`, :func:`score_many` (one reference,
several degraded signals) and :func:`score_pairs` (a batch, optionally over a process pool).

Layout: one module per metric with its settings and traps (:mod:`.visqol`, :mod:`.pesq`, :mod:`.stoi`,
:mod:`.cdpam`, :mod:`.distances`), the shared NaN-with-a-reason machinery in :mod:`.common`, and batching,
pooling and merging in :mod:`.scoring`. Importing this package imports none of the metric packages.
"""

from .cdpam import cdpam_distances
from .common import KINDS, SignalLike
from .distances import log_spectral_distance, snr_db
from .scoring import DEFAULT_METRICS, metric_versions, score_many, score_pair, score_pairs
from .visqol import SPEECH_MAPPERS as VISQOL_SPEECH_MAPPERS

__all__ = [
    "DEFAULT_METRICS",
    "KINDS",
    "VISQOL_SPEECH_MAPPERS",
    "SignalLike",
    "cdpam_distances",
    "log_spectral_distance",
    "metric_versions",
    "score_many",
    "score_pair",
    "score_pairs",
    "snr_db",
]
