"""Entropy coders of the ``.ssr`` payload, apart from the file format (as CompressAI keeps its entropy coders apart
from its bitstream): each has a name, the id the file stores, an encoder and a decoder.

A coder sees the payload as layers, each a run of float bytes (scales and biases, stored as they are) and a run of
weight symbols (offset integers ``0 .. 2^bits - 1``, one per weight). ``encode`` turns them into coded bytes;
``decode`` turns coded bytes back into the *unpacked* payload (each layer's float bytes followed by one byte per
symbol), given how many float bytes and symbols each layer has. :mod:`siamese_siren.bitstream` owns everything
else: the header, the plain bit-packed payload (entropy ``none``), the coder id and size fields, and the CRC.

Adding a coder: write its two functions and add one entry to :data:`CODERS` with a new id.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType

import numpy as np

ZSTD_LEVEL = 19
RANS_BLOCK = 256

#: (float bytes, weight symbols) of each layer, in file order.
Layers = Sequence[tuple[bytes, np.ndarray]]
#: (number of float bytes, number of symbols) of each layer, in file order.
Shapes = Sequence[tuple[int, int]]


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


def _rans_encode(layers: Layers, bits: int) -> bytes:
    constriction = _require("constriction", "constriction")
    model = constriction.stream.model.Categorical
    symbols = [s.astype(np.int64) for _, s in layers]
    blocks = [(symbols[layer][start:end].astype(np.int32), probabilities)
              for layer, start, end, probabilities in _rans_blocks(symbols, bits)]
    coder = constriction.stream.stack.AnsCoder()
    for values, probabilities in reversed(blocks):  # a stack: encode backwards, decode forwards
        coder.encode_reverse(values, model(probabilities, perfect=False))
    return b"".join(floats for floats, _ in layers) + coder.get_compressed().astype("<u4").tobytes()


def _rans_decode(coded: bytes, shapes: Shapes, bits: int) -> bytes:
    constriction = _require("constriction", "constriction")
    n_floats = sum(n for n, _ in shapes)
    if len(coded) < n_floats or (len(coded) - n_floats) % 4:
        raise CoderError(f"{len(coded)} coded bytes cannot hold {n_floats} bytes of scales and biases plus words")
    words = np.frombuffer(coded, "<u4", offset=n_floats).astype(np.uint32)
    try:
        coder = constriction.stream.stack.AnsCoder(words)
        symbols = [np.zeros(n, dtype=np.int64) for _, n in shapes]
        for layer, start, end, probabilities in _rans_blocks(symbols, bits):
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


CODERS: dict[str, Coder] = {
    coder.name: coder
    for coder in (
        Coder("zstd", 1, _zstd_encode, _zstd_decode),
        Coder("rans", 2, _rans_encode, _rans_decode),
    )
}
#: "none" is the plain, bit-packed payload of the format itself.
ENTROPY_CODINGS = ("none", *CODERS)


def by_file_id(file_id: int) -> Coder | None:
    return next((c for c in CODERS.values() if c.file_id == file_id), None)
