"""The configuration's validation (the schema's check, with its defaults, and the error every later check raises),
and its reference for users: ``python -m siamese_siren.pipeline.config > config/README.md``."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple, NoReturn

#: Sections whose entries may be set to null to leave them out (a merged file drops one that config.yaml sets).
NULLABLE_ENTRIES = ("datasets", "tables", "figures")
#: Where the schema is, relative to the repository root.
SCHEMA_PATH = Path("workflow") / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    """A configuration value that cannot work; the message names the key and the fix."""


def config_error(key: str, problem: str, fix: str) -> NoReturn:
    raise ConfigError(f"config key {key}: {problem}; {fix}")


def validate_config(config: dict, validate: Callable[[dict], None]) -> None:
    """``validate`` (Snakemake's, which also fills the schema's defaults) on a config merged onto config.yaml.

    A dataset, table or figure set to null is left out, so config/paper.yaml, a profile or a test config can drop
    one that config.yaml sets. A top-level section set to null (rate_distortion, resolution, listen) stays null,
    which leaves it out: it is kept away from the validator, whose default filling cannot descend into a null.
    """
    for section in NULLABLE_ENTRIES:
        if isinstance(config.get(section), dict):
            config[section] = {name: spec for name, spec in config[section].items() if spec is not None}
    unset = [key for key, value in config.items() if value is None]
    for key in unset:
        del config[key]
    validate(config)
    config.update(dict.fromkeys(unset))


# ---- the reference: config/README.md from the schema's descriptions ------------------------------------------

#: A rendered default longer than this (characters) is shortened: fewer list items, long strings cut in the middle.
DEFAULT_WIDTH = 60
LONG_STRING = 40
#: The reference's section of the schema's definitions, which the type column links to.
VALUE_TYPES = "Value types"
_PLURALS = {"string": "strings", "integer": "integers", "number": "numbers", "boolean": "booleans",
            "object": "objects"}


class Entry(NamedTuple):
    """One key a configuration can set: its dotted path, its schema as written (``raw``, perhaps a ``$ref``) and
    resolved (``node``), and whether its parent requires it."""

    key: str
    raw: Mapping[str, Any]
    node: dict[str, Any]
    required: bool


def resolve(node: Mapping[str, Any], schema: Mapping[str, Any]) -> dict[str, Any]:
    """``node`` with its ``$ref`` (a local pointer such as ``#/definitions/precision``) merged in. The node's own
    keys (a default) win, and the definition's description is not taken: it describes the type, not the key."""
    out = dict(node)
    for _ in range(32):
        ref = out.pop("$ref", None)
        if ref is None:
            return out
        if not isinstance(ref, str) or not ref.startswith("#/"):
            raise ValueError(f"schema: only local $ref are supported, got {ref!r}")
        target: Any = schema
        for part in ref[2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        out = {**{k: v for k, v in target.items() if k != "description"}, **out}
    raise ValueError("schema: $ref nested too deep (a cycle?)")


def _ref_name(node: Any) -> str | None:
    ref = node.get("$ref") if isinstance(node, Mapping) else None
    return ref.rsplit("/", 1)[-1] if isinstance(ref, str) else None


def schema_entries(schema: Mapping[str, Any]) -> Iterator[Entry]:
    """Every key a configuration can set, depth first in the schema's order: each property, and of a map
    (``additionalProperties``, as datasets.<name>) its entry as ``<name>`` (the name of the ``propertyNames``
    definition where there is one, such as ``<metric>``)."""

    def walk(raw: Mapping[str, Any], key: str, required: bool) -> Iterator[Entry]:
        node = resolve(raw, schema)
        yield Entry(key, raw, node, required)
        needed = set(node.get("required", ()))
        for name, child in (node.get("properties") or {}).items():
            yield from walk(child, f"{key}.{name}", name in needed)
        entry = node.get("additionalProperties")
        if isinstance(entry, Mapping):
            yield from walk(entry, f"{key}.<{_ref_name(node.get('propertyNames')) or 'name'}>", False)
        items = resolve(node["items"], schema) if isinstance(node.get("items"), Mapping) else {}
        for name, child in (items.get("properties") or {}).items():  # a list of objects: key[].field
            yield from walk(child, f"{key}[].{name}", name in set(items.get("required", ())))

    needed = set(schema.get("required", ()))
    for name, raw in (schema.get("properties") or {}).items():
        yield from walk(raw, name, name in needed)


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.1f}" if value.is_integer() else repr(value)
    if isinstance(value, str):
        if not value:
            return '""'
        return value if len(value) <= LONG_STRING else f"{value[:20]}…{value[-14:]}"
    return json.dumps(value)


def _value(value: Any, items: int | None = None) -> str:
    """A value in YAML's flow style; a list of more than ``items`` keeps its first ``items - 1`` and its last."""
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_scalar(k)}: {_value(v, items)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        shown = [_value(v, items) for v in value]
        if items is not None and len(shown) > items:
            shown = shown[: items - 1] + ["…", shown[-1]] if items > 1 else [shown[0], "…"]
        return "[" + ", ".join(shown) + "]"
    return _scalar(value)


def _code(text: str) -> str:
    return "`" + text.replace("|", "\\|") + "`"


def render_default(value: Any) -> str:
    """A default as inline code of about :data:`DEFAULT_WIDTH` characters at most: a long list keeps its first
    items and its last, and says how many it has."""
    for items in (None, 8, 6, 4, 3, 2, 1):
        text = _value(value, items)
        if len(text) <= DEFAULT_WIDTH:
            break
    shortened = isinstance(value, (list, tuple)) and items is not None and len(value) > items
    return _code(text) + (f" ({len(value)} items)" if shortened else "")


def _bounds(node: Mapping[str, Any]) -> str:
    if "minimum" in node and "maximum" in node and not {"exclusiveMinimum", "exclusiveMaximum"} & set(node):
        return f" {_scalar(node['minimum'])}–{_scalar(node['maximum'])}"
    low = [f"> {_scalar(node['exclusiveMinimum'])}"] if "exclusiveMinimum" in node else []
    low += [f"≥ {_scalar(node['minimum'])}"] if "minimum" in node else []
    high = [f"< {_scalar(node['exclusiveMaximum'])}"] if "exclusiveMaximum" in node else []
    high += [f"≤ {_scalar(node['maximum'])}"] if "maximum" in node else []
    return " " + ", ".join(low + high) if low or high else ""


def _types(node: Mapping[str, Any]) -> list[str]:
    kinds = node.get("type", [])
    return [kinds] if isinstance(kinds, str) else list(kinds)


def render_type(raw: Mapping[str, Any], schema: Mapping[str, Any], plural: bool = False) -> str:
    """What a key takes, in words: ``integer ≥ 1 or null``, ``list of strings``, ```none`, `zstd` or `auto```; a
    ``$ref`` to a definition that is no enum links to :data:`VALUE_TYPES` (``[precision](#value-types)``)."""
    node, name = resolve(raw, schema), _ref_name(raw)
    if "enum" in node:
        values = [_code(_scalar(v)) for v in node["enum"]]
        return values[0] if len(values) == 1 else ", ".join(values[:-1]) + " or " + values[-1]
    if name is not None:
        anchor = VALUE_TYPES.lower().replace(" ", "-")
        return f"[{name}{'s' if plural else ''}](#{anchor})" + (" or null" if "null" in _types(node) else "")
    types, parts = _types(node), []
    for kind in types:
        if kind == "null":
            continue
        if kind == "array":
            items = node.get("items")
            item = render_type(items, schema, plural=True) if isinstance(items, Mapping) else "values"
            size = f", at least {node['minItems']}" if node.get("minItems") else ""
            size += f", at most {node['maxItems']}" if "maxItems" in node else ""
            parts.append(f"list of {item}{size}")
        elif kind == "object" and isinstance(node.get("additionalProperties"), Mapping):
            parts.append("maps" if plural else "map")
        else:
            text = _PLURALS.get(kind, kind) if plural else kind
            if kind in ("integer", "number"):
                text += _bounds(node)
            elif kind == "string" and "pattern" in node:
                text += f" matching {_code(node['pattern'])}"
            parts.append(text)
    parts = parts or ["any"]
    if "null" in types:
        parts.append("null")
    return " or ".join(parts)


_CODE_SPAN = re.compile(r"(`[^`]*`)")


_PIPE = re.compile(r"(?<!\\)\|")


def _cell(text: str) -> str:
    """Text for a table cell: whitespace folded; ``|`` escaped (unless it is), and ``*`` and ``<`` outside code
    spans, which Markdown would take for emphasis and HTML."""
    parts = _CODE_SPAN.split(_PIPE.sub(r"\\|", " ".join(text.split())))
    return "".join(part if i % 2 else part.replace("*", "\\*").replace("<", "&lt;") for i, part in enumerate(parts))


def _intro(schema: Mapping[str, Any]) -> list[str]:
    properties = schema.get("properties") or {}
    switchable = [name for name, node in properties.items() if "null" in _types(resolve(node, schema))]
    entries = ", ".join(f"`{s}`" for s in NULLABLE_ENTRIES[:-1]) + f" or `{NULLABLE_ENTRIES[-1]}`"
    sections = [f"[`{name}`](#{name})" for name in properties]
    if schema.get("definitions"):
        sections.append(f"[{VALUE_TYPES.lower()}](#{VALUE_TYPES.lower().replace(' ', '-')})")
    dropped = f"An entry of {entries} set to `null` is left out"
    if switchable:
        dropped += ", and so is a section set to `null` (" + ", ".join(f"`{s}`" for s in switchable) + ")"
    return [
        "# Configuration",
        "",
        "<!-- Generated from workflow/schemas/config.schema.yaml by"
        " `python -m siamese_siren.pipeline.config > config/README.md`:"
        " edit the schema's descriptions, not this file (tests/test_config_reference.py checks it is current). -->",
        "",
        "The workflow's settings: which datasets, which model variants, how they are trained, quantized and scored,"
        " and which tables and figures are made.",
        "[`config.yaml`](../config.yaml) at the repository root is the default configuration; every file given"
        " besides is merged onto it key by key (a section keeps the keys the file does not set):"
        " `--configfile FILE` (such as [`config/paper.yaml`](paper.yaml), the paper's datasets),"
        " a profile's `configfile` (`--profile profiles/demo`), and the opt-in experiments"
        " `config/experiments/*.yaml`.",
        "The merged configuration is checked against"
        " [`workflow/schemas/config.schema.yaml`](../workflow/schemas/config.schema.yaml), which fills in every"
        " default below, and then by the workflow's plan (`siamese_siren.pipeline.plan`): an error stops"
        " `snakemake -n` with the config key and the fix, before any job runs.",
        "",
        dropped + ": that is how a merged file drops something `config.yaml` sets.",
        "",
        "Keys are dotted paths. In a map, `<name>` stands for an entry's name, of your choosing; `<metric>` and the"
        f" like, for a value of that [type](#{VALUE_TYPES.lower().replace(' ', '-')})."
        " Default: *required* when the key must be given, — when it has none (unset unless given).",
        "",
        "Sections: " + ", ".join(sections) + ".",
    ]


def reference_markdown(schema: Mapping[str, Any]) -> str:
    """The configuration reference (``config/README.md``): an introduction, one section per top-level key with a
    table of every key under it (:func:`schema_entries`: its type, its default and its description), and the
    schema's definitions, the types those tables link to."""
    lines = _intro(schema)
    for key, raw, node, required in schema_entries(schema):
        if "." not in key:
            lines += ["", f"## {key}", "", "| key | type | default | description |", "|---|---|---|---|"]
        default = render_default(node["default"]) if "default" in node else "*required*" if required else "—"
        lines.append(f"| {_code(key)} | {_cell(render_type(raw, schema))} | {default} | "
                     f"{_cell(node.get('description', ''))} |")
    if definitions := schema.get("definitions"):
        lines += ["", f"## {VALUE_TYPES}", "", "What the type column links to.", "",
                  "| type | takes | description |", "|---|---|---|"]
        for name, definition in definitions.items():
            lines.append(f"| {name} | {_cell(render_type(definition, schema))} | "
                         f"{_cell(definition.get('description', ''))} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    """Print the reference for the repository's schema (run from the repository root)."""
    import yaml

    path = Path.cwd() / SCHEMA_PATH
    if not path.is_file():
        sys.exit(f"no {SCHEMA_PATH.as_posix()} in {Path.cwd()}: run this from the repository root")
    schema = yaml.safe_load(path.read_text(encoding="utf-8"))
    sys.stdout.buffer.write(reference_markdown(schema).encode("utf-8"))
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    main()
