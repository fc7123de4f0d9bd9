"""Learned initialisation files (``*.init.pt``): a starting point for one architecture that a clip's own fit
begins from instead of the random SIREN initialisation (``encode --init FILE``, a variant's ``init:``).

The file is versioned: a format name and version, the architecture, the weights, their digest
(:func:`~siamese_siren.codec.train.state_digest`, what a trained model's recipe records as its ``init``), and how it was
made. Making one (meta-training) is an experiment: :mod:`siamese_siren.experiments.inits`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from . import files
from .models import Variant
from .train import state_digest

INIT_FORMAT = "siamese-siren-init"
INIT_VERSION = 1


class InitError(ValueError):
    """A learned initialisation that cannot be used: unreadable, another format or version, another architecture,
    or weights that do not match their digest."""


@dataclass(frozen=True)
class LearnedInit:
    variant: Variant
    state: dict[str, torch.Tensor]
    digest: str
    provenance: dict


# ---- the file ----------------------------------------------------------------------------------------------


def save_init(init: LearnedInit, path: str | Path) -> None:
    payload = {"format": INIT_FORMAT, "version": INIT_VERSION, "variant": init.variant.to_dict(),
               "state": init.state, "digest": init.digest, "provenance": init.provenance}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with files.atomic_write(path) as f:
        torch.save(payload, f)


def load_init(path: str | Path, variant: Variant | None = None) -> LearnedInit:
    """Read and check a learned initialisation; with ``variant``, also that it is this architecture."""
    path = Path(path)
    try:
        # TorchVersion (a str) is allowed for files whose provenance kept torch.__version__ unconverted
        with torch.serialization.safe_globals([torch.torch_version.TorchVersion]):
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise InitError(f"{path}: no such learned initialisation; build it (snakemake {path}) or train with "
                        "init: random") from None
    except Exception as err:  # noqa: BLE001 (torch raises many kinds for a damaged file)
        raise InitError(f"{path}: not a readable learned initialisation ({err}); rebuild it") from None
    if not isinstance(payload, dict) or payload.get("format") != INIT_FORMAT:
        raise InitError(f"{path}: not a {INIT_FORMAT} file; give a file written by the meta_init rule")
    if payload["version"] != INIT_VERSION:
        raise InitError(f"{path}: {INIT_FORMAT} version {payload['version']}, this siamese-siren reads version "
                        f"{INIT_VERSION}; rebuild it with this version")
    stored = Variant.from_dict(payload["variant"])
    if variant is not None and stored != variant:
        raise InitError(f"{path}: an initialisation of {stored.label} (pe {stored.pe_frequencies}), not of "
                        f"{variant.label} (pe {variant.pe_frequencies}); meta-train one for this architecture")
    if state_digest(payload["state"]) != payload["digest"]:
        raise InitError(f"{path}: its weights do not match their digest {payload['digest']}; the file is damaged, "
                        "rebuild it")
    return LearnedInit(stored, payload["state"], payload["digest"], payload["provenance"])
