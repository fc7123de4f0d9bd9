rule evaluate:
    """A batch's trained networks -> .ssr files for every quantize setting a target reads -> the reconstructions the
    tables and figures need -> every metric of each against its prepared clip. One job per batch: each step alone
    was mostly start-up (siamese_siren.analysis.evaluate)."""
    input:
        models=L.models("{dataset}", "{variant}", "{batch}"),
        # checked first, by a cheap job of its own (integrity.smk): a damaged model stops the run there
        verified=VERIFIED_MODELS,
        finetuned=lambda wc: [L.finetuned(wc.dataset, wc.variant, s, wc.batch)
                              for s in PLAN.finetuned_settings(wc.dataset, wc.variant)],
        clips=BATCH_CLIPS,
        manifest=manifest_of,
    output:
        compressed=directory(L.compressed_batch("{dataset}", "{variant}", "{batch}")),
        reconstructions=directory(L.reconstructions("{dataset}", "{variant}", "{batch}")),
        scores=L.scores("{dataset}", "{variant}", "{batch}"),
    params:
        clips=batch_clips,
        settings=lambda wc: {s: PLAN.quantize_params(s) for s in PLAN.settings_compressed(wc.dataset, wc.variant)},
        finetuned=lambda wc: PLAN.finetuned_settings(wc.dataset, wc.variant),  # the settings of input.finetuned
        reconstructions=lambda wc: PLAN.reconstructions(wc.dataset, wc.variant),
        alpha=config["denoise"]["alpha"],
        sample_rate=config["clip"]["sample_rate"],
        num_samples=round(config["clip"]["seconds"] * config["clip"]["sample_rate"]),
        kind=lambda wc: PLAN.kind(wc.dataset),
        metrics=lambda wc: config["metrics"][PLAN.kind(wc.dataset)],
        visqol_speech_mapper=config["metrics"]["visqol_speech_mapper"],
    threads: config["metrics"]["workers"]  # the metric pool's size; threads are no rerun trigger, params are
    resources:
        # A GPU job when CDPAM runs on a GPU (it does whenever torch sees one): it takes a GPU slot like training,
        # so --resources gpu=N counts it too. 0 without a GPU, as before.
        gpu=lambda wc: int("cdpam" in config["metrics"][PLAN.kind(wc.dataset)]
                           and bool(slot_devices(config["training"]["gpus"]))),
    log:
        L.log("evaluate", "{dataset}", "{variant}", "{batch}"),
    benchmark:
        L.benchmark("evaluate", "{dataset}", "{variant}", "{batch}")
    conda:
        "../../envs/metrics.yaml"
    script:
        "../scripts/evaluate.py"


rule aggregate_scores:
    """One tidy table of every per-clip record the tables and figures use."""
    input:
        lambda wc: sorted(f for dataset, name in PLAN.scored() for f in score_files(dataset, name)),
    output:
        report(L.all_scores(), caption="../report/scores.rst", category="Per-clip records"),
    log:
        L.log("aggregate_scores"),
    benchmark:
        L.benchmark("aggregate_scores")
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/aggregate.py"
