"""Static checks that need no conda: envs/*.yaml agree with pyproject.toml, and the config schema's defaults."""

import re
from pathlib import Path

import tomllib
import yaml
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
# conda package names for what pyproject.toml calls by its PyPI name
CONDA_NAMES = {"pytorch": "torch"}


def _minimum(spec: str) -> Version | None:
    m = re.search(r">=\s*([\w.]+)", spec)
    return Version(m.group(1)) if m else None


def test_every_rule_environment_is_consistent_with_pyproject():
    declared = {Requirement(r).name: Requirement(r) for r in PYPROJECT["dependencies"]}
    extras = PYPROJECT["optional-dependencies"]
    envs = sorted((ROOT / "envs").glob("*.yaml"))
    assert {e.stem for e in envs} == {"core", "metrics", "report"}
    python_floor = Version(PYPROJECT["requires-python"].lstrip(">="))
    for env in envs:
        spec = yaml.safe_load(env.read_text())
        conda = [d for d in spec["dependencies"] if isinstance(d, str)]
        pip = next(d["pip"] for d in spec["dependencies"] if isinstance(d, dict))
        for dep in conda:
            name, _, rest = dep.partition(">=")
            name = name.strip()
            if name == "pip":
                continue
            if name == "python":
                assert Version(rest) == python_floor, f"{env.name}: python floor differs from requires-python"
                continue
            pypi = CONDA_NAMES.get(name, name)
            assert pypi in declared, f"{env.name}: {name} is not a dependency in pyproject.toml"
            assert _minimum(str(declared[pypi].specifier)) == Version(rest), f"{env.name}: {name} floor differs"
        # the package itself, with the extra of this stage (everything else comes from pyproject.toml)
        assert len(pip) == 1 and pip[0].startswith("-e ..")
        extra = re.fullmatch(r"-e \.\.(?:\[(\w+)\])?", pip[0]).group(1)
        assert extra is None or extra in extras, f"{env.name}: unknown extra {extra}"
        assert extra == (None if env.stem == "core" else env.stem)


def test_every_rule_names_an_existing_environment_log_and_benchmark():
    for rules in sorted((ROOT / "workflow" / "rules").glob("*.smk")):
        text = "\n" + rules.read_text()
        for block in re.split(r"\n(?=[ \t]*(?:rule|checkpoint) \w+:)", text)[1:]:
            name = re.search(r"(?:rule|checkpoint) (\w+):", block).group(1)
            for directive in ("log:", "benchmark:", "conda:"):
                assert directive in block, f"{rules.name}: rule {name} has no {directive}"
            env = re.search(r'conda:\s*\n\s*"([^"]+)"', block).group(1)
            assert (rules.parent / env).resolve().is_file(), f"rule {name}: {env} missing"
