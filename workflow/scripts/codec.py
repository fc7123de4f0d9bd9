from pathlib import Path

import pandas as pd
import soundfile as sf

from siamese_siren.analysis.reference_codecs import codec, round_trip
from siamese_siren.codec import files
from siamese_siren.codec.audio import write_audio
from siamese_siren.pipeline import jobs

sm = snakemake  # noqa: F821 (injected by Snakemake)
jobs.start(sm.log[0])
p = sm.params
out = Path(sm.output[0])
out.mkdir(parents=True, exist_ok=True)
rows = []
for clip in p.clips:
    samples, rate = sf.read(f"{sm.input.clips}/{clip}.wav", dtype="float32")
    for kbps in p.bitrates:
        name = f"{clip}__{kbps}k"
        rt = round_trip(samples, rate, sm.wildcards.codec, kbps, out / f"{name}.{codec(sm.wildcards.codec).extension}")
        write_audio(out / f"{name}.wav", rt.decoded, rt.sample_rate, subtype="FLOAT")
        rows.append({"clip": clip, "codec": rt.codec, "target_kbps": kbps, "payload_bytes": rt.payload_bytes,
                     "container_bytes": rt.container_bytes, "seconds": rt.seconds, "kbps": rt.kbps,
                     "container_kbps": rt.container_kbps, "sample_rate": rt.sample_rate, "lag": rt.lag})
        print(rows[-1])
files.write_csv(pd.DataFrame(rows), out / "sizes.csv")
