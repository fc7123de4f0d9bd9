"""The ``.ssr`` compressed file: a quantized Siamese SIREN plus what is needed to play it back.

Layout (little endian; documented in docs/file-format.md, versions 1 and 2)::

    offset  size        field
    0       4           magic b"SSRN"
    4       1           format version: 1 for the paper's family (sine layers, positional or no encoding), 2 for
                        any other (its family record below)
    5       1           flags: bit 0 = per-channel weight scales; bit 1 = entropy-coded payload;
                        bit 2 = rate-control record; others 0
    6       1           weight bits (2..8)
    7       1           positional-encoding frequencies L (0 = no encoding)
    8       4           positional-encoding scale (float32)
    12      4           omega of the first layer (float32)
    16      4           omega of the other sine layers (float32)
                        (the omegas are those of sine, FINER and Gabor layers; under Fourier features the
                        positional encoding's L is 0 and its scale unused)
    20      1           number of shared (trunk) layers H
    21      1           number of layers per head S
    22      2*(H+S)     layer widths, trunk then head (uint16)
    22+2(H+S) 4         sample rate in Hz (uint32)
    +4      4           number of samples (uint32)
    +8      4           peak amplitude of the original clip (float32)
    [family]  16        only in version 2: the activation and encoding families (below)
    [record]  17        only with flags bit 2: how rate control chose this file (below)
    payload             for every linear layer (trunk, head a, head b; one shared final layer when S = 0):
                          scales  float32 x (1, or out_features when per-channel)
                          bias    float32 x out_features
                          weights out*in signed integers of `bits` bits, offset by 2^(bits-1) and packed
                                  most significant bit first, padded to a whole byte
    last 4                CRC-32 of every byte before it

So ``size = 38 + 2(H+S) + sum over layers (4 n_scales + 4 out + ceil(out * in * bits / 8))``, plus 16 in
version 2 and 17 with a rate-control record.

The family record (version 2, :data:`FAMILY_BYTES`), 16 bytes::

    1       activation, an index into ACTIVATIONS (0 sine, 1 finer, 2 gauss, 3 gabor)
    1       encoding (0 positional, L at offset 7 and 0 for none; 1 fourier)
    4       the activation's parameter (float32): finer, the first layer's bias range k (0: PyTorch's default);
            gauss, sigma; gabor, the window's scale s0; sine, 0
    2       Fourier features m (uint16; 0 unless fourier): the network takes 2m inputs
    4       their sigma (float32; 0 unless fourier)
    4       the seed their matrix is drawn from (uint32; 0 unless fourier): the matrix itself is not stored

The writer keeps version 1 for the paper's family, so those files stay byte for byte what they were.

The rate-control record (flags bit 2, :class:`RateControl`), 17 bytes::

    1       target, an index into RATE_TARGETS (0 kbps, 1 visqol, 2 pesq, 3 cdpam, 4 stoi, 5 estoi, 6 snr)
    1       objective, an index into the same names: what was maximised under a kbps target
    1       flags: bit 0 = the target was met; others 0
    2       candidates: how many settings the search measured (uint16)
    4       asked: the target value (float32)
    4       got: what the file reached, its kbps for a kbps target, its measured metric otherwise (float32)
    4       objective value (float32)

Entropy-coded files (flags bit 1) keep the header and the CRC; between them the payload becomes::

    1       coder (1 = zstd, 2 = rans, 3 = rans-prior)
    4       size of the decoded payload in bytes (uint32)
    ...     the coded payload, to the CRC. Decoded, it is the payload above with every weight in a byte of its
            own (the same offset integers, unpacked: byte-aligned symbols compress far better than bit-packed ones)

    zstd:   one zstd frame (level 19) of that decoded payload.
    rans:   every layer's scales and biases as above (float32, layer after layer), then the weights of all layers
            as one rANS stream (constriction's AnsCoder, uint32 words, little endian). Each layer's symbols
            (0 .. 2^bits - 1) are coded in blocks of 256 with a categorical model made from the counts of that
            layer's symbols so far, plus one (adaptive, so no table is stored; encoder and decoder compute the
            same float64 probabilities from integer counts).
    rans-prior: every layer's scales and biases as above, then 3 bytes per layer, its model:
              1  shape (bits 0-3: 1 = Laplace, 2 = Gaussian) | adaptation k (bits 4-7, 0..15)
              2  r_q (uint16): the prior's ratio r = r_q / 2^16
            then the weights of all layers as one rANS stream, as for rans but each layer's model starts from
            the integer counts floor(2^16 g(|s - 2^(bits-1)|)) + 1 of every symbol s, with g(d) = r^d (Laplace) or
            r^(d^2) (Gaussian) computed by repeated float64 multiplication (r^(d+1) = r^d r, r^((d+1)^2) =
            r^(d^2) r^(2d+1)) and values under 2^-40 taken as 0, so every machine builds the same table. With
            k = 0 the layer is coded with that table alone; with k > 0 it is coded in blocks of 256, and after
            each block every symbol's count grows by max(1, floor(T / 2^k)) per occurrence in it (T: the sum of
            the prior counts), so the prior weighs as much as 2^k symbols. Probabilities are counts / their sum in
            float64, as for rans. The encoder picks shape, r_q and k per layer for the fewest bits.

Their size is whatever the coder wrote (``len`` of the file); :func:`file_size` is the exact size of the
uncompressed twin. Both decode to the very same integers, scales and biases, hence to bit-identical audio.
The entropy setting ``auto`` writes whichever of none and the coders makes the smallest file; the file names the
one it used. A reader of this version refuses unknown versions, flags, coders, families and rate-control names.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import files
from .coders import AUTO, CODERS, ENTROPY_CODINGS, STORED_CODINGS, CoderError, by_file_id
from .variants import ACTIVATIONS, FAMILY_PARAMETERS, SUPPORTED_BITS, QuantizedLinear, Variant, layer_shapes

if TYPE_CHECKING:
    from .models import SiameseSiren

MAGIC = b"SSRN"
#: The newest format version: what the writer uses for any family but the paper's, which keeps version 1.
VERSION = 2
PAPER_VERSION = 1
READABLE_VERSIONS = (1, 2)
FLAG_PER_CHANNEL = 1
FLAG_ENTROPY = 2
FLAG_RATE_CONTROL = 4
_CODER_HEADER = struct.Struct("<BI")
_FIXED = struct.Struct("<4sBBBBfffBB")
_TAIL = struct.Struct("<IIf")
HEADER_FIXED_BYTES = _FIXED.size + _TAIL.size  # 34
_FAMILY = struct.Struct("<BBfHfI")
FAMILY_BYTES = _FAMILY.size  # 16, in version 2 only
#: The family record's encodings, in its id order (never reorder, only append): "none" is positional with L = 0.
FILE_ENCODINGS = ("positional", "fourier")
CRC_BYTES = 4

# Sane bounds: a hostile header must not make the decoder allocate or compute without limit.
MAX_LAYERS = 16
MAX_WIDTH = 4096
MAX_PE_FREQUENCIES = 32
MAX_FOURIER_FEATURES = MAX_WIDTH // 2  # 2m inputs: no wider than any layer may be
#: Above any useful frequency (an hour at 192 kHz is 1.7e8 cycles per unit of time at its Nyquist rate) and far
#: enough below float32's range that 2 pi B t stays finite.
MAX_FOURIER_SIGMA = 1e9
# The clip bounds, one definition for the encoder (CLI checks, to_bytes) and the decoder (from_bytes, decode
# options), so encode never writes a file that decode refuses. The rate range is where siamese denoising works
# (noisereduce's defaults need 5120..256000 Hz) and MIN_SAMPLES is one of its FFT frames.
MIN_SAMPLE_RATE = 8_000
MAX_SAMPLE_RATE = 192_000
MIN_SAMPLES = 1024
MAX_SECONDS = 3600
MAX_DECODED_PAYLOAD = 64 << 20  # an entropy-coded payload may not claim to decode to more than this


class BitstreamError(ValueError):
    """The file is not a valid ``.ssr`` file; the message says what is wrong with it."""


#: What rate control may aim at or maximise, in the order the record stores as an index: never reorder, only
#: append.
RATE_TARGETS = ("kbps", "visqol", "pesq", "cdpam", "stoi", "estoi", "snr")
_RATE_CONTROL = struct.Struct("<BBBHfff")
RATE_CONTROL_BYTES = _RATE_CONTROL.size  # 17
_RATE_MET = 1
_FLOAT32_MAX = float(np.finfo(np.float32).max)


@dataclass(frozen=True)
class RateControl:
    """How rate control chose a file (flags bit 2): what was asked, what the file got, what was maximised.

    Values are stored as float32, so a read record holds them rounded to float32.
    """

    target: str  # one of RATE_TARGETS
    asked: float  # the target value
    got: float  # the chosen file's kbps for a kbps target, its measured metric for a quality target
    met: bool
    candidates: int  # settings the search measured, 0..65535
    objective: str  # one of RATE_TARGETS: what was maximised under a kbps target
    objective_value: float

    def __post_init__(self) -> None:
        # Refuse here what a reader would refuse, so nobody writes a file that does not read back.
        for name in (self.target, self.objective):
            if name not in RATE_TARGETS:
                raise ValueError(f"rate-control name must be one of {', '.join(RATE_TARGETS)}, got {name!r}")
        if not 0 <= self.candidates <= 0xFFFF:
            raise ValueError(f"rate-control candidates must be in 0..65535, got {self.candidates}")
        values = (self.asked, self.got, self.objective_value)
        if not all(np.isfinite(v) and abs(v) <= _FLOAT32_MAX for v in values):
            raise ValueError(f"rate-control values must be finite float32 numbers, got {values}")

    def to_bytes(self) -> bytes:
        return _RATE_CONTROL.pack(RATE_TARGETS.index(self.target), RATE_TARGETS.index(self.objective),
                                  _RATE_MET if self.met else 0, self.candidates, self.asked, self.got,
                                  self.objective_value)

    def summary(self) -> str:
        """One line for ``siamese-siren info``."""
        return (f"{self.target} {self.asked:g} asked, {self.got:.4g} reached ({'met' if self.met else 'not met'}); "
                f"{self.objective} {self.objective_value:.4g}; {self.candidates} candidates measured")


@dataclass(frozen=True)
class CompressedClip:
    """Everything an ``.ssr`` file holds.

    Reading and writing one needs NumPy only; :meth:`from_model` and :meth:`model`, which take or make a torch
    network, import torch when called, so that ``siamese-siren info`` and other readers start without it.
    """

    variant: Variant
    sample_rate: int
    num_samples: int
    peak: float
    bits: int
    per_channel: bool
    layers: list[QuantizedLinear]
    entropy: str = "none"  # "none", a coder of CODERS, or "auto" (to write only: a read file names its coding)
    rate_control: RateControl | None = None  # how rate control chose this file, if it did

    @property
    def duration(self) -> float:
        return self.num_samples / self.sample_rate

    @classmethod
    def from_model(
        cls, model: SiameseSiren, sample_rate: int, num_samples: int, peak: float, bits: int = 8,
        per_channel: bool = False, entropy: str = "none",
    ) -> CompressedClip:
        """Quantize a trained model into the contents of a compressed file (``entropy``: one of ENTROPY_CODINGS)."""
        from .quantize import quantize_model

        if entropy not in ENTROPY_CODINGS:
            raise ValueError(f"entropy coding must be one of {', '.join(ENTROPY_CODINGS)}, got {entropy!r}")
        layers = quantize_model(model, bits, per_channel)
        return cls(model.variant, sample_rate, num_samples, float(peak), bits, per_channel, layers, entropy)

    def model(self) -> SiameseSiren:
        """The network with dequantized weights, in eval mode on the CPU."""
        from .models import SiameseSiren
        from .quantize import load_quantized

        return load_quantized(SiameseSiren(self.variant), self.layers)


def format_version(variant: Variant) -> int:
    """The version a file of ``variant`` is written in: :data:`PAPER_VERSION` for the paper's family (sine layers,
    positional or no encoding), so its files stay what they were, else :data:`VERSION` with its family record."""
    return PAPER_VERSION if variant.activation == "sine" and variant.encoding == "positional" else VERSION


def variant_problem(variant: Variant) -> str | None:
    """Why a file cannot hold ``variant`` (a bound its reader checks, so nobody writes what does not read back), or
    None."""
    widths = variant.hidden + variant.siam
    if len(widths) > MAX_LAYERS:
        return f"{len(widths)} layers, at most {MAX_LAYERS}"
    if max(widths) > MAX_WIDTH:
        return f"layer widths {widths} outside 1..{MAX_WIDTH}"
    if variant.pe_frequencies > MAX_PE_FREQUENCIES:
        return f"{variant.pe_frequencies} positional-encoding frequencies, at most {MAX_PE_FREQUENCIES}"
    if variant.encoding == "fourier" and variant.fourier_features > MAX_FOURIER_FEATURES:
        return f"{variant.fourier_features} Fourier features, at most {MAX_FOURIER_FEATURES}"
    if variant.encoding == "fourier" and variant.fourier_sigma > MAX_FOURIER_SIGMA:
        return f"Fourier features' sigma {variant.fourier_sigma:g}, at most {MAX_FOURIER_SIGMA:g}"
    return None


def header_size(variant: Variant) -> int:
    """Bytes of the header before the payload (no rate-control record): version 2 adds the family record."""
    family = FAMILY_BYTES if format_version(variant) == VERSION else 0
    return HEADER_FIXED_BYTES + 2 * (len(variant.hidden) + len(variant.siam)) + family


def file_size(variant: Variant, bits: int = 8, per_channel: bool = False) -> int:
    """The exact size in bytes of an ``.ssr`` file for this variant and quantization (plain payload, no
    rate-control record: that adds :data:`RATE_CONTROL_BYTES`)."""
    header = header_size(variant)
    payload = sum(
        4 * (out if per_channel else 1) + 4 * out + -(-out * inp * bits // 8) for out, inp in layer_shapes(variant)
    )
    return header + payload + CRC_BYTES


def unpacked_payload_size(variant: Variant, per_channel: bool = False) -> int:
    """Bytes of the payload an entropy coder sees: scales, biases and one byte per weight."""
    return sum(4 * (out if per_channel else 1) + 4 * out + out * inp for out, inp in layer_shapes(variant))


def kbps(size_bytes: int, seconds: float) -> float:
    return 8.0 * size_bytes / seconds / 1000.0


def _pack(offset: np.ndarray, bits: int) -> bytes:
    """Weights already offset to 0 .. 2^bits - 1 (uint8), packed most significant bit first."""
    if bits == 8:
        return offset.tobytes()
    bit_matrix = np.unpackbits(offset[:, None], axis=1)[:, 8 - bits :]
    return np.packbits(bit_matrix.ravel()).tobytes()


def _unpack(data: bytes, count: int, bits: int) -> np.ndarray:
    """The offset weights (uint8) of ``count`` packed ``bits``-bit integers."""
    if bits == 8:
        return np.frombuffer(data, dtype=np.uint8, count=count)
    bit_matrix = np.unpackbits(np.frombuffer(data, dtype=np.uint8))[: count * bits].reshape(count, bits)
    full = np.zeros((count, 8), dtype=np.uint8)
    full[:, 8 - bits :] = bit_matrix
    return np.packbits(full, axis=1).ravel()


def encode(clip: CompressedClip) -> tuple[bytes, str]:
    """The file's bytes and the coding they use: with entropy ``auto``, the smallest of none and every coder (the
    first of equals), which is what a reader of the file will see."""
    if clip.entropy not in ENTROPY_CODINGS:
        raise ValueError(f"entropy coding must be one of {', '.join(ENTROPY_CODINGS)}, got {clip.entropy!r}")
    bounds = clip_bounds_problem(clip.sample_rate, clip.num_samples)
    if bounds is not None:
        raise ValueError(f"cannot store this clip: {bounds}")
    problem = variant_problem(clip.variant)
    if problem is not None:
        raise ValueError(f"cannot store this network: {problem}")
    codings = STORED_CODINGS if clip.entropy == AUTO else (clip.entropy,)
    return min(((_encoded(clip, coding), coding) for coding in codings), key=lambda written: len(written[0]))


def to_bytes(clip: CompressedClip) -> bytes:
    return encode(clip)[0]


def _encoded(clip: CompressedClip, entropy: str) -> bytes:
    v = clip.variant
    widths = v.hidden + v.siam
    coded = entropy != "none"
    flags = ((FLAG_PER_CHANNEL if clip.per_channel else 0) | (FLAG_ENTROPY if coded else 0)
             | (FLAG_RATE_CONTROL if clip.rate_control is not None else 0))
    version = format_version(v)
    header = [
        _FIXED.pack(
            MAGIC, version, flags, clip.bits, v.pe_frequencies, v.pe_scale, v.omega_first, v.omega_hidden,
            len(v.hidden), len(v.siam),
        ),
        struct.pack(f"<{len(widths)}H", *widths),
        _TAIL.pack(clip.sample_rate, clip.num_samples, clip.peak),
        _family_record(v) if version == VERSION else b"",
        b"" if clip.rate_control is None else clip.rate_control.to_bytes(),
    ]
    layers = []
    for (out, _), layer in zip(layer_shapes(v), clip.layers, strict=True):
        floats = layer.scales.astype("<f4").tobytes() + layer.bias.astype("<f4").reshape(out).tobytes()
        offset = (layer.weights.astype(np.int16).ravel() + 2 ** (clip.bits - 1)).astype(np.uint8)  # 0..2^bits-1
        layers.append((floats, offset))
    if coded:
        coder = CODERS[entropy]
        unpacked_size = sum(len(floats) + len(offset) for floats, offset in layers)
        payload = _CODER_HEADER.pack(coder.file_id, unpacked_size) + coder.encode(layers, clip.bits)
    else:
        payload = b"".join(floats + _pack(offset, clip.bits) for floats, offset in layers)
    body = b"".join(header) + payload
    return body + struct.pack("<I", zlib.crc32(body))


def _family_record(v: Variant) -> bytes:
    parameter = next((getattr(v, key) for key, family in FAMILY_PARAMETERS.items() if family == v.activation), None)
    fourier = v.encoding == "fourier"
    return _FAMILY.pack(ACTIVATIONS.index(v.activation), FILE_ENCODINGS.index(v.encoding),
                        0.0 if parameter is None else parameter, v.fourier_features if fourier else 0,
                        v.fourier_sigma if fourier else 0.0, v.fourier_seed if fourier else 0)


def clip_bounds_problem(sample_rate: int, num_samples: int) -> str | None:
    """Why a clip of ``num_samples`` at ``sample_rate`` Hz cannot be stored (the shared bounds), or None."""
    if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        return f"sample rate {sample_rate} Hz out of range {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE}"
    if not MIN_SAMPLES <= num_samples <= MAX_SECONDS * sample_rate:
        count = "1 sample" if num_samples == 1 else f"{num_samples} samples"  # an amount: "is", as "10 s is"
        return (f"{count} is out of range: at least {MIN_SAMPLES} and at most {MAX_SECONDS} s "
                f"({MAX_SECONDS * sample_rate} samples at {sample_rate} Hz)")
    return None


def _check(condition: bool, source: str, problem: str) -> None:
    if not condition:
        raise BitstreamError(f"{source}: {problem}")


def from_bytes(data: bytes, source: str = "<bytes>") -> CompressedClip:
    """Parse and verify an ``.ssr`` file; raises :class:`BitstreamError` naming ``source`` on any defect."""
    hint = "the file is damaged or incomplete; encode the audio again"
    _check(len(data) >= HEADER_FIXED_BYTES + CRC_BYTES, source, f"only {len(data)} bytes, too short; {hint}")
    magic, version, flags, bits, pe, pe_scale, omega_first, omega_hidden, n_hidden, n_siam = _FIXED.unpack_from(data)
    _check(magic == MAGIC, source, f"not a siamese-siren file (magic {magic!r}, expected {MAGIC!r})")
    _check(version in READABLE_VERSIONS, source,
           f"format version {version} is not supported (this program reads versions {PAPER_VERSION} and {VERSION})")
    stored_crc = struct.unpack_from("<I", data, len(data) - CRC_BYTES)[0]
    _check(zlib.crc32(data[:-CRC_BYTES]) == stored_crc, source, f"checksum mismatch; {hint}")
    _check(flags & ~(FLAG_PER_CHANNEL | FLAG_ENTROPY | FLAG_RATE_CONTROL) == 0, source, f"unknown flags {flags:#04x}")
    _check(bits in SUPPORTED_BITS, source, f"weight bits {bits} outside 2..8")
    _check(pe <= MAX_PE_FREQUENCIES, source, f"{pe} positional-encoding frequencies (at most {MAX_PE_FREQUENCIES})")
    _check(0 < n_hidden + n_siam and n_hidden + n_siam <= MAX_LAYERS, source, "layer count out of range")
    _check(all(np.isfinite([pe_scale, omega_first, omega_hidden])), source, "non-finite model constants")
    widths_at = _FIXED.size
    tail_at = widths_at + 2 * (n_hidden + n_siam)
    _check(len(data) >= tail_at + _TAIL.size + CRC_BYTES, source, f"header cut short; {hint}")
    widths = struct.unpack_from(f"<{n_hidden + n_siam}H", data, widths_at)
    _check(all(0 < w <= MAX_WIDTH for w in widths), source, f"layer widths {widths} outside 1..{MAX_WIDTH}")
    sample_rate, num_samples, peak = _TAIL.unpack_from(data, tail_at)
    bounds = clip_bounds_problem(sample_rate, num_samples)
    _check(bounds is None, source, f"{bounds}; {hint}")
    _check(np.isfinite(peak) and peak > 0, source, f"peak amplitude {peak} is not a positive number")
    pos = tail_at + _TAIL.size
    family = {}
    if version == VERSION:
        family = _read_family(data, pos, pe, source)
        pos += FAMILY_BYTES
    variant = Variant(widths[:n_hidden], widths[n_hidden:], pe, omega_first, omega_hidden, pe_scale, **family)
    # One file per network: the paper's family is always written as version 1.
    _check(format_version(variant) == version, source, f"a version-{version} file of the paper's family (sine "
           f"layers, positional encoding), which is written as version {format_version(variant)}; {hint}")
    per_channel = bool(flags & FLAG_PER_CHANNEL)
    rate_control = None
    if flags & FLAG_RATE_CONTROL:
        rate_control = _read_rate_control(data, pos, source)
        pos += RATE_CONTROL_BYTES
    entropy = "none"
    if flags & FLAG_ENTROPY:
        data, entropy = _decode_payload(data, pos, variant, bits, per_channel, source)
        pos = 0
    else:
        expected = file_size(variant, bits, per_channel) + (0 if rate_control is None else RATE_CONTROL_BYTES)
        _check(len(data) == expected, source, f"{len(data)} bytes where the header implies {expected}; {hint}")

    layers = []
    for out, inp in layer_shapes(variant):
        n_scales = out if per_channel else 1
        scales = np.frombuffer(data, "<f4", n_scales, pos).astype(np.float32)
        bias = np.frombuffer(data, "<f4", out, pos + 4 * n_scales).astype(np.float32)
        pos += 4 * n_scales + 4 * out
        if entropy == "none":
            n_weight_bytes = -(-out * inp * bits // 8)
            offset = _unpack(data[pos : pos + n_weight_bytes], out * inp, bits)
        else:
            n_weight_bytes = out * inp
            offset = np.frombuffer(data, np.uint8, n_weight_bytes, pos)
            _check(int(offset.max(initial=0)) < 2**bits, source, f"weights outside {bits} bits; {hint}")
        weights = (offset.astype(np.int16) - 2 ** (bits - 1)).astype(np.int8).reshape(out, inp)
        pos += n_weight_bytes
        _check(bool(np.isfinite(scales).all() and np.isfinite(bias).all()), source, "non-finite weights")
        layers.append(QuantizedLinear(weights=weights, scales=scales, bias=bias))
    return CompressedClip(variant, sample_rate, num_samples, float(peak), bits, per_channel, layers, entropy,
                          rate_control)


def _read_family(data: bytes, pos: int, pe_frequencies: int, source: str) -> dict:
    """The family record of a version-2 file, checked, as Variant fields."""
    hint = "the file is damaged or incomplete; encode the audio again"
    _check(len(data) >= pos + FAMILY_BYTES + CRC_BYTES, source, f"family record cut short; {hint}")
    activation, encoding, parameter, count, sigma, seed = _FAMILY.unpack_from(data, pos)
    known = ", ".join(f"{name} = {i}" for i, name in enumerate(ACTIVATIONS))
    _check(activation < len(ACTIVATIONS), source, f"unknown activation {activation} (this program reads {known})")
    known = ", ".join(f"{name} = {i}" for i, name in enumerate(FILE_ENCODINGS))
    _check(encoding < len(FILE_ENCODINGS), source, f"unknown encoding {encoding} (this program reads {known})")
    _check(bool(np.isfinite([parameter, sigma]).all()), source, "non-finite family parameters")
    name = ACTIVATIONS[activation]
    fields: dict = {"activation": name}
    key = next((k for k, family in FAMILY_PARAMETERS.items() if family == name), None)
    if key is None:
        _check(parameter == 0, source, f"{name} layers take no parameter, the file gives {parameter:g}; {hint}")
    elif name == "finer":  # 0: the biases kept PyTorch's default
        _check(parameter >= 0, source, f"FINER's first-layer bias range {parameter:g} is negative; {hint}")
        fields[key] = parameter or None
    else:
        _check(parameter > 0, source, f"{name} parameter {parameter:g} is not positive; {hint}")
        fields[key] = parameter
    if FILE_ENCODINGS[encoding] == "fourier":
        _check(pe_frequencies == 0, source, f"Fourier features with {pe_frequencies} positional frequencies; {hint}")
        _check(1 <= count <= MAX_FOURIER_FEATURES, source,
               f"{count} Fourier features outside 1..{MAX_FOURIER_FEATURES}")
        _check(0 < sigma <= MAX_FOURIER_SIGMA, source,
               f"Fourier features' sigma {sigma:g} outside (0, {MAX_FOURIER_SIGMA:g}]")
        fields.update(encoding="fourier", fourier_features=count, fourier_sigma=sigma, fourier_seed=seed)
    else:
        _check(count == 0 and sigma == 0 and seed == 0, source, f"Fourier fields set without Fourier features; {hint}")
    return fields


def _read_rate_control(data: bytes, pos: int, source: str) -> RateControl:
    hint = "the file is damaged or incomplete; encode the audio again"
    _check(len(data) >= pos + RATE_CONTROL_BYTES + CRC_BYTES, source, f"rate-control record cut short; {hint}")
    target, objective, flags, candidates, asked, got, value = _RATE_CONTROL.unpack_from(data, pos)
    known = ", ".join(f"{name} = {i}" for i, name in enumerate(RATE_TARGETS))
    for what, index in (("target", target), ("objective", objective)):
        _check(index < len(RATE_TARGETS), source, f"unknown rate-control {what} {index} (this program reads {known})")
    _check(flags & ~_RATE_MET == 0, source, f"unknown rate-control flags {flags:#04x}")
    _check(bool(np.isfinite([asked, got, value]).all()), source, "non-finite rate-control values")
    return RateControl(RATE_TARGETS[target], asked, got, bool(flags & _RATE_MET), candidates, RATE_TARGETS[objective],
                       value)


def _decode_payload(
    data: bytes, pos: int, variant: Variant, bits: int, per_channel: bool, source: str
) -> tuple[bytes, str]:
    """The unpacked payload of an entropy-coded file, checked against the size its header implies; its coder."""
    hint = "the file is damaged or incomplete; encode the audio again"
    _check(len(data) >= pos + _CODER_HEADER.size + CRC_BYTES, source, f"coder header cut short; {hint}")
    coder_id, decoded_size = _CODER_HEADER.unpack_from(data, pos)
    coder = by_file_id(coder_id)
    known = ", ".join(f"{c.name} = {c.file_id}" for c in CODERS.values())
    _check(coder is not None, source, f"unknown entropy coder {coder_id} (this program reads {known})")
    expected = unpacked_payload_size(variant, per_channel)
    _check(decoded_size == expected <= MAX_DECODED_PAYLOAD, source,
           f"payload decodes to {decoded_size} bytes where the header implies {expected}; {hint}")
    shapes = [(4 * (out if per_channel else 1) + 4 * out, out * inp) for out, inp in layer_shapes(variant)]
    try:
        payload = coder.decode(data[pos + _CODER_HEADER.size : len(data) - CRC_BYTES], shapes, bits)
    except CoderError as err:
        raise BitstreamError(f"{source}: coded payload is corrupt ({err}); {hint}") from err
    return payload, coder.name


def write(path: str | Path, clip: CompressedClip) -> int:
    """Write atomically (see :mod:`siamese_siren.codec.files`) so nobody sees a truncated file; returns bytes."""
    return files.write_bytes(path, to_bytes(clip))


def read(path: str | Path) -> CompressedClip:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise BitstreamError(f"{path}: cannot read ({err.strerror})") from err
    return from_bytes(data, source=str(path))
