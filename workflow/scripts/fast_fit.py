
import pandas as pd

from siamese_siren.codec.train import read_losses
from siamese_siren.experiments.fast_fit import (
    fast_fit_figure,
    fast_fit_losses,
    fast_fit_records,
    quality_at_steps,
    steps_to_target,
    write_fast_fit,
)
from siamese_siren.pipeline import jobs

sm = snakemake  # noqa: F821 (injected by Snakemake)
jobs.start(sm.log[0])
spec, runs = sm.params.spec, [tuple(run) for run in sm.params.runs]
losses, _ = read_losses(sm.input.models)
per_clip = fast_fit_losses(losses, runs, spec["baseline"])
records = fast_fit_records(pd.concat([pd.read_csv(f) for f in sm.input.scores], ignore_index=True), runs)
quality = quality_at_steps(records, spec["metrics"])
caption = (f"Fast fitting: {', '.join(spec['recipes'])} against the paper's recipe ({spec['baseline']}), "
           f"each run for {', '.join(map(str, spec['steps']))} steps.")
write_fast_fit(steps_to_target(per_clip), per_clip, quality, sm.output.csv, sm.output.md, caption)
fast_fit_figure(records, per_clip, spec["metrics"], sm.output.figure)
