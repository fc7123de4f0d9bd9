import pandas as pd

from siamese_siren.analysis.rate_distortion import qat_effect, write_qat_effect
from siamese_siren.pipeline import jobs

sm = snakemake  # noqa: F821 (injected by Snakemake)
jobs.start(sm.log[0])
table = qat_effect(pd.read_csv(sm.input[0]), sm.params.pairs, sm.params.metrics)
print(table.to_string())
caption = ("What quantization-aware fine-tuning buys: each metric's mean over the clips after fine-tuning vs "
           "straight from training (post-training quantization), with the same bits, scales and entropy coding, and "
           "the gain; kbps: fine-tuned / post-training (the coded sizes differ a little).")
write_qat_effect(table, sm.output.csv, sm.output.md, caption=caption)
