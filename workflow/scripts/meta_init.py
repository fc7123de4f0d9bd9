import csv

from siamese_siren.pipeline import jobs

sm = snakemake  # noqa: F821 (injected by Snakemake)
jobs.start(sm.log[0])
jobs.take_gpu(sm.config["training"]["gpus"])  # a GPU job too (resources: gpu=1): see train.py

import torch  # noqa: E402

from siamese_siren.codec import files  # noqa: E402
from siamese_siren.codec.audio import AudioError, load_clip  # noqa: E402
from siamese_siren.codec.inits import save_init  # noqa: E402
from siamese_siren.codec.models import Variant  # noqa: E402
from siamese_siren.experiments.inits import MetaConfig, meta_train  # noqa: E402

torch.set_num_threads(sm.threads)
recipe = sm.params.recipe
signals, split = [], []
for window in sm.params.windows:
    try:
        clip = load_clip(window["source"], recipe["sample_rate"], window["offset"], recipe["seconds"])
        signals.append(clip.samples)
        split.append({**window, "status": "meta-train", "reason": ""})
    except AudioError as err:  # a silent stretch of an otherwise usable file
        split.append({**window, "status": "skipped", "reason": str(err)})
with files.atomic_write(sm.output.split, "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=["dataset", "source", "offset", "status", "reason"])
    writer.writeheader()
    writer.writerows(split)
init = meta_train(Variant.from_dict(recipe["variant"]), signals, MetaConfig(**recipe["meta"]),
                  provenance={"split": sm.output.split, "seconds": recipe["seconds"]})
save_init(init, sm.output.init)
print(f"meta-trained on {len(signals)} windows in {init.provenance['wall_seconds']:.0f} s: digest {init.digest}")
