import json
from pathlib import Path

import pandas as pd

from siamese_siren.analysis.rate_distortion import codec_points, inr_points
from siamese_siren.experiments.families import (
    Run,
    families_figure,
    kbps_at_paper_quality,
    loss_curves,
    quality_at_paper_bytes,
    steps_per_clip,
    steps_summary,
    targets,
    tuning_summary,
    write_families,
)
from siamese_siren.pipeline import jobs

sm = snakemake  # noqa: F821 (injected by Snakemake)
jobs.start(sm.log[0])
p = sm.params.plan
spec, compared = p["spec"], [Run(**run) for run in p["runs"]]
scores = pd.concat([pd.read_csv(f) for f in sm.input.scores], ignore_index=True)
sizes = pd.concat([pd.read_csv(Path(folder) / "sizes.csv") for folder in sm.input.compressed], ignore_index=True)
points = inr_points(scores, sizes, p["settings"], p["denoise"], p["float_bytes"])
if sm.input.codecs:
    points = pd.concat([points, codec_points(pd.concat([pd.read_csv(f) for f in sm.input.codecs],
                                                       ignore_index=True))], ignore_index=True)
# models/<dataset>/<variant>/<batch>/<clip>.loss.csv: the loss of every step; <clip>.json: the job's wall time
losses, seconds = {}, {}
for folder in map(Path, sm.input.models):
    dataset, variant = folder.parts[-3], folder.parts[-2]
    for curve in sorted(folder.glob("*.loss.csv")):
        clip = curve.name.removesuffix(".loss.csv")
        losses[(dataset, variant, clip)] = pd.read_csv(curve)["loss"].to_numpy()
        meta = json.loads((folder / f"{clip}.json").read_text())
        seconds[(dataset, variant, clip)] = meta["wall_seconds"] / meta["steps"]
steps = steps_summary(steps_per_clip(losses, seconds, compared, p["steps"]), compared, p["steps"])
quality = quality_at_paper_bytes(points, compared, spec["reference"], p["metrics"])
kbps = kbps_at_paper_quality(points, compared, spec["reference"], p["metrics"], spec["draws"], spec["seed"])
verdicts = targets(steps, kbps, compared[0].variant, p["steps"])
tuning = tuning_summary(pd.read_csv(sm.input.tuning[0]), p["configured"]) if sm.input.tuning else None
print(verdicts.to_string())
caption = (f"INR families against the paper's variant ({compared[0].variant}, {compared[0].params:,} parameters, the "
           f"paper file: {spec['reference']}): {len(compared) - 1} variants, each family in the Siamese and the plain "
           f"layout at equal parameter count, with the paper's recipe and the family's own; "
           f"{len(sorted({c for _, _, c in losses}))} clips.")
write_families(steps, quality, kbps, verdicts, tuning, sm.output.csv, sm.output.md, caption)
families_figure(loss_curves(losses, compared), points, compared, spec["reference"], p["metrics"], sm.output.figure)
