rule table:
    """A paper table: mean, 95% CI and N per cell, exact parameter counts, bytes and kbps of our files."""
    input:
        unpack(table_inputs),
    output:
        csv=report(f"{R}/tables/{{name}}.csv", caption="../report/table.rst", category="Tables",
                   subcategory="{name}"),
        md=f"{R}/tables/{{name}}.md",
        tex=f"{R}/tables/{{name}}.tex",
    params:
        spec=lambda wc: config["tables"][wc.name],
        variants=lambda wc: {v: variant(v).to_dict() for v in config["tables"][wc.name]["variants"]},
        denoise=lambda wc: {v: resolve_denoise(v, config["tables"][wc.name]["denoise"])
                            for v in config["tables"][wc.name]["variants"]},
    log:
        f"{R}/logs/tables/{{name}}.log",
    benchmark:
        f"{R}/benchmarks/tables/{{name}}.tsv"
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/table.py"
