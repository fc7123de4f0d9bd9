rule reconstruct:
    """Decode a batch's networks into wav files, for the (precision, denoise) pairs a table or figure needs."""
    input:
        models=f"{R}/models/{{dataset}}/{{variant}}/{{batch}}",
        manifest=manifest_of,
        compressed=lambda wc: [
            f"{R}/compressed/{wc.dataset}/{wc.variant}/{s}/{wc.batch}" for s in settings_needed(wc.dataset, wc.variant)
        ],
    output:
        directory(f"{R}/reconstructions/{{dataset}}/{{variant}}/{{batch}}"),
    params:
        clips=lambda wc: BATCHES[wc.dataset][wc.batch],
        combos=combos,
        alpha=config["denoise"]["alpha"],
        sample_rate=config["clip"]["sample_rate"],
        num_samples=round(config["clip"]["seconds"] * config["clip"]["sample_rate"]),
        compressed_root=lambda wc: f"{R}/compressed/{wc.dataset}/{wc.variant}",
    log:
        f"{R}/logs/reconstruct/{{dataset}}/{{variant}}/{{batch}}.log",
    benchmark:
        f"{R}/benchmarks/reconstruct/{{dataset}}/{{variant}}/{{batch}}.tsv"
    conda:
        "../../envs/core.yaml"
    script:
        "../scripts/reconstruct.py"
