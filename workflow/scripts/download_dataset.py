import sys

from siamese_siren.pipeline import jobs
from siamese_siren.pipeline.datasets import DatasetError, download

console = sys.__stderr__
jobs.start(snakemake.log[0])  # noqa: F821 (snakemake is injected)
p = snakemake.params  # noqa: F821
try:
    download(p.urls, p.sha256, snakemake.output[0], size=p.size)  # noqa: F821
except DatasetError as err:
    message = (f"{err}\n(config: sources.{p.source}.urls and sources.{p.source}.sha256; or set "
               f"sources.{p.source}.path to an archive or extracted folder you already have)")
    print(message)
    print(message, file=console)
    sys.exit(1)
print(f"{snakemake.output[0]}: SHA-256 {p.sha256} verified")  # noqa: F821
