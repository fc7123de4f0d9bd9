"""Reading and preparing audio clips exactly as the paper's code does.

Every rate change in the project goes through :func:`resample`, so scores and
reconstructions never depend on which resampler a stage happened to pick: the
resampler alone moves ViSQOL by 0.03-0.09.
"""

from __future__ import annotations

import functools
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from . import files

SAMPLE_RATE = 22050
CLIP_SECONDS = 10.0
#: The one resampler of the project: libsoxr at its "very high quality" setting.
RESAMPLER = "soxr-VHQ"


class AudioError(ValueError):
    """An audio file cannot be turned into a clip; the message names the file and the fix."""


@dataclass(frozen=True)
class Clip:
    """A prepared clip: peak-normalised mono samples plus what is needed to undo the normalisation."""

    samples: np.ndarray  # float32, shape (n,), max |x| == 1
    sample_rate: int
    peak: float  # the original peak amplitude; multiply by it to restore the level
    source: str

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


def resample(x: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample a mono (n,) or channels-last (n, c) float signal with the project's resampler."""
    x = np.asarray(x, dtype=np.float32)
    if orig_sr == target_sr:
        return x
    return soxr.resample(x, orig_sr, target_sr, quality="VHQ").astype(np.float32, copy=False)


def _read_frames(path: Path, offset: float, duration: float | None) -> tuple[np.ndarray, int]:
    """Read only [offset, offset + duration) of a file, so a two-hour file costs what 10 s cost."""
    try:
        with sf.SoundFile(str(path)) as f:
            native_sr = f.samplerate
            start = int(round(offset * native_sr))
            if start > 0:
                if f.seekable():
                    f.seek(min(start, f.frames) if f.frames > 0 else start)
                else:
                    f.read(start, dtype="float32", always_2d=True)
            frames = -1 if duration is None else int(np.ceil(duration * native_sr))
            data = f.read(frames, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError, TypeError) as err:
        raise AudioError(
            f"{path}: cannot read audio ({err}); convert it to WAV or FLAC (e.g. with ffmpeg) or remove it"
        ) from err
    return data, native_sr


def to_mono(data: np.ndarray) -> np.ndarray:
    """Average channels: (n, c) -> (n,)."""
    return data.mean(axis=1) if data.ndim == 2 else data


def fit_length(x: np.ndarray, n: int) -> np.ndarray:
    """Zero-pad at the end or cut to exactly n samples."""
    if len(x) >= n:
        return x[:n]
    return np.concatenate([x, np.zeros(n - len(x), dtype=x.dtype)])


def load_clip(
    path: str | Path,
    sample_rate: int = SAMPLE_RATE,
    offset: float = 0.0,
    duration: float | None = CLIP_SECONDS,
) -> Clip:
    """Load ``path`` as a mono, resampled, zero-padded, peak-normalised clip.

    ``duration=None`` keeps everything after ``offset`` (no padding).
    Raises :class:`AudioError` for unreadable, empty, non-finite or silent audio.
    """
    path = Path(path)
    problem = files.input_problem(path)
    if problem is not None:
        raise AudioError(f"{path}: {problem}")
    data, native_sr = _read_frames(path, offset, duration)
    if data.size == 0:
        raise AudioError(f"{path}: no samples after {offset} s; use a smaller offset or another file")
    if not np.isfinite(data).all():
        raise AudioError(f"{path}: contains NaN or infinite samples; re-export it as integer PCM")
    mono = resample(to_mono(data), native_sr, sample_rate)
    if duration is not None:
        mono = fit_length(mono, int(round(duration * sample_rate)))
    peak = float(np.max(np.abs(mono)))
    if peak == 0.0:
        raise AudioError(f"{path}: digital silence in the selected {duration} s; there is nothing to compress")
    return Clip(samples=(mono / peak).astype(np.float32), sample_rate=sample_rate, peak=peak, source=str(path))


@functools.cache
def _writable_formats() -> dict[str, str]:
    """{soundfile format: subtype to write} for every format this libsndfile can write mono audio in: 16-bit PCM
    where the format has it, else the format's own default (Vorbis for OGG, Layer III for MP3)."""
    writable = {}
    # SD2 keeps its header in a separate "._name" resource-fork file, which no single atomic write can cover
    for fmt in set(sf.available_formats()) - {"SD2"}:
        subtype = "PCM_16" if sf.check_format(fmt, "PCM_16") else sf.default_subtype(fmt)
        if subtype is not None and _writes(fmt, subtype, 22050):
            writable[fmt] = subtype
    return writable


def _writes(fmt: str, subtype: str, sample_rate: int) -> bool:
    """Whether libsndfile writes ``fmt`` at ``sample_rate``: tried in memory, since e.g. MP3 stops at 48 kHz."""
    try:
        sf.write(io.BytesIO(), np.zeros(16, dtype=np.float32), sample_rate, format=fmt, subtype=subtype)
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError):
        return False
    return True


def writable_extensions() -> list[str]:
    """File extensions :func:`write_audio` picks a format from (soundfile's rule: the extension is the format)."""
    return sorted(f".{fmt.lower()}" for fmt in _writable_formats())


def output_format(path: str | Path, sample_rate: int, subtype: str | None = None) -> tuple[str, str]:
    """(format, subtype) that :func:`write_audio` will write ``path`` in, checked before any work is done.

    Raises :class:`AudioError` naming the writable extensions when the extension is not one, or naming the
    problem when the format cannot hold ``sample_rate`` or ``subtype``.
    """
    fmt = Path(path).suffix.lstrip(".").upper()
    formats = _writable_formats()
    if fmt not in formats:
        raise AudioError(
            f"{path}: cannot write audio with extension {Path(path).suffix or '(none)'}; "
            f"use one of {' '.join(writable_extensions())}"
        )
    subtype = subtype or formats[fmt]
    if not _writes(fmt, subtype, sample_rate):
        raise AudioError(f"{path}: {fmt} cannot hold {subtype} audio at {sample_rate} Hz; use .wav or .flac, "
                         "or another --sample-rate")
    return fmt, subtype


def write_audio(path: str | Path, samples: np.ndarray, sample_rate: int, subtype: str | None = None) -> None:
    """Write mono audio atomically, clipping to [-1, 1] so integer formats never wrap around.

    The format comes from the extension (see :func:`output_format`); ``subtype`` defaults to 16-bit PCM where the
    format has it.
    """
    write_audio_chunks(path, [samples], sample_rate, subtype)


class _ErrorKeepingFile:
    """A file for soundfile's virtual I/O that keeps the OSError of a failed write (a full disk, say).

    libsndfile calls ``write`` from C through cffi, which prints and drops Python exceptions, and then reports
    only "System error"; keeping the error lets the caller raise it, errno and all, so nothing truncated is ever
    published and the message can say why.
    """

    def __init__(self, raw: io.RawIOBase) -> None:
        self._raw = raw
        self.error: OSError | None = None

    def write(self, data: bytes) -> int:
        view, done = memoryview(data), 0
        try:
            while done < len(view):
                done += self._raw.write(view[done:])
        except OSError as err:
            self.error = self.error or err
        return done

    def __getattr__(self, name: str):  # seek, tell, read: what libsndfile needs besides write
        return getattr(self._raw, name)

    def raise_error(self) -> None:
        if self.error is not None:
            raise self.error


def write_audio_chunks(
    path: str | Path, chunks: Iterable[np.ndarray], sample_rate: int, subtype: str | None = None
) -> int:
    """:func:`write_audio` for a signal that arrives in pieces, so memory stays that of one piece; returns samples."""
    fmt, subtype = output_format(path, sample_rate, subtype)
    written = 0
    with files.atomic_write(path, buffering=0) as raw:  # unbuffered: a failed write surfaces in that write
        target = _ErrorKeepingFile(raw)
        try:
            with sf.SoundFile(target, "w", sample_rate, 1, subtype, format=fmt) as out:
                for chunk in chunks:
                    out.write(np.clip(np.asarray(chunk, dtype=np.float32), -1.0, 1.0))
                    target.raise_error()
                    written += len(chunk)
        except Exception:  # libsndfile's "System error", or soundfile's assertion on a short write
            target.raise_error()  # the OSError behind it, when there is one
            raise
        target.raise_error()  # from the header libsndfile writes on closing
    return written


def prepare_clips(sources: Mapping[str, str | Path], folder: str | Path, sample_rate: int, offset: float,
                  seconds: float) -> None:
    """Each ``{clip id: audio file}`` as the paper prepares it (:func:`load_clip`) into ``folder``: ``<clip>.wav``
    (float) and ``<clip>.json`` with its source and peak, which decoding multiplies back."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for clip_id, source in sources.items():
        clip = load_clip(source, sample_rate=sample_rate, offset=offset, duration=seconds)
        write_audio(folder / f"{clip_id}.wav", clip.samples, clip.sample_rate, subtype="FLOAT")
        meta = {"source": clip.source, "peak": clip.peak, "sample_rate": clip.sample_rate, "samples": len(clip.samples)}
        files.write_text(folder / f"{clip_id}.json", json.dumps(meta, indent=2))
