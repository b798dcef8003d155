"""The plaintext inside a share ciphertext, and sealing it for one neighbour.

Bonawitz et al. (CCS 2017, round 1): site u sends neighbour v, through the coordinator,
Enc(k_uv, u || v || share_v(b_u) || share_v(s_u)). The plaintext repeats sender and receiver and the
associated data binds them with the session, so the coordinator can neither read a share, alter it,
nor replay it from another session, to another receiver, or back to its sender.
"""

from __future__ import annotations

from fedward.crypto import SHARE_BYTES, DecryptionError, SecretSharingError, Share, open_, seal
from fedward.secagg.errors import ProtocolError
from fedward.secagg.masking import frame, share_associated_data

__all__ = ["open_shares", "parse_plaintext", "seal_shares"]


def seal_shares(
    key: bytes, session: bytes, sender: str, receiver: str, self_mask: Share, masking: Share
) -> bytes:
    """Seal `sender`'s shares of its self-mask seed and masking key for `receiver`."""
    plaintext = frame(sender.encode(), receiver.encode()) + self_mask.y_bytes() + masking.y_bytes()
    return seal(key, plaintext, associated_data=share_associated_data(session, sender, receiver))


def open_shares(
    key: bytes, session: bytes, sender: str, receiver: str, sealed: bytes, x: int
) -> tuple[Share, Share]:
    """Open sealed (self-mask share, masking-key share) at x; `ProtocolError` on any fault."""
    try:
        plaintext = open_(key, sealed, associated_data=share_associated_data(session, sender, receiver))
    except DecryptionError as exc:
        raise ProtocolError(f"the shares from {sender!r} failed authentication") from exc
    return parse_plaintext(plaintext, sender, receiver, x)


def parse_plaintext(plaintext: bytes, sender: str, receiver: str, x: int) -> tuple[Share, Share]:
    """Check the repeated names and split the two shares; `ProtocolError` on any mismatch."""
    names = frame(sender.encode(), receiver.encode())
    if len(plaintext) != len(names) + 2 * SHARE_BYTES or not plaintext.startswith(names):
        raise ProtocolError(f"the shares from {sender!r} name another sender or receiver")
    body = plaintext[len(names) :]
    try:
        return Share.from_y_bytes(x, body[:SHARE_BYTES]), Share.from_y_bytes(x, body[SHARE_BYTES:])
    except SecretSharingError as exc:
        raise ProtocolError(f"the shares from {sender!r} are malformed: {exc}") from exc
