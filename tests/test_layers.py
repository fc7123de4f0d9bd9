"""The package's layers, read from its source (nothing is imported or run): codec < metrics < analysis < pipeline,
experiments beside them, the command line on top.

Every import of the package counts, wherever it is written: at the top, inside a function, under
``if TYPE_CHECKING``, relative (``from ..codec import files``) or absolute (``siamese_siren.codec.files``).
Imports built at run time (``importlib.import_module(f"...")``) are not seen.
"""

import ast
from pathlib import Path

import siamese_siren

PACKAGE = Path(siamese_siren.__file__).resolve().parent
ROOT = "(package root)"  # siamese_siren/__init__.py: runs before any module of the package, so it imports none
#: What each layer may import besides itself (and the package root, which imports nothing).
MAY_IMPORT = {
    "codec": set(),
    "metrics": {"codec"},
    "analysis": {"metrics", "codec"},
    "pipeline": {"analysis", "metrics", "codec"},
    "experiments": {"pipeline", "analysis", "metrics", "codec", "cli"},  # nothing else imports experiments
    "cli": {"pipeline", "analysis", "metrics", "codec"},
    ROOT: set(),
}


def module_names(package_dir: Path) -> dict[str, Path]:
    """{dotted name: file} of every module and package (a folder, with or without __init__.py) under it."""
    top = package_dir.name
    names = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = path.relative_to(package_dir).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join((top, *parts))] = path
        for i in range(1, len(parts)):  # the folders it sits in are packages too
            names.setdefault(".".join((top, *parts[:i])), path.parent)
    return names


def imported_modules(module: str, path: Path, known: set[str]) -> set[str]:
    """The modules of the package that ``module`` (its source at ``path``) imports, by dotted name."""
    top = module.split(".")[0]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                if len(base) < 1:
                    raise AssertionError(f"{module}: relative import beyond the package ({'.' * node.level})")
                base = ".".join(base + ([node.module] if node.module else []))
            else:
                base = node.module
            # `from pkg import name`: the submodule pkg.name when there is one, else pkg itself
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        found.update(t for t in targets if t == top or t.startswith(top + "."))
    return found


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    if len(parts) == 1:
        return ROOT
    return parts[1] if parts[1] in MAY_IMPORT else None


def import_violations(package_dir: Path) -> list[str]:
    """Every import of ``package_dir`` (a package folder) that breaks the layers, as
    ``module -> imported module (layer A may not import layer B)``, plus every module in no layer."""
    names = module_names(package_dir)
    problems = []
    for module, path in sorted(names.items()):
        if path.is_dir():
            continue
        layer = layer_of(module)
        if layer is None:
            problems.append(f"{module} is in no layer (add its folder to MAY_IMPORT in {Path(__file__).name})")
            continue
        for imported in sorted(imported_modules(module, path, set(names))):
            other = layer_of(imported)
            if other is None:
                problems.append(f"{module} -> {imported} (which is in no layer)")
            elif other not in (layer, ROOT) and other not in MAY_IMPORT[layer]:
                problems.append(f"{module} -> {imported} (layer {layer} may not import layer {other})")
    return problems


def test_every_import_of_the_package_respects_its_layers():
    modules = [m for m, p in module_names(PACKAGE).items() if p.is_file()]
    assert {layer_of(m) for m in modules} >= {"codec", "metrics", "analysis", "pipeline", "experiments", "cli"}
    problems = import_violations(PACKAGE)
    assert not problems, "imports that break the layers:\n" + "\n".join(problems)


def test_the_checker_sees_upward_imports_wherever_they_are_written(tmp_path):
    package = tmp_path / "siamese_siren"
    sources = {
        "__init__.py": "",
        "cli.py": "from . import __version__\nfrom siamese_siren.pipeline import plan\n",
        "codec/__init__.py": "",
        "codec/low.py": "from . import other\nfrom .other import thing\nimport numpy\n",
        "codec/other.py": "def thing():\n    from ..metrics import score  # upward, inside a function\n",
        "metrics/__init__.py": "",
        "metrics/score.py": "from siamese_siren.codec import low\nfrom ..codec.other import thing\n",
        "pipeline/plan.py": (
            "from typing import TYPE_CHECKING\n"
            "from siamese_siren import metrics\n"
            "if TYPE_CHECKING:\n"
            "    import siamese_siren.experiments.fast  # no one outside experiments imports it\n"
        ),
        "experiments/__init__.py": "",
        "experiments/fast.py": "from siamese_siren import cli\nfrom ..pipeline.plan import x\n",
        "loose.py": "",
    }
    for name, text in sources.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(text)
    assert import_violations(package) == [
        "siamese_siren.codec.other -> siamese_siren.metrics.score (layer codec may not import layer metrics)",
        "siamese_siren.loose is in no layer (add its folder to MAY_IMPORT in test_layers.py)",
        "siamese_siren.pipeline.plan -> siamese_siren.experiments.fast"
        " (layer pipeline may not import layer experiments)",
    ]
    # the same package without its three offences passes
    (package / "codec" / "other.py").write_text("def thing():\n    from . import low\n")
    (package / "loose.py").unlink()
    (package / "pipeline" / "plan.py").write_text("from siamese_siren import metrics\n")
    assert import_violations(package) == []
