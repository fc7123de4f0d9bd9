"""config/README.md, the configuration's reference for users, is generated from the schema's descriptions: it is
current, every key the schema allows is described, and the renderer does what it says on a small schema."""

import difflib
from pathlib import Path

import pytest
import yaml

from siamese_siren.pipeline.config import main, reference_markdown, schema_entries

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
REFERENCE = ROOT / "config" / "README.md"
REGENERATE = "python -m siamese_siren.pipeline.config > config/README.md"


def load_schema() -> dict:
    return yaml.safe_load(SCHEMA.read_text(encoding="utf-8"))


def test_reference_is_current():
    expected = reference_markdown(load_schema())
    actual = REFERENCE.read_text(encoding="utf-8") if REFERENCE.exists() else ""
    if actual != expected:
        diff = list(difflib.unified_diff(actual.splitlines(), expected.splitlines(), "config/README.md",
                                         "reference_markdown(schema)", lineterm="", n=0))
        shown = "\n".join(diff[:30]) + ("\n..." if len(diff) > 30 else "")
        pytest.fail(f"config/README.md is not the schema's current reference; regenerate it from the repository "
                    f"root with `{REGENERATE}`\n{shown}", pytrace=False)


def _described(node: object) -> bool:
    return isinstance(node, dict) and bool(str(node.get("description", "")).strip())


def _undescribed(node: object, path: str) -> list[str]:
    """Dotted paths of the keys under ``node`` (each property, each map's entry as ``<name>``, recursively) that have
    no description of their own; what only constrains keys (``if``, ``anyOf``, ...) declares none."""
    if not isinstance(node, dict):
        return []
    missing = []
    children = [(f"{path}.{name}" if path else name, child) for name, child in (node.get("properties") or {}).items()]
    if isinstance(node.get("additionalProperties"), dict):
        children.append((f"{path}.<name>", node["additionalProperties"]))
    for key, child in children:
        missing += ([] if _described(child) else [key]) + _undescribed(child, key)
    return missing + _undescribed(node.get("items"), f"{path}[]")


def test_every_key_of_the_schema_has_a_description():
    schema = load_schema()
    missing = _undescribed(schema, "")
    missing += [f"definitions.{name}" for name, d in schema.get("definitions", {}).items() if not _described(d)]
    assert not missing, (f"schema keys without a description: {sorted(set(missing))}; describe them in "
                         f"{SCHEMA.relative_to(ROOT)} (one or two sentences, with units), then `{REGENERATE}`")
    # the reference shows every one of them, with its description
    entries = list(schema_entries(schema))
    assert len(entries) > 100 and all(e.node.get("description") for e in entries)


TINY = {
    "definitions": {
        "level": {"enum": ["low", "high"], "description": "How loud."},
        "tag": {"type": "string", "pattern": "^[a-z]+$", "description": "A tag."},
    },
    "properties": {
        "out": {"type": "string", "default": "res", "description": "Where | results go."},
        "run": {
            "type": ["object", "null"],
            "required": ["name"],
            "description": "A run; null leaves it out.",
            "properties": {
                "name": {"$ref": "#/definitions/tag", "description": "Its name."},
                "steps": {"type": "array", "items": {"type": "integer", "minimum": 1},
                          "default": list(range(1, 21)), "description": "Steps *kept*."},
                "level": {"$ref": "#/definitions/level", "default": "low", "description": "Level."},
            },
        },
        "things": {"type": "object", "default": {}, "propertyNames": {"$ref": "#/definitions/tag"},
                   "description": "Named things.",
                   "additionalProperties": {"type": "number", "exclusiveMinimum": 0, "description": "A <value>."}},
    },
    "required": ["run"],
}


def test_renderer_on_a_tiny_schema():
    text = reference_markdown(TINY)
    assert text == reference_markdown(TINY) and text.endswith("|\n")
    lines = text.splitlines()
    assert lines[0] == "# Configuration"
    assert "and so is a section set to `null` (`run`)" in text
    assert [line for line in lines if line.startswith("## ")] == ["## out", "## run", "## things", "## Value types"]
    for row in [
        "| `out` | string | `res` | Where \\| results go. |",
        "| `run` | object or null | *required* | A run; null leaves it out. |",
        "| `run.name` | [tag](#value-types) | *required* | Its name. |",
        "| `run.steps` | list of integers ≥ 1 | `[1, 2, 3, 4, 5, 6, 7, …, 20]` (20 items) | Steps \\*kept\\*. |",
        "| `run.level` | `low` or `high` | `low` | Level. |",
        "| `things` | map | `{}` | Named things. |",
        "| `things.<tag>` | number > 0 | — | A &lt;value>. |",
        "| tag | string matching `^[a-z]+$` | A tag. |",
    ]:
        assert row in lines, row


def test_main_prints_the_reference_from_the_repository_root(monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(ROOT)
    main()
    assert capsys.readouterr().out == reference_markdown(load_schema())
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        main()
    assert "workflow/schemas/config.schema.yaml" in str(stop.value.code) and "\n" not in str(stop.value.code)
