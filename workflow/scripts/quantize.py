import json
from pathlib import Path

import pandas as pd

from siamese_siren import bitstream, files, jobs
from siamese_siren.models import Variant
from siamese_siren.train import load_model, load_state

sm = snakemake  # noqa: F821 (injected by Snakemake)
jobs.start(sm.log[0])
setting = sm.params.setting
models, out = Path(sm.input.models), Path(sm.output[0])
out.mkdir(parents=True, exist_ok=True)
rows = []
for clip, meta_file in zip(sm.params.clips, sm.input.metas, strict=True):
    variant = Variant.from_dict(json.loads((models / f"{clip}.json").read_text())["variant"])
    meta = json.loads(Path(meta_file).read_text())
    model = load_model(variant, load_state(models / f"{clip}.pt"))
    compressed = bitstream.CompressedClip.from_model(
        model, meta["sample_rate"], meta["samples"], meta["peak"], setting["bits"], setting["per_channel"],
        setting["entropy"],
    )
    size = bitstream.write(out / f"{clip}.ssr", compressed)
    seconds = meta["samples"] / meta["sample_rate"]
    rows.append({"dataset": sm.wildcards.dataset, "variant": sm.wildcards.variant, "setting": sm.wildcards.setting,
                 "clip": clip, "bytes": size, "seconds": seconds, "kbps": bitstream.kbps(size, seconds), **setting,
                 "uncompressed_bytes": bitstream.file_size(variant, setting["bits"], setting["per_channel"])})
files.write_csv(pd.DataFrame(rows), out / "sizes.csv")
