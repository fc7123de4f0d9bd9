import pandas as pd

from siamese_siren.analysis.figures.scores import denoise_ablation, training_curves
from siamese_siren.pipeline import jobs

sm = snakemake  # noqa: F821 (injected by Snakemake)
jobs.start(sm.log[0])
spec = sm.params.spec
records = pd.concat([pd.read_csv(f) for f in sm.input], ignore_index=True)
if sm.wildcards.name == "fig4":
    chosen = records[(records["precision"] == spec["precision"]) & (records["variant"] == spec["variant"])]
    denoise_ablation(chosen, spec["metric"], sm.output[0])
else:
    # Float weights only: the final state and its training snapshots (the records with a step), not denoised.
    float_runs = records[records["precision"].eq("float") | records["step"].notna()]
    float_runs = float_runs[float_runs["denoise"] == "none"]
    # The final float state counts as the last step of its variant's run.
    final_steps = float_runs["variant"].map(sm.params.steps)
    float_runs = float_runs.assign(step=float_runs["step"].fillna(final_steps).astype(int))
    training_curves(float_runs, spec["metric"], sm.output[0])
