import pandas as pd

from siamese_siren.analysis.rate_distortion import control_accuracy, write_control_accuracy
from siamese_siren.pipeline import jobs

sm = snakemake  # noqa: F821 (injected by Snakemake)
jobs.start(sm.log[0])
table = control_accuracy(pd.read_csv(sm.input[0]))
print(table.to_string())
caption = ("Rate control, asked against got, per target: for a kbps target `got` is the chosen files' kbps (each at "
           "or under the target unless none fits), for a quality target the chosen files' score; `met`: clips whose "
           "file meets the target; `chosen`: the variant and precision picked, and for how many clips.")
write_control_accuracy(table, sm.output.csv, sm.output.md, caption=caption)
