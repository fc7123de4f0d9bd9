rule quantize:
    """Post-training quantization of a batch's networks into .ssr files, with a size record."""
    input:
        models=f"{R}/models/{{dataset}}/{{variant}}/{{batch}}",
        manifest=manifest_of,
    output:
        directory(f"{R}/compressed/{{dataset}}/{{variant}}/{{setting}}/{{batch}}"),
    params:
        clips=lambda wc: BATCHES[wc.dataset][wc.batch],
        bits=lambda wc: config["quantize"][wc.setting]["bits"],
        per_channel=lambda wc: config["quantize"][wc.setting]["per_channel"],
        entropy=lambda wc: config["quantize"][wc.setting].get("entropy", "none"),
        sample_rate=config["clip"]["sample_rate"],
        clip_dir=lambda wc: f"{R}/clips/{wc.dataset}",
    log:
        f"{R}/logs/quantize/{{dataset}}/{{variant}}/{{setting}}/{{batch}}.log",
    benchmark:
        f"{R}/benchmarks/quantize/{{dataset}}/{{variant}}/{{setting}}/{{batch}}.tsv"
    conda:
        "../../envs/core.yaml"
    script:
        "../scripts/quantize.py"
