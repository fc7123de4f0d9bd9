rule train:
    """Fit one network per clip for a batch of clips (training.clips_per_job) in one job."""
    input:
        clips=BATCH_CLIPS,
        manifest=manifest_of,
        init=lambda wc: PLAN.init_file(wc.variant) or [],
    output:
        directory(L.models("{dataset}", "{variant}", "{batch}")),
    params:
        clips=batch_clips,
        recipe=lambda wc: PLAN.train_params(wc.variant),
        # Finished clips survive a killed job here and are not trained again (see train_and_save).
        cache=lambda wc: L.train_cache(wc.dataset, wc.variant),
    threads: config["training"]["threads"]
    resources:
        gpu=1,
    log:
        L.log("train", "{dataset}", "{variant}", "{batch}"),
    benchmark:
        L.benchmark("train", "{dataset}", "{variant}", "{batch}")
    conda:
        "../../envs/core.yaml"
    script:
        "../scripts/train.py"
