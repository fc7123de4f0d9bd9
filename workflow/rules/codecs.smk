# Beyond the paper: reference codecs (Opus, MP3 through ffmpeg), rate-distortion figures and table, and one
# compressed file decoded at several rates. The INR points come from the evaluate jobs (the plan adds
# rate_distortion's variants x precisions to what they make).

from siamese_siren.analysis.precision import Precision
from siamese_siren.codec.models import parameter_count
from siamese_siren.pipeline.targets import rate_distortion as rd_target


rule codec:
    """A batch's clips through one codec at every configured bitrate: encoded files, aligned decodes, bytes."""
    input:
        clips=BATCH_CLIPS,
        manifest=manifest_of,
    output:
        directory(L.codec("{dataset}", "{codec}", "{batch}")),
    wildcard_constraints:
        codec="|".join(PLAN.codec_bitrates) or "^$",
    params:
        clips=batch_clips,
        bitrates=lambda wc: PLAN.codec_bitrates[wc.codec],
    log:
        L.log("codecs", "{dataset}", "{codec}", "{batch}"),
    benchmark:
        L.benchmark("codecs", "{dataset}", "{codec}", "{batch}")
    conda:
        "../../envs/core.yaml"
    script:
        "../scripts/codec.py"


rule score_codec:
    """Every metric for every codec decode of a batch, against the reference at the codec's rate."""
    input:
        decoded=L.codec("{dataset}", "{codec}", "{batch}"),
        clips=BATCH_CLIPS,
        manifest=manifest_of,
    output:
        L.codec_scores("{dataset}", "{codec}", "{batch}"),
    params:
        clips=batch_clips,
        kind=lambda wc: PLAN.kind(wc.dataset),
        metrics=lambda wc: config["metrics"][PLAN.kind(wc.dataset)],
        visqol_speech_mapper=config["metrics"]["visqol_speech_mapper"],
    threads: config["metrics"]["workers"]  # the metric pool's size; threads are no rerun trigger, params are
    log:
        L.log("score_codec", "{dataset}", "{codec}", "{batch}"),
    benchmark:
        L.benchmark("score_codec", "{dataset}", "{codec}", "{batch}")
    conda:
        "../../envs/metrics.yaml"
    script:
        "../scripts/score_codec.py"


rule rate_distortion:
    """Per-clip rate-distortion points (INR files and codecs) and the kbps each method needs for each quality."""
    input:
        unpack(lambda wc: rd_target.inputs(PLAN, BATCHES)),
    output:
        points=L.rate_distortion("points.csv"),
        csv=report(L.rate_distortion("kbps_needed.csv"), caption="../report/rate_distortion_table.rst",
                   category="Rate-distortion"),
        md=L.rate_distortion("kbps_needed.md"),
    params:
        spec=config.get("rate_distortion"),
        denoise=lambda wc: {v: PLAN.denoise(v, config["rate_distortion"]["denoise"])
                            for v in config["rate_distortion"]["variants"]},
        float_bytes=lambda wc: {v: 4 * parameter_count(PLAN.variant(v)) for v in config["rate_distortion"]["variants"]},
        settings=lambda wc: {p: Precision.parse(p).setting for p in config["rate_distortion"]["precisions"]},
    log:
        L.log("rate_distortion", "table"),
    benchmark:
        L.benchmark("rate_distortion", "table")
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/rate_distortion.py"


rule rate_distortion_figure:
    """kbps against quality for one dataset: codecs as curves, every INR variant and precision as points."""
    input:
        L.rate_distortion("points.csv"),
    output:
        report(L.figure("rate_distortion_{dataset}"), caption="../report/rate_distortion_figure.rst",
               category="Rate-distortion"),
    params:
        metrics=lambda wc: [m for m in config["rate_distortion"]["metrics"]
                            if m in config["metrics"][PLAN.kind(wc.dataset)]],
    log:
        L.log("rate_distortion", "figure_{dataset}"),
    benchmark:
        L.benchmark("rate_distortion", "figure_{dataset}")
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/figure_rate_distortion.py"


rule equal_quality:
    """The kbps every method needs for the reference file's mean quality (rate_distortion.reference)."""
    input:
        L.rate_distortion("points.csv"),
    output:
        csv=report(L.rate_distortion("equal_quality.csv"), caption="../report/equal_quality.rst",
                   category="Rate-distortion"),
        md=L.rate_distortion("equal_quality.md"),
    params:
        reference=lambda wc: config["rate_distortion"]["reference"],
        metrics=lambda wc: config["rate_distortion"]["metrics"],
    log:
        L.log("rate_distortion", "equal_quality"),
    benchmark:
        L.benchmark("rate_distortion", "equal_quality")
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/equal_quality.py"


rule rate_control:
    """Rate control's accuracy over the run's clips: each target asked against what the chosen files got."""
    input:
        L.rate_distortion("points.csv"),
    output:
        csv=report(L.rate_distortion("rate_control.csv"), caption="../report/rate_control.rst",
                   category="Rate-distortion"),
        md=L.rate_distortion("rate_control.md"),
    log:
        L.log("rate_distortion", "rate_control"),
    benchmark:
        L.benchmark("rate_distortion", "rate_control")
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/rate_control.py"


rule qat_effect:
    """Quantization-aware fine-tuning against post-training quantization, per bit depth, from the points."""
    input:
        L.rate_distortion("points.csv"),
    output:
        csv=report(L.rate_distortion("qat.csv"), caption="../report/qat.rst", category="Rate-distortion"),
        md=L.rate_distortion("qat.md"),
    params:
        pairs=lambda wc: rd_target.qat_pairs(PLAN),
        metrics=lambda wc: config["rate_distortion"]["metrics"],
    log:
        L.log("rate_distortion", "qat"),
    benchmark:
        L.benchmark("rate_distortion", "qat")
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/qat_effect.py"


rule resolution:
    """One compressed file decoded at several sample rates (the network is continuous in time), and spectrograms."""
    input:
        unpack(resolution_inputs),
    output:
        decoded=directory(L.resolution()),
        figure=report(L.figure("resolution"), caption="../report/resolution.rst", category="Figures"),
    params:
        clip=lambda wc: figure_clip("resolution", config["resolution"])[1],
        spec=config.get("resolution"),
    log:
        L.log("figures", "resolution"),
    benchmark:
        L.benchmark("figures", "resolution")
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/resolution.py"
