import pandas as pd

from siamese_siren.analysis.findings import check, write_findings
from siamese_siren.pipeline import jobs

sm = snakemake  # noqa: F821 (injected by Snakemake)
jobs.start(sm.log[0])
spec = sm.params.spec
write_findings(check(pd.read_csv(sm.input[0]), spec), sm.output.md, sm.output.csv, spec["header"])
