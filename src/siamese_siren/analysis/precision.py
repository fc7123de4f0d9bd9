"""Which weights a reconstruction plays, and the names of the files it is decoded to.

The precision mini-language of the config (``float``, ``float-stepN``, ``int8-paper``, a quantize setting) is
parsed once here, with the setting whose file it decodes and the decode mode.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: The quantize setting of the paper's int8 file, which ``int8-paper`` decodes with quantized activations.
PAPER_SETTING = "int8"
PAPER_SETTING_FIELDS = {"bits": 8, "per_channel": False, "entropy": "none", "qat_steps": 0}
_SNAPSHOT = re.compile(r"float-step(\d+)")



@dataclass(frozen=True)
class Precision:
    """Which weights a reconstruction plays: float (final or a training snapshot) or a compressed file.

    ``name`` is the spelling in the config, in score records and in reconstruction file names.
    """

    name: str
    setting: str | None = None  # the quantize setting whose .ssr file is decoded; None for float weights
    step: int | None = None  # a float training snapshot's step
    paper_mode: bool = False  # activations quantized at run time too, as PyTorch's dynamic quantization did

    @classmethod
    def parse(cls, name: str) -> Precision:
        """``float``, ``float-stepN``, ``int8-paper`` or (anything else) the name of a quantize setting."""
        if name == "float":
            return cls(name)
        if snapshot := _SNAPSHOT.fullmatch(name):
            return cls(name, step=int(snapshot.group(1)))
        if name == "int8-paper":
            return cls(name, setting=PAPER_SETTING, paper_mode=True)
        return cls(name, setting=name)

    @property
    def decode_mode(self) -> str:
        """How :func:`siamese_siren.codec.decode.reconstruct` evaluates the compressed file (compressed precisions)."""
        return "int8-paper" if self.paper_mode else "int8"


def reconstruction_file(clip: str, precision: str, denoise: str) -> str:
    """The name of a decoded clip inside its batch's reconstruction folder."""
    return f"{clip}__{precision}__{denoise}.wav"
