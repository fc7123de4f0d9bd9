import pandas as pd

from siamese_siren.codec import files
from siamese_siren.pipeline import jobs

sm = snakemake  # noqa: F821 (injected by Snakemake)
jobs.start(sm.log[0])
files.write_csv(pd.concat([pd.read_csv(f) for f in sm.input], ignore_index=True), sm.output[0])
