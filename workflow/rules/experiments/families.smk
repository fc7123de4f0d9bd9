# Experiment: INR families (config/experiments/families.yaml, docs/experiments/families.md). Every activation and
# encoding family in the Siamese layout and in the plain layout of equal parameter count, with the paper's recipe and
# with the family's own, against the paper's variant: steps to the paper's loss, quality at the paper file's bytes,
# kbps at the paper file's quality. The Snakefile includes this file only when the configuration turns the
# experiment on; including it adds the experiment's target to the plan. Its code: siamese_siren.experiments.families.

from siamese_siren.experiments import families

PLAN.add_target(families.Families())


rule families_tune:
    """Each candidate value of the families' free parameters trained briefly on windows no table scores."""
    input:
        manifests=lambda wc: [L.manifest(d) for d in config["families"]["tune"]["datasets"] or PLAN.datasets],
        sources=lambda wc: families.tune_sources(PLAN, manifest_rows),
    output:
        families.tuning_path(PLAN),
    params:
        tune=lambda wc: families.tune_params(PLAN),
        windows=lambda wc: [w.__dict__ for w in families.tune_windows(PLAN, manifest_rows)],
    threads: lambda wc: config["families"]["tune"]["threads"]
    resources:
        gpu=1,
    log:
        L.log("families", "tune"),
    benchmark:
        L.benchmark("families", "tune")
    conda:
        "../../../envs/core.yaml"
    script:
        "../../scripts/families_tune.py"


rule families:
    """Steps to the paper's loss, quality at the paper file's bytes, kbps at its quality: the table and figure."""
    input:
        unpack(lambda wc: families.inputs(PLAN, BATCHES)),
    output:
        figure=report(L.figure("families"), caption="../../report/families.rst", category="Figures"),
        csv=families.report_path(PLAN, "csv"),
        md=report(families.report_path(PLAN, "md"), caption="../../report/families.rst", category="Tables"),
    params:
        plan=lambda wc: families.params(PLAN),
    log:
        L.log("families", "report"),
    benchmark:
        L.benchmark("families", "report")
    conda:
        "../../../envs/report.yaml"
    script:
        "../../scripts/families.py"
