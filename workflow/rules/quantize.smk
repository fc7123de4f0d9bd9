rule quantize:
    """Post-training quantization of a batch's networks into .ssr files, with a size record."""
    input:
        models=L.models("{dataset}", "{variant}", "{batch}"),
        metas=batch_clip_metas,
        manifest=manifest_of,
    output:
        directory(L.compressed("{dataset}", "{variant}", "{setting}", "{batch}")),
    params:
        clips=batch_clips,
        setting=lambda wc: PLAN.quantize_params(wc.setting),
    log:
        L.log("quantize", "{dataset}", "{variant}", "{setting}", "{batch}"),
    benchmark:
        L.benchmark("quantize", "{dataset}", "{variant}", "{setting}", "{batch}")
    conda:
        "../../envs/core.yaml"
    script:
        "../scripts/quantize.py"
