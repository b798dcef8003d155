"""Mask seeds and mask arithmetic of secure aggregation.

Bonawitz et al. (CCS 2017, section 4): site u sends y_u = x_u + PRG(b_u) + sum_v sign(u, v) PRG(s_uv)
in Z_{2^r}, where b_u is a fresh self-mask seed and s_uv = KDF(X25519(s_u, pk_v)) is shared with each
neighbour v; sign(u, v) is +1 when u sorts before v and -1 otherwise, so the pairwise masks of two sites
that both upload cancel in the sum. The same key agreement, under another label, keys the encryption
of the secret shares. Every derivation binds the session id and both site names (length-prefixed), so
no seed or key is ever reused across sessions or pairs, which is what lets the PRG use a fixed nonce.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt

from fedward.crypto import KeyPair, agree, expand_into

__all__ = [
    "add_streams",
    "adds_pairwise_mask",
    "frame",
    "pairwise_seed",
    "share_associated_data",
    "share_key",
]

_MASK_LABEL = b"fedward/secagg/v1/pairwise-mask"
_SHARE_KEY_LABEL = b"fedward/secagg/v1/share-key"
_SHARE_AD_LABEL = b"fedward/secagg/v1/share-ad"


def frame(*parts: bytes) -> bytes:
    """Unambiguous concatenation: each part prefixed by its 4-byte big-endian length."""
    return b"".join(len(part).to_bytes(4, "big") + part for part in parts)


def _pair_info(label: bytes, session: bytes, a: str, b: str) -> bytes:
    first, second = sorted((a, b))
    return frame(label, session, first.encode(), second.encode())


def pairwise_seed(
    private: KeyPair | bytes, peer_public: bytes, *, session: bytes, me: str, peer: str
) -> bytes:
    """The PRG seed s_{me,peer} of the pairwise mask (the same from both ends)."""
    return agree(private, peer_public, info=_pair_info(_MASK_LABEL, session, me, peer))


def share_key(private: KeyPair | bytes, peer_public: bytes, *, session: bytes, me: str, peer: str) -> bytes:
    """The AES-256-GCM key that seals secret shares between `me` and `peer` (the same from both ends)."""
    return agree(private, peer_public, info=_pair_info(_SHARE_KEY_LABEL, session, me, peer))


def share_associated_data(session: bytes, sender: str, receiver: str) -> bytes:
    """Associated data of a share ciphertext: binds session, direction, sender and receiver."""
    return frame(_SHARE_AD_LABEL, session, sender.encode(), receiver.encode())


def adds_pairwise_mask(me: str, peer: str) -> bool:
    """True when `me` adds PRG(s_{me,peer}) to its input, False when it subtracts it."""
    return me < peer


def add_streams(target: npt.NDArray[Any], plus: Iterable[bytes], minus: Iterable[bytes]) -> None:
    """In place, modulo 2^r: target += sum of PRG(seed) over `plus` - sum over `minus`.

    One scratch buffer is reused for every stream; numpy's unsigned adds wrap, which is the ring.
    """
    scratch = np.empty_like(target)
    for seeds, operation in ((plus, np.add), (minus, np.subtract)):
        for seed in seeds:
            expand_into(seed, scratch)
            operation(target, scratch, out=target)
