import sys
from collections import Counter

from siamese_siren.datasets import SKIPPED, build_manifest, write_manifest

sys.stderr = sys.stdout = open(snakemake.log[0], "w", buffering=1)  # noqa: F821 (snakemake is injected)
p = snakemake.params  # noqa: F821
rows = build_manifest(p.source, snakemake.input[0], clips=p.clips, seed=p.seed,  # noqa: F821
                      sample_rate=p.sample_rate, offset=p.offset, seconds=p.seconds, pattern=p.pattern)
write_manifest(rows, snakemake.output[0])  # noqa: F821
print(f"{snakemake.input[0]}: {dict(Counter(r.status for r in rows))}")  # noqa: F821
for row in rows:
    if row.status == SKIPPED:
        print(f"skipped {row.clip} ({row.source}): {row.reason}")
if p.clips and sum(r.status == "selected" for r in rows) < p.clips:
    print(f"warning: only {sum(r.status == 'selected' for r in rows)} usable clips, {p.clips} asked for")
