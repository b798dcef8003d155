"""The training code a task asks a site to run, as a hash both sides compute the same way.

A fit task's config holds the model architecture, the class list, the training settings and the privacy
settings (the task definition) plus values that differ per site or per round (the site's seed, its noise
multiplier, the secure-aggregation session). The task hash covers the definition only, so it is stable
over a run: a site's policy can allow-list it, and the manifests and the ledger record it beside the
fedward version.

`fedward.core` sits below `fedward.settings`, where the typed task settings live, so the per-site keys
are named here as plain strings; tests/unit/core/test_provenance.py keeps them in step with
`TrainSettings`, `DpSettings` and `LedgerEvidence`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from fedward import __version__
from fedward.core.canonical import canonical_bytes
from fedward.core.messages import JSONValue

__all__ = ["code_identity", "task_definition", "task_sha256"]

_PER_SITE = frozenset({"seed", "dp_noise_multiplier", "dp_noise_std"})
_PER_ROUND_PREFIXES = ("secagg_", "trust_")


def task_definition(config: Mapping[str, JSONValue]) -> dict[str, JSONValue]:
    """The config without its per-site and per-round values."""
    return {k: v for k, v in config.items() if k not in _PER_SITE and not k.startswith(_PER_ROUND_PREFIXES)}


def task_sha256(config: Mapping[str, JSONValue]) -> str:
    return hashlib.sha256(canonical_bytes(task_definition(config))).hexdigest()


def code_identity(config: Mapping[str, JSONValue]) -> dict[str, str]:
    """What a manifest records as the training code: the fedward version and the task hash."""
    return {"fedward_version": __version__, "task_sha256": task_sha256(config)}
