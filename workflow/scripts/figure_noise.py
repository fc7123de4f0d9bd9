import soundfile as sf

from siamese_siren import jobs
from siamese_siren.figures import noise_perception

sm = snakemake  # noqa: F821 (injected by Snakemake)
jobs.start(sm.log[0])
clean, rate = sf.read(sm.input[0], dtype="float32")
noise_perception(clean, rate, sm.params.snr_db, sm.output[0])
