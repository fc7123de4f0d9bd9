rule train:
    """Fit one network per clip for a batch of clips (training.clips_per_job) in one job."""
    input:
        clips=batch_clip_wavs,
        manifest=manifest_of,
    output:
        directory(f"{R}/models/{{dataset}}/{{variant}}/{{batch}}"),
    params:
        clips=lambda wc: BATCHES[wc.dataset][wc.batch],
        variant=lambda wc: variant(wc.variant).to_dict(),
        steps=lambda wc: steps(wc.variant),
        seed=lambda wc: seed(wc.variant),
        snapshot_steps=lambda wc: snapshot_steps(wc.variant),
        lr=config["training"]["lr"],
        weight_decay=config["training"]["weight_decay"],
        device=config["training"]["device"],
        clips_at_once=config["training"]["clips_at_once"],
        # Finished clips survive a killed job here and are not trained again (see train_and_save).
        cache=lambda wc: f"{R}/.train-cache/{wc.dataset}/{wc.variant}",
        switches={k: config["training"][k] for k in ("compile", "tf32", "bf16")},
    threads: config["training"]["threads"]
    resources:
        gpu=1,
    log:
        f"{R}/logs/train/{{dataset}}/{{variant}}/{{batch}}.log",
    benchmark:
        f"{R}/benchmarks/train/{{dataset}}/{{variant}}/{{batch}}.tsv"
    conda:
        "../../envs/core.yaml"
    script:
        "../scripts/train.py"
