import json
import re
import sys
from pathlib import Path

from siamese_siren import bitstream
from siamese_siren.audio import write_audio
from siamese_siren.decode import denoise, reconstruct, synthesize
from siamese_siren.models import Variant
from siamese_siren.train import load_model, load_state

sm = snakemake  # noqa: F821 (injected by Snakemake)
sys.stderr = sys.stdout = open(sm.log[0], "w", buffering=1)
p = sm.params
models, out = Path(sm.input.models), Path(sm.output[0])
out.mkdir(parents=True, exist_ok=True)


def heads(clip: str, precision: str, variant: Variant):
    """Both heads of one clip's network: float weights, a training snapshot, or a compressed file."""
    snapshot = re.fullmatch(r"float-step(\d+)", precision)
    if snapshot:
        state = load_state(models / f"{clip}.snapshots.pt")[int(snapshot.group(1))]
        return synthesize(load_model(variant, state), p.num_samples)
    if precision == "float":
        return synthesize(load_model(variant, load_state(models / f"{clip}.pt")), p.num_samples)
    setting, mode = ("int8", "int8-paper") if precision == "int8-paper" else (precision, "int8")
    compressed = bitstream.read(Path(p.compressed_root) / setting / sm.wildcards.batch / f"{clip}.ssr")
    return reconstruct(compressed, precision=mode)


for clip in p.clips:
    variant = Variant.from_dict(json.loads((models / f"{clip}.json").read_text())["variant"])
    decoded = {}
    for combo in p.combos:
        precision, mode = combo.split(":")
        if precision not in decoded:
            decoded[precision] = heads(clip, precision, variant)
        signal = denoise(decoded[precision], p.sample_rate, mode, p.alpha)
        write_audio(out / f"{clip}__{precision}__{mode}.wav", signal, p.sample_rate, subtype="FLOAT")
