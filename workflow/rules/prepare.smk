rule prepare_clips:
    """A batch's clips, each mono, resampled, first `clip.seconds`, zero-padded and peak-normalised, with its peak.
    A job per batch, not per clip: at dataset scale a job per clip made planning alone take minutes."""
    input:
        sources=lambda wc: [CLIPS[wc.dataset][c] for c in batch_clips(wc)],
        manifest=manifest_of,
    output:
        directory(L.clips("{dataset}", "{batch}")),
    params:
        clips=batch_clips,
        sample_rate=config["clip"]["sample_rate"],
        offset=config["clip"]["offset"],
        seconds=config["clip"]["seconds"],
    log:
        L.log("prepare", "{dataset}", "{batch}"),
    benchmark:
        L.benchmark("prepare", "{dataset}", "{batch}")
    conda:
        "../../envs/core.yaml"
    script:
        "../scripts/prepare.py"
