rule score:
    """Every metric for every reconstruction of a batch against its prepared clip: one CSV row per pair."""
    input:
        reconstructions=f"{R}/reconstructions/{{dataset}}/{{variant}}/{{batch}}",
        clips=batch_clip_wavs,
        manifest=manifest_of,
    output:
        f"{R}/scores/{{dataset}}/{{variant}}/{{batch}}.csv",
    params:
        clips=lambda wc: BATCHES[wc.dataset][wc.batch],
        combos=combos,
        kind=lambda wc: kind(wc.dataset),
        metrics=lambda wc: config["metrics"][kind(wc.dataset)],
        workers=config["metrics"]["workers"],
    threads: config["metrics"]["workers"]
    log:
        f"{R}/logs/score/{{dataset}}/{{variant}}/{{batch}}.log",
    benchmark:
        f"{R}/benchmarks/score/{{dataset}}/{{variant}}/{{batch}}.tsv"
    conda:
        "../../envs/metrics.yaml"
    script:
        "../scripts/score.py"


rule aggregate_scores:
    """One tidy table of every per-clip record the tables and figures use."""
    input:
        lambda wc: sorted({f for (dataset, name) in NEEDS for f in score_files(dataset, name)}),
    output:
        report(f"{R}/scores.csv", caption="../report/scores.rst", category="Per-clip records"),
    log:
        f"{R}/logs/aggregate_scores.log",
    benchmark:
        f"{R}/benchmarks/aggregate_scores.tsv"
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/aggregate.py"
