"""The secure-aggregation messages, one frozen dataclass each, with canonical `to_bytes`/`from_bytes`.

The four rounds of Bonawitz et al. (CCS 2017, section 4) each have a site's reply and, except the
first, a coordinator's message that opens them:

  AdvertiseKeys   site -> coordinator   two X25519 public keys
  KeyDirectory    coordinator -> site   the public keys of the site's neighbours that advertised
  EncryptedShares site -> coordinator   one AES-GCM ciphertext of secret shares per neighbour
  ShareInbox      coordinator -> site   the ciphertexts addressed to the site
  MaskedInput     site -> coordinator   the masked vector (binary, see `masked_input`)
  UnmaskRequest   coordinator -> site   which neighbours are alive and which dropped
  UnmaskReply     site -> coordinator   shares of the alive sites' self-mask seeds, dropped sites' keys

Messages name their session and their sender or receiver so that none can be replayed elsewhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from fedward.crypto import AEAD_OVERHEAD, KEY_BYTES, SHARE_BYTES, SIGNATURE_BYTES, SecretSharingError, Share
from fedward.secagg import wire
from fedward.secagg.errors import ProtocolError
from fedward.secagg.masked_input import MaskedInput

ADVERTISE_CONTEXT = b"fedward/secagg-advertise/v1\n"  # domain separation of the signed key advertisement

__all__ = [
    "AdvertiseKeys",
    "EncryptedShares",
    "KeyDirectory",
    "MaskedInput",
    "ShareInbox",
    "UnmaskReply",
    "UnmaskRequest",
]

MAX_CIPHERTEXT_BYTES = AEAD_OVERHEAD + 2 * SHARE_BYTES + 8 + 8 * wire.MAX_NAME_CHARS


def _session(body: Mapping[str, Any]) -> bytes:
    return wire.read_bytes(body["session"], "field 'session'", max_size=64)


def _ciphertexts(body: Mapping[str, Any]) -> dict[str, bytes]:
    value = body["ciphertexts"]
    if not isinstance(value, dict) or len(value) > wire.MAX_ENTRIES:
        raise ProtocolError("field 'ciphertexts' must be an object of site names to ciphertexts")
    return {
        wire.check_site_name(name): wire.read_bytes(
            item, f"ciphertext {name!r}", max_size=MAX_CIPHERTEXT_BYTES
        )
        for name, item in value.items()
    }


def _shares(body: Mapping[str, Any], key: str) -> dict[str, bytes]:
    shares = wire.read_bytes_map(body, key, size=SHARE_BYTES)
    try:
        for value in shares.values():
            Share.from_y_bytes(1, value)
    except SecretSharingError as exc:
        raise ProtocolError(f"field {key!r} holds a share outside the field: {exc}") from exc
    return shares


def _map(values: Mapping[str, bytes]) -> dict[str, str]:
    return {name: wire.b64(value) for name, value in values.items()}


@dataclass(frozen=True)
class AdvertiseKeys:
    """Round 0 reply: the site's share-encryption and masking public keys, and (when the federation has
    identities) the site's Ed25519 signature over them, so that a coordinator cannot substitute keys
    (the malicious-coordinator variant of Bonawitz et al. 2017, section 6)."""

    KIND: ClassVar[str] = "secagg/advertise"
    session: bytes
    sender: str
    encryption_key: bytes
    masking_key: bytes
    signature: bytes = b""

    def signed_bytes(self) -> bytes:
        """What the signature covers: the session, the sender and both public keys."""
        return (
            ADVERTISE_CONTEXT
            + self.session
            + self.sender.encode()
            + b"\0"
            + self.encryption_key
            + self.masking_key
        )

    def to_bytes(self) -> bytes:
        fields = {
            "session": self.session,
            "encryption_key": self.encryption_key,
            "masking_key": self.masking_key,
            "signature": self.signature,
        }
        return wire.dumps(self.KIND, {"sender": self.sender, **{k: wire.b64(v) for k, v in fields.items()}})

    @classmethod
    def from_bytes(cls, data: bytes) -> AdvertiseKeys:
        body = wire.loads(data, cls.KIND, ("session", "sender", "encryption_key", "masking_key", "signature"))
        return cls(
            session=_session(body),
            sender=wire.read_name(body, "sender"),
            encryption_key=wire.read_bytes(body["encryption_key"], "encryption_key", size=KEY_BYTES),
            masking_key=wire.read_bytes(body["masking_key"], "masking_key", size=KEY_BYTES),
            signature=_signature(body["signature"], "signature"),
        )


def _signature(value: object, what: str) -> bytes:
    raw = wire.read_bytes(value, what, max_size=SIGNATURE_BYTES)
    if len(raw) not in (0, SIGNATURE_BYTES):
        raise ProtocolError(f"{what} must be empty or {SIGNATURE_BYTES} bytes")
    return raw


@dataclass(frozen=True)
class KeyDirectory:
    """Round 1 message: for each neighbour of `receiver` that advertised, its two public keys and its
    signature over them (empty when the federation has no identities)."""

    KIND: ClassVar[str] = "secagg/keys"
    session: bytes
    receiver: str
    encryption_keys: Mapping[str, bytes]
    masking_keys: Mapping[str, bytes]
    signatures: Mapping[str, bytes] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        return wire.dumps(
            self.KIND,
            {
                "session": wire.b64(self.session),
                "receiver": self.receiver,
                "encryption_keys": _map(self.encryption_keys),
                "masking_keys": _map(self.masking_keys),
                "signatures": _map(self.signatures),
            },
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> KeyDirectory:
        body = wire.loads(
            data, cls.KIND, ("session", "receiver", "encryption_keys", "masking_keys", "signatures")
        )
        encryption = wire.read_bytes_map(body, "encryption_keys", size=KEY_BYTES)
        masking = wire.read_bytes_map(body, "masking_keys", size=KEY_BYTES)
        signatures = wire.read_bytes_map(body, "signatures", size=SIGNATURE_BYTES)
        if set(encryption) != set(masking) or not set(signatures) <= set(encryption):
            raise ProtocolError("the key directory lists different sites for its keys and signatures")
        return cls(_session(body), wire.read_name(body, "receiver"), encryption, masking, signatures)


def _sealed_to_bytes(
    kind: str, session: bytes, role: str, name: str, ciphertexts: Mapping[str, bytes]
) -> bytes:
    """The shares messages of both directions: one named party and its sealed shares by peer."""
    fields = {"session": wire.b64(session), role: name, "ciphertexts": _map(ciphertexts)}
    return wire.dumps(kind, fields)


def _sealed_from_bytes(data: bytes, kind: str, role: str) -> tuple[bytes, str, dict[str, bytes]]:
    body = wire.loads(data, kind, ("session", role, "ciphertexts"))
    return _session(body), wire.read_name(body, role), _ciphertexts(body)


@dataclass(frozen=True)
class EncryptedShares:
    """Round 1 reply: `ciphertexts[receiver]` seals the sender's shares for that neighbour."""

    KIND: ClassVar[str] = "secagg/shares"
    session: bytes
    sender: str
    ciphertexts: Mapping[str, bytes]

    def to_bytes(self) -> bytes:
        return _sealed_to_bytes(self.KIND, self.session, "sender", self.sender, self.ciphertexts)

    @classmethod
    def from_bytes(cls, data: bytes) -> EncryptedShares:
        return cls(*_sealed_from_bytes(data, cls.KIND, "sender"))


@dataclass(frozen=True)
class ShareInbox:
    """Round 2 message: `ciphertexts[sender]` is the sender's sealed shares for `receiver`."""

    KIND: ClassVar[str] = "secagg/inbox"
    session: bytes
    receiver: str
    ciphertexts: Mapping[str, bytes]

    def to_bytes(self) -> bytes:
        return _sealed_to_bytes(self.KIND, self.session, "receiver", self.receiver, self.ciphertexts)

    @classmethod
    def from_bytes(cls, data: bytes) -> ShareInbox:
        return cls(*_sealed_from_bytes(data, cls.KIND, "receiver"))


@dataclass(frozen=True)
class UnmaskRequest:
    """Round 3 message: the receiver's neighbours (and itself) that are alive, and those that dropped."""

    KIND: ClassVar[str] = "secagg/unmask-request"
    session: bytes
    receiver: str
    alive: tuple[str, ...]
    dropped: tuple[str, ...]

    def to_bytes(self) -> bytes:
        fields = {"session": wire.b64(self.session), "receiver": self.receiver}
        return wire.dumps(self.KIND, {**fields, "alive": list(self.alive), "dropped": list(self.dropped)})

    @classmethod
    def from_bytes(cls, data: bytes) -> UnmaskRequest:
        body = wire.loads(data, cls.KIND, ("session", "receiver", "alive", "dropped"))
        alive, dropped = wire.read_names(body, "alive"), wire.read_names(body, "dropped")
        return cls(_session(body), wire.read_name(body, "receiver"), alive, dropped)


@dataclass(frozen=True)
class UnmaskReply:
    """Round 3 reply: shares (y bytes) of alive sites' self-mask seeds and of dropped sites' mask keys."""

    KIND: ClassVar[str] = "secagg/unmask-reply"
    session: bytes
    sender: str
    self_mask_shares: Mapping[str, bytes]
    key_shares: Mapping[str, bytes]

    def to_bytes(self) -> bytes:
        fields = {"session": wire.b64(self.session), "sender": self.sender}
        shares = {"self_mask_shares": _map(self.self_mask_shares), "key_shares": _map(self.key_shares)}
        return wire.dumps(self.KIND, {**fields, **shares})

    @classmethod
    def from_bytes(cls, data: bytes) -> UnmaskReply:
        body = wire.loads(data, cls.KIND, ("session", "sender", "self_mask_shares", "key_shares"))
        self_mask, keys = _shares(body, "self_mask_shares"), _shares(body, "key_shares")
        if set(self_mask) & set(keys):
            raise ProtocolError("an unmask reply carries both kinds of share for the same site")
        return cls(_session(body), wire.read_name(body, "sender"), self_mask, keys)
