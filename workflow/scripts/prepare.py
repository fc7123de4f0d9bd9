import json

from siamese_siren.codec import files
from siamese_siren.codec.audio import load_clip, write_audio
from siamese_siren.pipeline import jobs

jobs.start(snakemake.log[0])  # noqa: F821 (snakemake is injected)
p = snakemake.params  # noqa: F821
clip = load_clip(snakemake.input[0], sample_rate=p.sample_rate, offset=p.offset, duration=p.seconds)  # noqa: F821
write_audio(snakemake.output.wav, clip.samples, clip.sample_rate, subtype="FLOAT")  # noqa: F821
meta = {"source": clip.source, "peak": clip.peak, "sample_rate": clip.sample_rate, "samples": len(clip.samples)}
files.write_text(snakemake.output.meta, json.dumps(meta, indent=2))  # noqa: F821
