# What keeps a results folder trustworthy: one run at a time on it, and trained networks checked before use.
#
# The lock: the Snakemake process that is about to run jobs holds <results>/logs/.run.lock (an flock, released by the
# kernel however the process ends); a second run on the same results folder from another working directory or
# clone is refused before any job, in one line naming the first one's working directory
# (siamese_siren.pipeline.jobs.hold_results). onstart runs only when jobs are about to run: dry runs, planning and
# "nothing to be done" take no lock, and a cluster job's own Snakemake (--no-hooks) none either.
#
# The check: evaluate, which reads a batch's trained networks, first needs that batch's verify_models output,
# a temp() file, so it is made again right before each time a consumer runs and removed after. The job compares
# each file with the size and SHA-256 its clip's record lists (siamese_siren.codec.integrity) and reads no torch.
# A damaged file fails this cheap job with one line naming it and the fix, so Snakemake never starts the evaluate
# job, and keeps that job's earlier outputs (it removes the outputs of a job that failed, not of one never started).
# (qat, whose outputs are remade whenever it runs, has the same check where it loads them: load_state.)
import sys

from siamese_siren.pipeline.jobs import ResultsInUse, hold_results


onstart:
    try:
        if hold_results(L.root) is None:
            print(f"Warning: results folder {L.root}: its file system has no flock, so another run on it is not "
                  "kept out; run one at a time", file=sys.stderr)
    except ResultsInUse as err:
        raise SystemExit(f"Error: {err}") from None


# The record of a batch's checked networks (a template of {dataset}, {variant}, {batch}): what its consumers take as
# input (see above).
VERIFIED_MODELS = L.models("{dataset}", "{variant}", "{batch}") + ".verified"


rule verify_models:
    """A batch's trained networks checked against the digests their records list, before anything uses them."""
    input:
        models=L.models("{dataset}", "{variant}", "{batch}"),
        manifest=manifest_of,
    output:
        temp(VERIFIED_MODELS),
    params:
        clips=batch_clips,
    log:
        L.log("verify_models", "{dataset}", "{variant}", "{batch}"),
    benchmark:
        L.benchmark("verify_models", "{dataset}", "{variant}", "{batch}")
    conda:
        "../../envs/core.yaml"
    script:
        "../scripts/verify_models.py"
