"""The coordinator's last step: reconstruct the secrets it is owed and strip every mask from the sum.

Bonawitz et al. (CCS 2017, round 4): from the shares the alive sites release, the coordinator rebuilds
b_u for every site u whose masked input arrived, and s_w for every site w that shared its keys but never
uploaded; then sum(y_u) - sum PRG(b_u) - (the pairwise masks between alive and dropped sites) is the sum
of the alive sites' inputs. A secret needs shares from `threshold` holders; a reconstructed masking key
must also match the public key its owner advertised. Anything less aborts: no sum is released.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy.typing as npt

from fedward.crypto import SEED_BYTES, KeyPair, SecretSharingError, Share, combine
from fedward.secagg.errors import AbortError
from fedward.secagg.masking import add_streams, adds_pairwise_mask, pairwise_seed
from fedward.secagg.messages import UnmaskReply, UnmaskRequest
from fedward.secagg.params import SessionParams

__all__ = ["check_masking_key", "check_recoverable", "holders_of_secrets", "reconstruct", "remove_masks"]

Holders = dict[str, list[str]]


def holders_of_secrets(requests: Iterable[UnmaskRequest]) -> tuple[Holders, Holders]:
    """Who is asked for shares of each alive site's b (first) and each dropped site's s (second)."""
    self_mask: Holders = {}
    key: Holders = {}
    for request in requests:
        for owner in request.alive:
            self_mask.setdefault(owner, []).append(request.receiver)
        for owner in request.dropped:
            key.setdefault(owner, []).append(request.receiver)
    return self_mask, key


def check_recoverable(params: SessionParams, holders: Mapping[str, list[str]], what: str) -> None:
    """Abort now when a needed secret has fewer than `threshold` holders left to ask."""
    for owner, asked in sorted(holders.items()):
        if len(asked) < params.threshold:
            raise AbortError(
                f"the {what} of {owner!r} has {len(asked)} live shareholders, fewer than {params.threshold}"
            )


def reconstruct(
    params: SessionParams, owner: str, replies: Mapping[str, UnmaskReply], *, self_mask: bool
) -> bytes:
    """Combine the shares of `owner`'s self-mask seed (or masking key) carried by `replies`."""
    shares = [
        Share.from_y_bytes(
            params.share_x(owner, holder),
            (reply.self_mask_shares if self_mask else reply.key_shares)[owner],
        )
        for holder, reply in sorted(replies.items())
        if owner in (reply.self_mask_shares if self_mask else reply.key_shares)
    ]
    what = "self-mask seed" if self_mask else "masking key"
    try:
        secret = combine(shares, params.threshold)
    except SecretSharingError as exc:
        raise AbortError(f"cannot reconstruct the {what} of {owner!r}: {exc}") from exc
    if len(secret) != SEED_BYTES:
        raise AbortError(f"the reconstructed {what} of {owner!r} has the wrong length")
    return secret


def check_masking_key(owner: str, private: bytes, advertised: bytes) -> None:
    """Abort unless the reconstructed private key belongs to the public key `owner` advertised."""
    if KeyPair.from_private_bytes(private).public != advertised:
        raise AbortError(f"the reconstructed masking key of {owner!r} does not match its public key")


def remove_masks(
    total: npt.NDArray[Any],
    params: SessionParams,
    self_seeds: Mapping[str, bytes],
    dropped_keys: Mapping[str, bytes],
    inboxes: Mapping[str, frozenset[str]],
    masking_keys: Mapping[str, bytes],
) -> None:
    """In place: subtract every alive site's self mask and every alive-dropped pairwise mask."""
    plus: list[bytes] = []
    minus = [self_seeds[owner] for owner in sorted(self_seeds)]
    for dropped, private in sorted(dropped_keys.items()):
        for alive in sorted(self_seeds):
            if dropped in inboxes[alive]:
                seed = pairwise_seed(
                    private, masking_keys[alive], session=params.session, me=dropped, peer=alive
                )
                (minus if adds_pairwise_mask(alive, dropped) else plus).append(seed)
    add_streams(total, plus, minus)
