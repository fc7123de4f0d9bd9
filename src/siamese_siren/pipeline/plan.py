"""The workflow's plan: a validated configuration resolved into what the workflow runs. No Snakemake here.

:class:`Plan` turns a validated config dict (``snakemake.utils.validate`` fills the schema's defaults) into
variants (every :class:`~siamese_siren.codec.models.Variant` field settable), training settings per variant, the
reconstructions and files every registered target demands (:mod:`siamese_siren.pipeline.targets`), and every config
check that can run before a job starts, each failing with a :class:`~siamese_siren.pipeline.config.ConfigError` that
names the key and the fix. Paths are :class:`~siamese_siren.pipeline.layout.Layout`'s.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from siamese_siren.analysis.paper import paper_size_measures
from siamese_siren.analysis.precision import PAPER_SETTING, PAPER_SETTING_FIELDS, Precision
from siamese_siren.analysis.reference_codecs import check_bitrate
from siamese_siren.codec.models import VARIANTS as LIBRARY_VARIANTS
from siamese_siren.codec.models import Variant, parameter_count

from .config import config_error
from .layout import Layout

#: Denoising modes Figure 4 compares.
ABLATION_DENOISE = ("none", "stationary", "nonstationary", "siamese")
#: Sources of the paper's own datasets, and the recipe its tables were measured with.
PAPER_SOURCES = ("gtzan", "librispeech")
PAPER_RECIPE = {"clip.seconds": 10.0, "clip.sample_rate": 22050, "training.steps": 2500, "training.keep": "final"}
#: A scaled run (``scale.width`` < 1) compares with the paper when its Siamese SIREN has about the paper's
#: parameters per sample (140,546 / 220,500): the network's capacity per second of audio, what sets the quality.
SCALE_REFERENCE = "siamese-siren"
SCALE_TOLERANCE = 0.15
PAPER_DATASET_OF_KIND = {"speech": "librispeech", "music": "gtzan"}
#: Keys of a config variant that are not architecture (every other key is a Variant field); all but `model`
#: default to the `training` section's value.
RECIPE_KEYS = ("model", "steps", "seed", "lr", "schedule", "warmup_steps", "init")
LEARNED = "learned:"


# ---- clips in batches ---------------------------------------------------------------------------------------


def batches(clips: Iterable[str], size: int) -> dict[str, list[str]]:
    """Clips grouped into training jobs of ``size``, in the given (sorted) order: {batch id: [clip ids]}."""
    ids = list(clips)
    return {f"b{i // size:04d}": ids[i : i + size] for i in range(0, len(ids), size)}


def batch_of(grouped: Mapping[str, Sequence[str]], clip: str) -> str:
    return next(batch for batch, ids in grouped.items() if clip in ids)


def spread(items: Sequence[str], n: int | None) -> list[str]:
    """``n`` of ``items`` evenly spaced from the first to the last (all of them when ``n`` is None or enough).

    Sorted GTZAN ids run genre by genre, so even spacing puts every genre on a 20-clip page where the first 20
    would all be blues; the choice depends only on the sorted ids, so reruns and readers agree on it.
    """
    if n is None or n >= len(items):
        return list(items)
    if n == 1:
        return [items[0]]
    return [items[round(i * (len(items) - 1) / (n - 1))] for i in range(n)]


def choose_clip(key: str, wanted: str | None, clips: Sequence[str]) -> str:
    """The clip a figure shows: the configured one, or the dataset's first."""
    chosen = wanted or clips[0]
    if chosen not in clips:
        config_error(key, f"no clip {chosen!r} in the dataset", f"use one of {list(clips)[:10]}")
    return chosen


def budget_variant(recipe: str, steps: int) -> str:
    """The name of a recipe's run with another step budget (figures.fast_fit)."""
    return f"{recipe}-{steps}steps"


def _scale_widths(widths: Sequence[int], factor: float) -> tuple[int, ...]:
    return tuple(max(1, round(w * factor)) for w in widths)


# ---- the plan -----------------------------------------------------------------------------------------------


class Plan:
    """A validated configuration, resolved: variants, settings, demand and paths; every check at construction."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = config
        self.layout = Layout(config["results"])
        self.specs = {**config["variants"], **self._fast_fit_budgets()}
        self.variants = {name: self._resolve_variant(name, spec) for name, spec in self.specs.items()}
        self._check_datasets()
        self._check_recipes()
        self.codec_bitrates = self._codec_bitrates()
        self.needs = self._needs()

    # -- datasets

    @property
    def datasets(self) -> list[str]:
        return list(self.config["datasets"])

    def kind(self, dataset: str) -> str:
        return self.config["datasets"][dataset]["kind"]

    def source(self, dataset: str) -> str:
        return self.config["datasets"][dataset]["source"]

    def user_path(self, source: str) -> str | None:
        """The archive or extracted folder the user already has (sources.<source>.path), or None to download."""
        path = self.config["sources"][source]["path"]
        if path is not None and not Path(path).exists():
            config_error(f"sources.{source}.path", f"{path} does not exist",
                         "point it at the archive or the extracted folder, or set it to null to download")
        return path

    def download_folder(self) -> str:
        return self.config["sources"]["folder"]

    def source_archive(self, source: str) -> str:
        """The archive to extract: the user's or the downloaded one."""
        return self.user_path(source) or f"{self.download_folder()}/{source}.tar.gz"

    def dataset_root(self, dataset: str) -> str:
        """The folder a manifest lists: a folder dataset's path, the user's extracted folder, or the extraction."""
        source = self.source(dataset)
        if source == "folder":
            return self.config["datasets"][dataset]["path"]
        path = self.user_path(source)
        return path if path and Path(path).is_dir() else f"{self.download_folder()}/{source}"

    def manifest_params(self, dataset: str) -> dict[str, Any]:
        spec, clip = self.config["datasets"][dataset], self.config["clip"]
        folder = self.source(dataset) == "folder"
        return {"source": self.source(dataset), "clips": spec["max_clips" if folder else "clips"],
                "seed": None if folder else spec["seed"], "pattern": spec["pattern"],
                "sample_rate": clip["sample_rate"], "offset": clip["offset"], "seconds": clip["seconds"]}

    def _check_datasets(self) -> None:
        for name, spec in self.config["datasets"].items():
            if spec["source"] != "folder":
                self.user_path(spec["source"])
                if "path" in spec:
                    config_error(f"datasets.{name}.path", f"a {spec['source']} dataset takes its files from the source",
                                 f"set sources.{spec['source']}.path to your archive or extracted folder instead")
                continue
            folder = Path(spec["path"])
            if not folder.is_dir():
                config_error(f"datasets.{name}.path", f"{folder} is not a folder",
                             "point it at a folder of audio files")
            if not any(p.is_file() for p in folder.glob(spec["pattern"])):
                config_error(f"datasets.{name}.pattern", f"no file in {folder} matches {spec['pattern']!r}",
                             "put audio files there or change the pattern (e.g. '*.wav', '**/*.flac')")

    def known_dataset(self, key: str, dataset: str) -> str:
        if dataset not in self.config["datasets"]:
            config_error(key, f"unknown dataset {dataset!r}", f"use one of {self.datasets}")
        return dataset

    # -- variants and training

    def _resolve_variant(self, name: str, spec: Mapping[str, Any]) -> Variant:
        """A library architecture (`model`) with any Variant field overridden, or an inline architecture."""
        fields = {k: v for k, v in spec.items() if k not in RECIPE_KEYS}
        if "model" in spec and spec["model"] not in LIBRARY_VARIANTS:
            config_error(f"variants.{name}.model", f"unknown model {spec['model']!r}",
                         f"use one of {list(LIBRARY_VARIANTS)}")
        try:
            if "model" in spec:
                return self.scaled(dataclasses.replace(LIBRARY_VARIANTS[spec["model"]], **fields, name=name))
            return self.scaled(Variant.from_dict({**fields, "name": name}))
        except (TypeError, ValueError) as err:
            config_error(f"variants.{name}", str(err), "give `model` or layer widths `hidden`/`siam` (see the schema)")

    def scaled(self, variant: Variant) -> Variant:
        """The variant with every layer width times ``scale.width`` (rounded, at least 1): its scaled twin."""
        factor = self.config["scale"]["width"]
        if factor == 1:
            return variant
        return dataclasses.replace(variant, hidden=_scale_widths(variant.hidden, factor),
                                   siam=_scale_widths(variant.siam, factor))

    def variant(self, name: str, key: str = "variants") -> Variant:
        if name not in self.variants:
            config_error(key, f"no variant named {name!r}", f"define it or use one of {list(self.variants)}")
        return self.variants[name]

    def model_name(self, name: str) -> str | None:
        """The library architecture a config variant names with `model` (None for an inline architecture)."""
        return self.specs[name].get("model")

    def recipe(self, name: str, key: str) -> Any:
        """A recipe key (RECIPE_KEYS but `model`) of a variant: its own value or the `training` section's."""
        return self.specs[name].get(key, self.config["training"][key])

    def steps(self, name: str) -> int:
        return self.recipe(name, "steps")

    def seed(self, name: str) -> int:
        return self.recipe(name, "seed")

    def snapshot_steps(self, name: str) -> list[int]:
        wanted = set(self.config["training"]["snapshot_steps"])
        if (fit := self.figure("fast_fit")) and fit["baseline"] == name:
            wanted |= set(fit["steps"])
        return sorted(s for s in wanted if s < self.steps(name))

    def init_name(self, name: str) -> str | None:
        """The learned initialisation a variant starts from (None: the random one)."""
        init = self.recipe(name, "init")
        return init.removeprefix(LEARNED) if init.startswith(LEARNED) else None

    def init_file(self, name: str) -> str | None:
        init = self.init_name(name)
        return self.layout.init(init) if init else None

    def _check_recipes(self) -> None:
        for name in self.specs:
            if not self.recipe(name, "warmup_steps") < self.steps(name):
                config_error(f"variants.{name}.warmup_steps", f"warm-up of {self.recipe(name, 'warmup_steps')} "
                             f"steps in a run of {self.steps(name)}", "make warmup_steps smaller than steps")
            init = self.init_name(name)
            if init is None:
                continue
            if init not in self.config["inits"]:
                config_error(f"variants.{name}.init", f"no learned initialisation {init!r}",
                             f"define inits.{init} or use one of {[f'{LEARNED}{n}' for n in self.config['inits']]}")
            if self.variant(name) != self.init_variant(init):
                config_error(f"variants.{name}.init", f"inits.{init} is for {self.init_variant(init).label}, the "
                             f"variant is {self.variant(name).label}", "meta-train an init of its architecture")

    def init_variant(self, init: str) -> Variant:
        return self.variant(self.config["inits"][init]["variant"], f"inits.{init}.variant")

    def init_datasets(self, init: str) -> list[str]:
        wanted = self.config["inits"][init]["datasets"] or self.datasets
        return [self.known_dataset(f"inits.{init}.datasets", d) for d in wanted]

    def init_params(self, init: str) -> dict[str, Any]:
        """What meta-training an initialisation needs: its architecture, Reptile's settings, the split's draw."""
        spec, clip = self.config["inits"][init], self.config["clip"]
        meta = {k: spec[k] for k in ("meta_steps", "inner_steps", "inner_lr", "meta_lr", "clips_at_once", "seed",
                                     "compile", "learn_output")}
        meta["device"] = self.config["training"]["device"]
        return {"variant": self.init_variant(init).to_dict(), "meta": meta,
                "clips": spec["clips"], "seed": spec["seed"], "sample_rate": clip["sample_rate"],
                "offset": clip["offset"], "seconds": clip["seconds"]}

    def train_params(self, name: str) -> dict[str, Any]:
        """What a training job of this variant needs besides its clips (and its init file, an input)."""
        training = self.config["training"]
        return {"variant": self.variant(name).to_dict(), "steps": self.steps(name), "seed": self.seed(name),
                "snapshot_steps": self.snapshot_steps(name), "keep": training["keep"], "lr": self.recipe(name, "lr"),
                "schedule": self.recipe(name, "schedule"), "warmup_steps": self.recipe(name, "warmup_steps"),
                "weight_decay": training["weight_decay"], "device": training["device"],
                "clips_at_once": training["clips_at_once"],
                "switches": {k: training[k] for k in ("compile", "tf32", "bf16")}}

    # -- fast fitting (figures.fast_fit)

    def _fast_fit_budgets(self) -> dict[str, dict]:
        """The variants fast_fit adds: each recipe once per step budget it does not already run."""
        fit = self.config["figures"].get("fast_fit")
        if not fit:
            return {}
        added = {}
        for recipe in fit["recipes"]:
            if recipe not in self.config["variants"]:
                config_error("figures.fast_fit.recipes", f"no variant named {recipe!r}",
                             f"use some of {list(self.config['variants'])}")
            spec = self.config["variants"][recipe]
            for steps in fit["steps"]:
                if steps != spec.get("steps", self.config["training"]["steps"]):
                    added[budget_variant(recipe, steps)] = {**spec, "steps": steps}
        if clash := sorted(set(added) & set(self.config["variants"])):
            config_error("variants", f"{clash} are names figures.fast_fit gives its budget runs", "rename them")
        return added

    def fast_fit_runs(self) -> list[tuple[str, int, str, str]]:
        """(recipe, step budget, variant, precision) of every cell of fast_fit: the baseline's snapshots, each
        recipe's run of that many steps."""
        fit = self.figure("fast_fit")
        baseline = fit["baseline"]
        self.variant(baseline, "figures.fast_fit.baseline")
        runs = []
        for steps in fit["steps"]:
            if steps > self.steps(baseline):
                config_error("figures.fast_fit.steps", f"{steps} is beyond the baseline's {self.steps(baseline)} "
                             "steps", f"use budgets up to {self.steps(baseline)}")
            runs.append((baseline, steps, baseline, "float" if steps == self.steps(baseline) else f"float-step{steps}"))
            for recipe in fit["recipes"]:
                name = recipe if steps == self.steps(recipe) else budget_variant(recipe, steps)
                runs.append((recipe, steps, name, "float"))
        return runs

    # -- precisions and denoising

    def precision(self, key: str, name: str) -> Precision:
        """A configured precision, checked against the quantize settings."""
        precision = Precision.parse(name)
        quantize = self.config["quantize"]
        if precision.paper_mode:
            if PAPER_SETTING not in quantize or \
                    {k: self.quantize_params(PAPER_SETTING)[k] for k in PAPER_SETTING_FIELDS} != PAPER_SETTING_FIELDS:
                config_error(f"quantize.{PAPER_SETTING}", "int8-paper decodes the paper's int8 file",
                             "set it to {bits: 8, per_channel: false}")
        elif precision.setting is not None and precision.setting not in quantize:
            config_error(key, f"unknown precision {name!r}",
                         f"use float, float-stepN, int8-paper or one of {list(quantize)}")
        return precision

    def quantize_params(self, setting: str) -> dict[str, Any]:
        """What a setting's file is: weight bits, scales, entropy coding, and the fine-tuning steps it follows."""
        spec = self.config["quantize"][setting]
        return {"bits": spec["bits"], "per_channel": spec["per_channel"], "entropy": spec.get("entropy", "none"),
                "qat_steps": spec.get("qat_steps", 0)}

    def finetuned_settings(self, dataset: str, name: str) -> list[str]:
        """The settings of one dataset and variant's files that are written from quantization-aware fine-tuned
        networks (``qat_steps`` > 0), each a stage of its own."""
        return [s for s in self.settings_compressed(dataset, name) if self.quantize_params(s)["qat_steps"]]

    def qat_params(self, setting: str) -> dict[str, Any]:
        """A fine-tuning job's recipe: the setting's bits and scales in the forward pass, its steps and rate."""
        params, training = self.quantize_params(setting), self.config["training"]
        return {"bits": params["bits"], "per_channel": params["per_channel"], "steps": params["qat_steps"],
                "lr": self.config["quantize"][setting]["qat_lr"], "device": training["device"],
                "switches": {k: training[k] for k in ("compile", "tf32", "bf16")}}

    def denoise(self, name: str, denoise: str) -> str:
        """``auto`` resolved for a variant: siamese denoising when it has two heads."""
        twin_heads = bool(self.variant(name).siam)
        if denoise == "auto":
            return "siamese" if twin_heads else "none"
        if denoise == "siamese" and not twin_heads:
            config_error("denoise", f"siamese denoising needs two heads, variant {name!r} has none",
                         "use none or auto")
        return denoise

    # -- demand: which reconstructions the targets read

    def table_datasets(self, table: str) -> list[str]:
        wanted = self.config["tables"][table]["datasets"] or self.datasets
        return [self.known_dataset(f"tables.{table}.datasets", d) for d in wanted]

    def table_cells(self, table: str) -> list[tuple[str, str]]:
        """(dataset, variant) of every row of a table, in the table's order."""
        return [(d, v) for d in self.table_datasets(table) for v in self.config["tables"][table]["variants"]]

    def table_setting(self, table: str) -> str:
        """The quantize setting whose file sizes a table shows (a float table shows the paper's int8 file)."""
        return Precision.parse(self.config["tables"][table]["precision"]).setting or PAPER_SETTING

    def paper_comparison(self, table: str) -> dict[str, Any]:
        """Which rows of a table compare with the paper's (``siamese_siren.analysis.paper.PaperMatch`` arguments).

        Only a table measured as the paper measured it compares: the paper's datasets, its clip, training steps and
        final weights, int8 paper-mode decoding with automatic denoising, and variants that are a library model
        unchanged. Otherwise ``datasets`` is empty and ``reason`` says what differs.
        """
        spec, config = self.config["tables"][table], self.config
        settings = {"clip.seconds": config["clip"]["seconds"], "clip.sample_rate": config["clip"]["sample_rate"],
                    "training.steps": config["training"]["steps"], "training.keep": config["training"]["keep"],
                    "precision": spec["precision"], "denoise": spec["denoise"]}
        wanted = {**PAPER_RECIPE, "precision": "int8-paper", "denoise": "auto"}
        scaled = self.scaled_run()
        if scaled:
            del wanted["clip.seconds"]
        differs = [f"{key} is {settings[key]} (the paper's: {value})" for key, value in wanted.items()
                   if settings[key] != value]
        if scaled:  # our recordings stand in for the paper's datasets of their kind, as the note says
            datasets = {d: PAPER_DATASET_OF_KIND[self.kind(d)] for d in self.table_datasets(table)}
            if not scaled["comparable"]:
                differs.append(scaled["problem"])
        else:
            datasets = {d: self.source(d) for d in self.table_datasets(table) if self.source(d) in PAPER_SOURCES}
            if not datasets:
                differs.append("no dataset of the paper's (GTZAN or LibriSpeech)")
        models = {v: model for v in spec["variants"] if (model := self.unchanged_model(v))}
        note = scaled["note"] if scaled else ""
        if differs:
            return {"datasets": {}, "models": models, "reason": "; ".join(differs), "scaled": note}
        return {"datasets": datasets, "models": models, "reason": "", "scaled": note}

    def scaled_run(self) -> dict[str, Any] | None:
        """None for a full-size run; else what the scaling is, and whether it keeps the paper's parameters per
        sample (``comparable``; ``problem`` says by how much it misses)."""
        factor = self.config["scale"]["width"]
        if factor == 1:
            return None
        seconds, rate = self.config["clip"]["seconds"], self.config["clip"]["sample_rate"]
        reference = LIBRARY_VARIANTS[SCALE_REFERENCE]
        paper_ratio = parameter_count(reference) / (PAPER_RECIPE["clip.seconds"] * PAPER_RECIPE["clip.sample_rate"])
        params = parameter_count(self.scaled(reference))
        ratio = params / round(seconds * rate)
        note = (f"scaled run: every width x{factor:g} and {seconds:g} s clips (the paper: full widths, 10 s), so "
                f"Siamese SIREN has {params:,} parameters for {round(seconds * rate):,} samples ({ratio:.2f} per "
                f"sample, the paper's {paper_ratio:.2f}); our {'/'.join(PAPER_DATASET_OF_KIND)} recordings stand "
                f"in for {'/'.join(PAPER_DATASET_OF_KIND.values())}")
        comparable = abs(ratio / paper_ratio - 1) <= SCALE_TOLERANCE
        problem = "" if comparable else (
            f"widths x{factor:g} with {seconds:g} s clips give {ratio:.2f} parameters per sample, not the paper's "
            f"{paper_ratio:.2f} (within {SCALE_TOLERANCE:.0%}): scale clip.seconds with scale.width")
        return {"factor": factor, "ratio": ratio, "paper_ratio": paper_ratio, "note": note,
                "comparable": comparable, "problem": problem}

    def findings_spec(self) -> dict[str, Any]:
        """What ``siamese_siren.analysis.findings`` needs to know of the run: which variant plays which of the paper's
        models in each table (a variant that is a library model unchanged, or its scaled twin), Figures 4 and 6, the
        parameter counts, and a header saying how the run was measured."""
        tables, sizes = {}, {}
        for table, spec in self.config["tables"].items():
            names = spec["variants"]
            tables[table] = {"roles": self._roles(names), "precision": spec["precision"],
                             "denoise": {v: self.denoise(v, spec["denoise"]) for v in names}}
            for name in names:
                variant = self.variant(name)
                sizes[name] = {"exact": parameter_count(variant),
                               "torchsummary": round(paper_size_measures(variant)["params_k"] * 1000)}
        fig6 = self.figure("fig6")
        if fig6:
            fig6 = {"dataset": self.figure_dataset("fig6"), "roles": self._roles(fig6["variants"], steps=True),
                    "steps": max(self.steps(v) for v in fig6["variants"])}
        scaled = self.scaled_run()
        training, clip = self.config["training"], self.config["clip"]
        header = (f"Run `{self.config['results']}`: {scaled['note'] if scaled else 'full-size networks'}; "
                  f"{clip['seconds']:g} s clips at {clip['sample_rate']} Hz, {training['steps']} training steps, "
                  f"the {training['keep']} weights.")
        return {"tables": tables, "parameters": sizes, "fig4": self.figure("fig4"), "fig6": fig6,
                "kinds": {d: self.kind(d) for d in self.datasets}, "header": header}

    def _roles(self, names: Sequence[str], steps: bool = False) -> dict[str, str]:
        """{library model: variant} of the variants that are a library model unchanged (but for ``steps``)."""
        roles: dict[str, str] = {}
        for name in names:
            if model := self.unchanged_model(name, steps):
                roles.setdefault(model, name)
        return roles

    def unchanged_model(self, name: str, steps: bool = False) -> str | None:
        """The library model a variant is, unchanged but for its seed (and ``steps``, if allowed), or None."""
        allowed = {"model", "seed", "steps"} if steps else {"model", "seed"}
        model = self.model_name(name)
        return model if model and set(self.specs[name]) <= allowed else None

    def figure(self, name: str) -> dict | None:
        return self.config["figures"].get(name)

    def figure_dataset(self, name: str) -> str:
        return self.known_dataset(f"figures.{name}.dataset", self.figure(name)["dataset"])

    def figure_variants(self, name: str) -> list[str]:
        spec = self.figure(name)
        return spec["variants"] if "variants" in spec else [spec["variant"]]

    def _needs(self) -> dict[tuple[str, str], set[tuple[str, str]]]:
        need: dict[tuple[str, str], set[tuple[str, str]]] = {}

        def add(key: str, dataset: str, name: str, precision: str, denoise: str) -> None:
            self.variant(name, key)
            self.precision(key, precision)
            need.setdefault((dataset, name), set()).add((precision, self.denoise(name, denoise)))

        for table, spec in self.config["tables"].items():
            for dataset in self.table_datasets(table):
                for name in spec["variants"]:
                    add(f"tables.{table}", dataset, name, spec["precision"], spec["denoise"])
        if spec := self.figure("fig3"):
            for name in spec["variants"]:
                add("figures.fig3", self.figure_dataset("fig3"), name, spec["precision"], "none")
        if spec := self.figure("fig4"):
            for dataset in self.datasets:
                for denoise in ABLATION_DENOISE:
                    add("figures.fig4", dataset, spec["variant"], spec["precision"], denoise)
        if spec := self.figure("fig5"):
            self.figure_dataset("fig5")
        if spec := self.figure("fig6"):
            for name in spec["variants"]:
                add("figures.fig6", self.figure_dataset("fig6"), name, "float", "none")
        if self.figure("fast_fit"):
            for _, _, name, precision in self.fast_fit_runs():
                for dataset in self.datasets:
                    add("figures.fast_fit", dataset, name, precision, "none")
        if spec := self.figure("training_curves"):
            for name in spec["variants"]:
                for dataset in self.datasets:
                    for step in self.snapshot_steps(name):
                        add("figures.training_curves", dataset, name, f"float-step{step}", "none")
                    add("figures.training_curves", dataset, name, "float", "none")
        if rd := self.config.get("rate_distortion"):
            for dataset in self.datasets:
                for name in rd["variants"]:
                    for precision in rd["precisions"]:
                        add("rate_distortion", dataset, name, precision, rd["denoise"])
            self._check_rd_comparisons(rd)
        if spec := self.config.get("resolution"):  # its file must exist; the resolution rule decodes it itself
            self.known_dataset("resolution.dataset", spec["dataset"])
            self.variant(spec["variant"], "resolution.variant")
            if self.precision("resolution.precision", spec["precision"]).setting is None:
                config_error("resolution.precision", "float weights have no compressed file", "name a quantize setting")
        return need

    def reconstructions(self, dataset: str, name: str) -> list[tuple[str, str]]:
        """Sorted (precision, denoise) pairs to decode for one dataset and variant."""
        return sorted(self.needs.get((dataset, name), ()))

    def settings_needed(self, dataset: str, name: str) -> list[str]:
        """Quantize settings whose files one dataset and variant's reconstructions decode."""
        settings = {Precision.parse(p).setting for p, _ in self.needs.get((dataset, name), ())}
        return sorted(settings - {None})

    def scored(self) -> list[tuple[str, str]]:
        """Every (dataset, variant) that something scores, sorted."""
        return sorted(self.needs)

    def settings_compressed(self, dataset: str, name: str) -> list[str]:
        """Quantize settings whose files one dataset and variant's job writes: those its reconstructions decode,
        those whose sizes a table or the rate-distortion points show, and the resolution target's."""
        settings = set(self.settings_needed(dataset, name))
        settings |= {self.table_setting(t) for t in self.config["tables"] if (dataset, name) in self.table_cells(t)}
        if (rd := self.config.get("rate_distortion")) and name in rd["variants"]:
            settings |= set(self.rd_settings())
        if (spec := self.config.get("resolution")) and (spec["dataset"], spec["variant"]) == (dataset, name):
            settings.add(Precision.parse(spec["precision"]).setting)
        return sorted(settings)

    # -- codecs, rate-distortion, resolution

    def _codec_bitrates(self) -> dict[str, list[int]]:
        out = {}
        for name, rates in (self.config.get("codecs") or {}).items():
            for kbps in rates:
                try:
                    check_bitrate(name, kbps, self.config["clip"]["sample_rate"])
                except ValueError as err:
                    config_error(f"codecs.{name}", str(err), "pick bitrates the codec has")
            if rates:
                out[name] = sorted(set(rates))
        return out

    def _check_rd_comparisons(self, rd: Mapping[str, Any]) -> None:
        """The equal-quality reference is one of the points; rate control's objective is scored on every dataset."""
        if ref := rd.get("reference"):
            if ref["variant"] not in rd["variants"] or ref["precision"] not in rd["precisions"]:
                config_error("rate_distortion.reference", f"{ref['variant']} at {ref['precision']} is not one of the "
                             "points", "add it to rate_distortion.variants and precisions")
        if (control := rd.get("control")) and control["objective"] != "snr":
            for dataset in self.datasets:
                if control["objective"] not in self.config["metrics"][self.kind(dataset)]:
                    config_error("rate_distortion.control.objective", f"{control['objective']} is not scored on "
                                 f"{dataset} ({self.kind(dataset)})", "use snr or a metric every dataset scores")

    def qat_pairs(self) -> dict[str, str]:
        """Rate-distortion precisions written after quantization-aware fine-tuning, each with the precision of the
        same bits, scales and coding written straight from training, where both are points: what fine-tuning buys."""
        rd = self.config.get("rate_distortion") or {}
        by_layout: dict[tuple, dict[bool, str]] = {}
        for name in rd.get("precisions", []):
            precision = Precision.parse(name)
            if precision.setting is None or precision.paper_mode:
                continue
            params = self.quantize_params(precision.setting)
            layout = (params["bits"], params["per_channel"], params["entropy"])
            by_layout.setdefault(layout, {}).setdefault(params["qat_steps"] > 0, name)
        return {pair[True]: pair[False] for pair in by_layout.values() if len(pair) == 2}

    def rd_settings(self) -> list[str]:
        """Quantize settings whose files the rate-distortion points measure."""
        rd = self.config["rate_distortion"]
        return sorted({Precision.parse(p).setting for p in rd["precisions"]} - {None})

    # -- the listening page and the MUSHRA kit

    def listen_entries(self, dataset: str) -> list[tuple[str, str, str, list[str]]]:
        """(variant, precision, denoise, tables) of every reconstruction the page plays for one dataset, in table order.

        Each table's variants at the table's precision and denoising, plus the float and the not-denoised versions
        the run decodes anyway for a figure, and those of ``listen.precisions`` the run decodes (the rate-distortion
        points' files): the page adds no decoding of its own.
        """
        listened = self.listen_variants()
        shown: dict[tuple[str, str, str], list[str]] = {}
        for table, table_spec in self.config["tables"].items():
            if dataset not in self.table_datasets(table):
                continue
            for name in table_spec["variants"]:
                if name not in listened:
                    continue
                precision, denoise = table_spec["precision"], self.denoise(name, table_spec["denoise"])
                shown.setdefault((name, precision, denoise), []).append(table)
                for extra in (("float", "none"), (precision, "none")):
                    if extra in self.needs.get((dataset, name), ()):
                        shown.setdefault((name, *extra), [])
        for precision in self.config["listen"].get("precisions", []):
            self.precision("listen.precisions", precision)
            for name in listened:
                for decoded in sorted(self.needs.get((dataset, name), ())):
                    if decoded[0] == precision:
                        shown.setdefault((name, *decoded), [])
        return [(*key, tables) for key, tables in shown.items()]

    def listen_variants(self) -> list[str]:
        """Variants on the page, checked: each must be in a table (the page plays what the tables score)."""
        in_tables = {v for spec in self.config["tables"].values() for v in spec["variants"]}
        wanted = self.config["listen"]["variants"]
        for name in wanted or ():
            if name not in in_tables:
                config_error("listen.variants", f"{name!r} is in no table", f"use some of {sorted(in_tables)}")
        return [v for v in dict.fromkeys(v for s in self.config["tables"].values() for v in s["variants"])
                if wanted is None or v in wanted]

    # -- targets

    def figure_names(self) -> list[str]:
        return [n for n in ("fig3", "fig4", "fig5", "fig6", "training_curves", "fast_fit") if self.figure(n)]

    def table_targets(self) -> list[str]:
        """The tables and the denoising ablation (Figure 4): `snakemake tables`, the paper's results in one target."""
        out = [self.layout.table(t, ext) for t in self.config["tables"] for ext in ("csv", "md", "tex")]
        return out + ([self.layout.figure("fig4")] if self.figure("fig4") else [])

    def targets(self) -> list[str]:
        """Every file `rule all` builds."""
        L = self.layout  # noqa: N806
        out = list(dict.fromkeys(self.table_targets() + [L.figure(n) for n in self.figure_names()]))
        out += [L.all_scores()] + [L.findings(ext) for ext in ("md", "csv")]
        if self.figure("fast_fit"):
            out += [L.fast_fit(ext) for ext in ("csv", "md")]
        if self.config.get("rate_distortion"):
            out += [L.rate_distortion(f"kbps_needed.{ext}") for ext in ("csv", "md")]
            out += [L.rate_distortion("points.csv")] + [L.figure(f"rate_distortion_{d}") for d in self.datasets]
            if self.config["rate_distortion"].get("reference"):
                out += [L.rate_distortion(f"equal_quality.{ext}") for ext in ("csv", "md")]
            if self.config["rate_distortion"].get("control"):
                out += [L.rate_distortion(f"rate_control.{ext}") for ext in ("csv", "md")]
            if self.qat_pairs():
                out += [L.rate_distortion(f"qat.{ext}") for ext in ("csv", "md")]
        if self.config.get("resolution"):
            out.append(L.figure("resolution"))
        if self.config.get("listen"):
            out += [L.listen("index.html"), L.listen("mushra")]
        return out
