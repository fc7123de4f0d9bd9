from pathlib import Path

from siamese_siren.pipeline import jobs


def main(sm) -> None:
    # After the GPU slot: torch (imported here) must not have started CUDA before CUDA_VISIBLE_DEVICES is set.
    from siamese_siren.analysis.evaluate import compress_batch, decode_batch, score_batch

    p, out = sm.params, sm.output
    labels = {"dataset": sm.wildcards.dataset, "variant": sm.wildcards.variant}
    models, compressed, decoded = Path(sm.input.models), Path(out.compressed), Path(out.reconstructions)
    finetuned = {setting: Path(f) for setting, f in zip(p.finetuned, sm.input.finetuned, strict=True)}
    prepared = Path(sm.input.clips)
    compress_batch(models, p.clips, [prepared / f"{c}.json" for c in p.clips], p.settings, compressed, labels,
                   finetuned)
    decode_batch(models, compressed, p.clips, p.reconstructions, decoded, p.sample_rate, p.num_samples, p.alpha)
    score_batch(decoded, p.clips, [prepared / f"{c}.wav" for c in p.clips], p.reconstructions, labels, Path(out.scores),
                kind=p.kind, metrics=p.metrics, workers=sm.threads, visqol_speech_mapper=p.visqol_speech_mapper)


# The metric pool's worker processes re-import this file: only the parent may run the job.
if __name__ == "__main__":
    jobs.start(snakemake.log[0])  # noqa: F821 (injected by Snakemake)
    # CDPAM runs on CUDA whenever torch sees a GPU (metrics.cdpam.device_for): then this is a GPU job; the other
    # metrics use the CPUs only.
    if "cdpam" in snakemake.params.metrics:  # noqa: F821
        jobs.take_gpu(snakemake.config["training"]["gpus"])  # noqa: F821
    main(snakemake)  # noqa: F821
