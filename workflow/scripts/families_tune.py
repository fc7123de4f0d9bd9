from pathlib import Path

from siamese_siren.pipeline import jobs

sm = snakemake  # noqa: F821 (injected by Snakemake)
jobs.start(sm.log[0])
jobs.take_gpu(sm.config["training"]["gpus"])  # a GPU job too (resources: gpu=1): see train.py

import torch  # noqa: E402

from siamese_siren.codec import files  # noqa: E402
from siamese_siren.codec.audio import AudioError, load_clip  # noqa: E402
from siamese_siren.experiments.families import tune  # noqa: E402

torch.set_num_threads(sm.threads)
p = sm.params.tune
jobs.usable_device("training.device", sm.config["training"]["device"])
windows = {}
for window in sm.params.windows:
    label = f"{window['dataset']}/{Path(window['source']).name}@{window['offset']:g}s"
    try:
        windows[label] = load_clip(window["source"], p["sample_rate"], window["offset"], p["seconds"]).samples
    except AudioError as err:  # a silent stretch of an otherwise usable file
        print(f"skipped {label}: {err}")
record = tune(p["candidates"], windows, p["steps"])
print(record.groupby(["variant", "fields"], sort=False)["loss"].median().to_string())
files.write_csv(record, sm.output[0])
