"""The entropy-coder registry on its own: every coder round-trips layers exactly and refuses damaged bytes."""

import numpy as np
import pytest

from siamese_siren.coders import CODERS, CoderError, by_file_id


def layers(bits: int, seed: int = 0) -> list[tuple[bytes, np.ndarray]]:
    rng = np.random.default_rng(seed)
    center = 2 ** (bits - 1)
    return [(rng.standard_normal(2 * out).astype("<f4").tobytes(),
             np.clip(np.round(rng.laplace(center, 3, out * inp)), 0, 2**bits - 1).astype(np.uint8))
            for out, inp in ((16, 33), (16, 16), (1, 16))]


@pytest.mark.parametrize("name", sorted(CODERS))
@pytest.mark.parametrize("bits", [3, 6, 8])
def test_every_coder_round_trips(name, bits):
    coder, given = CODERS[name], layers(bits)
    shapes = [(len(floats), len(symbols)) for floats, symbols in given]
    decoded = coder.decode(coder.encode(given, bits), shapes, bits)
    assert decoded == b"".join(floats + symbols.tobytes() for floats, symbols in given)


@pytest.mark.parametrize("name", sorted(CODERS))
def test_damaged_bytes_raise_a_coder_error(name):
    coder, given = CODERS[name], layers(6)
    shapes = [(len(floats), len(symbols)) for floats, symbols in given]
    coded = coder.encode(given, 6)
    with pytest.raises(CoderError):
        coder.decode(coded[: len(coded) // 2], shapes, 6)


def test_ids_are_unique_and_found():
    assert len({c.file_id for c in CODERS.values()}) == len(CODERS)
    assert all(by_file_id(c.file_id) is c for c in CODERS.values()) and by_file_id(255) is None
