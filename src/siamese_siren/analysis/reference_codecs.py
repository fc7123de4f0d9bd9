"""Reference codecs for the rate-distortion comparison: Opus (constant bitrate) and MP3 through ffmpeg.

No Snakemake here: :func:`round_trip` encodes a clip at a bitrate, decodes it, aligns it to the reference by
cross-correlation and reports the bytes, split into *payload* (the sum of the audio packets, as ffprobe lists
them) and *container* (the whole file: Ogg pages and Opus headers, or the MP3's LAME/Xing frame).

Choices, each measured on Debian's ffmpeg 5.1 (libopus 1.3.1, LAME 3.100):

* Opus runs with ``-vbr off``: its default VBR overshoots badly on short clips (music 24k -> 33 kbps).
  Opus works at 48 kHz, so the clip is resampled to 48 kHz with the project's resampler
  (:func:`siamese_siren.codec.audio.resample`) before encoding, and the 48 kHz decode is compared against that 48 kHz
  reference, never resampled back.
* MP3 encodes the clip at its own rate (22.05 kHz: MPEG-2 Layer III, 8 to 160 kbps) with ``-b:a N`` (CBR).
* ffmpeg's decoders trim the Opus pre-skip and the MP3 encoder delay (LAME tag), so the lag found by
  cross-correlation is 0 in practice; :func:`align` still measures and removes whatever lag there is.
* ``kbps`` is ``8 * payload bytes / clip seconds``, the same definition as for ``.ssr`` files; the last, partial
  frame makes it slightly higher than the nominal bitrate on very short clips.

ffmpeg and ffprobe are system programs (``apt-get install ffmpeg``); a missing one raises :class:`CodecError`
saying so.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from siamese_siren.codec import files
from siamese_siren.codec.audio import fit_length, resample


class CodecError(RuntimeError):
    """ffmpeg is missing or failed; the message says which command and why."""


@dataclass(frozen=True)
class Codec:
    name: str
    encoder: str  # ffmpeg encoder
    extension: str
    sample_rate: int | None  # the rate it must run at; None: the clip's own
    options: tuple[str, ...]
    min_kbps: int
    max_kbps: int


CODECS = {
    "opus": Codec("opus", "libopus", "opus", 48000, ("-vbr", "off", "-application", "audio"), 6, 510),
    "mp3": Codec("mp3", "libmp3lame", "mp3", None, ("-id3v2_version", "0", "-write_id3v1", "0"), 8, 320),
}
#: Layer III bitrates by sample rate: MPEG-1 (32-48 kHz), MPEG-2 (16-24 kHz), MPEG-2.5 (8-12 kHz).
MP3_BITRATES = {
    **dict.fromkeys((32000, 44100, 48000), (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)),
    **dict.fromkeys((16000, 22050, 24000), (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)),
    **dict.fromkeys((8000, 11025, 12000), (8, 16, 24, 32, 40, 48, 56, 64)),
}
#: The largest lag :func:`align` searches, in seconds (codec delays are a few ms).
MAX_LAG_SECONDS = 0.05


@dataclass(frozen=True)
class RoundTrip:
    """One clip through one codec at one bitrate."""

    codec: str
    target_kbps: int
    reference: np.ndarray  # what the decode is scored against, at `sample_rate`
    decoded: np.ndarray  # aligned to the reference and cut or padded to its length
    sample_rate: int
    lag: int  # samples the raw decode lagged the reference (removed in `decoded`)
    payload_bytes: int
    container_bytes: int

    @property
    def seconds(self) -> float:
        return len(self.reference) / self.sample_rate

    @property
    def kbps(self) -> float:
        return 8.0 * self.payload_bytes / self.seconds / 1000.0

    @property
    def container_kbps(self) -> float:
        return 8.0 * self.container_bytes / self.seconds / 1000.0


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise CodecError(f"{name} not found: the codec baselines need ffmpeg (e.g. `apt-get install ffmpeg`)")
    return path


def _run(cmd: list[str]) -> bytes:
    done = subprocess.run(cmd, capture_output=True, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise CodecError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.decode(errors='replace')[-2000:]}")
    return done.stdout


def codec(name: str) -> Codec:
    if name not in CODECS:
        raise ValueError(f"unknown codec {name!r}; choose one of {', '.join(CODECS)}")
    return CODECS[name]


def check_bitrate(name: str, kbps: int, sample_rate: int) -> None:
    """Raise ValueError unless ``name`` has a constant ``kbps`` mode for a clip at ``sample_rate``."""
    spec = codec(name)
    if not spec.min_kbps <= kbps <= spec.max_kbps:
        raise ValueError(f"{name} bitrates are {spec.min_kbps}..{spec.max_kbps} kbps, got {kbps}")
    if name == "mp3":
        allowed = MP3_BITRATES.get(sample_rate)
        if allowed is None:
            raise ValueError(f"mp3 has no mode at {sample_rate} Hz; use one of {sorted(MP3_BITRATES)}")
        if kbps not in allowed:
            raise ValueError(f"mp3 at {sample_rate} Hz has no {kbps} kbps mode; use one of {list(allowed)}")


def codec_rate(name: str, sample_rate: int) -> int:
    """The rate a codec encodes and decodes at for a clip of ``sample_rate``."""
    return codec(name).sample_rate or sample_rate


def encode(samples: np.ndarray, sample_rate: int, name: str, kbps: int, path: str | Path) -> None:
    """Encode mono float samples (already at :func:`codec_rate`) into ``path`` at a constant ``kbps``."""
    spec = codec(name)
    check_bitrate(name, kbps, sample_rate)
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "in.wav"
        sf.write(wav, np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0), sample_rate, subtype="FLOAT")
        with files.atomic_path(path) as out:  # the temporary name ends in .tmp, so name the container (-f)
            _run([_tool("ffmpeg"), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", str(wav),
                  "-map_metadata", "-1", "-c:a", spec.encoder, "-b:a", f"{kbps}k", *spec.options,
                  "-f", spec.extension, str(out)])


def payload_bytes(path: str | Path) -> int:
    """Sum of the audio packets' sizes (what the codec itself spends, without container overhead)."""
    out = _run([_tool("ffprobe"), "-v", "error", "-select_streams", "a:0", "-show_entries", "packet=size",
                "-of", "csv=p=0", str(path)])
    return sum(int(line.split(",")[0]) for line in out.decode().split() if line.strip(", "))


def decode(path: str | Path) -> tuple[np.ndarray, int]:
    """Mono float32 samples at the stream's own rate (ffmpeg trims Opus pre-skip and MP3 encoder delay)."""
    out = _run([_tool("ffprobe"), "-v", "error", "-select_streams", "a:0", "-show_entries", "stream=sample_rate",
                "-of", "csv=p=0", str(path)])
    rate = int(out.decode().split()[0].split(",")[0])
    pcm = _run([_tool("ffmpeg"), "-nostdin", "-hide_banner", "-loglevel", "error", "-i", str(path),
                "-ac", "1", "-f", "f32le", "-c:a", "pcm_f32le", "-"])
    return np.frombuffer(pcm, dtype="<f4").astype(np.float32), rate


def find_lag(reference: np.ndarray, degraded: np.ndarray, max_lag: int) -> int:
    """Samples by which ``degraded`` lags ``reference`` (negative: it leads), by cross-correlation (FFT)."""
    ref = np.asarray(reference, dtype=np.float64)
    deg = np.asarray(degraded, dtype=np.float64)
    if len(ref) == 0 or len(deg) == 0:
        return 0
    size = 1 << int(np.ceil(np.log2(len(ref) + len(deg))))
    corr = np.fft.irfft(np.fft.rfft(deg, size) * np.conj(np.fft.rfft(ref, size)), size)  # corr[k]: lag k (mod size)
    lags = np.arange(-max_lag, max_lag + 1)
    return int(lags[np.argmax(corr[lags % size])])


def align(reference: np.ndarray, degraded: np.ndarray, max_lag: int) -> tuple[np.ndarray, int]:
    """``degraded`` shifted onto ``reference`` and cut or zero-padded to its length; and the lag removed."""
    lag = find_lag(reference, degraded, max_lag)
    shifted = degraded[lag:] if lag >= 0 else np.concatenate([np.zeros(-lag, np.float32), degraded])
    return fit_length(np.asarray(shifted, dtype=np.float32), len(reference)), lag


def round_trip(samples: np.ndarray, sample_rate: int, name: str, kbps: int, path: str | Path) -> RoundTrip:
    """Encode ``samples`` (mono, at ``sample_rate``) into ``path``, decode, align, and count the bytes."""
    rate = codec_rate(name, sample_rate)
    reference = resample(np.asarray(samples, dtype=np.float32), sample_rate, rate)
    encode(reference, rate, name, kbps, path)
    decoded, decoded_rate = decode(path)
    if decoded_rate != rate:
        raise CodecError(f"{path}: decoded at {decoded_rate} Hz, expected {rate} Hz")
    aligned, lag = align(reference, decoded, int(MAX_LAG_SECONDS * rate))
    return RoundTrip(name, kbps, reference, aligned, rate, lag, payload_bytes(path), Path(path).stat().st_size)
