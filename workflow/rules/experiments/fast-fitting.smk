# Experiment: fast fitting (config/experiments/fast-fitting.yaml, docs/experiments/fast-fitting.md). Learned
# initialisations meta-trained (Reptile) on windows no table scores, and the steps a faster recipe (a schedule, a
# learned initialisation) needs to reach the loss of the paper's recipe. The Snakefile includes this file only when
# the configuration turns the experiment on; including it adds the experiment's target to the plan, and nothing else
# in the workflow knows of it. Its code: siamese_siren.experiments.inits and siamese_siren.experiments.fast_fit.

from siamese_siren.experiments import fast_fit, inits

PLAN.add_target(fast_fit.FastFit())


rule meta_init:
    """Reptile on clip-length windows that overlap no scored clip: a starting point that fits in fewer steps."""
    input:
        manifests=lambda wc: [L.manifest(d) for d in inits.init_datasets(PLAN, wc.name)],
        sources=lambda wc: inits.window_sources(PLAN, manifest_rows, wc.name),
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


rule fast_fit:
    """Steps a faster recipe (learned init, schedule) needs to reach the paper's loss, and quality per budget."""
    input:
        unpack(lambda wc: fast_fit.inputs(PLAN, BATCHES)),
    output:
        figure=report(L.figure("fast_fit"), caption="../../report/fast_fit.rst", category="Figures"),
        csv=L.fast_fit("csv"),
        md=report(L.fast_fit("md"), caption="../../report/fast_fit.rst", category="Tables"),
    params:
        runs=lambda wc: fast_fit.runs(PLAN),
        spec=lambda wc: PLAN.figure("fast_fit"),
    log:
        L.log("figures", "fast_fit"),
    benchmark:
        L.benchmark("figures", "fast_fit")
    conda:
        "../../../envs/report.yaml"
    script:
        "../../scripts/fast_fit.py"
