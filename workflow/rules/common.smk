# The config's validation, the plan, and the checkpoint plumbing every rule shares. What the config asks for and
# where each file goes is decided by siamese_siren.pipeline (no Snakemake there, unit-tested in tests/test_plan.py):
# the plan iterates over the registered kinds of target (siamese_siren.pipeline.targets), each of which also gives
# its rule's inputs. This file only connects them to the DAG.
import os
from collections.abc import Mapping

from snakemake.utils import validate

from siamese_siren.pipeline.datasets import SOURCES, read_manifest, selected_clips
from siamese_siren.pipeline.jobs import slot_devices
from siamese_siren.pipeline.config import config_error, validate_config
from siamese_siren.pipeline.layout import batch_of, batches, choose_clip
from siamese_siren.pipeline.plan import Plan


validate_config(config, lambda checked: validate(checked, schema="../schemas/config.schema.yaml"))
PLAN = Plan(config)  # every configuration error, naming its key, before any job is planned
L = PLAN.layout
# The rule files of the experiments the configuration turns on (the Snakefile includes them); an experiment made of
# configuration only (bits) has none.
EXPERIMENT_RULES = [path for name, on in config["experiments"].items() if on
                    for path in [f"workflow/rules/experiments/{name}.smk"]
                    if os.path.exists(os.path.join(workflow.basedir, path))]


wildcard_constraints:
    dataset=r"[A-Za-z0-9][A-Za-z0-9_.+-]*",
    variant=r"[A-Za-z0-9][A-Za-z0-9_.+-]*",
    clip=r"[A-Za-z0-9][A-Za-z0-9_.+-]*",
    batch=r"b\d{4}",
    setting=r"[A-Za-z0-9][A-Za-z0-9_-]*",
    name=r"[A-Za-z0-9][A-Za-z0-9_.+-]*",


class Clips(Mapping):
    """{dataset: {clip id: source file}}, sorted by clip id.

    How the DAG learns the clips: every dataset is listed once, in its manifest, by the checkpoint
    dataset_manifest (datasets.smk), which for gtzan/librispeech downloads, checks and extracts first when needed,
    and for a user's folder lists the files matching its pattern. Unreadable, empty, non-finite and silent files
    are recorded there as skipped with the reason and never become clips, so one bad file cannot stop a run.
    Clips are read from the manifest inside input functions: before the manifest exists, Snakemake builds it and
    then re-evaluates the jobs that asked (one checkpoint per dataset, never one per utterance); once it exists
    and is up to date, even a dry run shows every job. So use CLIPS/BATCHES in input functions and params, not at
    parse time; dataset names (PLAN.datasets) are always known.
    """

    def __init__(self):
        self._read = {}  # manifest path -> (mtime, clips)

    def __getitem__(self, dataset):
        if dataset not in config["datasets"]:
            raise KeyError(dataset)
        manifest = checkpoints.dataset_manifest.get(dataset=dataset).output[0]
        mtime = os.stat(manifest).st_mtime_ns
        if self._read.get(manifest, (None,))[0] != mtime:
            clips = selected_clips(manifest)
            if not clips:
                config_error(f"datasets.{dataset}", f"no usable clip in {manifest}", "see its status/reason columns")
            self._read[manifest] = (mtime, clips)
        return self._read[manifest][1]

    def __iter__(self):
        return iter(PLAN.datasets)

    def __len__(self):
        return len(PLAN.datasets)


class Batches(Mapping):
    """{dataset: {batch id: [clip ids]}}, computed when first asked (see Clips) and again when the clips change."""

    def __init__(self):
        self._made = {}

    def __getitem__(self, dataset):
        clips = CLIPS[dataset]
        if self._made.get(dataset, (None,))[0] is not clips:
            self._made[dataset] = (clips, batches(clips, config["training"]["clips_per_job"]))
        return self._made[dataset][1]

    def __iter__(self):
        return iter(PLAN.datasets)

    def __len__(self):
        return len(PLAN.datasets)


CLIPS = Clips()
BATCHES = Batches()


# ---- input functions ----------------------------------------------------------------------------------------


def batch_clips(wildcards):
    return BATCHES[wildcards.dataset][wildcards.batch]


#: A batch's prepared clips (prepare.smk): one folder, the input of every job of that batch that reads them.
BATCH_CLIPS = L.clips("{dataset}", "{batch}")


def manifest_of(wildcards):
    """The manifest, as an input of every job whose params list a batch's clips (remote jobs require it)."""
    return L.manifest(wildcards.dataset)


def manifest_rows(dataset):
    """A dataset's manifest rows, once the checkpoint has written it (siamese_siren.pipeline.datasets.read_manifest)."""
    return read_manifest(checkpoints.dataset_manifest.get(dataset=dataset).output[0])


def score_files(dataset, name):
    return [L.scores(dataset, name, b) for b in BATCHES[dataset]]


def compressed_dirs(dataset, name):
    """The compressed folders of one dataset and variant: every setting's files and one sizes.csv per batch."""
    return [L.compressed_batch(dataset, name, b) for b in BATCHES[dataset]]


def figure_clip(key, spec):
    """(dataset, clip) a figure or the resolution target shows, checked once the manifest exists."""
    dataset = PLAN.known_dataset(f"{key}.dataset", spec["dataset"])
    return dataset, choose_clip(f"{key}.clip", spec.get("clip"), list(CLIPS[dataset]))


def clip_batch(dataset, clip):
    return batch_of(BATCHES[dataset], clip)


def clip_folder(dataset, clip):
    """The prepared-clips folder that holds one clip (its batch's)."""
    return L.clips(dataset, clip_batch(dataset, clip))


# ---- the spectrogram figures (Figures 3 and 6) -------------------------------------------------------------


SPECTROGRAM_FIGURES = [n for n in ("fig3", "fig6") if PLAN.figure(n)]
SCORE_FIGURES = [n for n in ("fig4", "training_curves") if PLAN.figure(n)]


def spectrogram_inputs(wildcards):
    dataset, clip = figure_clip(f"figures.{wildcards.name}", PLAN.figure(wildcards.name))
    return {
        "clips": clip_folder(dataset, clip),
        "reconstructions": [L.reconstructions(dataset, v, clip_batch(dataset, clip))
                            for v in PLAN.figure_variants(wildcards.name)],
        "manifest": L.manifest(dataset),
    }


def resolution_inputs(wildcards):
    spec = config["resolution"]
    dataset, clip = figure_clip("resolution", spec)
    return {"compressed": L.compressed_batch(dataset, spec["variant"], clip_batch(dataset, clip)),
            "manifest": L.manifest(dataset)}
