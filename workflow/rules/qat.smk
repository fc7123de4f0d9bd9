rule qat:
    """Quantization-aware fine-tuning of a batch's trained networks for one quantize setting with qat_steps > 0:
    the networks its .ssr files are written from (the evaluate job of the batch takes them as input)."""
    input:
        models=L.models("{dataset}", "{variant}", "{batch}"),
        clips=BATCH_CLIPS,
        manifest=manifest_of,
    output:
        directory(L.finetuned("{dataset}", "{variant}", "{setting}", "{batch}")),
    params:
        clips=batch_clips,
        recipe=lambda wc: PLAN.qat_params(wc.setting),
    threads: config["training"]["threads"]
    resources:
        gpu=1,
    log:
        L.log("qat", "{dataset}", "{variant}", "{setting}", "{batch}"),
    benchmark:
        L.benchmark("qat", "{dataset}", "{variant}", "{setting}", "{batch}")
    conda:
        "../../envs/core.yaml"
    script:
        "../scripts/qat.py"
