# Learned initialisations (issue 18): meta-trained once per architecture on windows no table scores.


rule meta_init:
    """Reptile on clip-length windows that overlap no scored clip: a starting point that fits in fewer steps."""
    input:
        manifests=lambda wc: [L.manifest(d) for d in PLAN.init_datasets(wc.name)],
        sources=lambda wc: sorted({w.source for w in init_windows(wc)}),
    output:
        init=L.init("{name}"),
        split=L.init_split("{name}"),
    params:
        recipe=lambda wc: PLAN.init_params(wc.name),
        windows=lambda wc: [w.__dict__ for w in init_windows(wc)],
    threads: lambda wc: config["inits"][wc.name]["threads"]
    resources:
        gpu=1,
    log:
        L.log("inits", "{name}"),
    benchmark:
        L.benchmark("inits", "{name}")
    conda:
        "../../envs/core.yaml"
    script:
        "../scripts/meta_init.py"
