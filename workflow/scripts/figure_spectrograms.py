from pathlib import Path

import soundfile as sf

from siamese_siren.analysis.figures.spectrograms import spectrograms
from siamese_siren.analysis.precision import reconstruction_file
from siamese_siren.pipeline import jobs

sm = snakemake  # noqa: F821 (injected by Snakemake)
jobs.start(sm.log[0])
p = sm.params
reference, rate = sf.read(Path(sm.input.clips) / f"{p.clip}.wav", dtype="float32")
signals = {"reference": reference}
for name, folder in zip(p.variants, sm.input.reconstructions, strict=True):
    decoded, _ = sf.read(Path(folder) / reconstruction_file(p.clip, p.precision, "none"), dtype="float32")
    signals[f"{name}\n{p.precision}, {p.steps[name]} steps"] = decoded
spectrograms(signals, rate, sm.output[0], title=f"clip {p.clip}")
