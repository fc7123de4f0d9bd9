rule prepare_clip:
    """Mono, resampled, first `clip.seconds`, zero-padded, peak-normalised clip and its peak."""
    input:
        lambda wc: CLIPS[wc.dataset][wc.clip],
    output:
        wav=f"{R}/clips/{{dataset}}/{{clip}}.wav",
        meta=f"{R}/clips/{{dataset}}/{{clip}}.json",
    params:
        sample_rate=config["clip"]["sample_rate"],
        offset=config["clip"]["offset"],
        seconds=config["clip"]["seconds"],
    log:
        f"{R}/logs/prepare/{{dataset}}/{{clip}}.log",
    benchmark:
        f"{R}/benchmarks/prepare/{{dataset}}/{{clip}}.tsv"
    conda:
        "../../envs/core.yaml"
    script:
        "../scripts/prepare.py"
