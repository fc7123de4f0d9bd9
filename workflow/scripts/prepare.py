from siamese_siren.codec.audio import prepare_clips
from siamese_siren.pipeline import jobs

sm = snakemake  # noqa: F821 (injected by Snakemake)
jobs.start(sm.log[0])
p = sm.params
prepare_clips(dict(zip(p.clips, sm.input.sources, strict=True)), sm.output[0], p.sample_rate, p.offset, p.seconds)
