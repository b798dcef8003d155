"""The coordinator's side of secure aggregation, as a sans-IO state machine.

Bonawitz et al. (CCS 2017, section 4) with the SecAgg+ graph of Bell et al. (CCS 2020). The caller feeds
each site's reply with `receive(site, bytes)` (the transport has already authenticated `site`), then
calls `advance()` to close the stage and get the next message for each site still taking part:

  advertise -> key directories -> encrypted shares -> inboxes -> masked inputs -> unmask requests
  -> unmask replies -> {} and `result()` is the sum of the surviving sites' vectors.

A site that misses a stage is dropped from then on; a `ProtocolError` from `receive` means the caller
should treat that site as dropped. Fewer than `threshold` sites at any stage, or a secret that cannot be
reconstructed, raises `AbortError` and ends the session without a sum. The masked inputs are summed as
they arrive, so the coordinator holds one vector, not one per site.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from fedward.secagg import unmask
from fedward.secagg.errors import AbortError, ProtocolError, SecAggError
from fedward.secagg.messages import (
    AdvertiseKeys,
    EncryptedShares,
    KeyDirectory,
    MaskedInput,
    ShareInbox,
    UnmaskReply,
    UnmaskRequest,
)
from fedward.secagg.params import SessionParams

__all__ = ["CoordinatorStage", "SecAggCoordinator"]


class CoordinatorStage(StrEnum):
    """The replies the coordinator is collecting."""

    ADVERTISE = "advertise"
    SHARES = "shares"
    MASKED_INPUT = "masked_input"
    UNMASK = "unmask"
    DONE = "done"
    ABORTED = "aborted"


class SecAggCoordinator:
    """One session of secure aggregation at the coordinator."""

    def __init__(self, params: SessionParams) -> None:
        self._params = params
        self._stage = CoordinatorStage.ADVERTISE
        self._abort: str | None = None
        self._keys: dict[str, AdvertiseKeys] = {}
        self._directories: dict[str, frozenset[str]] = {}
        self._shares: dict[str, dict[str, bytes]] = {}
        self._inboxes: dict[str, frozenset[str]] = {}
        self._sum: npt.NDArray[Any] | None = None
        self._uploaded: set[str] = set()
        self._requests: dict[str, UnmaskRequest] = {}
        self._replies: dict[str, UnmaskReply] = {}
        self._dropped_after_upload: tuple[str, ...] = ()

    @property
    def stage(self) -> CoordinatorStage:
        return self._stage

    @property
    def awaiting(self) -> tuple[str, ...]:
        """Sites whose reply for the current stage has not arrived yet."""
        expected, received = self._expected()
        return tuple(sorted(set(expected) - set(received)))

    @property
    def survivors(self) -> tuple[str, ...]:
        """Sites whose vectors are in the sum (known once the masked-input stage is closed)."""
        return tuple(sorted(self._uploaded)) if self._requests else ()

    @property
    def dropped_before_upload(self) -> tuple[str, ...]:
        """Sites that shared their keys but sent no masked input: their pairwise masks are removed."""
        return tuple(sorted(set(self._inboxes) - self._uploaded)) if self._requests else ()

    @property
    def dropped_after_upload(self) -> tuple[str, ...]:
        """Sites that uploaded but fell silent at unmasking: their self masks come from others' shares."""
        return self._dropped_after_upload

    @property
    def recovered(self) -> tuple[str, ...]:
        """Sites that dropped after sharing keys and whose masks were recovered from others' shares."""
        return tuple(sorted((*self.dropped_before_upload, *self.dropped_after_upload)))

    def result(self) -> npt.NDArray[Any]:
        """The sum of the survivors' vectors, modulo 2^ring_bits."""
        if self._abort is not None:
            raise AbortError(f"the session was aborted: {self._abort}")
        if self._stage is not CoordinatorStage.DONE or self._sum is None:
            raise SecAggError(f"the sum is not ready: the session is at stage {self._stage.value!r}")
        return self._sum

    def receive(self, site: str, message: bytes) -> None:
        """Take `site`'s reply for the current stage; `ProtocolError` if it is not acceptable."""
        self._check_open()
        if site not in self._params.holders:
            raise ProtocolError(f"{site!r} is not a site of this session")
        handlers: dict[CoordinatorStage, Callable[[str, bytes], None]] = {
            CoordinatorStage.ADVERTISE: self._on_advertise,
            CoordinatorStage.SHARES: self._on_shares,
            CoordinatorStage.MASKED_INPUT: self._on_masked_input,
            CoordinatorStage.UNMASK: self._on_unmask_reply,
        }
        handler = handlers.get(self._stage)
        if handler is None:
            raise ProtocolError(f"no reply is expected: the session is at stage {self._stage.value!r}")
        expected, received = self._expected()
        if site not in expected:
            raise ProtocolError(f"site {site!r} is not taking part in stage {self._stage.value!r}")
        if site in received:
            raise ProtocolError(f"site {site!r} already replied in stage {self._stage.value!r}")
        handler(site, message)

    def advance(self) -> dict[str, bytes]:
        """Close the current stage; return the next message for each site still taking part."""
        self._check_open()
        steps: dict[CoordinatorStage, Callable[[], dict[str, bytes]]] = {
            CoordinatorStage.ADVERTISE: self._close_advertise,
            CoordinatorStage.SHARES: self._close_shares,
            CoordinatorStage.MASKED_INPUT: self._close_masked_input,
            CoordinatorStage.UNMASK: self._close_unmask,
        }
        step = steps.get(self._stage)
        if step is None:
            raise ProtocolError("the session is finished")
        try:
            return step()
        except AbortError as exc:
            self._stage, self._abort, self._sum = CoordinatorStage.ABORTED, str(exc), None
            raise

    def _check_open(self) -> None:
        if self._abort is not None:
            raise AbortError(f"the session was aborted: {self._abort}")

    def _expected(self) -> tuple[Any, Any]:
        table: dict[CoordinatorStage, tuple[Any, Any]] = {
            CoordinatorStage.ADVERTISE: (self._params.sites, self._keys),
            CoordinatorStage.SHARES: (self._directories, self._shares),
            CoordinatorStage.MASKED_INPUT: (self._inboxes, self._uploaded),
            CoordinatorStage.UNMASK: (self._requests, self._replies),
        }
        return table.get(self._stage, ((), ()))

    def _check_header(self, site: str, session: bytes, sender: str) -> None:
        if session != self._params.session:
            raise ProtocolError(f"the reply of {site!r} belongs to another session")
        if sender != site:
            raise ProtocolError(f"the reply of {site!r} claims to come from {sender!r}")

    def _require(self, count: int, what: str) -> None:
        if count < self._params.threshold:
            raise AbortError(f"only {count} sites {what}, fewer than the threshold {self._params.threshold}")

    def _on_advertise(self, site: str, message: bytes) -> None:
        advert = AdvertiseKeys.from_bytes(message)
        self._check_header(site, advert.session, advert.sender)
        seen = {key for other in self._keys.values() for key in (other.encryption_key, other.masking_key)}
        if advert.encryption_key == advert.masking_key or {advert.encryption_key, advert.masking_key} & seen:
            raise ProtocolError(f"site {site!r} advertised a public key that is already in use")
        self._keys[site] = advert

    def _close_advertise(self) -> dict[str, bytes]:
        self._require(len(self._keys), "advertised keys")
        messages: dict[str, bytes] = {}
        for site in sorted(self._keys):
            peers = [peer for peer in self._params.neighbours_of(site) if peer in self._keys]
            self._directories[site] = frozenset(peers)
            encryption = {peer: self._keys[peer].encryption_key for peer in peers}
            masking = {peer: self._keys[peer].masking_key for peer in peers}
            signed = {peer: self._keys[peer].signature for peer in peers if self._keys[peer].signature}
            messages[site] = KeyDirectory(self._params.session, site, encryption, masking, signed).to_bytes()
        self._stage = CoordinatorStage.SHARES
        return messages

    def _on_shares(self, site: str, message: bytes) -> None:
        shares = EncryptedShares.from_bytes(message)
        self._check_header(site, shares.session, shares.sender)
        if set(shares.ciphertexts) != self._directories[site]:
            raise ProtocolError(
                f"site {site!r} must send shares to exactly the neighbours in its key directory"
            )
        self._shares[site] = dict(shares.ciphertexts)

    def _close_shares(self) -> dict[str, bytes]:
        self._require(len(self._shares), "sent their shares")
        messages: dict[str, bytes] = {}
        for receiver in sorted(self._shares):
            senders = [peer for peer in self._params.neighbours_of(receiver) if peer in self._shares]
            self._inboxes[receiver] = frozenset(senders)
            inbox = {sender: self._shares[sender][receiver] for sender in senders}
            messages[receiver] = ShareInbox(self._params.session, receiver, inbox).to_bytes()
        self._shares = {}
        self._stage = CoordinatorStage.MASKED_INPUT
        return messages

    def _on_masked_input(self, site: str, message: bytes) -> None:
        masked = MaskedInput.from_bytes(message)
        self._check_header(site, masked.session, masked.sender)
        if masked.vector.dtype != self._params.dtype or len(masked.vector) != self._params.length:
            raise ProtocolError(
                f"the masked input of {site!r} is not {self._params.length} x {self._params.dtype}"
            )
        if self._sum is None:
            self._sum = np.array(masked.vector, copy=True)
        else:
            np.add(self._sum, masked.vector, out=self._sum)
        self._uploaded.add(site)

    def _close_masked_input(self) -> dict[str, bytes]:
        self._require(len(self._uploaded), "sent their masked input")
        for receiver in sorted(self._uploaded):
            senders = self._inboxes[receiver]
            alive = tuple(sorted({receiver} | (senders & self._uploaded)))
            dropped = tuple(sorted(senders - self._uploaded))
            self._requests[receiver] = UnmaskRequest(self._params.session, receiver, alive, dropped)
        self_mask_holders, key_holders = unmask.holders_of_secrets(self._requests.values())
        unmask.check_recoverable(self._params, self_mask_holders, "self-mask seed")
        unmask.check_recoverable(self._params, key_holders, "masking key")
        self._stage = CoordinatorStage.UNMASK
        return {site: request.to_bytes() for site, request in self._requests.items()}

    def _on_unmask_reply(self, site: str, message: bytes) -> None:
        reply = UnmaskReply.from_bytes(message)
        self._check_header(site, reply.session, reply.sender)
        request = self._requests[site]
        if set(reply.self_mask_shares) != set(request.alive) or set(reply.key_shares) != set(request.dropped):
            raise ProtocolError(f"the unmask reply of {site!r} does not answer its request")
        self._replies[site] = reply

    def _close_unmask(self) -> dict[str, bytes]:
        self._require(len(self._replies), "answered the unmask request")
        self._dropped_after_upload = tuple(sorted(set(self._requests) - set(self._replies)))
        params, replies = self._params, self._replies
        self_mask_holders, key_holders = unmask.holders_of_secrets(self._requests.values())
        seeds = {
            owner: unmask.reconstruct(params, owner, replies, self_mask=True) for owner in self_mask_holders
        }
        keys = {owner: unmask.reconstruct(params, owner, replies, self_mask=False) for owner in key_holders}
        for owner, private in keys.items():
            unmask.check_masking_key(owner, private, self._keys[owner].masking_key)
        if self._sum is None:
            raise AbortError("no masked input arrived")
        masking_keys = {site: advert.masking_key for site, advert in self._keys.items()}
        unmask.remove_masks(self._sum, params, seeds, keys, self._inboxes, masking_keys)
        self._stage = CoordinatorStage.DONE
        return {}
