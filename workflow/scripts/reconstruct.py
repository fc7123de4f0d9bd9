import json
from pathlib import Path

from siamese_siren import bitstream, jobs
from siamese_siren.audio import write_audio
from siamese_siren.decode import denoise, reconstruct, synthesize
from siamese_siren.models import Variant
from siamese_siren.plan import Precision, reconstruction_file
from siamese_siren.train import load_model, load_state

sm = snakemake  # noqa: F821 (injected by Snakemake)
jobs.start(sm.log[0])
p = sm.params
models, out = Path(sm.input.models), Path(sm.output[0])
compressed = dict(zip(p.settings, map(Path, sm.input.compressed), strict=True))
out.mkdir(parents=True, exist_ok=True)


def heads(clip: str, precision: Precision, variant: Variant):
    """Both heads of one clip's network: float weights, a training snapshot, or a compressed file."""
    if precision.step is not None:
        state = load_state(models / f"{clip}.snapshots.pt")[precision.step]
        return synthesize(load_model(variant, state), p.num_samples)
    if precision.setting is None:
        return synthesize(load_model(variant, load_state(models / f"{clip}.pt")), p.num_samples)
    return reconstruct(bitstream.read(compressed[precision.setting] / f"{clip}.ssr"), precision=precision.decode_mode)


for clip in p.clips:
    variant = Variant.from_dict(json.loads((models / f"{clip}.json").read_text())["variant"])
    decoded = {}
    for name, mode in p.reconstructions:
        if name not in decoded:
            decoded[name] = heads(clip, Precision.parse(name), variant)
        signal = denoise(decoded[name], p.sample_rate, mode, p.alpha)
        write_audio(out / reconstruction_file(clip, name, mode), signal, p.sample_rate, subtype="FLOAT")
