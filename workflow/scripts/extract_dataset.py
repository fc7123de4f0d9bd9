from siamese_siren.pipeline import jobs
from siamese_siren.pipeline.datasets import extract, file_sha256

jobs.start(snakemake.log[0])  # noqa: F821 (snakemake is injected)
archive, p = snakemake.input[0], snakemake.params  # noqa: F821
if not p.downloaded:  # the user's own archive: circulating copies differ (e.g. zips), so only warn
    digest = file_sha256(archive)
    if digest != p.sha256:
        print(f"warning: {archive} has SHA-256 {digest}, not the reference {p.sha256}; using it anyway")
extract(archive, snakemake.output[0])  # noqa: F821
print(f"{archive} extracted to {snakemake.output[0]}")  # noqa: F821
