from pathlib import Path

import pandas as pd
import soundfile as sf

from siamese_siren.codec import files
from siamese_siren.codec.audio import resample
from siamese_siren.metrics import score_pairs
from siamese_siren.pipeline import jobs


def main(sm) -> None:
    p = sm.params
    folder = Path(sm.input.decoded)
    sizes = pd.read_csv(folder / "sizes.csv")
    pairs, keys = [], []
    for clip in p.clips:
        samples, rate = sf.read(f"{sm.input.clips}/{clip}.wav", dtype="float32")
        references = {}  # one array per clip and rate: its resampling and CDPAM work is shared
        for row in sizes[sizes["clip"] == clip].itertuples():
            if row.sample_rate not in references:
                references[row.sample_rate] = resample(samples, rate, row.sample_rate)  # as round_trip made it
            decoded, decoded_rate = sf.read(folder / f"{clip}__{row.target_kbps}k.wav", dtype="float32")
            pairs.append(((references[row.sample_rate], row.sample_rate), (decoded, decoded_rate)))
            keys.append({"dataset": sm.wildcards.dataset, "codec": row.codec, "target_kbps": row.target_kbps,
                         "clip": clip, "kbps": row.kbps, "container_kbps": row.container_kbps,
                         "payload_bytes": row.payload_bytes, "container_bytes": row.container_bytes, "lag": row.lag})
    # The job's threads (metrics.workers, at most --cores): a speed setting, so not a param that would rerun jobs.
    records = score_pairs(pairs, p.kind, metrics=p.metrics, workers=sm.threads,
                          visqol_speech_mapper=p.visqol_speech_mapper)
    files.write_csv(pd.DataFrame([{**k, **r} for k, r in zip(keys, records, strict=True)]), sm.output[0])


# The metric pool's worker processes re-import this file: only the parent may run the job.
if __name__ == "__main__":
    jobs.start(snakemake.log[0])  # noqa: F821 (injected by Snakemake)
    main(snakemake)  # noqa: F821
