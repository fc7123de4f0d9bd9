"""Learned initialisation files (``*.init.pt``): a starting point for one architecture that a clip's own fit
begins from instead of the random SIREN initialisation (``encode --init FILE``, a variant's ``init:``).

The file is versioned: a format name and version, the architecture, the weights, their digest
(:func:`~siamese_siren.codec.train.state_digest`, what a trained model's recipe records as its ``init``), and how it was
made. Making one (meta-training) is an experiment: :mod:`siamese_siren.experiments.inits`.
"""

from __future__ import annotations

import pickle
import warnings
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
    fix = f"give a {INIT_FORMAT} file (.init.pt) written by the meta_init rule, or rebuild it if it was one"
    try:
        # TorchVersion (a str) is allowed for files whose provenance kept torch.__version__ unconverted; torch's
        # warnings about a foreign file's pickle protocol say nothing the error below does not
        with torch.serialization.safe_globals([torch.torch_version.TorchVersion]), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise InitError(f"{path}: no such learned initialisation; build it (snakemake {path}) or train with "
                        "init: random") from None
    except pickle.UnpicklingError as err:  # torch's message is advice on weights_only=False: never for an init
        what = ("it holds Python objects other than tensors and plain data" if "weights only" in str(err).lower()
                else "it is not a file torch.save wrote, or is cut short")
        raise InitError(f"{path}: not a readable learned initialisation ({what}); {fix}") from None
    except Exception:  # noqa: BLE001 (torch raises many kinds for a damaged or foreign file, some multi-line)
        raise InitError(f"{path}: not a readable learned initialisation (it is not a file torch.save wrote, or is "
                        f"cut short); {fix}") from None
    if not isinstance(payload, dict) or payload.get("format") != INIT_FORMAT:
        raise InitError(f"{path}: not a {INIT_FORMAT} file; give a file written by the meta_init rule")
    if payload.get("version") != INIT_VERSION:
        raise InitError(f"{path}: {INIT_FORMAT} version {payload.get('version')}, this siamese-siren reads version "
                        f"{INIT_VERSION}; rebuild it with this version")
    try:
        stored = Variant.from_dict(payload["variant"])
        digest = state_digest(payload["state"])
    except Exception:  # noqa: BLE001 (a missing key, a field of the wrong type: whatever the damage, one line)
        raise InitError(f"{path}: a {INIT_FORMAT} file with a damaged architecture or weights; rebuild it") from None
    if variant is not None and stored != variant:
        raise InitError(f"{path}: an initialisation of {stored.label} (pe {stored.pe_frequencies}), not of "
                        f"{variant.label} (pe {variant.pe_frequencies}); meta-train one for this architecture")
    if digest != payload.get("digest"):
        raise InitError(f"{path}: its weights do not match their digest {payload.get('digest')}; the file is "
                        "damaged, rebuild it")
    return LearnedInit(stored, payload["state"], payload["digest"], payload.get("provenance", {}))
