import os
import re
from collections.abc import Mapping
from pathlib import Path

from snakemake.utils import validate

from siamese_siren.codecs import check_bitrate
from siamese_siren.datasets import selected_clips
from siamese_siren.models import VARIANTS as LIBRARY_VARIANTS
from siamese_siren.models import Variant, parameter_count


# A dataset set to null is left out, so a config file merged onto config.yaml (config/paper.yaml) can drop one.
if isinstance(config.get("datasets"), dict):
    config["datasets"] = {name: spec for name, spec in config["datasets"].items() if spec is not None}
validate(config, schema="../schemas/config.schema.yaml")

R = config["results"]
SNAPSHOT_PRECISION = re.compile(r"^float-step(\d+)$")


wildcard_constraints:
    dataset=r"[A-Za-z0-9][A-Za-z0-9_.+-]*",
    variant=r"[A-Za-z0-9][A-Za-z0-9_.+-]*",
    clip=r"[A-Za-z0-9][A-Za-z0-9_.+-]*",
    batch=r"b\d{4}",
    setting=r"[A-Za-z0-9][A-Za-z0-9_-]*",
    name=r"[A-Za-z0-9][A-Za-z0-9_.+-]*",


class ConfigError(ValueError):
    pass


def config_error(key, problem, fix):
    raise ConfigError(f"config key {key}: {problem}; {fix}")


# ---- datasets and clips -------------------------------------------------------------------------------------


def folder_path(name, spec):
    folder = Path(spec["path"])
    if not folder.is_dir():
        config_error(f"datasets.{name}.path", f"{folder} is not a folder", "point it at a folder of audio files")
    return str(folder)


class Clips(Mapping):
    """{dataset: {clip id: source file}}, sorted by clip id.

    How the DAG learns the clips: every dataset is listed once, in its manifest, by the checkpoint
    dataset_manifest (datasets.smk), which for gtzan/librispeech downloads, checks and extracts first when needed,
    and for a user's folder lists the files matching its pattern. Unreadable, empty, non-finite and silent files
    are recorded there as skipped with the reason and never become clips, so one bad file cannot stop a run.
    Clips are read from the manifest inside input functions: before the manifest exists, Snakemake builds it and
    then re-evaluates the jobs that asked (one checkpoint per dataset, never one per utterance); once it exists
    and is up to date, even a dry run shows every job. So use CLIPS/BATCHES in input functions and params, not at
    parse time; dataset names (iterating CLIPS, `in CLIPS`) are always known.
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

    def __contains__(self, dataset):
        return dataset in config["datasets"]

    def __iter__(self):
        return iter(config["datasets"])

    def __len__(self):
        return len(config["datasets"])


CLIPS = Clips()


def batches(dataset):
    """Clips grouped into training jobs of training.clips_per_job, in sorted order: {batch id: [clip ids]}."""
    ids = list(CLIPS[dataset])
    size = config["training"]["clips_per_job"]
    return {f"b{i // size:04d}": ids[i : i + size] for i in range(0, len(ids), size)}


class Batches(Mapping):
    """{dataset: batches(dataset)}, computed when first asked (see Clips) and again when the clips change."""

    def __init__(self):
        self._made = {}

    def __getitem__(self, dataset):
        clips = CLIPS[dataset]
        if self._made.get(dataset, (None,))[0] is not clips:
            self._made[dataset] = (clips, batches(dataset))
        return self._made[dataset][1]

    def __contains__(self, dataset):
        return dataset in CLIPS

    def __iter__(self):
        return iter(CLIPS)

    def __len__(self):
        return len(CLIPS)


BATCHES = Batches()


def batch_of(dataset, clip):
    return next(b for b, ids in BATCHES[dataset].items() if clip in ids)


def kind(dataset):
    return config["datasets"][dataset]["kind"]


# ---- public datasets (rules in datasets.smk) ------------------------------------------------------------------

DATA = config["sources"]["folder"]
PUBLIC_SOURCES = ("gtzan", "librispeech")


def user_path(source):
    """The archive or extracted folder the user already has (sources.<source>.path), or None to download."""
    path = config["sources"][source]["path"]
    if path is not None and not Path(path).exists():
        config_error(f"sources.{source}.path", f"{path} does not exist",
                     "point it at the archive or the extracted folder, or set it to null to download")
    return path


def dataset_source(dataset):
    return config["datasets"][dataset]["source"]


def folder(dataset):
    return dataset_source(dataset) == "folder"


def source_archive(wildcards):
    """The archive to extract: the user's (sources.<source>.path) or the downloaded one."""
    return user_path(wildcards.source) or f"{DATA}/{wildcards.source}.tar.gz"


def dataset_root(wildcards):
    """The folder the manifest lists: a folder dataset's path, the user's extracted folder, or where the archive
    is extracted to."""
    source = dataset_source(wildcards.dataset)
    if source == "folder":
        return config["datasets"][wildcards.dataset]["path"]
    path = user_path(source)
    return path if path and Path(path).is_dir() else f"{DATA}/{source}"


def manifest_file(dataset):
    return f"{R}/manifests/{dataset}.csv"


def manifest_of(wildcards):
    """The manifest, as an input of every job whose params list a batch's clips (remote jobs require it)."""
    return manifest_file(wildcards.dataset)


for _name, _spec in config["datasets"].items():  # configuration errors before anything runs
    if _spec["source"] == "folder":
        folder_path(_name, _spec)
    else:
        user_path(_spec["source"])
        if "path" in _spec:
            config_error(f"datasets.{_name}.path", f"a {_spec['source']} dataset takes its files from the source",
                         f"set sources.{_spec['source']}.path to your archive or extracted folder instead")


# ---- variants -----------------------------------------------------------------------------------------------


def variant(name):
    """The architecture of a configured experiment, as the library's plain-data Variant."""
    if name not in config["variants"]:
        config_error("variants", f"no variant named {name!r}", f"define it or use one of {list(config['variants'])}")
    spec = config["variants"][name]
    if "model" in spec:
        if spec["model"] not in LIBRARY_VARIANTS:
            config_error(f"variants.{name}.model", f"unknown model {spec['model']!r}",
                         f"use one of {list(LIBRARY_VARIANTS)}")
        base = LIBRARY_VARIANTS[spec["model"]]
        return Variant(base.hidden, base.siam, base.pe_frequencies, base.omega_first, base.omega_hidden,
                       base.pe_scale, name=name)
    fields = {k: spec[k] for k in ("hidden", "siam", "pe_frequencies", "omega_first", "omega_hidden") if k in spec}
    return Variant(**{"hidden": (), **fields, "name": name})


def steps(name):
    return config["variants"][name].get("steps", config["training"]["steps"])


def seed(name):
    return config["variants"][name].get("seed", config["training"]["seed"])


def snapshot_steps(name):
    return sorted(s for s in set(config["training"]["snapshot_steps"]) if s < steps(name))


def twin_heads(name):
    return bool(variant(name).siam)


# ---- what the tables and figures need ----------------------------------------------------------------------


def resolve_denoise(name, denoise):
    if denoise == "auto":
        return "siamese" if twin_heads(name) else "none"
    if denoise == "siamese" and not twin_heads(name):
        config_error("denoise", f"siamese denoising needs two heads, variant {name!r} has none", "use none or auto")
    return denoise


def check_precision(key, precision):
    snapshot = SNAPSHOT_PRECISION.match(precision)
    if precision in ("float", "int8-paper") or snapshot or precision in config["quantize"]:
        paper = config["quantize"].get("int8") or {}
        paper = (paper.get("bits"), paper.get("per_channel"), paper.get("entropy", "none"))
        if precision == "int8-paper" and paper != (8, False, "none"):
            config_error("quantize.int8", "int8-paper needs the paper's setting", "set {bits: 8, per_channel: false}")
        return precision
    config_error(key, f"unknown precision {precision!r}", f"use float, int8-paper or one of {list(config['quantize'])}")


def setting_of(precision):
    """The quantize setting whose file a precision decodes (None for float weights)."""
    if precision == "float" or SNAPSHOT_PRECISION.match(precision):
        return None
    return "int8" if precision == "int8-paper" else precision


def known_dataset(key, dataset):
    if dataset not in CLIPS:
        config_error(key, f"unknown dataset {dataset!r}", f"use one of {list(CLIPS)}")
    return dataset


def table_datasets(table):
    return [known_dataset(f"tables.{table}.datasets", d) for d in (config["tables"][table]["datasets"] or CLIPS)]


def figure(name):
    return config["figures"].get(name)


def figure_clip(name):
    spec = figure(name)
    dataset = known_dataset(f"figures.{name}.dataset", spec["dataset"])
    chosen = spec.get("clip") or next(iter(CLIPS[dataset]))
    if chosen not in CLIPS[dataset]:
        config_error(f"figures.{name}.clip", f"no clip {chosen!r} in {dataset}", "use a clip id from the dataset")
    return dataset, chosen


def figure_dataset(name):
    """A figure's dataset, checked at parse time (its clip is checked once the manifest exists, see Clips)."""
    return known_dataset(f"figures.{name}.dataset", figure(name)["dataset"])


def needs():
    """{(dataset, variant): set of (precision, denoise)} that some table or figure reads."""
    need = {}

    def add(dataset, name, precision, denoise):
        variant(name)  # a clear error for an unknown variant
        precision = check_precision("precision", precision)
        need.setdefault((dataset, name), set()).add((precision, resolve_denoise(name, denoise)))

    for table, spec in config["tables"].items():
        for dataset in table_datasets(table):
            for name in spec["variants"]:
                add(dataset, name, spec["precision"], spec["denoise"])
    if figure("fig3"):
        dataset = figure_dataset("fig3")
        for name in figure("fig3")["variants"]:
            add(dataset, name, figure("fig3")["precision"], "none")
    if figure("fig4"):
        name = figure("fig4")["variant"]
        for dataset in CLIPS:
            for denoise in ("none", "stationary", "nonstationary", "siamese"):
                add(dataset, name, figure("fig4")["precision"], denoise)
    if figure("fig6"):
        dataset = figure_dataset("fig6")
        for name in figure("fig6")["variants"]:
            add(dataset, name, "float", "none")
    if figure("training_curves"):
        for name in figure("training_curves")["variants"]:
            for dataset in CLIPS:
                for step in snapshot_steps(name):
                    add(dataset, name, f"float-step{step}", "none")
                add(dataset, name, "float", "none")
    rd = config.get("rate_distortion")
    if rd:
        for dataset in CLIPS:
            for name in rd["variants"]:
                for precision in rd["precisions"]:
                    add(dataset, name, precision, rd["denoise"])
    if config.get("resolution"):  # its file must exist; the rate-distortion rules decode it themselves
        spec = config["resolution"]
        variant(spec["variant"])
        check_precision("resolution.precision", spec["precision"])
        if setting_of(spec["precision"]) is None:
            config_error("resolution.precision", "float weights have no compressed file", "name a quantize setting")
    return need


NEEDS = needs()


def combos(wildcards):
    """Sorted 'precision:denoise' strings to reconstruct for one (dataset, variant)."""
    return sorted(f"{p}:{d}" for p, d in NEEDS.get((wildcards.dataset, wildcards.variant), ()))


def settings_needed(dataset, name):
    return sorted({setting_of(p) for p, _ in NEEDS.get((dataset, name), ())} - {None})


# ---- paths --------------------------------------------------------------------------------------------------


def clip_wav(dataset, clip):
    return f"{R}/clips/{dataset}/{clip}.wav"


def batch_clip_wavs(wildcards):
    return [clip_wav(wildcards.dataset, c) for c in BATCHES[wildcards.dataset][wildcards.batch]]


def score_files(dataset, name):
    return [f"{R}/scores/{dataset}/{name}/{b}.csv" for b in BATCHES[dataset]]


def compressed_dirs(dataset, name, setting):
    return [f"{R}/compressed/{dataset}/{name}/{setting}/{b}" for b in BATCHES[dataset]]


def reconstruction_dir(dataset, name, clip):
    return f"{R}/reconstructions/{dataset}/{name}/{batch_of(dataset, clip)}"


def table_inputs(wildcards):
    spec = config["tables"][wildcards.name]
    setting = setting_of(spec["precision"]) or "int8"
    return {
        "scores": [f for d in table_datasets(wildcards.name) for v in spec["variants"] for f in score_files(d, v)],
        "compressed": [
            f for d in table_datasets(wildcards.name) for v in spec["variants"] for f in compressed_dirs(d, v, setting)
        ],
    }


def figure_targets():
    names = [n for n in ("fig3", "fig4", "fig5", "fig6") if figure(n)]
    if figure("training_curves"):
        names.append("training_curves")
    return [f"{R}/figures/{n}.png" for n in names]


# Each figure is its own file target and reads only what it shows.
SPECTROGRAM_FIGURES = [n for n in ("fig3", "fig6") if figure(n)]
SCORE_FIGURES = [n for n in ("fig4", "training_curves") if figure(n)]


def spectrogram_inputs(wildcards):
    dataset, clip = figure_clip(wildcards.name)
    return {
        "clip": clip_wav(dataset, clip),
        "reconstructions": [reconstruction_dir(dataset, v, clip) for v in figure(wildcards.name)["variants"]],
        "manifest": manifest_file(dataset),
    }


def score_figure_variants(name):
    spec = figure(name)
    return spec["variants"] if "variants" in spec else [spec["variant"]]


def all_targets():
    tables = [f"{R}/tables/{t}.{ext}" for t in config["tables"] for ext in ("csv", "md", "tex")]
    return tables + figure_targets() + [f"{R}/scores.csv"] + rate_distortion_targets()


# ---- codec baselines and rate-distortion (rules in codecs.smk) --------------------------------------------


def codec_bitrates():
    """{codec: sorted kbps} of the configured codecs, each bitrate checked at the clip rate."""
    out = {}
    for name, rates in (config.get("codecs") or {}).items():
        for kbps in rates:
            try:
                check_bitrate(name, kbps, config["clip"]["sample_rate"])
            except ValueError as err:
                config_error(f"codecs.{name}", str(err), "pick bitrates the codec has")
        if rates:
            out[name] = sorted(set(rates))
    return out


CODEC_BITRATES = codec_bitrates()


def codec_score_files(dataset):
    return [f"{R}/codec_scores/{dataset}/{c}/{b}.csv" for c in CODEC_BITRATES for b in BATCHES[dataset]]


def rd_inputs(wildcards):
    rd = config["rate_distortion"]
    settings = sorted({setting_of(p) for p in rd["precisions"]} - {None})
    return {
        "scores": [f for d in CLIPS for v in rd["variants"] for f in score_files(d, v)],
        "compressed": [f for d in CLIPS for v in rd["variants"] for s in settings for f in compressed_dirs(d, v, s)],
        "codecs": [f for d in CLIPS for f in codec_score_files(d)],
    }


def resolution_clip():
    spec = config["resolution"]
    dataset = known_dataset("resolution.dataset", spec["dataset"])
    chosen = spec.get("clip") or next(iter(CLIPS[dataset]))
    if chosen not in CLIPS[dataset]:
        config_error("resolution.clip", f"no clip {chosen!r} in {dataset}", "use a clip id from the dataset")
    return dataset, chosen


def rate_distortion_targets():
    targets = []
    if config.get("rate_distortion"):
        targets += [f"{R}/rate_distortion/kbps_needed.{ext}" for ext in ("csv", "md")]
        targets += [f"{R}/rate_distortion/points.csv"]
        targets += [f"{R}/figures/rate_distortion_{d}.png" for d in CLIPS]
    if config.get("resolution"):
        targets.append(f"{R}/figures/resolution.png")
    return targets
