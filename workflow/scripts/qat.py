import json
from pathlib import Path

import soundfile as sf
import torch

from siamese_siren.codec.models import Variant
from siamese_siren.codec.train import TrainConfig, finetune_quantized, load_state, qat_config
from siamese_siren.pipeline import jobs

sm = snakemake  # noqa: F821 (injected by Snakemake)
jobs.start(sm.log[0])
torch.set_num_threads(sm.threads)
recipe, models = sm.params.recipe, Path(sm.input.models)
clips = sm.params.clips
variant = Variant.from_dict(json.loads((models / f"{clips[0]}.json").read_text())["variant"])
config = qat_config(TrainConfig(device=recipe["device"], **recipe["switches"]), recipe["bits"], recipe["per_channel"],
                    recipe["steps"], recipe["lr"])
signals = {clip: sf.read(wav, dtype="float32")[0] for clip, wav in zip(clips, sm.input.clips, strict=True)}
finetune_quantized(variant, signals, {clip: load_state(models / f"{clip}.pt") for clip in clips}, config,
                   sm.output[0])
