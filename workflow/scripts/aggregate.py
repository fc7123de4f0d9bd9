import pandas as pd

from siamese_siren import jobs

sm = snakemake  # noqa: F821 (injected by Snakemake)
jobs.start(sm.log[0])
pd.concat([pd.read_csv(f) for f in sm.input], ignore_index=True).to_csv(sm.output[0], index=False)
