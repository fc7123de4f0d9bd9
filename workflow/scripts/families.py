from siamese_siren.experiments.families import report
from siamese_siren.pipeline import jobs

sm = snakemake  # noqa: F821 (injected by Snakemake)
jobs.start(sm.log[0])
verdicts = report({key: list(sm.input[key]) for key in ("scores", "compressed", "models", "codecs", "tuning")},
                  sm.params.plan, sm.output.csv, sm.output.md, sm.output.figure)
print(verdicts.to_string())
