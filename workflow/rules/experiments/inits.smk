# Experiment: learned initialisations, meta-trained (Reptile) once per architecture on windows no table scores
# (siamese_siren.experiments.inits). A variant starts from one with `init: learned:<name>`.

from siamese_siren.experiments import inits


rule meta_init:
    """Reptile on clip-length windows that overlap no scored clip: a starting point that fits in fewer steps."""
    input:
        manifests=lambda wc: [L.manifest(d) for d in inits.init_datasets(PLAN, wc.name)],
        sources=lambda wc: sorted({w.source for w in inits.windows(PLAN, manifest_rows, wc.name)}),
    output:
        init=L.init("{name}"),
        split=L.init_split("{name}"),
    params:
        recipe=lambda wc: inits.meta_params(PLAN, wc.name),
        windows=lambda wc: [w.__dict__ for w in inits.windows(PLAN, manifest_rows, wc.name)],
    threads: lambda wc: config["inits"][wc.name]["threads"]
    resources:
        gpu=1,
    log:
        L.log("inits", "{name}"),
    benchmark:
        L.benchmark("inits", "{name}")
    conda:
        "../../../envs/core.yaml"
    script:
        "../../scripts/meta_init.py"
