"""The model card written beside pretrained weights: `FILE.json` for `FILE.safetensors`.

It says what the weights are and how to get them again: the format, the weights' sha256 and tensors, the
model spec and class order, the preprocessing spec and its hash, the recipe (the exact command, its
settings, the fedward, torch and numpy versions), a description of the public data (hospitals, pages per
class, the sender pool, why it is disjoint from any federation) and the held-out accuracy. No timestamps or
paths: the same command writes the same card, byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fedward import __version__
from fedward.core.arrays import arrays_to_bytes
from fedward.documents.synth.public import PUBLIC_DOMAIN, PUBLIC_SENDER_NAMES, PUBLIC_SENDERS
from fedward.pretrain.documents import PretrainResult

__all__ = ["CARD_FORMAT", "card", "write_encoder"]

CARD_FORMAT = "fedward-base-model/1"

_DISJOINT = (
    "public hospitals and senders have their own names and identities, none a federation's, and every "
    "random draw of the corpus comes from its own seed domain (fedward.documents.synth.public)"
)


def write_encoder(result: PretrainResult, out: Path) -> dict[str, Any]:
    """Write `out` (safetensors) and its card `out.with_suffix('.json')`, each atomically; return the card."""
    blob = arrays_to_bytes(result.weights)
    data = card(result, out.name, hashlib.sha256(blob).hexdigest())
    _write_atomic(out, blob)
    _write_atomic(out.with_suffix(".json"), (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())
    return data


def _write_atomic(path: Path, data: bytes) -> None:
    staging = path.with_name(f".{path.name}.partial")
    staging.write_bytes(data)
    os.replace(staging, path)


def card(result: PretrainResult, weights_file: str, sha256: str) -> dict[str, Any]:
    """The card's content (see the module docstring)."""
    s = result.settings
    return {
        "format": CARD_FORMAT,
        "weights": {
            "file": weights_file,
            "sha256": sha256,
            "tensors": {k: list(v.shape) for k, v in result.weights.items()},
        },
        "model": result.spec.to_config(),
        "classes": list(result.classes),
        "preprocessing": {"spec": result.pipeline.to_dict(), "sha256": result.pipeline.sha256()},
        "recipe": {
            "command": " ".join(["fedward", "pretrain", "docs", "--out", weights_file, *s.arguments()]),
            "settings": s.to_json(),
            "versions": {"fedward": __version__, "torch": torch.__version__, "numpy": np.__version__},
        },
        "data": _data(result),
        "evaluation": {
            "train_accuracy": round(result.train_accuracy, 4),
            "heldout_accuracy": round(result.heldout_accuracy, 4),
            "heldout_pages": result.heldout_pages,
            "heldout": "each public hospital's test split: later in time, with senders and form versions "
            "that hospital never trained on",
        },
    }


def _data(result: PretrainResult) -> dict[str, Any]:
    return {
        "kind": "public synthetic pages of fictional hospitals and senders; no patient data",
        "hospitals": {
            s.name: {"display_name": s.profile["display_name"], "pages": s.split_class_counts}
            for s in result.corpus
        },
        "rejected_pages": result.rejected,
        "senders": {
            "pool": True,
            "settings": PUBLIC_SENDERS.to_json(),
            "names": sorted(n for names in PUBLIC_SENDER_NAMES.values() for n in names),
        },
        "seed_domain": PUBLIC_DOMAIN,
        "disjoint_from_federations": _DISJOINT,
    }
