import sys

import pandas as pd

sm = snakemake  # noqa: F821 (injected by Snakemake)
sys.stderr = sys.stdout = open(sm.log[0], "w", buffering=1)
pd.concat([pd.read_csv(f) for f in sm.input], ignore_index=True).to_csv(sm.output[0], index=False)
