# The public datasets of the paper (GTZAN, LibriSpeech train-clean-100): download with a SHA-256 check (a cut-off
# download resumes) and extract. Every dataset, a user's folder too, is listed once in a manifest (every file with
# its duration, native rate, channels, label and status; unreadable and silent files recorded as skipped with the
# reason). The manifest is a checkpoint: how the DAG learns its clips is explained at Clips in common.smk. The
# logic is siamese_siren.pipeline.datasets.

from siamese_siren.pipeline.datasets import snakemake_path


# Downloads run where the internet is: on the submitting host, never on cluster compute nodes.
localrules:
    download_dataset,


rule download_dataset:
    """A public dataset's archive from the first working mirror, SHA-256 checked; a cut-off download resumes."""
    output:
        f"{PLAN.download_folder()}/{{source}}.tar.gz",
    wildcard_constraints:
        source="|".join(SOURCES),
    params:
        source=lambda wc: wc.source,
        urls=lambda wc: config["sources"][wc.source]["urls"],
        sha256=lambda wc: config["sources"][wc.source]["sha256"],
        size=lambda wc: config["sources"][wc.source]["bytes"],
    log:
        L.log("datasets", "download_{source}"),
    benchmark:
        L.benchmark("datasets", "download_{source}")
    conda:
        "../../envs/core.yaml"
    script:
        "../scripts/download_dataset.py"


rule extract_dataset:
    """The archive (downloaded, or the user's tar/zip) unpacked into one folder, all or nothing."""
    input:
        lambda wc: PLAN.source_archive(wc.source),
    output:
        directory(f"{PLAN.download_folder()}/{{source}}"),
    wildcard_constraints:
        source="|".join(SOURCES),
    params:
        sha256=lambda wc: config["sources"][wc.source]["sha256"],
        downloaded=lambda wc: PLAN.user_path(wc.source) is None,
    log:
        L.log("datasets", "extract_{source}"),
    benchmark:
        L.benchmark("datasets", "extract_{source}")
    conda:
        "../../envs/core.yaml"
    script:
        "../scripts/extract_dataset.py"


checkpoint dataset_manifest:
    """Every clip file of the dataset with its metadata, the seeded selection, and skipped files with the reason."""
    input:
        # a folder whose path has braces is read through a link, <manifest>.folder, as Snakemake would take them
        # for a wildcard (siamese_siren.pipeline.datasets.snakemake_path)
        lambda wc: snakemake_path(
            PLAN.dataset_root(wc.dataset), L.manifest(wc.dataset).removesuffix(".csv") + ".folder"
        ),
    output:
        L.manifest("{dataset}"),
    params:
        spec=lambda wc: PLAN.manifest_params(wc.dataset),
    log:
        L.log("datasets", "manifest_{dataset}"),
    benchmark:
        L.benchmark("datasets", "manifest_{dataset}")
    conda:
        "../../envs/core.yaml"
    script:
        "../scripts/dataset_manifest.py"
