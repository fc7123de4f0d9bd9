"""The workflow's plan without a Snakemake process: precisions, variants, demand, paths and config errors."""

import copy
import dataclasses
from pathlib import Path

import pytest
import yaml
from snakemake.utils import update_config, validate

from siamese_siren.analysis.precision import Precision, reconstruction_file
from siamese_siren.codec.models import VARIANTS, Variant
from siamese_siren.experiments import inits
from siamese_siren.pipeline.config import ConfigError, validate_config
from siamese_siren.pipeline.layout import Layout, batch_of, batches, choose_clip
from siamese_siren.pipeline.plan import RECIPE_KEYS, Plan
from siamese_siren.pipeline.targets import listen, rate_distortion, tables

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"


def load(*overlays: Path | dict) -> dict:
    """config.yaml with overlays merged as Snakemake merges --configfile, validated with the schema's defaults."""
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    for overlay in overlays:
        update_config(config, yaml.safe_load(overlay.read_text()) if isinstance(overlay, Path) else overlay)
    validate_config(config, lambda checked: validate(checked, str(SCHEMA)))
    return config


@pytest.fixture(scope="module")
def test_config() -> dict:
    return load(ROOT / "tests" / "workflow" / "config.yaml", {"results": "res"})


def plan_with(config: dict, overlay: dict) -> Plan:
    config = copy.deepcopy(config)
    update_config(config, overlay)
    return Plan(config)


def test_every_shipped_config_plans():
    bits, paper, small = (ROOT / "config" / "experiments" / "bits.yaml", ROOT / "config" / "paper.yaml",
                          ROOT / "profiles" / "paper-small" / "workflow.yaml")
    for overlays in ([], [ROOT / "tests" / "workflow" / "config.yaml"], [ROOT / "profiles" / "demo" / "workflow.yaml"],
                     [paper], [small], [bits], [paper, bits], [small, bits]):
        plan = Plan(load(*overlays))
        assert plan.targets() and plan.needs


def test_the_defaults_are_the_paper_and_what_measured_positive():
    """config.yaml turns no experiment on (no learned initialisation, no fine-tuned file), so the training per clip
    stays within 10% of the paper's (8 table variants x 2,500 steps, and Figure 6 on speech)."""
    config = load()
    assert not any(config["experiments"].values()) and not config["inits"] and "fast_fit" not in config["figures"]
    assert set(config["tables"]) == {"table1", "table2", "table3"}
    assert not [name for name, spec in config["quantize"].items() if spec.get("qat_steps")]  # fine-tuning: bits.yaml
    plan = Plan(config)
    for dataset in plan.datasets:
        trained = {v for d, v in plan.scored() if d == dataset}
        steps = sum(plan.steps(v) for v in trained)
        steps += sum(plan.quantize_params(s)["qat_steps"] for v in trained for s in plan.finetuned_settings(dataset, v))
        paper = 8 * 2500 + (2 * 10_000 if plan.kind(dataset) == "speech" else 0)
        assert steps <= 1.10 * paper, (dataset, steps, paper)


def test_an_experiments_figure_without_its_experiment_names_the_key():
    fast_fit = {"baseline": "t-siamese-siren", "recipes": ["t-siamese-siren"], "steps": [10]}
    plan = Plan(load(ROOT / "tests" / "workflow" / "config.yaml", {"figures": {"fast_fit": fast_fit}}))
    with pytest.raises(ConfigError, match="figures.fast_fit: no target of this run draws it; turn on the experiment"):
        plan.targets()


def test_precisions_parse_once():
    assert Precision.parse("float") == Precision("float")
    assert Precision.parse("float-step250") == Precision("float-step250", step=250)
    paper = Precision.parse("int8-paper")
    assert (paper.setting, paper.decode_mode, paper.step) == ("int8", "int8-paper", None)
    assert (Precision.parse("int6-rans").setting, Precision.parse("int6-rans").decode_mode) == ("int6-rans", "int8")
    assert reconstruction_file("c1", "int8-paper", "siamese") == "c1__int8-paper__siamese.wav"


def test_precision_checks_name_the_key(test_config):
    plan = Plan(test_config)
    assert plan.precision("k", "int4-pc").setting == "int4-pc"
    with pytest.raises(ConfigError, match="config key tables.table1: unknown precision 'int3'"):
        plan_with(test_config, {"tables": {"table1": {"precision": "int3"}}})
    with pytest.raises(ConfigError, match="config key quantize.int8: int8-paper"):
        plan_with(test_config, {"quantize": {"int8": {"bits": 6}}})


def test_layout_gives_rule_templates_and_real_paths():
    layout = Layout("res")
    template = layout.compressed("{dataset}", "{variant}", "{setting}", "{batch}")
    assert template.format(dataset="speech", variant="v", setting="int8", batch="b0000") == \
        layout.compressed("speech", "v", "int8", "b0000") == "res/compressed/speech/v/b0000/int8"
    assert layout.compressed("speech", "v", "int8", "b0000").startswith(layout.compressed_batch("speech", "v", "b0000"))
    assert layout.log("train", "speech", "v", "b0000") == "res/logs/train/speech/v/b0000.log"


def test_every_variant_field_is_settable_from_the_config():
    schema = yaml.safe_load(SCHEMA.read_text())
    keys = set(schema["properties"]["variants"]["additionalProperties"]["properties"])
    fields = {f.name for f in dataclasses.fields(Variant)} - {"name"}
    assert keys == fields | set(RECIPE_KEYS)


def test_variants_resolve_from_a_model_with_overrides_or_inline(test_config):
    plan = plan_with(test_config, {"variants": {"scaled": {"model": "siamese-siren", "pe_scale": 1.5, "siam": [64]},
                                                "inline": {"siam": [8, 8]}}})
    scaled = plan.variant("scaled")
    assert (scaled.hidden, scaled.siam, scaled.pe_scale, scaled.omega_first) == ((256, 256), (64,), 1.5, 100.0)
    assert scaled.name == "scaled"
    assert plan.variant("inline") == Variant(hidden=(), siam=(8, 8))
    assert plan.variant("t-pe-siren").omega_first == 30.0


def test_an_unknown_model_fails_even_when_no_target_uses_it(test_config):
    with pytest.raises(ConfigError, match=r"config key variants.unused.model: unknown model 'no-such'"):
        plan_with(test_config, {"variants": {"unused": {"model": "no-such"}}})


def test_training_settings_per_variant(test_config):
    plan = plan_with(test_config, {"variants": {"t-pe-siren": {"steps": 15, "seed": 3}}})
    assert (plan.steps("t-pe-siren"), plan.seed("t-pe-siren"), plan.snapshot_steps("t-pe-siren")) == (15, 3, [10])
    recipe = plan.train_params("t-siamese-siren")
    assert (recipe["steps"], recipe["seed"], recipe["snapshot_steps"]) == (30, 0, [10, 20])
    assert Variant.from_dict(recipe["variant"]) == plan.variant("t-siamese-siren")


def test_demand_of_tables_and_figures(test_config):
    plan = Plan(test_config)
    siamese = set(plan.reconstructions("speech", "t-siamese-siren"))
    # tables: auto denoising is siamese for two heads; fig4: the four ablation modes; training curves: snapshots
    assert {("int8-paper", "siamese"), ("int8-paper", "none"), ("int8-paper", "stationary"),
            ("int8-paper", "nonstationary"), ("float-step10", "none"), ("float-step20", "none"),
            ("float", "none"), ("int4-pc", "siamese"), ("int6-zstd", "siamese"), ("int3-pc-qat", "siamese")} == siamese
    assert set(plan.reconstructions("speech", "t-pe-siren")) == {("int8-paper", "none"), ("float", "none")}
    assert plan.settings_needed("speech", "t-siamese-siren") == ["int3-pc-qat", "int4-pc", "int6-zstd", "int8"]
    assert plan.settings_needed("speech", "t-original-siren") == ["int8"]
    # fig6 is on speech only, in float: music's original SIREN is needed by table 1 alone
    assert set(plan.reconstructions("music", "t-original-siren")) == {("int8-paper", "none")}
    assert rate_distortion.measured_settings(plan) == ["int3-pc-qat", "int4-pc", "int6-zstd", "int8"]

    # A batch's evaluate job also writes the files whose sizes a table shows, whatever precision it decodes.
    floats = plan_with(test_config, {"tables": {t: {"precision": "float"} for t in ("table1", "table2", "table3")},
                                     "figures": {"fig3": None, "fig4": None}, "rate_distortion": None})
    assert floats.settings_needed("music", "t-pe-siren") == []
    assert floats.settings_compressed("music", "t-pe-siren") == ["int8"]
    resolution = plan_with(test_config, {"resolution": {"precision": "int6-pc-auto"}})
    assert resolution.settings_compressed("speech", "t-siamese-siren") == ["int3-pc-qat", "int4-pc", "int6-pc-auto",
                                                                            "int6-zstd", "int8"]
    assert resolution.settings_compressed("music", "t-siamese-siren") == ["int3-pc-qat", "int4-pc", "int6-zstd", "int8"]
    assert plan.codec_bitrates == {"opus": [12], "mp3": [32]}


def test_targets_and_their_absence(test_config):
    plan = Plan(test_config)
    assert "res/figures/resolution.png" in plan.targets() and "res/rate_distortion/points.csv" in plan.targets()
    plan = plan_with(test_config, {"rate_distortion": None, "resolution": None})
    assert not any("rate_distortion" in t or "resolution" in t for t in plan.targets())


@pytest.mark.parametrize(("overlay", "key"), [
    ({"tables": {"table1": {"datasets": ["nowhere"]}}}, "tables.table1.datasets: unknown dataset 'nowhere'"),
    ({"figures": {"fig4": {"variant": "nope"}}}, "figures.fig4: no variant named 'nope'"),
    ({"tables": {"table1": {"variants": ["t-pe-siren"], "denoise": "siamese"}}}, "denoise: siamese denoising"),
    ({"codecs": {"mp3": [320]}}, "codecs.mp3"),
    ({"resolution": {"precision": "float"}}, "resolution.precision: float weights have no compressed file"),
    ({"datasets": {"speech": {"pattern": "*.nothing"}}}, r"datasets.speech.pattern: no file in .* matches"),
    ({"datasets": {"speech": {"path": "/no/such/folder"}}}, "datasets.speech.path: /no/such/folder is not a folder"),
    ({"sources": {"gtzan": {"path": "/no/archive.tar.gz"}}, "datasets": {"g": {"kind": "music", "source": "gtzan"}}},
     "sources.gtzan.path: /no/archive.tar.gz does not exist"),
])
def test_config_errors_name_the_key(test_config, overlay, key):
    with pytest.raises(ConfigError, match=f"config key {key}"):
        plan_with(test_config, overlay)


def test_an_empty_dataset_folder_is_a_config_error(test_config, tmp_path):
    with pytest.raises(ConfigError, match="config key datasets.speech.pattern: no file in"):
        plan_with(test_config, {"datasets": {"speech": {"path": str(tmp_path)}}})


def test_batches_and_clip_choice():
    grouped = batches(["a", "b", "c"], 2)
    assert grouped == {"b0000": ["a", "b"], "b0001": ["c"]} and batch_of(grouped, "c") == "b0001"
    assert choose_clip("figures.fig3.clip", None, ["a", "b"]) == "a"
    with pytest.raises(ConfigError, match="config key figures.fig3.clip: no clip 'z'"):
        choose_clip("figures.fig3.clip", "z", ["a", "b"])


def test_manifest_params_for_a_folder_and_a_public_dataset(test_config):
    plan = Plan(test_config)
    assert plan.manifest_params("speech")["clips"] == 1 and plan.manifest_params("speech")["seed"] is None
    plan = Plan(load(ROOT / "config" / "paper.yaml"))
    spec = plan.manifest_params("librispeech")
    assert (spec["source"], spec["clips"], spec["seed"]) == ("librispeech", 1000, 0)
    assert plan.dataset_root("librispeech") == "resources/downloads/librispeech"
    assert plan.model_name("siamese-siren") == "siamese-siren" and VARIANTS["siamese-siren"] == plan.variant(
        "siamese-siren")


def test_table_cells_and_the_file_they_size(test_config):
    plan = plan_with(test_config, {"tables": {"table2": {"precision": "float"}}})
    assert tables.cells(plan, "table3") == [("speech", "t-siamese-siren"), ("speech", "t-siamese-0+2x8"),
                                          ("music", "t-siamese-siren"), ("music", "t-siamese-0+2x8")]
    assert tables.sized_setting(plan, "table1") == "int8" and tables.sized_setting(plan, "table2") == "int8"


def test_only_a_run_measured_as_the_paper_compares_with_it(test_config):
    demo = tables.paper_comparison(Plan(test_config), "table1")
    assert demo["datasets"] == {} and "no dataset of the paper's" in demo["reason"]
    assert "training.keep is best (the paper's: final)" in demo["reason"] and "clip.seconds is 1.0" in demo["reason"]
    paper = tables.paper_comparison(Plan(load(ROOT / "config" / "paper.yaml")), "table1")
    assert paper == {"datasets": {"gtzan": "gtzan", "librispeech": "librispeech"}, "reason": "", "scaled": "",
                     "models": {v: v for v in ("original-siren", "pe-siren", "optimized-siren", "siamese-siren")}}
    float_table = plan_with(load(ROOT / "config" / "paper.yaml"), {"tables": {"table2": {"precision": "float"}}})
    assert "precision is float (the paper's: int8-paper)" in tables.paper_comparison(float_table, "table2")["reason"]


def test_a_scaled_run_scales_every_variant_and_compares_only_at_the_papers_parameters_per_sample():
    small = Plan(load(ROOT / "profiles" / "paper-small" / "workflow.yaml"))
    assert small.variant("siamese-siren").label == "2x80+1x40" and small.variant("siamese-0+3x128").label == "0+3x40"
    assert small.variant("original-siren-long").omega_first == 3000  # only widths change
    run = small.scaled_run()
    assert run["comparable"] and abs(run["ratio"] - run["paper_ratio"]) < 0.02
    table1 = tables.paper_comparison(small, "table1")
    assert table1["datasets"] == {"speech": "librispeech", "music": "gtzan"} and table1["reason"] == ""
    assert "scaled run: every width x0.3125 and 1.1 s clips" in table1["scaled"]
    long_clips = plan_with(load(ROOT / "profiles" / "paper-small" / "workflow.yaml"), {"clip": {"seconds": 10.0}})
    comparison = tables.paper_comparison(long_clips, "table1")
    assert comparison["datasets"] == {} and "scale clip.seconds with scale.width" in comparison["reason"]
    assert Plan(load()).scaled_run() is None


def test_a_section_set_to_null_is_left_out():
    plan = Plan(load({"rate_distortion": None, "resolution": None, "listen": None,
                      "figures": {"training_curves": None}}))
    assert not any("rate_distortion" in t or "resolution" in t or "listen" in t or "training_curves" in t
                   for t in plan.targets())
    assert plan.targets(in_tables=True)[-1].endswith("figures/fig4.png")


def test_the_schemas_metric_choices_are_the_librarys():
    from siamese_siren.metrics import VISQOL_SPEECH_MAPPERS
    from siamese_siren.metrics.vocabulary import CHOSEN

    schema = yaml.safe_load(SCHEMA.read_text())
    assert set(schema["definitions"]["metric"]["enum"]) == set(CHOSEN)
    assert set(schema["properties"]["metrics"]["properties"]["visqol_speech_mapper"]["enum"]) == set(
        VISQOL_SPEECH_MAPPERS)


def test_the_schemas_entropy_coders_are_the_registrys():
    from siamese_siren.codec.coders import ENTROPY_CODINGS

    schema = yaml.safe_load(SCHEMA.read_text())
    setting = schema["properties"]["quantize"]["additionalProperties"]["properties"]
    assert set(setting["entropy"]["enum"]) == set(ENTROPY_CODINGS)


def validated_plan(overlay: dict) -> Plan:
    """The test config with ``overlay``, validated (the schema fills an overlay's new entries' defaults)."""
    return Plan(load(ROOT / "tests" / "workflow" / "config.yaml", {"results": "res"}, overlay))


def test_recipes_default_to_the_training_section_and_a_learned_init_is_checked():
    fast = {"hidden": [16], "siam": [8], "init": "learned:tiny", "lr": 3e-3, "schedule": "cosine", "warmup_steps": 5}
    plan = validated_plan({"inits": {"tiny": {"variant": "t-siamese-siren", "clips": 8}},
                                   "variants": {"t-fast": fast}})
    paper = plan.train_params("t-siamese-siren")
    assert (paper["lr"], paper["schedule"], paper["warmup_steps"]) == (1e-4, "constant", 0)
    assert plan.init_file("t-siamese-siren") is None
    recipe = plan.train_params("t-fast")
    assert (recipe["lr"], recipe["schedule"], recipe["warmup_steps"]) == (3e-3, "cosine", 5)
    assert plan.init_file("t-fast") == "res/inits/tiny.init.pt"
    assert plan.layout.init_split("tiny") == "res/inits/tiny.split.csv"
    meta = inits.meta_params(plan, "tiny")
    assert meta["variant"] == plan.variant("t-siamese-siren").to_dict() and meta["clips"] == 8
    assert (meta["meta"]["meta_steps"], meta["meta"]["inner_steps"], meta["offset"]) == (40, 50, 0.5)
    assert plan.unchanged_model("t-fast") is None  # a learned init is never one of the paper's models

    with pytest.raises(ConfigError, match=r"variants.t-fast.init: no learned initialisation 'other'"):
        validated_plan({"variants": {"t-fast": {**fast, "init": "learned:other"}}})
    with pytest.raises(ConfigError, match=r"inits.tiny is for 1x16\+1x8, the variant is 1x32\+1x8"):
        validated_plan({"inits": {"tiny": {"variant": "t-siamese-siren"}},
                                "variants": {"t-fast": {**fast, "hidden": [32]}}})
    with pytest.raises(ConfigError, match="warmup_steps: warm-up of 30 steps in a run of 30"):
        validated_plan({"variants": {"t-pe-siren": {"warmup_steps": 30}}})
    with pytest.raises(ConfigError, match="inits.tiny.datasets: unknown dataset 'nope'"):
        inits.init_datasets(validated_plan({"inits": {"tiny": {"variant": "t-siamese-siren", "datasets": ["nope"]}}}),
                            "tiny")


def test_a_table_set_to_null_is_left_out():
    plan = validated_plan({"tables": {"table3": None}})
    assert "table3" not in plan.config["tables"] and "res/tables/table3.csv" not in plan.targets()


def test_quantization_aware_settings_are_a_stage_of_their_own(test_config):
    plan = Plan(test_config)
    assert plan.quantize_params("int3-pc-qat") == {"bits": 3, "per_channel": True, "entropy": "auto", "qat_steps": 10}
    assert plan.quantize_params("int4-pc")["qat_steps"] == 0
    assert plan.finetuned_settings("speech", "t-siamese-siren") == ["int3-pc-qat"]
    assert plan.finetuned_settings("speech", "t-pe-siren") == []
    assert rate_distortion.qat_pairs(plan) == {}  # the test config has no post-training twin of int3-pc-qat
    twins = plan_with(test_config, {"quantize": {"int3-pc-auto": {"bits": 3, "per_channel": True, "entropy": "auto"}},
                                    "rate_distortion": {"precisions": ["int8-paper", "int3-pc-qat", "int3-pc-auto"]}})
    assert rate_distortion.qat_pairs(twins) == {"int3-pc-qat": "int3-pc-auto"}
    assert "res/rate_distortion/qat.md" in twins.targets() and "res/rate_distortion/qat.md" not in plan.targets()
    recipe = plan.qat_params("int3-pc-qat")
    assert (recipe["bits"], recipe["per_channel"], recipe["steps"], recipe["lr"]) == (3, True, 10, 3e-4)
    assert plan.layout.finetuned("speech", "v", "int3-pc-qat", "b0000") == "res/qat/speech/v/int3-pc-qat/b0000"
    # the paper's file is never fine-tuned: int8-paper decodes exactly the paper's post-training int8 file
    with pytest.raises(ConfigError, match="quantize.int8: int8-paper decodes the paper's int8 file"):
        plan_with(test_config, {"quantize": {"int8": {"qat_steps": 5}}})


def test_rate_control_and_equal_quality_targets_and_checks(test_config):
    plan = Plan(test_config)
    for name in ("equal_quality.csv", "equal_quality.md", "rate_control.csv", "rate_control.md"):
        assert f"res/rate_distortion/{name}" in plan.targets()
    plain = plan_with(test_config, {"rate_distortion": {"reference": None, "control": None}})
    assert not any("equal_quality" in t or "rate_control" in t for t in plain.targets())
    with pytest.raises(ConfigError, match="rate_distortion.reference: t-pe-siren at int8-paper is not one of"):
        plan_with(test_config, {"rate_distortion": {"reference": {"variant": "t-pe-siren"}}})
    with pytest.raises(ConfigError, match="rate_distortion.control.objective: pesq is not scored on music"):
        plan_with(test_config, {"rate_distortion": {"control": {"objective": "pesq"}}})


def test_the_listening_page_plays_extra_precisions_the_run_decodes(test_config):
    plan = Plan(test_config)
    entries = listen.entries(plan, "speech")
    assert ("t-siamese-siren", "int3-pc-qat", "siamese", []) in entries
    assert not any(e[1] == "int3-pc-qat" and e[0] != "t-siamese-siren" for e in entries)  # only where it is decoded
    with pytest.raises(ConfigError, match="listen.precisions: unknown precision 'int9'"):
        listen.entries(plan_with(test_config, {"listen": {"precisions": ["int9"]}}), "speech")


@pytest.mark.parametrize("results", ["", "  ", "/", "/.."])
def test_results_at_the_filesystem_root_is_refused(results):
    with pytest.raises(ConfigError, match="config key results: .* at the filesystem root; give a folder"):
        Plan(load({"results": results}))
