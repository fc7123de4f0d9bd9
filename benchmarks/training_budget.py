"""Training steps per clip that a configuration asks for: every training and fine-tuning, against the paper's.

    python benchmarks/training_budget.py [--configfile extra.yaml ...]

Counts from the plan, without running anything: for each dataset, the steps of every variant something scores
(each is trained once per clip), plus every quantization-aware fine-tuning (``qat_steps`` of each setting written
from fine-tuned networks), plus meta-training (Reptile) spread over the dataset's clips. The paper's own budget
per clip is its 8 Table 1-3 variants x 2,500 steps, and on speech Figure 6's 2 x 10,000 more.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml
from snakemake.utils import validate

ROOT = Path(__file__).resolve().parents[1]
PAPER = {"music": 8 * 2500, "speech": 8 * 2500 + 2 * 10_000}


def merged(configfiles: list[str]) -> dict:
    config = yaml.safe_load((ROOT / "config.yaml").read_text())

    def merge(into: dict, extra: dict) -> None:
        for key, value in extra.items():
            if isinstance(value, dict) and isinstance(into.get(key), dict):
                merge(into[key], value)
            else:
                into[key] = value

    for path in configfiles:
        merge(config, yaml.safe_load(Path(path).read_text()) or {})
    return config


def budget(configfiles: list[str], clips: int) -> list[dict]:
    from siamese_siren.pipeline.config import validate_config
    from siamese_siren.pipeline.plan import Plan

    config = merged(configfiles)
    validate_config(config, lambda c: validate(c, schema=str(ROOT / "workflow/schemas/config.schema.yaml")))
    plan = Plan(config)
    if (config.get("figures") or {}).get("fast_fit"):  # the fast-fitting experiment adds its step-budget runs
        from siamese_siren.experiments.fast_fit import FastFit

        plan.add_target(FastFit())
    rows = []
    for dataset in plan.datasets:
        trained = sorted({v for d, v in plan.scored() if d == dataset})
        steps = sum(plan.steps(v) for v in trained)
        qat = sum(plan.quantize_params(s)["qat_steps"] for v in trained for s in plan.finetuned_settings(dataset, v))
        meta = sum(spec.get("meta_steps", 40) * spec.get("inner_steps", 50) * spec.get("clips_at_once", 4)
                   for spec in (config.get("inits") or {}).values()) / clips
        total = steps + qat + meta
        paper = PAPER[plan.kind(dataset)]
        rows.append({"dataset": dataset, "kind": plan.kind(dataset), "trainings": len(trained), "training": steps,
                     "fine-tuning": qat, "meta-training": round(meta), "total": round(total), "paper": paper,
                     "ratio": total / paper})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configfile", nargs="*", default=[], help="configs merged onto config.yaml, in order")
    parser.add_argument("--clips", type=int, default=1000, help="clips per dataset that meta-training is spread over")
    args = parser.parse_args()
    rows = budget(args.configfile, args.clips)
    print("| dataset | trainings | training steps | fine-tuning | meta-training | total per clip | paper | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['dataset']} ({r['kind']}) | {r['trainings']} | {r['training']:,} | {r['fine-tuning']:,} | "
              f"{r['meta-training']:,} | {r['total']:,} | {r['paper']:,} | {r['ratio']:.2f} |")


if __name__ == "__main__":
    sys.exit(main())
