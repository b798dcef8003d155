"""A readable account of a ledger, for `fedward ledger show DIR`: one line per entry, rounds indented.

Display only: it parses entries strictly (seq, kinds, fields) but does not check checkpoints or Merkle
roots (RFC 9162 section 2.1); run `verify_ledger` for that and show its report alongside.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from fedward.ledger.entries import Entry
from fedward.ledger.verify import read_entries

__all__ = ["describe_entries", "describe_ledger"]


def _short(value: Any) -> str:
    """A hash cut to 12 hex digits (enough to tell models apart by eye), or 'none'."""
    return "none" if value is None else str(value)[:12]


def _names(sites: Sequence[str]) -> str:
    return ", ".join(sites) if sites else "none"


def _epsilons(epsilons: Mapping[str, float]) -> str:
    return ", ".join(f"{name}={value:.4g}" for name, value in sorted(epsilons.items())) or "none"


def _gates(gates: Sequence[Mapping[str, Any]], *, failed_only: bool) -> str:
    """Release gate results: "min_site_accuracy 0.812 (b) vs 0.999", each marked passed or FAILED."""
    shown = [g for g in gates if not (failed_only and g["passed"])]
    parts = []
    for g in shown:
        value = "nothing to measure" if g["value"] is None else f"{g['value']:.4g}"
        site = f" ({g['site']})" if g["site"] else ""
        verdict = "passed" if g["passed"] else "FAILED"
        parts.append(f"{g['name']} {value}{site} vs {g['threshold']:.4g} {verdict}")
    return "; ".join(parts)


_FORMATS: Mapping[str, Callable[[Mapping[str, Any]], str]] = {
    "run_started": lambda f: (
        f"run {f['run_id']} of federation {f['federation']} started: config {_short(f['config_hash'])}, "
        f"code {_short(f['code_hash'])}"
        + (f", from init model {_short(f['init_model_hash'])}" if "init_model_hash" in f else "")
        + (f", model code {_short(f['model_code_hash'])}" if "model_code_hash" in f else "")
    ),
    "site_admitted": lambda f: f"site {f['site']} admitted (key {_short(f['key_id'])})",
    "site_revoked": lambda f: f"site {f['site']} revoked: {f['reason']}",
    "round_opened": lambda f: (
        f"round {f['round']} opened with {len(f['sites'])} sites ({_names(f['sites'])}), "
        f"model {_short(f['model_hash'])}"
        + (f"; not admitted: {_names(f['not_admitted'])}" if "not_admitted" in f else "")
    ),
    "update_accepted": lambda f: (
        f"  update from {f['site']} accepted (manifest {_short(f['manifest_hash'])})"
    ),
    "update_rejected": lambda f: (
        f"  update from {f['site']} rejected: {f['reason']} (manifest {_short(f['manifest_hash'])})"
    ),
    "privacy_spent": lambda f: f"  privacy spent, epsilon so far: {_epsilons(f['epsilons'])}",
    "aggregate_computed": lambda f: (
        f"  aggregate: model {_short(f['model_hash'])} from {len(f['contributors'])} sites "
        f"({_names(f['contributors'])})"
    ),
    "release_signed": lambda f: (
        f"release {f['version']} signed: model {_short(f['model_hash'])} of round {f['round']}"
        + (f"; gates: {_gates(f['gates'], failed_only=False)}" if "gates" in f else "")
    ),
    "release_refused": lambda f: (
        f"release {f['version']} REFUSED: model {_short(f['model_hash'])} of round {f['round']} failed "
        f"its gates: {_gates(f['gates'], failed_only=True)}"
    ),
    "run_finished": lambda f: (
        f"run finished after {f['rounds_completed']} rounds ({f['reason']}): "
        f"final model {_short(f['final_model_hash'])}"
    ),
}


def describe_entries(entries: Sequence[Entry]) -> list[str]:
    """One line per entry, prefixed by its time; entries within a round are indented."""
    return [f"{entry.time}  {_FORMATS[entry.kind](entry.fields)}" for entry in entries]


def describe_ledger(directory: Path) -> list[str]:
    """Readable lines for the ledger under `directory` (the run directory holding `ledger/`).

    Raises `LedgerError` on a malformed entry; does NOT verify checkpoints (use `verify_ledger`)."""
    return describe_entries(read_entries(directory))
