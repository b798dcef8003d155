"""The ledger evidence a task carries so a site can check the global model it is sent against the
coordinator's signed, append-only ledger (RFC 9162 checkpoints and proofs; see `fedward.site.trust`).

On the wire (keys and JSON types fixed; all of them per round, so `fedward.core.provenance` leaves every
`trust_` key out of the task hash):

- `trust_checkpoint`: the latest signed checkpoint, as its line of text;
- `trust_consistency`: canonical JSON mapping each tree size the site may have seen last (as a string)
  to the hex hashes of the consistency proof from it to the checkpoint (RFC 9162 section 2.1.4);
- `trust_entry`, `trust_entry_index`: the ledger entry naming the model (its line, its index);
- `trust_inclusion`: the hex hashes of that entry's inclusion proof in the checkpoint (section 2.1.3).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Self

from fedward.core.canonical import CanonicalError, parse_canonical
from fedward.core.messages import JSONScalar, JSONValue
from fedward.settings.fields import read_int, read_str, read_str_list

__all__ = ["MAX_CONSISTENCY_BYTES", "LedgerEvidence"]

MAX_CONSISTENCY_BYTES = 1 << 20


def _hashes(hexes: Sequence[str], where: str) -> list[bytes]:
    try:
        return [bytes.fromhex(h) for h in hexes]
    except ValueError:
        raise ValueError(f"task config {where!r} must hold hex hashes") from None


@dataclass(frozen=True)
class LedgerEvidence:
    """The checkpoint, consistency proofs, model entry and its inclusion proof for one task."""

    checkpoint: str
    consistency: str
    entry: str
    entry_index: int
    inclusion: tuple[str, ...]

    def to_config(self) -> dict[str, JSONValue]:
        """The task config keys, in the order tasks have always carried them."""
        inclusion: list[JSONScalar] = list(self.inclusion)
        return {
            "trust_checkpoint": self.checkpoint,
            "trust_consistency": self.consistency,
            "trust_entry": self.entry,
            "trust_entry_index": self.entry_index,
            "trust_inclusion": inclusion,
        }

    @classmethod
    def from_config(cls, config: Mapping[str, JSONValue]) -> Self:
        """Read a task's evidence; a missing or mistyped key raises ValueError naming the key."""
        return cls(
            checkpoint=read_str(config, "trust_checkpoint"),
            consistency=read_str(config, "trust_consistency"),
            entry=read_str(config, "trust_entry"),
            entry_index=read_int(config, "trust_entry_index"),
            inclusion=read_str_list(config, "trust_inclusion"),
        )

    def inclusion_proof(self) -> list[bytes]:
        return _hashes(self.inclusion, "trust_inclusion")

    def consistency_proof(self, tree_size: int) -> list[bytes] | None:
        """The proof from a checkpoint of `tree_size` to this one, or None when none was sent for it."""
        try:
            proofs = parse_canonical(self.consistency.encode(), max_bytes=MAX_CONSISTENCY_BYTES)
        except CanonicalError as exc:
            raise ValueError(f"task config 'trust_consistency' is not canonical JSON: {exc}") from None
        proof = proofs.get(str(tree_size)) if isinstance(proofs, dict) else None
        if not isinstance(proof, list) or not all(isinstance(h, str) for h in proof):
            return None
        return _hashes(proof, "trust_consistency")
