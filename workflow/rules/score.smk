rule score:
    """Every metric for every reconstruction of a batch against its prepared clip: one CSV row per pair."""
    input:
        reconstructions=L.reconstructions("{dataset}", "{variant}", "{batch}"),
        clips=batch_clip_wavs,
        manifest=manifest_of,
    output:
        L.scores("{dataset}", "{variant}", "{batch}"),
    params:
        clips=batch_clips,
        reconstructions=lambda wc: PLAN.reconstructions(wc.dataset, wc.variant),
        kind=lambda wc: PLAN.kind(wc.dataset),
        metrics=lambda wc: config["metrics"][PLAN.kind(wc.dataset)],
        workers=config["metrics"]["workers"],
        visqol_speech_mapper=config["metrics"]["visqol_speech_mapper"],
    threads: config["metrics"]["workers"]
    log:
        L.log("score", "{dataset}", "{variant}", "{batch}"),
    benchmark:
        L.benchmark("score", "{dataset}", "{variant}", "{batch}")
    conda:
        "../../envs/metrics.yaml"
    script:
        "../scripts/score.py"


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
