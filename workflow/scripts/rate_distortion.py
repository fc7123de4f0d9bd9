
import pandas as pd

from siamese_siren.analysis.rate_distortion import (
    METHODS_NOTE,
    controlled_points,
    kbps_needed,
    rd_summary,
    read_points,
    write_kbps_needed,
)
from siamese_siren.codec import files
from siamese_siren.pipeline import jobs

sm = snakemake  # noqa: F821 (injected by Snakemake)
jobs.start(sm.log[0])
p = sm.params
points = read_points(sm.input.scores, sm.input.compressed, sm.input.codecs, p.settings, p.denoise,
                     p.float_bytes)
if control := p.spec.get("control"):
    points = pd.concat([points, controlled_points(points, control["kbps"], control["quality"], control["objective"])],
                       ignore_index=True)
first = ["dataset", "family", "method", "point", "clip", "kbps", "bytes"]
points = points[first + [c for c in points.columns if c not in first]]
files.write_csv(points, sm.output.points)
summary = rd_summary(points, p.spec["metrics"])
print(summary.to_string())
caption = ("kbps needed to reach each mean quality, per method: each codec (over its bitrates), each INR "
           f"precision (over the variants). {METHODS_NOTE}.")
write_kbps_needed(kbps_needed(summary, p.spec["quality"]), sm.output.csv, sm.output.md, caption=caption)
