rule prepare_clip:
    """Mono, resampled, first `clip.seconds`, zero-padded, peak-normalised clip and its peak."""
    input:
        lambda wc: CLIPS[wc.dataset][wc.clip],
    output:
        wav=L.clip("{dataset}", "{clip}"),
        meta=L.clip_meta("{dataset}", "{clip}"),
    params:
        sample_rate=config["clip"]["sample_rate"],
        offset=config["clip"]["offset"],
        seconds=config["clip"]["seconds"],
    log:
        L.log("prepare", "{dataset}", "{clip}"),
    benchmark:
        L.benchmark("prepare", "{dataset}", "{clip}")
    conda:
        "../../envs/core.yaml"
    script:
        "../scripts/prepare.py"
