# Each figure is its own file target and reads only what it shows (helpers in common.smk).


rule spectrogram_figure:
    """Figure 3 (reference vs SIREN vs Siamese SIREN after quantization) and Figure 6 (long training): log-mel."""
    input:
        unpack(spectrogram_inputs),
    output:
        report(f"{R}/figures/{{name}}.png", caption="../report/spectrogram_figure.rst", category="Figures"),
    wildcard_constraints:
        name="|".join(SPECTROGRAM_FIGURES) or "^$",
    params:
        clip=lambda wc: figure_clip(wc.name)[1],
        variants=lambda wc: figure(wc.name)["variants"],
        steps=lambda wc: {v: steps(v) for v in figure(wc.name)["variants"]},
        precision=lambda wc: figure(wc.name).get("precision", "float"),
    log:
        f"{R}/logs/figures/{{name}}.log",
    benchmark:
        f"{R}/benchmarks/figures/{{name}}.tsv"
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/figure_spectrograms.py"


rule score_figure:
    """Figure 4 (denoising ablation, music vs speech) and the metric-vs-training-step curves."""
    input:
        lambda wc: [f for d in CLIPS for v in score_figure_variants(wc.name) for f in score_files(d, v)],
    output:
        report(f"{R}/figures/{{name}}.png", caption="../report/score_figure.rst", category="Figures"),
    wildcard_constraints:
        name="|".join(SCORE_FIGURES) or "^$",
    params:
        spec=lambda wc: figure(wc.name),
        steps=lambda wc: {v: steps(v) for v in score_figure_variants(wc.name)},
    log:
        f"{R}/logs/figures/{{name}}.log",
    benchmark:
        f"{R}/benchmarks/figures/{{name}}.tsv"
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/figure_scores.py"


rule fig5:
    """Figure 5: noise barely changes the waveform but clearly changes the log-mel spectrogram."""
    input:
        lambda wc: clip_wav(*figure_clip("fig5")),
    output:
        report(f"{R}/figures/fig5.png", caption="../report/fig5.rst", category="Figures"),
    params:
        snr_db=lambda wc: figure("fig5")["snr_db"],
    log:
        f"{R}/logs/figures/fig5.log",
    benchmark:
        f"{R}/benchmarks/figures/fig5.tsv"
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/figure_noise.py"
