import soundfile as sf

from siamese_siren.analysis.figures.spectrograms import noise_perception
from siamese_siren.pipeline import jobs

sm = snakemake  # noqa: F821 (injected by Snakemake)
jobs.start(sm.log[0])
clean, rate = sf.read(f"{sm.input.clips}/{sm.params.clip}.wav", dtype="float32")
noise_perception(clean, rate, sm.params.snr_db, sm.output[0])
