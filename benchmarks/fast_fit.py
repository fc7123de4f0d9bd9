"""Fast fitting, measured side by side in one run; prints ratios, never asserts a time.

    python benchmarks/fast_fit.py                      # CPU: profiles/paper-small's scale, its scored clips
    python benchmarks/fast_fit.py --paper              # paper scale: 10 s clips, the paper's Siamese SIREN (GPU)
    python benchmarks/fast_fit.py --meta-cost          # Reptile vs MAML: seconds per meta-step, peak memory

1. meta-trains a learned initialisation (Reptile, ``siamese_siren.codec.inits``) on windows of the shipped recordings
   that overlap none of the scored clips (the workflow's split), and reports its cost;
2. fits each scored (held-out) clip with the paper's recipe (2500 steps, Adam 1e-4, random init) and with each
   faster recipe at each step budget; prints the steps each needs to reach the loss the paper's recipe ends with,
   the final loss over that target per budget, and the wall time of each recipe over the paper's;
3. ``--meta-cost``: one meta-step of Reptile (Adam inner loop, first order) against MAML (SGD inner loop
   differentiated with ``torch.func``, second order) at the same inner steps and clips.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from torch.func import functional_call

from siamese_siren.codec.audio import load_clip
from siamese_siren.codec.models import VARIANTS, SiameseSiren, Variant, time_grid
from siamese_siren.codec.train import TrainConfig, train_batch
from siamese_siren.experiments.inits import MetaConfig, meta_train, training_windows
from siamese_siren.pipeline.datasets import build_manifest

ROOT = Path(__file__).resolve().parents[1]
AUDIO = ROOT / "resources" / "audio"
PAPER_SMALL = {"scale": 0.3125, "offset": 0.5, "seconds": 1.1, "clips": 4}
PAPER_SCALE = {"scale": 1.0, "offset": 0.0, "seconds": 10.0, "clips": 4}


def scaled(name: str, factor: float) -> Variant:
    v = VARIANTS[name]
    return Variant(tuple(round(w * factor) for w in v.hidden), tuple(round(w * factor) for w in v.siam),
                   v.pe_frequencies, v.omega_first, v.omega_hidden, v.pe_scale, name=v.name)


def clips_and_windows(scale: dict, windows: int, seed: int, per_kind: int) -> tuple[dict, list[np.ndarray]]:
    """``per_kind`` of the scored clips (the workflow's manifest rule) and meta-training windows that overlap none of
    the scored clips."""
    scored, manifests = {}, {}
    for kind in ("speech", "music"):
        rows = build_manifest("folder", AUDIO, clips=scale["clips"], seed=None, offset=scale["offset"],
                              seconds=scale["seconds"], pattern=f"{kind}_*.flac")
        manifests[kind] = [{k: str(v) for k, v in row.__dict__.items()} for row in rows]
        for row in [r for r in rows if r.status == "selected"][:per_kind]:
            scored[row.clip] = load_clip(row.source, offset=scale["offset"], duration=scale["seconds"]).samples
    chosen = training_windows(manifests, scale["offset"], scale["seconds"], windows, seed)
    return scored, [load_clip(w.source, offset=w.offset, duration=scale["seconds"]).samples for w in chosen]


def fit(variant: Variant, clips: dict[str, np.ndarray], config: TrainConfig, init=None) -> tuple[dict, float]:
    start = time.perf_counter()
    results = train_batch(variant, list(clips.values()), config, list(clips), init)
    return {c: r.losses for c, r in zip(clips, results, strict=True)}, time.perf_counter() - start


def compare(variant: Variant, clips: dict[str, np.ndarray], init, budgets: list[int], recipes: dict[str, dict],
            device: str | None, paper_cache: Path | None, compile_step: bool) -> None:
    """``paper_cache``: an .npz of the paper recipe's curves on these clips, reused when present (it is the costly
    part: 2500 steps a clip) and written otherwise."""
    if paper_cache and paper_cache.exists():
        saved = np.load(paper_cache)
        paper, paper_wall = {c: saved[c] for c in clips}, float(saved["wall"])
    else:
        paper, paper_wall = fit(variant, clips, TrainConfig(steps=2500, keep="final", progress=False, device=device,
                                                                 compile=compile_step))
        if paper_cache:
            np.savez(paper_cache, wall=paper_wall, **paper)
    target = {c: curve[-1] for c, curve in paper.items()}
    print(f"\npaper recipe: 2500 steps in {paper_wall:.1f} s for {len(clips)} clips; target = its final loss")
    print(f"{'recipe':34} {'budget':>6} {'steps to target (per clip)':>40} {'final/target':>13} {'time/paper':>10}")
    for name, recipe in recipes.items():
        start = init if recipe.pop("learned", False) else None
        for budget in budgets:
            config = TrainConfig(steps=budget, keep="final", progress=False, device=device, compile=compile_step,
                                 **recipe)
            curves, wall = fit(variant, clips, config, start)
            reached = [int(np.argmax(curves[c] <= target[c])) if (curves[c] <= target[c]).any() else None
                       for c in clips]
            ratio = np.median([curves[c][-1] / target[c] for c in clips])
            shown = " ".join("-" if r is None else str(r) for r in reached)
            print(f"{name:34} {budget:6d} {shown:>40} {ratio:13.2f} {wall / paper_wall:10.3f}")
        recipe["learned"] = start is not None


def meta_cost(variant: Variant, signals: list[np.ndarray], inner_steps: int, clips: int, device: str) -> None:
    """Seconds per meta-step and peak memory: Reptile (first order) vs MAML (second order), same work."""
    dev = torch.device(device)
    targets = torch.as_tensor(np.stack(signals[:clips]), device=dev).unsqueeze(2)  # (clips, N, 1)
    model = SiameseSiren(variant).to(dev)
    t = time_grid(targets.shape[1], dev)
    params = {k: v.detach().clone().requires_grad_(True) for k, v in model.named_parameters()}

    def loss(p: dict, target: torch.Tensor) -> torch.Tensor:
        return (functional_call(model, p, (t,)) - target).pow(2).mean()

    def maml_step() -> None:  # SGD inner loop, differentiated through (create_graph): second-order MAML
        total = 0.0
        for target in targets:
            fast = dict(params)
            for _ in range(inner_steps):
                grads = torch.autograd.grad(loss(fast, target), list(fast.values()), create_graph=True)
                fast = {k: v - 1e-3 * g for (k, v), g in zip(fast.items(), grads, strict=True)}
            total = total + loss(fast, target)
        total.backward()

    reptile_config = MetaConfig(meta_steps=1, inner_steps=inner_steps, clips_at_once=clips, device=device)
    timings = {}
    for label, step in (("reptile", lambda: meta_train(variant, signals[:clips], reptile_config, progress=False)),
                        ("maml", maml_step)):
        step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        timings[label] = time.perf_counter() - start
        memory = f", peak {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB" if dev.type == "cuda" else ""
        print(f"{label}: {timings[label]:.2f} s per meta-step ({inner_steps} inner steps, {clips} clips){memory}")
    print(f"MAML / Reptile time per meta-step: {timings['maml'] / timings['reptile']:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paper", action="store_true", help="paper scale: 10 s clips, full widths")
    parser.add_argument("--variant", default="siamese-siren")
    parser.add_argument("--budgets", type=int, nargs="+", default=[100, 250, 500])
    parser.add_argument("--fit-clips", type=int, default=4, help="held-out clips fitted per kind (speech, music)")
    parser.add_argument("--windows", type=int, default=64, help="meta-training windows")
    parser.add_argument("--meta-steps", type=int, default=300)
    parser.add_argument("--inner-steps", type=int, default=5)
    parser.add_argument("--inner-lr", type=float, default=1e-3)
    parser.add_argument("--lr", type=float, default=3e-3, help="peak lr of the fast recipes")
    parser.add_argument("--warmup", type=int, default=25)
    parser.add_argument("--paper-cache", type=Path, default=None,
                        help="an .npz to keep the paper recipe's loss curves in between runs (its 2500 steps dominate)")
    parser.add_argument("--only-learned", action="store_true", help="skip the random-init recipe")
    parser.add_argument("--meta-lr", type=float, default=1.0)
    parser.add_argument("--learn-output", action="store_true", help="meta-learn the output layers too")
    parser.add_argument("--compile", action="store_true", help="compile every training step (meta-training too)")
    parser.add_argument("--meta-cost", action="store_true", help="only [3], Reptile vs MAML per meta-step")
    parser.add_argument("--device", default=None)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    scale = PAPER_SCALE if args.paper else PAPER_SMALL
    variant = scaled(args.variant, scale["scale"])
    clips, windows = clips_and_windows(scale, args.windows, seed=0, per_kind=args.fit_clips)
    print(f"{variant.label} on {len(clips)} held-out clips of {scale['seconds']} s; {len(windows)} meta-training "
          f"windows")
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if args.meta_cost:
        meta_cost(variant, windows, args.inner_steps, 4, device)
        return
    meta = MetaConfig(meta_steps=args.meta_steps, inner_steps=args.inner_steps, inner_lr=args.inner_lr,
                      meta_lr=args.meta_lr, device=device, compile=args.compile,
                      learn_output=args.learn_output)
    init = meta_train(variant, windows, meta, progress=False)
    print(f"meta-training: {init.provenance['wall_seconds']:.0f} s ({args.meta_steps} meta-steps x "
          f"{args.inner_steps} inner steps x 4 clips); inner fit at the end "
          f"{init.provenance['history'][-1]['loss_start']:.2e} -> {init.provenance['history'][-1]['loss_end']:.2e}")
    recipes = {
        f"random, cosine from {args.lr:g}": {"lr": args.lr, "schedule": "cosine", "warmup_steps": args.warmup},
        "learned, constant 1e-4": {"learned": True},
        f"learned, cosine from {args.lr:g}": {"learned": True, "lr": args.lr, "schedule": "cosine",
                                             "warmup_steps": args.warmup},
    }
    if args.only_learned:
        recipes = {k: v for k, v in recipes.items() if v.get("learned")}
    compare(variant, clips, init.state, args.budgets, recipes, args.device, args.paper_cache, args.compile)


if __name__ == "__main__":
    main()
