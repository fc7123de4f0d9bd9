"""Entropy coders of the ``.ssr`` payload, apart from the file format (as CompressAI keeps its entropy coders apart
from its bitstream): each has a name, the id the file stores, an encoder and a decoder.

A coder sees the payload as layers, each a run of float bytes (scales and biases, stored as they are) and a run of
weight symbols (offset integers ``0 .. 2^bits - 1``, one per weight). ``encode`` turns them into coded bytes;
``decode`` turns coded bytes back into the *unpacked* payload (each layer's float bytes followed by one byte per
symbol), given how many float bytes and symbols each layer has. :mod:`siamese_siren.codec.bitstream` owns everything
else: the header, the plain bit-packed payload (entropy ``none``), the coder id and size fields, and the CRC.

The coders: ``zstd`` (1), ``rans`` (2: an adaptive model that starts uniform) and ``rans-prior`` (3: the model
of each layer starts from a Laplace or Gaussian prior whose shape, scale and adaptation rate the encoder picks
and stores in 3 bytes; its tables are built with exact arithmetic only, so every machine decodes the same).
Measured on the trained networks of ``results/paper-small`` (8 clips x 6 variants, bits 3..8), ``rans-prior``
files are 0.3 to 14 % smaller than ``rans`` files, 2.0 % on average, never larger (on untrained, uniform weights
they can be a few bytes larger: ``auto`` then keeps another). The setting ``auto`` (not a
coder) makes :mod:`siamese_siren.codec.bitstream` write whichever of none and the coders gives the smallest file.

Adding a coder: write its two functions and add one entry to :data:`CODERS` with a new id.
"""

from __future__ import annotations

import importlib
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from types import ModuleType

import numpy as np

ZSTD_LEVEL = 19
RANS_BLOCK = 256

#: (float bytes, weight symbols) of each layer, in file order.
Layers = Sequence[tuple[bytes, np.ndarray]]
#: (number of float bytes, number of symbols) of each layer, in file order.
Shapes = Sequence[tuple[int, int]]
#: (layer, block start, block end, probabilities) of one block of a rANS stream: its symbols and their model.
Block = tuple[int, int, int, np.ndarray]


class CoderError(ValueError):
    """Coded bytes that do not decode; the message says why."""


@dataclass(frozen=True)
class Coder:
    name: str
    file_id: int  # stored in the file; never reuse a retired id
    encode: Callable[[Layers, int], bytes]
    decode: Callable[[bytes, Shapes, int], bytes]


def _require(module: str, package: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:  # a declared dependency; only an incomplete install lacks it
        raise ImportError(f"entropy-coded .ssr files need the {package} package: pip install {package}") from err


def _unpacked(layers: Layers) -> bytes:
    return b"".join(floats + symbols.astype(np.uint8).tobytes() for floats, symbols in layers)


# ---- zstd: one frame of the unpacked payload ------------------------------------------------------------------


def _zstd_encode(layers: Layers, bits: int) -> bytes:
    zstandard = _require("zstandard", "zstandard")
    compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_content_size=True, write_checksum=False)
    return compressor.compress(_unpacked(layers))


def _zstd_decode(coded: bytes, shapes: Shapes, bits: int) -> bytes:
    zstandard = _require("zstandard", "zstandard")
    expected = sum(n_floats + n_symbols for n_floats, n_symbols in shapes)
    try:
        if zstandard.frame_content_size(coded) != expected:
            raise CoderError("coded payload size mismatch")
        payload = zstandard.ZstdDecompressor().decompress(coded, max_output_size=expected)
    except zstandard.ZstdError as err:
        raise CoderError(str(err)) from err
    if len(payload) != expected:
        raise CoderError(f"coded payload decodes to {len(payload)} bytes, not {expected}")
    return payload


# ---- rans: floats as they are, then every layer's symbols as one adaptive rANS stream ---------------------------


def _rans_blocks(symbols: list[np.ndarray], bits: int):
    """(layer, block start, block end, probabilities) of every block, the adaptive model before each block.

    A generator: the decoder fills ``symbols[layer][start:end]`` before asking for the next block.
    """
    size = 2**bits
    for layer, values in enumerate(symbols):
        counts = np.ones(size, dtype=np.int64)
        for start in range(0, len(values), RANS_BLOCK):
            end = min(start + RANS_BLOCK, len(values))
            yield layer, start, end, counts / counts.sum()
            counts += np.bincount(values[start:end], minlength=size)


def _encode_stream(symbols: list[np.ndarray], blocks: Iterable[Block]) -> bytes:
    """Every block of ``symbols`` as one AnsCoder stream (uint32 words, little endian), each with its model."""
    constriction = _require("constriction", "constriction")
    model = constriction.stream.model.Categorical
    coded = [(symbols[layer][start:end].astype(np.int32), probabilities) for layer, start, end, probabilities in blocks]
    coder = constriction.stream.stack.AnsCoder()
    for values, probabilities in reversed(coded):  # a stack: encode backwards, decode forwards
        coder.encode_reverse(values, model(probabilities, perfect=False))
    return coder.get_compressed().astype("<u4").tobytes()


def _decode_stream(coded: bytes, words_at: int, shapes: Shapes,
                   blocks: Callable[[list[np.ndarray]], Iterable[Block]]) -> bytes:
    """The unpacked payload of a coded one whose stream starts at ``words_at`` and whose scales and biases lead it;
    ``blocks`` yields each block's model from the symbols decoded before it."""
    constriction = _require("constriction", "constriction")
    words = np.frombuffer(coded, "<u4", offset=words_at).astype(np.uint32)
    try:
        coder = constriction.stream.stack.AnsCoder(words)
        symbols = [np.zeros(n, dtype=np.int64) for _, n in shapes]
        for layer, start, end, probabilities in blocks(symbols):
            model = constriction.stream.model.Categorical(probabilities, perfect=False)
            symbols[layer][start:end] = coder.decode(model, end - start)
    except (ValueError, RuntimeError) as err:
        raise CoderError(str(err)) from err
    if not coder.is_empty():
        raise CoderError("data left over after the last weight")
    layers, pos = [], 0
    for (n, _), values in zip(shapes, symbols, strict=True):
        layers.append((coded[pos : pos + n], values))
        pos += n
    return _unpacked(layers)


def _rans_encode(layers: Layers, bits: int) -> bytes:
    symbols = [s.astype(np.int64) for _, s in layers]
    return b"".join(floats for floats, _ in layers) + _encode_stream(symbols, _rans_blocks(symbols, bits))


def _rans_decode(coded: bytes, shapes: Shapes, bits: int) -> bytes:
    n_floats = sum(n for n, _ in shapes)
    if len(coded) < n_floats or (len(coded) - n_floats) % 4:
        raise CoderError(f"{len(coded)} coded bytes cannot hold {n_floats} bytes of scales and biases plus words")
    return _decode_stream(coded, n_floats, shapes, lambda symbols: _rans_blocks(symbols, bits))


# ---- rans-prior: rans whose model starts from a per-layer Laplace or Gaussian prior -----------------------------
#
# Trained SIREN weights are close to zero-centred bell shapes (Gaussian for most hidden layers, Laplace-like where
# many weights stay near zero), so a parametric start saves what the uniform start of ``rans`` spends learning
# the shape; the adaptation rate, also chosen per layer, lets counts correct a shape the prior misses.
#
# The decoder must rebuild each table bit for bit on any machine, so no transcendental function is used: the
# stored parameter is the ratio r = r_q / 2^16, the table r^|d| (Laplace) or r^(d^2) (Gaussian) is built by
# repeated IEEE binary64 multiplication in a fixed order, and from there everything is integer counts.

LAPLACE = 1
GAUSSIAN = 2
PRIOR_SHAPES = {LAPLACE: "laplace", GAUSSIAN: "gaussian"}
#: A prior table's count at the centre; every symbol gets at least 1 more, so any symbol can be coded.
PRIOR_ONE = 1 << 16
#: Table values below this are zero: the products never reach subnormal numbers, which flush-to-zero modes of
#: some libraries would round differently.
PRIOR_TINY = 2.0**-40
MAX_ADAPTATION = 15
_PRIOR_PARAMS = struct.Struct("<BH")  # shape | adaptation << 4, r_q
# The encoder's grid of q = 2^16 - r_q (1 - r in units of 2^-16), about 9 % apart: integers only, so the encoder
# makes the same file on every machine too.
_Q_GRID: list[int] = []
_q = 1
while _q < 1 << 16:
    _Q_GRID.append(_q)
    _q = max(_q + 1, _q * 109 // 100)
_Q_GRID.append(1 << 16)


@dataclass(frozen=True)
class Prior:
    """One layer's model in a ``rans-prior`` payload (3 bytes)."""

    shape: int  # LAPLACE or GAUSSIAN
    r_q: int  # the ratio r = r_q / 2^16 between neighbouring table values (0..65535)
    adaptation: int  # 0: static; k > 0: the prior weighs as much as 2^k coded symbols

    def counts(self, bits: int) -> np.ndarray:
        """The integer counts (int64, one per symbol 0 .. 2^bits - 1) the layer's first symbols are coded with."""
        return prior_counts(bits, self.shape, self.r_q)

    def step(self, counts: np.ndarray) -> int:
        """How much one coded symbol adds to its count (0: a static model)."""
        return 0 if self.adaptation == 0 else max(1, int(counts.sum()) >> self.adaptation)


def prior_counts(bits: int, shape: int, r_q: int) -> np.ndarray:
    """``floor(2^16 g(|k - 2^(bits-1)|)) + 1`` for every symbol k, g(d) = r^d (Laplace) or r^(d^2) (Gaussian).

    Bit-exact everywhere: ``r_q / 2^16`` is exact, and each table value is one correctly rounded binary64 product
    of the previous one, r^(d+1) = r^d * r or r^((d+1)^2) = r^(d^2) * r^(2d+1), never a call to ``exp`` or ``pow``.
    """
    if shape not in PRIOR_SHAPES:
        raise CoderError(f"unknown prior shape {shape}")
    if not 0 <= r_q < 1 << 16:
        raise ValueError(f"r_q must be in 0..65535, got {r_q}")
    half = 1 << (bits - 1)
    r = r_q / 65536.0
    factor, factor_step = r, r * r  # Gaussian: factor = r^(2d - 1) when going from d - 1 to d
    table = np.zeros(half + 1)
    value = table[0] = 1.0
    for d in range(1, half + 1):
        value *= r if shape == LAPLACE else factor
        if value < PRIOR_TINY:
            break
        table[d] = value
        factor *= factor_step  # factor >= value >= PRIOR_TINY and r * r >= 2^-32: the product stays normal
    distance = np.abs(np.arange(2**bits) - half)
    return np.floor(table[distance] * PRIOR_ONE).astype(np.int64) + 1  # times 2^16 and floor: exact


def _prior_blocks(symbols: list[np.ndarray], bits: int, priors: Sequence[Prior]):
    """(layer, block start, block end, probabilities) of every block, as :func:`_rans_blocks` does for ``rans``;
    a static layer is one block."""
    size = 2**bits
    for layer, (values, prior) in enumerate(zip(symbols, priors, strict=True)):
        counts = prior.counts(bits)
        step = prior.step(counts)
        block = RANS_BLOCK if step else max(len(values), 1)
        for start in range(0, len(values), block):
            end = min(start + block, len(values))
            # counts stay under 2^49 (at most 2^24 symbols a layer): an exact float sum, one rounding per division
            yield layer, start, end, counts / counts.sum()
            if step:
                counts = counts + step * np.bincount(values[start:end], minlength=size)


def _adaptive_bits(hist: np.ndarray, counts: np.ndarray, step: int) -> float:
    """Ideal code length in bits of blocks whose symbol counts are the rows of ``hist``."""
    if not step:
        return float(-(hist.sum(axis=0) * np.log2(counts / counts.sum())).sum())
    before = (np.cumsum(hist, axis=0) - hist) * step + counts
    return float(-(hist * np.log2(before / before.sum(axis=1, keepdims=True))).sum())


def fit_prior(values: np.ndarray, bits: int) -> Prior:
    """The prior (shape, ratio on the integer grid, adaptation) that codes ``values`` in the fewest bits."""
    size = 2**bits
    values = np.asarray(values, dtype=np.int64)
    blocks = -(-len(values) // RANS_BLOCK)
    block_of = np.arange(len(values)) // RANS_BLOCK
    hist = np.bincount(block_of * size + values, minlength=max(blocks, 1) * size).reshape(-1, size)
    total = hist.sum(axis=0)

    def static_bits(shape: int, q: int) -> float:
        counts = prior_counts(bits, shape, (1 << 16) - q)
        return float(-(total * np.log2(counts / counts.sum())).sum())

    best: tuple[float, Prior] | None = None
    for shape in PRIOR_SHAPES:
        costs = [static_bits(shape, q) for q in _Q_GRID]
        i = int(np.argmin(costs))
        low, high = _Q_GRID[max(i - 1, 0)], _Q_GRID[min(i + 1, len(_Q_GRID) - 1)]
        fine = sorted({*np.linspace(low, high, 17).round().astype(int).tolist(), _Q_GRID[i]})
        q = min(fine, key=lambda q: (static_bits(shape, q), q))
        for adaptation in range(MAX_ADAPTATION + 1):
            prior = Prior(shape, (1 << 16) - q, adaptation)
            counts = prior.counts(bits)
            cost = _adaptive_bits(hist, counts, prior.step(counts))
            if best is None or cost < best[0]:
                best = (cost, prior)
    assert best is not None
    return best[1]


def _prior_encode(layers: Layers, bits: int) -> bytes:
    symbols = [s.astype(np.int64) for _, s in layers]
    priors = [fit_prior(values, bits) for values in symbols]
    params = b"".join(_PRIOR_PARAMS.pack(p.shape | p.adaptation << 4, p.r_q) for p in priors)
    return (b"".join(floats for floats, _ in layers) + params
            + _encode_stream(symbols, _prior_blocks(symbols, bits, priors)))


def _prior_decode(coded: bytes, shapes: Shapes, bits: int) -> bytes:
    n_floats = sum(n for n, _ in shapes)
    n_params = _PRIOR_PARAMS.size * len(shapes)
    if len(coded) < n_floats + n_params or (len(coded) - n_floats - n_params) % 4:
        raise CoderError(f"{len(coded)} coded bytes cannot hold {n_floats} bytes of scales and biases, "
                         f"{n_params} bytes of layer models, plus words")
    priors = []
    for layer in range(len(shapes)):
        packed, r_q = _PRIOR_PARAMS.unpack_from(coded, n_floats + layer * _PRIOR_PARAMS.size)
        if packed & 0x0F not in PRIOR_SHAPES:
            raise CoderError(f"layer {layer}: unknown prior shape {packed & 0x0F}")
        priors.append(Prior(packed & 0x0F, r_q, packed >> 4))
    return _decode_stream(coded, n_floats + n_params, shapes, lambda symbols: _prior_blocks(symbols, bits, priors))


CODERS: dict[str, Coder] = {
    coder.name: coder
    for coder in (
        Coder("zstd", 1, _zstd_encode, _zstd_decode),
        Coder("rans", 2, _rans_encode, _rans_decode),
        Coder("rans-prior", 3, _prior_encode, _prior_decode),
    )
}
#: A setting's choice of payload coding that every file can record: "none" is the plain, bit-packed payload of the
#: format itself, the others are :data:`CODERS`.
STORED_CODINGS = ("none", *CODERS)
#: "auto" writes whichever stored coding makes the smallest file; a read file names the coding it used.
AUTO = "auto"
#: Every choice a setting (config, ``--entropy``) may make.
ENTROPY_CODINGS = (*STORED_CODINGS, AUTO)


def by_file_id(file_id: int) -> Coder | None:
    return next((c for c in CODERS.values() if c.file_id == file_id), None)
