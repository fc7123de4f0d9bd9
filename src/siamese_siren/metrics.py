"""Objective quality of degraded signals against a reference: ViSQOL, CDPAM, PESQ, STOI, SNR, LSD.

One record (a flat dict) per (reference, degraded) pair, with each metric's value, the mode it ran in, the
package version that produced it and, where it could not be computed, NaN plus a reason in ``<metric>_error``.

Conventions, so that a score never depends on how the caller happened to hand over the audio:

* Signals are mono float arrays in [-1, 1], each with its own sample rate (a ``(samples, rate)`` tuple or a
  :class:`~siamese_siren.audio.Clip`).
* A degraded signal at another rate than its reference is first resampled to the reference's rate.
* Lengths are then aligned by trimming both to the shorter one (no padding: zeros added to one side would be
  scored as a dropout). ``trimmed_samples`` in the record says how much was cut, at the reference's rate.
* Every rate change uses :func:`siamese_siren.audio.resample` (soxr VHQ): the resampler alone moves ViSQOL by
  0.03-0.09, so the metrics' own resamplers are never used (STOI is fed at its internal 10 kHz for that reason).
* A reference that is digital silence makes every metric of the pair NaN: all of them compare against it, and
  some (ViSQOL) return a confident, meaningless score instead of failing.

Metric set: ``kind="music"`` scores ViSQOL audio mode (48 kHz, SVR mapper) and CDPAM; ``kind="speech"`` scores
ViSQOL speech mode (16 kHz, lattice mapper), CDPAM, PESQ wideband and STOI. SNR and log-spectral distance are
always computed. Entry points: :func:`score_pair`, :func:`score_many` (one reference, several degraded signals)
and :func:`score_pairs` (a batch, optionally over a process pool).
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import sys
import tempfile
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np

from siamese_siren.audio import RESAMPLER, Clip, resample


# --- numba cache location -------------------------------------------------------------------------------------
# visqol and librosa JIT-compile with numba and cache the machine code (ViSQOL audio mode: ~30 s to compile, then
# ~2 s per clip). numba's default is a __pycache__ next to the package, and on a read-only install (system
# package, container image, shared venv) it falls back to ~/.cache only when HOME is writable; otherwise every
# process, and every pool worker, silently recompiles. A per-user directory that we know is writable, set before
# numba is imported, makes the cache work and its place predictable.
def _default_numba_cache_dir() -> str:
    uid = getattr(os, "getuid", lambda: "user")()
    candidates = [
        os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "siamese-siren", "numba"),
        os.path.join(tempfile.gettempdir(), f"siamese-siren-numba-{uid}"),
    ]
    for path in candidates:
        try:
            os.makedirs(path, exist_ok=True)
        except OSError:
            continue
        if os.access(path, os.W_OK | os.X_OK):
            return path
    return candidates[-1]


if not os.environ.get("NUMBA_CACHE_DIR"):
    os.environ["NUMBA_CACHE_DIR"] = _default_numba_cache_dir()
    if "numba" in sys.modules:  # numba reads its config at import; functions decorated later still see this
        sys.modules["numba"].core.config.reload_config()
NUMBA_CACHE_DIR = os.environ["NUMBA_CACHE_DIR"]

SignalLike = tuple[np.ndarray, int] | Clip

KINDS = ("music", "speech")
METRICS = ("visqol", "cdpam", "pesq", "stoi")
#: PESQ and STOI are speech measures: on music they produce numbers without meaning.
DEFAULT_METRICS = {"music": ("visqol", "cdpam"), "speech": ("visqol", "cdpam", "pesq", "stoi")}

VISQOL_RATE = {"music": 48000, "speech": 16000}
VISQOL_MODE = {"music": "audio 48000 Hz svr", "speech": "speech 16000 Hz lattice"}
PESQ_RATE = 16000
PESQ_MODE = "wb 16000 Hz"
STOI_RATE = 10000  # pystoi's internal rate: feeding it directly keeps its own resampler out
STOI_MODE = "classic 10000 Hz"
CDPAM_RATE = 22050
LSD_N_FFT = 2048
LSD_HOP = 512
LSD_FLOOR = 1e-10  # power floor (-100 dB re a full-scale sine's ~0.25) so silent bins stay finite
#: Peaks below half an int16 step are silence once written as 16-bit audio.
SILENCE_PEAK = 2.0**-16


class _Undefined(Exception):
    """The metric has no meaningful value for this pair; the message is the reason recorded."""


# --- helpers ----------------------------------------------------------------------------------------------------


@cache
def _version(package: str) -> str:
    try:
        return f"{package} {version(package)}"
    except PackageNotFoundError:
        return f"{package} (not installed)"


def metric_versions(kind: str) -> dict[str, str]:
    """Package versions behind each metric for ``kind``, as recorded in every score record."""
    mapper = "ai-edge-litert" if kind == "speech" else "libsvm-official"  # the lattice / SVR quality mapper
    return {
        "visqol": _version("visqol-python") + " + " + _version(mapper),
        "cdpam": _version("cdpam") + " + " + _version("torch"),
        "pesq": _version("pesq"),
        "stoi": _version("pystoi"),
    }


def _as_signal(x: SignalLike, what: str) -> tuple[np.ndarray, int]:
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


def _is_silent(x: np.ndarray) -> bool:
    return x.size == 0 or float(np.max(np.abs(x))) < SILENCE_PEAK


def _run(fn: Callable[..., float], *args: Any) -> tuple[float, str | None]:
    """Value and reason for one metric on one pair: a failing pair must never sink the whole batch."""
    try:
        value = float(fn(*args))
    except _Undefined as err:
        return float("nan"), str(err)
    except Exception as err:  # noqa: BLE001 - the reason goes into the record
        return float("nan"), f"{type(err).__name__}: {err}"
    if not np.isfinite(value):
        return float("nan"), "metric returned a non-finite value"
    return value, None


def snr_db(reference: np.ndarray, degraded: np.ndarray) -> float:
    """Signal-to-noise ratio in dB, the noise being ``degraded - reference`` (no gain or delay compensation).

    ``inf`` for identical signals; NaN for a silent reference.
    """
    ref = np.asarray(reference, dtype=np.float64)
    noise = np.asarray(degraded, dtype=np.float64) - ref
    signal_power, noise_power = float(np.sum(ref**2)), float(np.sum(noise**2))
    if signal_power == 0.0:
        return float("nan")
    if noise_power == 0.0:
        return float("inf")
    return float(10.0 * np.log10(signal_power / noise_power))


def log_spectral_distance(reference: np.ndarray, degraded: np.ndarray) -> float:
    """Log-spectral distance in dB, computed at the signals' own (common) sample rate.

    ``LSD = mean_t sqrt( mean_k ( 10 log10(P_ref[t, k] + e) - 10 log10(P_deg[t, k] + e) )^2 )``

    with ``P`` the power spectrogram (Hann window, ``LSD_N_FFT`` = 2048 samples, hop 512, zero-padded edges,
    amplitude-scaled so a full-scale sine peaks near 0.25) and ``e`` = 1e-10 (-100 dB) so silent bins stay finite.
    0 for identical signals, larger is worse. The frame covers different durations at different rates, so compare
    LSD only between records with the same ``sample_rate``.
    """
    from scipy.signal import stft

    def power_db(x: np.ndarray) -> np.ndarray:
        n = min(LSD_N_FFT, len(x))
        _, _, z = stft(np.asarray(x, dtype=np.float64), nperseg=n, noverlap=n * (LSD_N_FFT - LSD_HOP) // LSD_N_FFT)
        return 10.0 * np.log10(np.abs(z) ** 2 + LSD_FLOOR)

    diff = power_db(reference) - power_db(degraded)
    return float(np.mean(np.sqrt(np.mean(diff**2, axis=0))))


# --- ViSQOL, PESQ, STOI (CPU, one pair at a time) ------------------------------------------------------------------


@cache
def _visqol_api(kind: str) -> Any:
    """One configured ViSQOL per process and mode (the SVR / lattice models load once)."""
    from visqol import VisqolApi

    api = VisqolApi()
    if kind == "speech":
        # use_lattice_model=True: without the ai-edge-litert runtime, visqol would otherwise fall back to a
        # polynomial mapper that scores far higher (4.61 instead of 2.94 at 30 dB SNR); we want an ImportError.
        api.create(mode="speech", use_lattice_model=True)
    else:
        api.create(mode="audio")
    return api


def _visqol(api: Any, ref: np.ndarray, deg: np.ndarray, rate: int) -> float:
    if _is_silent(deg):
        raise _Undefined("degraded signal is digital silence; ViSQOL is undefined (it returns NaN)")
    try:
        with np.errstate(all="ignore"):
            return api.measure_from_arrays(ref.astype(np.float64), deg.astype(np.float64), rate).moslqo
    except (IndexError, ValueError) as err:
        seconds = len(ref) / rate
        if seconds < 1.5:  # its patches need about 1 s (speech mode fails below ~0.75 s, audio mode below ~1 s)
            raise _Undefined(f"{seconds:.2f} s is too short for ViSQOL ({type(err).__name__}: {err}); "
                             "score clips of at least 1 s") from err
        raise


def _pesq(ref: np.ndarray, deg: np.ndarray) -> float:
    from pesq import pesq

    if _is_silent(deg):
        raise _Undefined("degraded signal is digital silence; PESQ is undefined")
    return pesq(PESQ_RATE, ref, deg, "wb")


def _stoi(ref: np.ndarray, deg: np.ndarray) -> float:
    from pystoi import stoi

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = stoi(ref, deg, STOI_RATE, extended=False)
    for w in caught:
        # pystoi only *warns* when too few non-silent frames are left, and returns 1e-5, which looks like a score.
        if "Not enough STFT frames" in str(w.message):
            raise _Undefined(f"too short or too quiet for STOI: {w.message}")
    return value


def _score_group_cpu(
    ref: np.ndarray, rate: int, degraded: list[np.ndarray], kind: str, metrics: tuple[str, ...]
) -> list[dict[str, Any]]:
    """SNR, LSD, ViSQOL, PESQ, STOI for one (already trimmed) reference against degraded signals of its length.

    Runs in the caller's process or in a pool worker; the reference is resampled once per metric rate.
    """
    ref_at: dict[int, np.ndarray] = {}

    def at(x: np.ndarray, target: int, is_ref: bool) -> np.ndarray:
        if not is_ref:
            return resample(x, rate, target)
        if target not in ref_at:
            ref_at[target] = resample(x, rate, target)
        return ref_at[target]

    visqol = _visqol_api(kind) if "visqol" in metrics else None  # configuration errors raise, not NaN
    out = []
    for deg in degraded:
        rec: dict[str, Any] = {"snr_db": snr_db(ref, deg), "lsd_db": log_spectral_distance(ref, deg)}
        if visqol is not None:
            r = VISQOL_RATE[kind]
            rec["visqol"], rec["visqol_error"] = _run(_visqol, visqol, at(ref, r, True), at(deg, r, False), r)
        if "pesq" in metrics:
            rec["pesq"], rec["pesq_error"] = _run(_pesq, at(ref, PESQ_RATE, True), at(deg, PESQ_RATE, False))
        if "stoi" in metrics:
            rec["stoi"], rec["stoi_error"] = _run(_stoi, at(ref, STOI_RATE, True), at(deg, STOI_RATE, False))
        out.append(rec)
    return out


def _worker_init() -> None:
    # One pool worker per core: numba's and BLAS's own thread pools inside each worker would oversubscribe them.
    for var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"


# --- CDPAM (torch, batched, main process) --------------------------------------------------------------------------

_CDPAM_MODELS: dict[str, Any] = {}
#: Embeddings by (device, content hash): a reference scored against N degraded signals is encoded once, also
#: across calls (a pipeline scoring float, int8 and denoised reconstructions one after another).
_CDPAM_EMBEDDINGS: OrderedDict[tuple[str, str], Any] = OrderedDict()
_CDPAM_CACHE_SIZE = 4096  # 512 floats each: a few MB at most


def _cdpam_device(device: str | None) -> str:
    if device is not None:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _load_cdpam(device: str) -> Any:
    """The CDPAM model on ``device``, loaded once per process.

    WORKAROUNDS for cdpam 0.0.6, all in this one place:

    * It imports ``resampy`` without declaring it as a dependency: the project declares it; a clear error here.
      It also imports the deprecated ``numpy.matlib``: that warning is silenced.
    * Its default device is 'cuda:0' (fails on CPU-only machines): we always pass ``dev`` explicitly.
    * Its checkpoint is a legacy pickle that torch >= 2.6 refuses under the new default ``weights_only=True``:
      ``torch.load`` is wrapped with ``weights_only=False`` for this one load only (the file ships in the wheel).
    * Its ``load_audio`` uses ``np.float`` (removed from numpy) and librosa's resampler: never called; audio is
      resampled with the project's resampler and scaled to int16 range here (:func:`_cdpam_input`).
    """
    if device in _CDPAM_MODELS:
        return _CDPAM_MODELS[device]
    import torch

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PendingDeprecationWarning)  # its `import numpy.matlib`
            import cdpam
    except ModuleNotFoundError as err:
        raise ImportError(f"cdpam cannot be imported ({err}); cdpam 0.0.6 also needs `pip install resampy`") from err
    original_load = torch.load

    def load_full_pickle(*args: Any, **kwargs: Any) -> Any:
        kwargs["weights_only"] = False
        return original_load(*args, **kwargs)

    torch.load = load_full_pickle
    try:
        model = cdpam.CDPAM(dev=device)
    finally:
        torch.load = original_load
    _CDPAM_MODELS[device] = model
    return model


def _cdpam_input(x: np.ndarray, rate: int) -> np.ndarray:
    # CDPAM was trained on int16-valued floats: with inputs in [-1, 1] every distance comes out 0.0.
    x = resample(x, rate, CDPAM_RATE)
    return np.clip(np.round(x.astype(np.float64) * 32768.0), -32768, 32767).astype(np.float32)


def _cdpam_embed(signals: list[np.ndarray], device: str, batch_size: int) -> list[Any]:
    """Normalised CDPAM 'acoustics' embeddings, as in ``CDPAM.forward``, cached by content.

    Signals of equal length are encoded together: the encoder averages over time, so zero-padding to batch
    unequal lengths would change the embeddings.
    """
    import torch
    import torch.nn.functional as F

    keys = [(device, hashlib.sha1(s.tobytes()).hexdigest() + f":{len(s)}") for s in signals]
    todo: dict[tuple[str, str], np.ndarray] = {}
    for key, s in zip(keys, signals, strict=True):
        if key in _CDPAM_EMBEDDINGS:
            _CDPAM_EMBEDDINGS.move_to_end(key)
        else:
            todo[key] = s
    by_length: dict[int, list[tuple[str, str]]] = {}
    for key, s in todo.items():
        by_length.setdefault(len(s), []).append(key)
    if todo:
        model = _load_cdpam(device).model
        with torch.inference_mode():  # 0.86 GB instead of 6.8 GB per 10 s clip: no autograd graph
            for group in by_length.values():
                for i in range(0, len(group), batch_size):
                    chunk = group[i : i + batch_size]
                    batch = torch.from_numpy(np.stack([todo[k] for k in chunk])).to(device)
                    _, acoustics, _ = model.base_encoder.forward(batch.unsqueeze(1))
                    for key, emb in zip(chunk, F.normalize(acoustics, dim=1), strict=True):
                        _CDPAM_EMBEDDINGS[key] = emb
    result = [_CDPAM_EMBEDDINGS[k] for k in keys]
    while len(_CDPAM_EMBEDDINGS) > _CDPAM_CACHE_SIZE:
        _CDPAM_EMBEDDINGS.popitem(last=False)
    return result


def cdpam_distances(
    pairs: Sequence[tuple[np.ndarray, np.ndarray]],
    sample_rate: int,
    device: str | None = None,
    batch_size: int | None = None,
) -> list[float]:
    """CDPAM distance (0 = identical, larger is worse) for equal-length (reference, degraded) float pairs.

    ``device`` defaults to CUDA when present. ``batch_size`` defaults to 16 clips on CUDA and 1 on CPU, where
    batching measured slower per clip (memory-bound convolutions over 220,500-sample inputs).
    """
    import torch

    device = _cdpam_device(device)
    if batch_size is None:
        batch_size = 16 if device.startswith("cuda") else 1
    if not pairs:
        return []
    inputs = [_cdpam_input(x, sample_rate) for pair in pairs for x in pair]
    emb = _cdpam_embed(inputs, device, batch_size)
    model = _load_cdpam(device).model
    with torch.inference_mode():
        dist = model.model_dist.forward(torch.stack(emb[0::2]), torch.stack(emb[1::2]))
    return [float(d) for d in dist.cpu()]


# --- public entry points -------------------------------------------------------------------------------------------


def _check_args(kind: str, metrics: Iterable[str] | None) -> tuple[str, ...]:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    chosen = tuple(DEFAULT_METRICS[kind] if metrics is None else metrics)
    unknown = sorted(set(chosen) - set(METRICS))
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; choose from {METRICS} (SNR and LSD are always computed)")
    return tuple(m for m in METRICS if m in chosen)


def score_pairs(
    pairs: Sequence[tuple[SignalLike, SignalLike]],
    kind: str,
    metrics: Iterable[str] | None = None,
    workers: int = 1,
    device: str | None = None,
    cdpam_batch_size: int | None = None,
) -> list[dict[str, Any]]:
    """Score many (reference, degraded) pairs in one process; one flat record per pair, in order.

    ``kind``: "music" or "speech" (picks the ViSQOL mode and the default ``metrics``, see ``DEFAULT_METRICS``).
    ``metrics``: a subset of ``METRICS``; SNR and LSD are always computed.
    ``workers`` > 1 runs SNR, LSD, ViSQOL, PESQ and STOI in a process pool of that size while CDPAM runs batched
    in this process (on ``device``, CUDA by default when present). A pool costs a few seconds to start, so use it
    for batches, not single pairs. Pairs that share the same reference array object and length reuse its
    resampled versions and its CDPAM embedding.

    Record keys: ``kind``, ``sample_rate`` (the reference's; the degraded signal is resampled to it),
    ``degraded_rate`` (as given), ``seconds`` and ``trimmed_samples`` (after trimming to the shorter),
    ``resampler``, ``snr_db``, ``lsd_db``, and per metric ``<m>``, ``<m>_error`` (None or why it is NaN),
    ``<m>_mode``, ``<m>_version``.
    """
    metrics = _check_args(kind, metrics)
    versions = metric_versions(kind)
    modes = {"visqol": VISQOL_MODE[kind], "pesq": PESQ_MODE, "stoi": STOI_MODE}
    if "cdpam" in metrics:
        modes["cdpam"] = f"{CDPAM_RATE} Hz int16-scale acoustics distance, {_cdpam_device(device)}"

    records: list[dict[str, Any]] = []
    groups: dict[tuple[int, int, int], list[int]] = {}  # (reference object, rate, length) -> pair indices
    aligned: list[tuple[np.ndarray, np.ndarray, int] | None] = []
    for i, (ref_like, deg_like) in enumerate(pairs):
        ref, rate = _as_signal(ref_like, f"pair {i} reference")
        deg, deg_rate = _as_signal(deg_like, f"pair {i} degraded")
        deg = resample(deg, deg_rate, rate)  # a wrong rate is converted, never scored as if it were right
        n = min(len(ref), len(deg))
        rec: dict[str, Any] = {
            "kind": kind,
            "sample_rate": rate,
            "degraded_rate": deg_rate,
            "seconds": n / rate,
            "trimmed_samples": max(len(ref), len(deg)) - n,
            "resampler": RESAMPLER,
        }
        ref, deg = ref[:n], deg[:n]
        problem = None
        if n == 0:
            problem = "empty signal"
        elif not (np.isfinite(ref).all() and np.isfinite(deg).all()):
            problem = "signal contains NaN or infinite samples"
        elif _is_silent(ref):
            problem = "reference is digital silence; every metric compares against it"
        if problem is None:
            raw = ref_like.samples if isinstance(ref_like, Clip) else ref_like[0]
            groups.setdefault((id(raw), rate, n), []).append(i)
            aligned.append((ref, deg, rate))
        else:
            rec.update(snr_db=float("nan"), lsd_db=float("nan"))
            aligned.append(None)
        for m in metrics:
            rec.update({m: float("nan"), f"{m}_error": problem, f"{m}_mode": modes[m], f"{m}_version": versions[m]})
        records.append(rec)

    cpu_metrics = tuple(m for m in metrics if m != "cdpam")
    tasks = []
    for idx in groups.values():
        # Split big groups so a single reference with many degraded signals still spreads over the workers.
        step = max(1, -(-len(idx) // max(1, workers)))
        tasks += [idx[j : j + step] for j in range(0, len(idx), step)]

    def task_args(idx: list[int]) -> tuple:
        ref, _, rate = aligned[idx[0]]
        return ref, rate, [aligned[i][1] for i in idx], kind, cpu_metrics

    pool = None
    if workers > 1 and len(tasks) > 1:
        method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
        # Not fork: the parent may already run torch's and numba's thread pools, which do not survive a fork.
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method), initializer=_worker_init)
    try:
        futures = [pool.submit(_score_group_cpu, *task_args(idx)) if pool else None for idx in tasks]

        if "cdpam" in metrics:  # meanwhile, in this process
            ok = [i for idx in groups.values() for i in idx]
            for i, value in zip(ok, _run_cdpam([aligned[i] for i in ok], device, cdpam_batch_size), strict=True):
                records[i]["cdpam"], records[i]["cdpam_error"] = value

        for idx, future in zip(tasks, futures, strict=True):
            results = future.result() if future else _score_group_cpu(*task_args(idx))
            for i, res in zip(idx, results, strict=True):
                records[i].update(res)
    finally:
        if pool is not None:
            pool.shutdown()
    return records


def _run_cdpam(
    aligned: list[tuple[np.ndarray, np.ndarray, int]], device: str | None, batch_size: int | None
) -> list[tuple[float, str | None]]:
    by_rate: dict[int, list[int]] = {}
    for j, (_, _, rate) in enumerate(aligned):
        by_rate.setdefault(rate, []).append(j)
    out: list[tuple[float, str | None]] = [(float("nan"), None)] * len(aligned)
    for rate, idx in by_rate.items():
        values = cdpam_distances([aligned[j][:2] for j in idx], rate, device, batch_size)
        for j, v in zip(idx, values, strict=True):
            out[j] = (v, None) if np.isfinite(v) else (float("nan"), "metric returned a non-finite value")
    return out


def score_many(
    reference: SignalLike,
    degraded: Sequence[SignalLike],
    kind: str,
    metrics: Iterable[str] | None = None,
    workers: int = 1,
    device: str | None = None,
) -> list[dict[str, Any]]:
    """Score one reference against several degraded signals (e.g. float, int8 and denoised reconstructions).

    The reference is resampled once per metric rate and CDPAM-encoded once. One record per degraded signal.
    """
    return score_pairs([(reference, d) for d in degraded], kind, metrics, workers, device)


def score_pair(
    reference: SignalLike,
    degraded: SignalLike,
    kind: str,
    metrics: Iterable[str] | None = None,
    device: str | None = None,
) -> dict[str, Any]:
    """Score one (reference, degraded) pair; see :func:`score_pairs` for the record's keys."""
    return score_pairs([(reference, degraded)], kind, metrics, 1, device)[0]
