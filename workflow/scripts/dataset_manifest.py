from collections import Counter

from siamese_siren.pipeline import jobs
from siamese_siren.pipeline.datasets import SELECTED, SKIPPED, build_manifest, write_manifest

jobs.start(snakemake.log[0])  # noqa: F821 (snakemake is injected)
spec = dict(snakemake.params.spec)  # noqa: F821
rows = build_manifest(spec.pop("source"), snakemake.input[0], **spec)  # noqa: F821
write_manifest(rows, snakemake.output[0])  # noqa: F821
print(f"{snakemake.input[0]}: {dict(Counter(r.status for r in rows))}")  # noqa: F821
for row in rows:
    if row.status == SKIPPED:
        print(f"skipped {row.clip} ({row.source}): {row.reason}")
selected = sum(r.status == SELECTED for r in rows)
if spec["clips"] and selected < spec["clips"]:
    print(f"warning: only {selected} usable clips, {spec['clips']} asked for")
