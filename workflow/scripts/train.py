import os

import soundfile as sf
import torch

from siamese_siren.codec.inits import load_init
from siamese_siren.codec.models import Variant
from siamese_siren.codec.train import TrainConfig, train_and_save
from siamese_siren.pipeline import jobs

sm = snakemake  # noqa: F821 (injected by Snakemake)
jobs.start(sm.log[0])
# Where the job ran: a cluster job's id and the GPU its scheduler gave it (tests/slurm checks these lines).
for name in ("SLURM_JOB_ID", "CUDA_VISIBLE_DEVICES"):
    print(f"{name}={os.environ.get(name, '')}")
torch.set_num_threads(sm.threads)
recipe = sm.params.recipe
variant = Variant.from_dict(recipe["variant"])
config = TrainConfig(steps=recipe["steps"], lr=recipe["lr"], weight_decay=recipe["weight_decay"], seed=recipe["seed"],
                     snapshot_steps=tuple(recipe["snapshot_steps"]), keep=recipe["keep"], device=recipe["device"],
                     schedule=recipe["schedule"], warmup_steps=recipe["warmup_steps"], **recipe["switches"])
init = load_init(sm.input.init, variant).state if sm.input.init else None
signals = {clip: sf.read(wav, dtype="float32")[0] for clip, wav in zip(sm.params.clips, sm.input.clips, strict=True)}
trained = train_and_save(variant, signals, config, sm.output[0], label=f"{sm.wildcards.dataset}/{variant.name}/",
                         clips_at_once=recipe["clips_at_once"], cache=sm.params.cache, init=init)
print(f"trained: {' '.join(trained)}")
print(f"reused from an interrupted run: {' '.join(c for c in signals if c not in trained)}")
