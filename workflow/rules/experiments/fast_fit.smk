# Experiment: fast fitting. Steps a faster recipe (a schedule, a learned initialisation) needs to reach the loss of
# the paper's recipe, and quality per step budget (siamese_siren.experiments.fast_fit). Including this file adds
# the experiment's target to the plan; nothing else in the workflow knows of it.

from siamese_siren.experiments import fast_fit

PLAN.add_target(fast_fit.FastFit())


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
