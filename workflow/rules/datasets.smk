# The public datasets of the paper (GTZAN, LibriSpeech train-clean-100): download with a SHA-256 check (a cut-off
# download resumes) and extract. Every dataset, a user's folder too, is listed once in a manifest (every file with
# its duration, native rate, channels, label and status; unreadable and silent files recorded as skipped with the
# reason). The manifest is a checkpoint: how the DAG learns its clips is explained at Clips in common.smk. The
# logic is siamese_siren.datasets.

# Downloads run where the internet is: on the submitting host, never on cluster compute nodes.
localrules:
    download_dataset,


rule download_dataset:
    """A public dataset's archive from the first working mirror, SHA-256 checked; a cut-off download resumes."""
    output:
        f"{DATA}/{{source}}.tar.gz",
    wildcard_constraints:
        source="|".join(PUBLIC_SOURCES),
    params:
        source=lambda wc: wc.source,
        urls=lambda wc: config["sources"][wc.source]["urls"],
        sha256=lambda wc: config["sources"][wc.source]["sha256"],
        size=lambda wc: config["sources"][wc.source]["bytes"],
    log:
        f"{R}/logs/datasets/download_{{source}}.log",
    benchmark:
        f"{R}/benchmarks/datasets/download_{{source}}.tsv"
    conda:
        "../../envs/core.yaml"
    script:
        "../scripts/download_dataset.py"


rule extract_dataset:
    """The archive (downloaded, or the user's tar/zip) unpacked into one folder, all or nothing."""
    input:
        source_archive,
    output:
        directory(f"{DATA}/{{source}}"),
    wildcard_constraints:
        source="|".join(PUBLIC_SOURCES),
    params:
        sha256=lambda wc: config["sources"][wc.source]["sha256"],
        downloaded=lambda wc: user_path(wc.source) is None,
    log:
        f"{R}/logs/datasets/extract_{{source}}.log",
    benchmark:
        f"{R}/benchmarks/datasets/extract_{{source}}.tsv"
    conda:
        "../../envs/core.yaml"
    script:
        "../scripts/extract_dataset.py"


checkpoint dataset_manifest:
    """Every clip file of the dataset with its metadata, the seeded selection, and skipped files with the reason."""
    input:
        dataset_root,
    output:
        manifest_file("{dataset}"),
    params:
        source=lambda wc: dataset_source(wc.dataset),
        clips=lambda wc: config["datasets"][wc.dataset]["max_clips" if folder(wc.dataset) else "clips"],
        seed=lambda wc: None if folder(wc.dataset) else config["datasets"][wc.dataset]["seed"],
        pattern=lambda wc: config["datasets"][wc.dataset]["pattern"],
        sample_rate=config["clip"]["sample_rate"],
        offset=config["clip"]["offset"],
        seconds=config["clip"]["seconds"],
    log:
        f"{R}/logs/datasets/manifest_{{dataset}}.log",
    benchmark:
        f"{R}/benchmarks/datasets/manifest_{{dataset}}.tsv"
    conda:
        "../../envs/core.yaml"
    script:
        "../scripts/dataset_manifest.py"
