"""The configuration's validation: the schema's check (with its defaults) and the error every later check raises."""

from __future__ import annotations

from collections.abc import Callable
from typing import NoReturn


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
    for section in ("datasets", "tables", "figures"):
        if isinstance(config.get(section), dict):
            config[section] = {name: spec for name, spec in config[section].items() if spec is not None}
    unset = [key for key, value in config.items() if value is None]
    for key in unset:
        del config[key]
    validate(config)
    config.update(dict.fromkeys(unset))
