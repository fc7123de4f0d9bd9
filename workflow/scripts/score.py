from pathlib import Path

import pandas as pd
import soundfile as sf

from siamese_siren import files, jobs
from siamese_siren.metrics import score_pairs
from siamese_siren.plan import Precision, reconstruction_file


def main(sm) -> None:
    p = sm.params
    reconstructions = Path(sm.input.reconstructions)
    pairs, keys = [], []
    for clip, clip_wav in zip(p.clips, sm.input.clips, strict=True):
        reference = sf.read(clip_wav, dtype="float32")  # one array per clip: its resampling and CDPAM work is shared
        for precision, mode in p.reconstructions:
            pairs.append((reference, sf.read(reconstructions / reconstruction_file(clip, precision, mode),
                                             dtype="float32")))
            keys.append({"dataset": sm.wildcards.dataset, "variant": sm.wildcards.variant, "clip": clip,
                         "precision": precision, "denoise": mode, "step": Precision.parse(precision).step})
    records = score_pairs(pairs, p.kind, metrics=p.metrics, workers=p.workers,
                          visqol_speech_mapper=p.visqol_speech_mapper)
    files.write_csv(pd.DataFrame([{**k, **r} for k, r in zip(keys, records, strict=True)]), sm.output[0])


# The metric pool's worker processes re-import this file: only the parent may run the job.
if __name__ == "__main__":
    jobs.start(snakemake.log[0])  # noqa: F821 (injected by Snakemake)
    main(snakemake)  # noqa: F821
