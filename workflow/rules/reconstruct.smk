rule reconstruct:
    """Decode a batch's networks into wav files, for the (precision, denoise) pairs a table or figure needs."""
    input:
        models=L.models("{dataset}", "{variant}", "{batch}"),
        manifest=manifest_of,
        compressed=lambda wc: [L.compressed(wc.dataset, wc.variant, s, wc.batch)
                               for s in PLAN.settings_needed(wc.dataset, wc.variant)],
    output:
        directory(L.reconstructions("{dataset}", "{variant}", "{batch}")),
    params:
        clips=batch_clips,
        reconstructions=lambda wc: PLAN.reconstructions(wc.dataset, wc.variant),
        settings=lambda wc: PLAN.settings_needed(wc.dataset, wc.variant),
        alpha=config["denoise"]["alpha"],
        sample_rate=config["clip"]["sample_rate"],
        num_samples=round(config["clip"]["seconds"] * config["clip"]["sample_rate"]),
    log:
        L.log("reconstruct", "{dataset}", "{variant}", "{batch}"),
    benchmark:
        L.benchmark("reconstruct", "{dataset}", "{variant}", "{batch}")
    conda:
        "../../envs/core.yaml"
    script:
        "../scripts/reconstruct.py"
