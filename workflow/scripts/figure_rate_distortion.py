import pandas as pd

from siamese_siren.analysis.figures.rate_distortion import rate_distortion
from siamese_siren.analysis.rate_distortion import rd_summary
from siamese_siren.pipeline import jobs

sm = snakemake  # noqa: F821 (injected by Snakemake)
jobs.start(sm.log[0])
points = pd.read_csv(sm.input[0])
points = points[points["dataset"] == sm.wildcards.dataset]
summary = rd_summary(points, sm.params.metrics)
rate_distortion(summary, sm.params.metrics, sm.output[0],
                title=f"{sm.wildcards.dataset}: rate-distortion (means over {points['clip'].nunique()} clips)")
