import pandas as pd

from siamese_siren.analysis.rate_distortion import METHODS_NOTE, equal_quality, rd_summary, write_equal_quality
from siamese_siren.pipeline import jobs

sm = snakemake  # noqa: F821 (injected by Snakemake)
jobs.start(sm.log[0])
p = sm.params
summary = rd_summary(pd.read_csv(sm.input[0]), p.metrics)
table = equal_quality(summary, f"INR {p.reference['precision']}", p.reference["variant"], p.metrics)
print(table.to_string())
caption = (f"Equal quality: the kbps each method needs to reach the mean quality of {p.reference['variant']} at "
           f"{p.reference['precision']} (the reference), per metric, and that over the reference's kbps "
           "(the ratio; below 1 is fewer bits for the same mean quality). Methods: each codec over its bitrates, each "
           f"INR precision over the variants. {METHODS_NOTE}. Rates between two points are interpolated; ≤: already "
           "reached at the lowest rate.")
write_equal_quality(table, sm.output.csv, sm.output.md, caption=caption)
