# siamese-siren: audio clips -> one small network per clip -> int8 .ssr files -> decoded, denoised audio
# -> ViSQOL/CDPAM/PESQ/STOI -> the paper's tables and figures.
#
#   snakemake --cores 8 --resources gpu=1          everything in config.yaml
#   snakemake --profile profiles/demo              the CPU demo on the shipped recordings
#   snakemake results/figures/fig4.png --cores 4   one figure and only what it needs
#   snakemake tables --cores 4                     Tables 1-3 and Figure 4 only

from snakemake.utils import min_version

min_version("8.0")


configfile: "config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/datasets.smk"
include: "workflow/rules/prepare.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/integrity.smk"
include: "workflow/rules/qat.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/codecs.smk"
include: "workflow/rules/listen.smk"


# Experiments beyond the paper, opt-in: a config/experiments/<name>.yaml turns one on (experiments.<name>: true), and
# only then are its rules (and through them its code, siamese_siren.experiments) read.
for experiment in EXPERIMENT_RULES:

    include: experiment


rule all:
    input:
        PLAN.targets(),
    default_target: True


rule tables:
    input:
        PLAN.targets(in_tables=True),
