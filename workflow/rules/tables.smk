from siamese_siren.pipeline.targets import findings as findings_target
from siamese_siren.pipeline.targets import tables as paper_tables


rule table:
    """A paper table: mean, 95% CI and N per cell, exact parameter counts, bytes and kbps of our files."""
    input:
        unpack(lambda wc: paper_tables.inputs(PLAN, BATCHES, wc.name)),
    output:
        csv=report(L.table("{name}", "csv"), caption="../report/table.rst", category="Tables",
                   subcategory="{name}"),
        md=L.table("{name}", "md"),
        tex=L.table("{name}", "tex"),
    params:
        spec=lambda wc: config["tables"][wc.name],
        variants=lambda wc: {v: PLAN.variant(v).to_dict() for v in config["tables"][wc.name]["variants"]},
        denoise=lambda wc: {v: PLAN.denoise(v, config["tables"][wc.name]["denoise"])
                            for v in config["tables"][wc.name]["variants"]},
        paper=lambda wc: paper_tables.paper_comparison(PLAN, wc.name),
        setting=lambda wc: paper_tables.sized_setting(PLAN, wc.name),
    log:
        L.log("tables", "{name}"),
    benchmark:
        L.benchmark("tables", "{name}")
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/table.py"


rule findings:
    """Each qualitative claim of the paper checked on this run: holds, partly, or not, with the numbers."""
    input:
        L.all_scores(),
    output:
        md=report(L.findings("md"), caption="../report/findings.rst", category="Tables"),
        csv=L.findings("csv"),
    params:
        spec=lambda wc: findings_target.findings_spec(PLAN),  # only when the job runs: it measures every table variant
    log:
        L.log("findings"),
    benchmark:
        L.benchmark("findings")
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/findings.py"
