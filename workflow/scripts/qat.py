import json
from pathlib import Path

from siamese_siren.pipeline import jobs

sm = snakemake  # noqa: F821 (injected by Snakemake)
jobs.start(sm.log[0])
jobs.take_gpu(sm.config["training"]["gpus"])  # before torch starts CUDA; see train.py

import soundfile as sf  # noqa: E402
import torch  # noqa: E402

from siamese_siren.codec.models import Variant  # noqa: E402
from siamese_siren.codec.train import TrainConfig, finetune_quantized, load_state, qat_config  # noqa: E402

torch.set_num_threads(sm.threads)
recipe, models = sm.params.recipe, Path(sm.input.models)
jobs.usable_device("training.device", recipe["device"])
clips = sm.params.clips
variant = Variant.from_dict(json.loads((models / f"{clips[0]}.json").read_text())["variant"])
config = qat_config(TrainConfig(device=recipe["device"], **recipe["switches"]), recipe["bits"], recipe["per_channel"],
                    recipe["steps"], recipe["lr"])
signals = {clip: sf.read(f"{sm.input.clips}/{clip}.wav", dtype="float32")[0] for clip in clips}
finetune_quantized(variant, signals, {clip: load_state(models / f"{clip}.pt") for clip in clips}, config,
                   sm.output[0])
