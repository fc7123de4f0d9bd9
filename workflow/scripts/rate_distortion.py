from pathlib import Path

import pandas as pd

from siamese_siren.analysis.rate_distortion import (
    METHODS_NOTE,
    codec_points,
    controlled_points,
    inr_points,
    kbps_needed,
    rd_summary,
    write_kbps_needed,
)
from siamese_siren.codec import files
from siamese_siren.pipeline import jobs

sm = snakemake  # noqa: F821 (injected by Snakemake)
jobs.start(sm.log[0])
p = sm.params
scores = pd.concat([pd.read_csv(f) for f in sm.input.scores], ignore_index=True)
sizes = [pd.read_csv(Path(folder) / "sizes.csv") for folder in sm.input.compressed]
sizes = pd.concat(sizes, ignore_index=True) if sizes else pd.DataFrame(
    columns=["dataset", "variant", "setting", "clip", "bytes", "seconds"])
frames = [inr_points(scores, sizes, p.settings, p.denoise, p.float_bytes)]
if sm.input.codecs:
    frames.append(codec_points(pd.concat([pd.read_csv(f) for f in sm.input.codecs], ignore_index=True)))
points = pd.concat(frames, ignore_index=True)
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
