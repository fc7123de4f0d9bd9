"""Scoring batches of (reference, degraded) pairs: alignment, grouping by reference, the CPU metrics over a
process pool and CDPAM batched in this process meanwhile, merged into one flat record per pair."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from siamese_siren.codec.audio import RESAMPLER, Clip, resample

from . import cdpam, pesq, stoi, visqol
from .common import KINDS, PairMetric, SignalLike, as_signal, finite, is_silent, run
from .distances import log_spectral_distance, snr_db
from .vocabulary import CHOSEN

#: PESQ and (E)STOI are speech measures: on music they produce numbers without meaning.
DEFAULT_METRICS = {"music": ("visqol", "cdpam"), "speech": ("visqol", "cdpam", "pesq", "stoi", "estoi")}


def _pair_metric(name: str, kind: str, visqol_speech_mapper: str) -> PairMetric:
    if name == "visqol":
        return visqol.metric(kind, visqol_speech_mapper)
    if name == "pesq":
        return pesq.metric()
    return stoi.metric(extended=name == "estoi")


def metric_versions(kind: str, visqol_speech_mapper: str = visqol.DEFAULT_SPEECH_MAPPER) -> dict[str, str]:
    """Package versions behind each metric for ``kind``, as recorded in every score record."""
    return {m: cdpam.version() if m == "cdpam" else _pair_metric(m, kind, visqol_speech_mapper).version
            for m in CHOSEN}


def _check_args(kind: str, metrics: Iterable[str] | None) -> tuple[str, ...]:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    chosen = tuple(DEFAULT_METRICS[kind] if metrics is None else metrics)
    unknown = sorted(set(chosen) - set(CHOSEN))
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; choose from {CHOSEN} (SNR and LSD are always computed)")
    return tuple(m for m in CHOSEN if m in chosen)


# --- step 1: validate and align ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Aligned:
    """One pair ready to score: both at the reference's rate, trimmed to the shorter."""

    ref: np.ndarray
    deg: np.ndarray
    rate: int
    #: Pairs whose reference is the same caller's array (and length) share its resampled copies and embedding.
    group: tuple[int, int, int]


def _align(index: int, ref_like: SignalLike, deg_like: SignalLike, kind: str) -> tuple[dict[str, Any], _Aligned | str]:
    """The pair's base record, and the aligned pair or the reason none of its metrics can be computed."""
    ref, rate = as_signal(ref_like, f"pair {index} reference")
    deg, deg_rate = as_signal(deg_like, f"pair {index} degraded")
    deg = resample(deg, deg_rate, rate)  # a wrong rate is converted, never scored as if it were right
    n = min(len(ref), len(deg))
    record: dict[str, Any] = {
        "kind": kind,
        "sample_rate": rate,
        "degraded_rate": deg_rate,
        "seconds": n / rate,
        "trimmed_samples": max(len(ref), len(deg)) - n,
        "resampler": RESAMPLER,
    }
    ref, deg = ref[:n], deg[:n]
    if n == 0:
        return record, "empty signal"
    if not (np.isfinite(ref).all() and np.isfinite(deg).all()):
        return record, "signal contains NaN or infinite samples"
    if is_silent(ref):
        return record, "reference is digital silence; every metric compares against it"
    raw = ref_like.samples if isinstance(ref_like, Clip) else ref_like[0]
    return record, _Aligned(ref, deg, rate, (id(raw), rate, n))


# --- step 2: group by reference ------------------------------------------------------------------------------------


def _tasks(aligned: dict[int, _Aligned], workers: int) -> list[list[int]]:
    """Pair indices per task: one reference each, big groups split so one reference still spreads over workers."""
    groups: dict[tuple[int, int, int], list[int]] = {}
    for i, pair in aligned.items():
        groups.setdefault(pair.group, []).append(i)
    tasks = []
    for idx in groups.values():
        step = max(1, -(-len(idx) // max(1, workers)))
        tasks += [idx[j : j + step] for j in range(0, len(idx), step)]
    return tasks


# --- step 3: the CPU metrics, one reference against its degraded signals (here or in a pool worker) -----------------


def _score_group(
    ref: np.ndarray, rate: int, degraded: list[np.ndarray], metrics: tuple[PairMetric, ...]
) -> list[dict[str, Any]]:
    """SNR, LSD and every pair metric for one (trimmed) reference against degraded signals of its length.

    The reference is resampled once per metric rate.
    """
    for metric in metrics:
        if metric.prepare is not None:
            metric.prepare()
    ref_at: dict[int, np.ndarray] = {}
    out = []
    for deg in degraded:
        record: dict[str, Any] = {"snr_db": snr_db(ref, deg), "lsd_db": log_spectral_distance(ref, deg)}
        for metric in metrics:
            if metric.rate not in ref_at:
                ref_at[metric.rate] = resample(ref, rate, metric.rate)
            value = run(metric.score, ref_at[metric.rate], resample(deg, rate, metric.rate))
            record[metric.name], record[f"{metric.name}_error"] = value
        out.append(record)
    return out


def _worker_init() -> None:
    # One pool worker per core: numba's and BLAS's own thread pools inside each worker would oversubscribe them.
    for var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"


@contextlib.contextmanager
def _pool(workers: int, tasks: int) -> Iterator[ProcessPoolExecutor | None]:
    """A process pool when it pays (several workers and tasks), else None: the tasks then run inline."""
    if workers <= 1 or tasks <= 1:
        yield None
        return
    # Not fork: the parent may already run torch's and numba's thread pools, which do not survive a fork.
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method), initializer=_worker_init)
    try:
        yield pool
    finally:
        pool.shutdown()


# --- step 4: CDPAM, batched, in this process ---------------------------------------------------------------------


def _cdpam_values(
    aligned: dict[int, _Aligned], device: str | None, batch_size: int | None
) -> dict[int, tuple[float, str | None]]:
    by_rate: dict[int, list[int]] = {}
    for i, pair in aligned.items():
        by_rate.setdefault(pair.rate, []).append(i)
    out = {}
    for rate, idx in by_rate.items():
        values = cdpam.cdpam_distances([(aligned[i].ref, aligned[i].deg) for i in idx], rate, device, batch_size)
        out.update({i: finite(v) for i, v in zip(idx, values, strict=True)})
    return out


# --- the entry points ------------------------------------------------------------------------------------------


def score_pairs(
    pairs: Sequence[tuple[SignalLike, SignalLike]],
    kind: str,
    metrics: Iterable[str] | None = None,
    workers: int = 1,
    device: str | None = None,
    cdpam_batch_size: int | None = None,
    visqol_speech_mapper: str = visqol.DEFAULT_SPEECH_MAPPER,
) -> list[dict[str, Any]]:
    """Score many (reference, degraded) pairs in one process; one flat record per pair, in order.

    ``kind``: "music" or "speech" (picks the ViSQOL mode and the default ``metrics``, see ``DEFAULT_METRICS``).
    ``metrics``: a subset of ``CHOSEN``; SNR and LSD are always computed.
    ``workers`` > 1 runs SNR, LSD, ViSQOL, PESQ and (E)STOI in a process pool of that size while CDPAM runs batched
    in this process (on ``device``, CUDA by default when present). A pool costs a few seconds to start, so use it
    for batches, not single pairs. Pairs that share the same reference array object and length reuse its
    resampled versions and its CDPAM embedding.
    ``visqol_speech_mapper``: ViSQOL speech mode's quality mapper, "lattice" or "polynomial" (see
    :mod:`siamese_siren.metrics.visqol`); music always uses the SVR mapper.

    Record keys: ``kind``, ``sample_rate`` (the reference's; the degraded signal is resampled to it),
    ``degraded_rate`` (as given), ``seconds`` and ``trimmed_samples`` (after trimming to the shorter),
    ``resampler``, ``snr_db``, ``lsd_db``, and per metric ``<m>``, ``<m>_error`` (None or why it is NaN),
    ``<m>_mode``, ``<m>_version``.
    """
    names = _check_args(kind, metrics)
    pair_metrics = tuple(_pair_metric(m, kind, visqol_speech_mapper) for m in names if m != "cdpam")
    labels = {m.name: (m.mode, m.version) for m in pair_metrics}
    if "cdpam" in names:
        labels["cdpam"] = (cdpam.mode(device), cdpam.version())

    records: list[dict[str, Any]] = []
    aligned: dict[int, _Aligned] = {}
    for i, (ref_like, deg_like) in enumerate(pairs):
        record, pair = _align(i, ref_like, deg_like, kind)
        problem = pair if isinstance(pair, str) else None
        if problem is None:
            aligned[i] = pair
        else:
            record.update(snr_db=float("nan"), lsd_db=float("nan"))
        for m in names:
            mode, version = labels[m]
            record.update({m: float("nan"), f"{m}_error": problem, f"{m}_mode": mode, f"{m}_version": version})
        records.append(record)

    tasks = _tasks(aligned, workers)

    def task_args(idx: list[int]) -> tuple:
        first = aligned[idx[0]]
        return first.ref, first.rate, [aligned[i].deg for i in idx], pair_metrics

    with _pool(workers, len(tasks)) as pool:
        futures: list[Future | None] = [pool.submit(_score_group, *task_args(idx)) if pool else None for idx in tasks]
        if "cdpam" in names:  # meanwhile, in this process; in group order, which decides the CUDA batches
            by_group = {i: aligned[i] for idx in tasks for i in idx}
            for i, value in _cdpam_values(by_group, device, cdpam_batch_size).items():
                records[i]["cdpam"], records[i]["cdpam_error"] = value
        for idx, future in zip(tasks, futures, strict=True):
            results = future.result() if future else _score_group(*task_args(idx))
            for i, result in zip(idx, results, strict=True):
                records[i].update(result)
    return records


def score_many(
    reference: SignalLike,
    degraded: Sequence[SignalLike],
    kind: str,
    metrics: Iterable[str] | None = None,
    workers: int = 1,
    device: str | None = None,
    visqol_speech_mapper: str = visqol.DEFAULT_SPEECH_MAPPER,
) -> list[dict[str, Any]]:
    """Score one reference against several degraded signals (e.g. float, int8 and denoised reconstructions).

    The reference is resampled once per metric rate and CDPAM-encoded once. One record per degraded signal.
    """
    return score_pairs([(reference, d) for d in degraded], kind, metrics, workers, device,
                       visqol_speech_mapper=visqol_speech_mapper)


def score_pair(
    reference: SignalLike,
    degraded: SignalLike,
    kind: str,
    metrics: Iterable[str] | None = None,
    device: str | None = None,
    visqol_speech_mapper: str = visqol.DEFAULT_SPEECH_MAPPER,
) -> dict[str, Any]:
    """Score one (reference, degraded) pair; see :func:`score_pairs` for the record's keys."""
    return score_pairs([(reference, degraded)], kind, metrics, 1, device, visqol_speech_mapper=visqol_speech_mapper)[0]
