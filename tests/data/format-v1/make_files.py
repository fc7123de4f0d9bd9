"""How the version-1 ``.ssr`` files beside this script were made (run once, with the code of commit 0bfcdf2, the
last before format version 2): ``python tests/data/format-v1/make_files.py``.

Each file is a tiny network fitted briefly to 0.06 s of speech (the weights need not be good, only real), written
with one combination of the file's settings. ``expected.json`` records, per file, the sha256 of its bytes and of
what a decoder makes of it (both heads as float32 at the clip's rate, at 44.1 kHz and in paper mode), and the
torch and CPU that decoded it; ``<name>.heads.npy`` keeps the heads at the clip's rate for machines whose float
kernels round differently (tests/test_families.py).
"""

from __future__ import annotations

import hashlib
import json
import platform
from pathlib import Path

import numpy as np
import torch

from siamese_siren.codec import bitstream
from siamese_siren.codec.audio import load_clip
from siamese_siren.codec.bitstream import CompressedClip, RateControl
from siamese_siren.codec.decode import reconstruct
from siamese_siren.codec.models import Variant
from siamese_siren.codec.train import TrainConfig, load_model, train

HERE = Path(__file__).resolve().parent
SPEECH = HERE.parents[2] / "resources" / "audio" / "speech_librivox_0880.flac"

#: name: (variant, bits, per channel, entropy coding, with a rate-control record)
FILES = {
    "siamese-8bit": (Variant((16, 16), (8,)), 8, False, "none", False),
    "siamese-4bit-per-channel-rans": (Variant((16, 16), (8,)), 4, True, "rans", False),
    "siamese-6bit-rans-prior-rate-control": (Variant((16,), (12, 8)), 6, False, "rans-prior", True),
    "siren-no-pe-5bit-zstd": (Variant((24, 24), (), 0, 3000.0, 30.0), 5, True, "zstd", False),
    "siamese-0+2x12-2bit": (Variant((), (12, 12), 4, 30.0, 100.0, 1.5), 2, False, "none", False),
}


def sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array, dtype=np.float32).tobytes()).hexdigest()


def decoded_digests(clip: CompressedClip) -> dict[str, str]:
    return {"heads": sha256(reconstruct(clip)), "heads_44100": sha256(reconstruct(clip, 44100)),
            "heads_paper_mode": sha256(reconstruct(clip, precision="int8-paper"))}


def main() -> None:
    audio = load_clip(SPEECH, offset=0.5, duration=0.06)
    torch.set_num_threads(1)
    expected = {"torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                "machine": platform.machine(), "files": {}}
    for seed, (name, (variant, bits, per_channel, entropy, rate_controlled)) in enumerate(FILES.items()):
        result = train(variant, audio.samples, TrainConfig(steps=40, seed=seed, progress=False, device="cpu"))
        clip = CompressedClip.from_model(load_model(variant, result.state), audio.sample_rate, len(audio.samples),
                                         audio.peak, bits, per_channel, entropy)
        if rate_controlled:
            record = RateControl("kbps", 300.0, 123.5, True, 12, "snr", 4.25)
            clip = CompressedClip(**{**clip.__dict__, "rate_control": record})
        data = bitstream.to_bytes(clip)
        (HERE / f"{name}.ssr").write_bytes(data)
        back = bitstream.from_bytes(data)
        np.save(HERE / f"{name}.heads.npy", reconstruct(back))
        expected["files"][name] = {"bytes_sha256": hashlib.sha256(data).hexdigest(), **decoded_digests(back)}
    (HERE / "expected.json").write_text(json.dumps(expected, indent=2) + "\n")


if __name__ == "__main__":
    main()
