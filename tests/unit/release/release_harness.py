"""Shared helpers for the release tests (imported as a module, like tests/unit/trust/trust_harness.py):
a small model, a publisher with plausible fields, and `resign`, which rewrites release.json and signs it
again (what an attacker holding some key would do)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from fedward.core.arrays import arrays_to_bytes
from fedward.core.canonical import canonical_bytes
from fedward.crypto import SigningKey, key_id, public_key_pem
from fedward.release import KEY_FILE, MODEL_FILE, RECORD_FILE, SIGNATURE_FILE, write_release


def model_bytes(scale: float = 1.0) -> bytes:
    return arrays_to_bytes(
        {
            "weight": (np.arange(12, dtype=np.float32).reshape(3, 4) * scale).astype(np.float32),
            "bias": np.full(3, 0.5 * scale, dtype=np.float32),
        }
    )


KEY = SigningKey.from_seed(bytes(range(32)))
OTHER_KEY = SigningKey.from_seed(bytes(range(1, 33)))


def publish(releases: Path, version: str = "r0001", **overrides: Any) -> Path:
    """Write a release with plausible fields; `overrides` replaces any of them (and `model`, `key`)."""
    fields: dict[str, Any] = {
        "run_id": "run-7",
        "round": 1,
        "parent": None,
        "accepted_packages": ["11" * 32, "22" * 32],
        "site_metrics": {"hospital-a": {"accuracy": 0.75, "n": 40}, "hospital-b": {"accuracy": 0.5}},
        "privacy": {"dp": "record", "epsilon": 1.25, "delta": 1e-5},
        "ledger_checkpoint": {"tree_size": 9, "root_hash": "ef" * 32},
        "key": KEY,
    }
    fields.update(overrides)
    model = fields.pop("model", model_bytes())
    return write_release(releases, version, model, **fields)


def resign(
    folder: Path,
    key: SigningKey,
    change: Callable[[dict[str, Any]], None] = lambda record: None,
    *,
    body: Callable[[dict[str, Any]], bytes] = canonical_bytes,
    replace_key: bool = False,
) -> None:
    """Edit release.json with `change`, encode it with `body`, and sign it with `key`."""
    record = json.loads((folder / RECORD_FILE).read_bytes())
    change(record)
    data = body(record)
    (folder / RECORD_FILE).write_bytes(data)
    (folder / SIGNATURE_FILE).write_text(key.sign(data).hex() + "\n", encoding="ascii")
    if replace_key:
        (folder / KEY_FILE).write_bytes(public_key_pem(key.public))


def as_signer(key: SigningKey) -> Callable[[dict[str, Any]], None]:
    def change(record: dict[str, Any]) -> None:
        record["coordinator_key_id"] = key_id(key.public)

    return change


def set_model(folder: Path, data: bytes) -> Callable[[dict[str, Any]], None]:
    """Replace the model file and return the record change that states its new hash."""
    (folder / MODEL_FILE).write_bytes(data)

    def change(record: dict[str, Any]) -> None:
        record["model_sha256"] = hashlib.sha256(data).hexdigest()

    return change
