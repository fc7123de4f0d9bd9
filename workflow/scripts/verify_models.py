from pathlib import Path

from siamese_siren.pipeline import jobs

sm = snakemake  # noqa: F821 (injected by Snakemake)
jobs.start(sm.log[0])

from siamese_siren.codec import files  # noqa: E402
from siamese_siren.codec.integrity import DamagedArtifact, verify_folder  # noqa: E402

try:
    lines = verify_folder(Path(sm.input.models), sm.params.clips)
except DamagedArtifact as err:
    raise SystemExit(str(err)) from None
files.write_text(sm.output[0], "".join(lines))
print(f"verified: all {len(lines)} files of the batch match their records")
