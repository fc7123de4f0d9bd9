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

from siamese_siren.analysis.paper import PAPER_DATASET_OF_KIND, PAPER_RECIPE
from siamese_siren.analysis.precision import PAPER_SETTING, PAPER_SETTING_FIELDS, Precision
from siamese_siren.analysis.reference_codecs import check_bitrate
from siamese_siren.codec.models import VARIANTS as LIBRARY_VARIANTS
from siamese_siren.codec.models import Variant, parameter_count

from .config import config_error
from .layout import Layout
from .targets import Target, registered

#: A scaled run (``scale.width`` < 1) compares with the paper when its Siamese SIREN has about the paper's
#: parameters per sample (140,546 / 220,500): the network's capacity per second of audio, what sets the quality.
SCALE_REFERENCE = "siamese-siren"
SCALE_TOLERANCE = 0.15
#: Keys of a config variant that are not architecture (every other key is a Variant field); all but `model`
#: default to the `training` section's value.
RECIPE_KEYS = ("model", "steps", "seed", "lr", "schedule", "warmup_steps", "init")
LEARNED = "learned:"


def _scale_widths(widths: Sequence[int], factor: float) -> tuple[int, ...]:
    return tuple(max(1, round(w * factor)) for w in widths)


# ---- the plan -----------------------------------------------------------------------------------------------


class Plan:
    """A validated configuration, resolved: variants, settings, demand and paths; every check at construction."""

    def __init__(self, config: Mapping[str, Any], targets: Iterable[Target] | None = None) -> None:
        """Every check of the configuration runs here: an error names its key before any job is planned.

        ``targets``: the kinds of target to plan (default: every one registered in
        :mod:`siamese_siren.pipeline.targets`); an experiment adds its own with :meth:`add_target`.
        """
        self.config = config
        if not str(config["results"]).strip() or Path(config["results"]).resolve() == Path("/"):
            config_error("results", f"{config['results']!r} would put every artifact at the filesystem root",
                         "give a folder, such as results")
        self.layout = Layout(config["results"])
        self.codec_bitrates = self._codec_bitrates()
        self._check_datasets()
        self.kinds: list[Target] = []
        self.specs: dict[str, Mapping[str, Any]] = dict(config["variants"])
        for kind in registered() if targets is None else targets:
            self._join(kind)
        self._plan()

    def add_target(self, kind: Target) -> None:
        """Plan one more kind of target (an experiment's), with the variants it adds, and check everything again."""
        self._join(kind)
        self._plan()

    def _join(self, kind: Target) -> None:
        added = kind.variants(self.config)
        if clash := sorted(set(added) & set(self.specs)):
            config_error("variants", f"{clash} are names {kind.key} gives variants of its own", "rename them")
        self.kinds.append(kind)
        self.specs.update(added)

    def _plan(self) -> None:
        self.variants = {name: self._resolve_variant(name, spec) for name, spec in self.specs.items()}
        self._check_recipes()
        self._snapshots = self._demanded_snapshots()
        self.needs, self._files = self._demand()

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
        """Training steps whose float weights a training job of the variant keeps: ``training.snapshot_steps`` and
        those a target asks for, below the variant's steps."""
        wanted = set(self.config["training"]["snapshot_steps"]) | self._snapshots.get(name, set())
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

    def train_params(self, name: str) -> dict[str, Any]:
        """What a training job of this variant needs besides its clips (and its init file, an input)."""
        training = self.config["training"]
        return {"variant": self.variant(name).to_dict(), "steps": self.steps(name), "seed": self.seed(name),
                "snapshot_steps": self.snapshot_steps(name), "keep": training["keep"], "lr": self.recipe(name, "lr"),
                "schedule": self.recipe(name, "schedule"), "warmup_steps": self.recipe(name, "warmup_steps"),
                "weight_decay": training["weight_decay"], "device": training["device"],
                "switches": {k: training[k] for k in ("compile", "tf32", "bf16")}}

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

    # -- the run as a whole

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
            f"{paper_ratio:.2f}; a scaled run compares with the paper only within {SCALE_TOLERANCE:.0%} of the paper's "
            "parameters per sample: scale clip.seconds with scale.width")
        return {"factor": factor, "ratio": ratio, "paper_ratio": paper_ratio, "note": note,
                "comparable": comparable, "problem": problem}

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

    # -- demand: what the targets read

    def instances(self) -> list[tuple[Target, str, Mapping[str, Any]]]:
        """(kind, config key, section) of every target the configuration asks for, in registry order."""
        return [(kind, key, spec) for kind in self.kinds for key, spec in kind.instances(self.config).items()]

    def _demanded_snapshots(self) -> dict[str, set[int]]:
        wanted: dict[str, set[int]] = {}
        for kind, key, spec in self.instances():
            for name, steps in kind.snapshots(self, key, spec).items():
                wanted.setdefault(name, set()).update(steps)
        return wanted

    def _demand(self) -> tuple[dict[tuple[str, str], set[tuple[str, str]]], dict[tuple[str, str], set[str]]]:
        """{(dataset, variant): {(precision, denoise)}} every target decodes, and {(dataset, variant): {setting}}
        of the files they measure besides; each checked against the config, naming the target's key."""
        needs: dict[tuple[str, str], set[tuple[str, str]]] = {}
        measured: dict[tuple[str, str], set[str]] = {}
        for kind, key, spec in self.instances():
            kind.check(self, key, spec)
            for dataset, name, precision, denoise in kind.reconstructions(self, key, spec):
                self.variant(name, key)
                self.precision(key, precision)
                needs.setdefault((dataset, name), set()).add((precision, self.denoise(name, denoise)))
            for dataset, name, setting in kind.files(self, key, spec):
                measured.setdefault((dataset, name), set()).add(setting)
        return needs, measured

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
        """Quantize settings whose files one dataset and variant's job writes: those its reconstructions decode and
        those a target measures (a table's file sizes, the rate-distortion points, the resolution target's file)."""
        return sorted(set(self.settings_needed(dataset, name)) | self._files.get((dataset, name), set()))

    # -- targets

    def targets(self, in_tables: bool = False) -> list[str]:
        """Every file `rule all` builds; with ``in_tables``, those of `snakemake tables` (the paper's results).

        A figure the config asks for must be some planned kind's: an experiment's figure, asked for while the
        experiment is off, is an error naming the key rather than a figure silently missing."""
        claimed = {kind.key for kind in self.kinds}
        for name in self.config["figures"]:
            if f"figures.{name}" not in claimed:
                config_error(f"figures.{name}", "no target of this run draws it",
                             "turn on the experiment it belongs to (experiments.<name>: true, set by its "
                             "config/experiments/<name>.yaml) or set it to null")
        out = [path for kind, key, spec in self.instances() if kind.in_tables or not in_tables
               for path in kind.outputs(self, key, spec)]
        return list(dict.fromkeys(out))
