import os

from siamese_siren.pipeline import jobs

sm = snakemake  # noqa: F821 (injected by Snakemake)
jobs.start(sm.log[0])
# One GPU of its own before torch starts CUDA (jobs.take_gpu). training.gpus and training.clips_at_once (batching is
# exact) are read from the config, not passed as params: changing a speed setting must not retrain finished models.
jobs.take_gpu(sm.config["training"]["gpus"])
# Where the job ran: a cluster job's id and the GPU its scheduler (or the slot) gave it (tests/slurm checks these).
for name in ("SLURM_JOB_ID", "CUDA_VISIBLE_DEVICES"):
    print(f"{name}={os.environ.get(name, '')}")

import soundfile as sf  # noqa: E402
import torch  # noqa: E402

from siamese_siren.codec.inits import load_init  # noqa: E402
from siamese_siren.codec.models import Variant  # noqa: E402
from siamese_siren.codec.train import TrainConfig, train_and_save  # noqa: E402

torch.set_num_threads(sm.threads)
recipe = sm.params.recipe
jobs.usable_device("training.device", recipe["device"])
variant = Variant.from_dict(recipe["variant"])
config = TrainConfig(steps=recipe["steps"], lr=recipe["lr"], weight_decay=recipe["weight_decay"], seed=recipe["seed"],
                     snapshot_steps=tuple(recipe["snapshot_steps"]), keep=recipe["keep"], device=recipe["device"],
                     schedule=recipe["schedule"], warmup_steps=recipe["warmup_steps"], **recipe["switches"])
init = load_init(sm.input.init, variant).state if sm.input.init else None
signals = {clip: sf.read(f"{sm.input.clips}/{clip}.wav", dtype="float32")[0] for clip in sm.params.clips}
trained = train_and_save(variant, signals, config, sm.output[0], label=f"{sm.wildcards.dataset}/{variant.name}/",
                         clips_at_once=sm.config["training"]["clips_at_once"], cache=sm.params.cache, init=init)
print(f"trained: {' '.join(trained)}")
reused = [c for c in signals if c not in trained]
if reused:
    print(f"reused from an interrupted run: {' '.join(reused)}")
