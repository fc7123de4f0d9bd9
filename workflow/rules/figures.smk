# Each figure is its own file target and reads only what it shows.

rule spectrogram_figure:
    """Figure 3 (reference vs SIREN vs Siamese SIREN after quantization) and Figure 6 (long training): log-mel."""
    input:
        unpack(spectrogram_inputs),
    output:
        report(L.figure("{name}"), caption="../report/spectrogram_figure.rst", category="Figures"),
    wildcard_constraints:
        name="|".join(SPECTROGRAM_FIGURES) or "^$",
    params:
        clip=lambda wc: figure_clip(f"figures.{wc.name}", PLAN.figure(wc.name))[1],
        variants=lambda wc: PLAN.figure_variants(wc.name),
        steps=lambda wc: {v: PLAN.steps(v) for v in PLAN.figure_variants(wc.name)},
        precision=lambda wc: PLAN.figure(wc.name).get("precision", "float"),
    log:
        L.log("figures", "{name}"),
    benchmark:
        L.benchmark("figures", "{name}")
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/figure_spectrograms.py"


rule score_figure:
    """Figure 4 (denoising ablation, music vs speech) and the metric-vs-training-step curves."""
    input:
        lambda wc: [f for d in PLAN.datasets for v in PLAN.figure_variants(wc.name) for f in score_files(d, v)],
    output:
        report(L.figure("{name}"), caption="../report/score_figure.rst", category="Figures"),
    wildcard_constraints:
        name="|".join(SCORE_FIGURES) or "^$",
    params:
        spec=lambda wc: PLAN.figure(wc.name),
        steps=lambda wc: {v: PLAN.steps(v) for v in PLAN.figure_variants(wc.name)},
    log:
        L.log("figures", "{name}"),
    benchmark:
        L.benchmark("figures", "{name}")
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/figure_scores.py"


rule fig5:
    """Figure 5: noise barely changes the waveform but clearly changes the log-mel spectrogram."""
    input:
        clips=lambda wc: clip_folder(*figure_clip("figures.fig5", PLAN.figure("fig5"))),
    output:
        report(L.figure("fig5"), caption="../report/fig5.rst", category="Figures"),
    params:
        clip=lambda wc: figure_clip("figures.fig5", PLAN.figure("fig5"))[1],
        snr_db=lambda wc: PLAN.figure("fig5")["snr_db"],
    log:
        L.log("figures", "fig5"),
    benchmark:
        L.benchmark("figures", "fig5")
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/figure_noise.py"
