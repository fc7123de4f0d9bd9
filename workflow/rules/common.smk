import re
from pathlib import Path

from snakemake.utils import validate

from siamese_siren.models import VARIANTS as LIBRARY_VARIANTS
from siamese_siren.models import Variant


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


def clip_id(path):
    """A wildcard-safe, stable id from a file path relative to its dataset folder."""
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", str(Path(path).with_suffix(""))).lstrip("._-")


def discover_clips(name, spec):
    """Sorted {clip id: source file} of a folder dataset, so the DAG is known before anything runs."""
    folder = Path(spec["path"])
    if not folder.is_dir():
        config_error(f"datasets.{name}.path", f"{folder} is not a folder", "point it at a folder of audio files")
    files = sorted(
        p for p in folder.glob(spec.get("pattern", "*")) if p.is_file() and not p.name.startswith("._")
    )
    clips = {}
    for path in files:
        cid = clip_id(path.relative_to(folder))
        if cid in clips:
            config_error(f"datasets.{name}", f"{path} and {clips[cid]} map to the same clip id", "rename one")
        clips[cid] = str(path)
    if spec.get("max_clips"):
        clips = dict(list(clips.items())[: spec["max_clips"]])
    if not clips:
        config_error(f"datasets.{name}.pattern", f"no files match {spec.get('pattern')!r} in {folder}", "fix it")
    return clips


CLIPS = {name: discover_clips(name, spec) for name, spec in config["datasets"].items()}


def batches(dataset):
    """Clips grouped into training jobs of training.clips_per_job, in sorted order: {batch id: [clip ids]}."""
    ids = list(CLIPS[dataset])
    size = config["training"]["clips_per_job"]
    return {f"b{i // size:04d}": ids[i : i + size] for i in range(0, len(ids), size)}


BATCHES = {dataset: batches(dataset) for dataset in CLIPS}


def batch_of(dataset, clip):
    return next(b for b, ids in BATCHES[dataset].items() if clip in ids)


def kind(dataset):
    return config["datasets"][dataset]["kind"]


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
        if precision == "int8-paper" and config["quantize"].get("int8") != {"bits": 8, "per_channel": False}:
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
        dataset, _ = figure_clip("fig3")
        for name in figure("fig3")["variants"]:
            add(dataset, name, figure("fig3")["precision"], "none")
    if figure("fig4"):
        name = figure("fig4")["variant"]
        for dataset in CLIPS:
            for denoise in ("none", "stationary", "nonstationary", "siamese"):
                add(dataset, name, figure("fig4")["precision"], denoise)
    if figure("fig6"):
        dataset, _ = figure_clip("fig6")
        for name in figure("fig6")["variants"]:
            add(dataset, name, "float", "none")
    if figure("training_curves"):
        for name in figure("training_curves")["variants"]:
            for dataset in CLIPS:
                for step in snapshot_steps(name):
                    add(dataset, name, f"float-step{step}", "none")
                add(dataset, name, "float", "none")
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
    }


def score_figure_variants(name):
    spec = figure(name)
    return spec["variants"] if "variants" in spec else [spec["variant"]]


def all_targets():
    tables = [f"{R}/tables/{t}.{ext}" for t in config["tables"] for ext in ("csv", "md", "tex")]
    return tables + figure_targets() + [f"{R}/scores.csv"]
