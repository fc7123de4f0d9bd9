# Beyond the paper: reference codecs (Opus, MP3 through ffmpeg), rate-distortion figures and table, and one
# compressed file decoded at several rates. The INR points come from the quantize/score stages
# (needs() in common.smk adds rate_distortion's variants x precisions to them).

# (helpers in common.smk)


rule codec:
    """A batch's clips through one codec at every configured bitrate: encoded files, aligned decodes, bytes."""
    input:
        clips=batch_clip_wavs,
        manifest=manifest_of,
    output:
        directory(f"{R}/codecs/{{dataset}}/{{codec}}/{{batch}}"),
    wildcard_constraints:
        codec="|".join(CODEC_BITRATES) or "^$",
    params:
        clips=lambda wc: BATCHES[wc.dataset][wc.batch],
        bitrates=lambda wc: CODEC_BITRATES[wc.codec],
    log:
        f"{R}/logs/codecs/{{dataset}}/{{codec}}/{{batch}}.log",
    benchmark:
        f"{R}/benchmarks/codecs/{{dataset}}/{{codec}}/{{batch}}.tsv"
    conda:
        "../../envs/core.yaml"
    script:
        "../scripts/codec.py"


rule score_codec:
    """Every metric for every codec decode of a batch, against the reference at the codec's rate."""
    input:
        decoded=f"{R}/codecs/{{dataset}}/{{codec}}/{{batch}}",
        clips=batch_clip_wavs,
        manifest=manifest_of,
    output:
        f"{R}/codec_scores/{{dataset}}/{{codec}}/{{batch}}.csv",
    params:
        clips=lambda wc: BATCHES[wc.dataset][wc.batch],
        kind=lambda wc: kind(wc.dataset),
        metrics=lambda wc: config["metrics"][kind(wc.dataset)],
        workers=config["metrics"]["workers"],
    threads: config["metrics"]["workers"]
    log:
        f"{R}/logs/score_codec/{{dataset}}/{{codec}}/{{batch}}.log",
    benchmark:
        f"{R}/benchmarks/score_codec/{{dataset}}/{{codec}}/{{batch}}.tsv"
    conda:
        "../../envs/metrics.yaml"
    script:
        "../scripts/score_codec.py"


rule rate_distortion:
    """Per-clip rate-distortion points (INR files and codecs) and the kbps each method needs for each quality."""
    input:
        unpack(rd_inputs),
    output:
        points=f"{R}/rate_distortion/points.csv",
        csv=report(f"{R}/rate_distortion/kbps_needed.csv", caption="../report/rate_distortion_table.rst",
                   category="Rate-distortion"),
        md=f"{R}/rate_distortion/kbps_needed.md",
    params:
        spec=config.get("rate_distortion"),
        denoise=lambda wc: {v: resolve_denoise(v, config["rate_distortion"]["denoise"])
                            for v in config["rate_distortion"]["variants"]},
        float_bytes=lambda wc: {v: 4 * parameter_count(variant(v)) for v in config["rate_distortion"]["variants"]},
        settings={p: setting_of(p) for p in (config.get("rate_distortion") or {}).get("precisions", [])},
    log:
        f"{R}/logs/rate_distortion/table.log",
    benchmark:
        f"{R}/benchmarks/rate_distortion/table.tsv"
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/rate_distortion.py"


rule rate_distortion_figure:
    """kbps against quality for one dataset: codecs as curves, every INR variant and precision as points."""
    input:
        f"{R}/rate_distortion/points.csv",
    output:
        report(f"{R}/figures/rate_distortion_{{dataset}}.png", caption="../report/rate_distortion_figure.rst",
               category="Rate-distortion"),
    params:
        metrics=lambda wc: [m for m in config["rate_distortion"]["metrics"] if m in config["metrics"][kind(wc.dataset)]],
    log:
        f"{R}/logs/rate_distortion/figure_{{dataset}}.log",
    benchmark:
        f"{R}/benchmarks/rate_distortion/figure_{{dataset}}.tsv"
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/figure_rate_distortion.py"


rule resolution:
    """One compressed file decoded at several sample rates (the network is continuous in time), and spectrograms."""
    input:
        compressed=lambda wc: "{}/compressed/{}/{}/{}/{}".format(
            R, resolution_clip()[0], config["resolution"]["variant"], setting_of(config["resolution"]["precision"]),
            batch_of(*resolution_clip()),
        ),
        manifest=lambda wc: manifest_file(resolution_clip()[0]),
    output:
        decoded=directory(f"{R}/resolution"),
        figure=report(f"{R}/figures/resolution.png", caption="../report/resolution.rst", category="Figures"),
    params:
        clip=lambda wc: resolution_clip()[1],
        spec=config.get("resolution"),
    log:
        f"{R}/logs/figures/resolution.log",
    benchmark:
        f"{R}/benchmarks/figures/resolution.tsv"
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/resolution.py"
