"""The site's side of secure aggregation, as a sans-IO state machine: bytes in, bytes out.

Bonawitz et al. (CCS 2017, section 4, figure 4) with the neighbour graph of SecAgg+ (Bell et al., CCS
2020): a site advertises two public keys, shares its self-mask seed b_u and masking key s_u t-of-k among
its neighbours and itself, uploads x_u masked by PRG(b_u) and its pairwise masks, and finally releases,
for each neighbour, either its share of b (the neighbour is alive) or of s (it dropped), never both.

The site fails closed: any message it does not like raises `ProtocolError`, and from then on the site
refuses every message and forgets its secrets. That refusal is what keeps a curious coordinator from
unmasking a single site's input (see `UnmaskRequest` checks in `_on_unmask`).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from fedward.crypto import SEED_BYTES, KeyPair, Share, SignatureError, SigningKey, split, verify
from fedward.secagg.errors import ProtocolError
from fedward.secagg.masking import add_streams, adds_pairwise_mask, pairwise_seed, share_key
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
from fedward.secagg.shares import open_shares, seal_shares

__all__ = ["SecAggSite", "SiteStage"]


class SiteStage(StrEnum):
    """Where a site stands: the message it expects next."""

    NEW = "new"
    ADVERTISED = "advertised"
    SHARED = "shared"
    UPLOADED = "uploaded"
    DONE = "done"
    REFUSED = "refused"


class SecAggSite:
    """One site's secure-aggregation session for one vector already encoded in the ring."""

    def __init__(
        self,
        params: SessionParams,
        me: str,
        vector: npt.NDArray[Any],
        *,
        identity: SigningKey | None = None,
        peer_keys: Mapping[str, bytes] | None = None,
    ) -> None:
        """`identity` signs this site's key advertisement; with `peer_keys` (each site's Ed25519 public
        key, from the admitted roster) the site accepts only neighbours' keys signed by those sites, so a
        coordinator cannot put its own keys in their place."""
        if me not in params.holders:
            raise ValueError(f"site {me!r} is not one of this session's sites")
        if vector.dtype != params.dtype or vector.shape != (params.length,):
            raise ValueError(f"the vector must be {params.dtype} of shape ({params.length},)")
        self._params, self._me, self._vector = params, me, vector
        self._identity, self._peer_keys = identity, peer_keys
        self._stage = SiteStage.NEW
        self._refusal: str | None = None
        self._encryption, self._masking = KeyPair.generate(), KeyPair.generate()
        self._self_seed = secrets.token_bytes(SEED_BYTES)
        self._directory: dict[str, tuple[bytes, bytes]] = {}
        self._held: dict[str, tuple[Share, Share]] = {}

    @property
    def stage(self) -> SiteStage:
        return self._stage

    @property
    def refusal(self) -> str | None:
        """Why the site refused the session, or None."""
        return self._refusal

    def start(self) -> bytes:
        """Round 0: advertise the share-encryption and masking public keys."""
        if self._stage is not SiteStage.NEW:
            raise ProtocolError(f"site {self._me!r} has already started this session")
        self._stage = SiteStage.ADVERTISED
        message = AdvertiseKeys(self._params.session, self._me, self._encryption.public, self._masking.public)
        if self._identity is not None:
            message = replace(message, signature=self._identity.sign(message.signed_bytes()))
        return message.to_bytes()

    def receive(self, message: bytes) -> bytes:
        """Handle the coordinator's next message and return the reply; `ProtocolError` refuses for good."""
        if self._refusal is not None:
            raise ProtocolError(f"site {self._me!r} refused this session earlier: {self._refusal}")
        handlers: dict[SiteStage, Callable[[bytes], bytes]] = {
            SiteStage.ADVERTISED: self._on_keys,
            SiteStage.SHARED: self._on_inbox,
            SiteStage.UPLOADED: self._on_unmask,
        }
        try:
            handler = handlers.get(self._stage)
            if handler is None:
                raise ProtocolError(f"message out of stage order: site is at stage {self._stage.value!r}")
            return handler(message)
        except ProtocolError as exc:
            self._refuse(str(exc))
            raise

    def _refuse(self, reason: str) -> None:
        self._refusal, self._stage = reason, SiteStage.REFUSED
        self._held, self._directory, self._self_seed = {}, {}, b""

    def _check_addressed(self, session: bytes, receiver: str) -> None:
        if session != self._params.session:
            raise ProtocolError("the message belongs to another session")
        if receiver != self._me:
            raise ProtocolError(f"the message is addressed to {receiver!r}, not {self._me!r}")

    def _check_peer(self, name: str, what: str) -> None:
        if name not in self._params.holders:
            raise ProtocolError(f"the {what} names {name!r}, which is not a site of this session")
        if name != self._me and name not in self._params.neighbours_of(self._me):
            raise ProtocolError(f"the {what} names {name!r}, which is not a neighbour of {self._me!r}")

    def _require_threshold(self, count: int, what: str) -> None:
        if count < self._params.threshold:
            raise ProtocolError(f"only {count} {what}, fewer than the threshold {self._params.threshold}")

    def _on_keys(self, message: bytes) -> bytes:
        """Round 1: check the neighbours' keys, then seal shares of b_u and s_u for each of them."""
        directory = KeyDirectory.from_bytes(message)
        self._check_addressed(directory.session, directory.receiver)
        for name in directory.encryption_keys:
            if name == self._me:
                raise ProtocolError("the key directory lists this site itself")
            self._check_peer(name, "key directory")
            self._check_signed(directory, name)
        keys = [self._encryption.public, self._masking.public]
        keys += [*directory.encryption_keys.values(), *directory.masking_keys.values()]
        if len(set(keys)) != len(keys):
            raise ProtocolError("the key directory repeats a public key")
        self._require_threshold(len(directory.encryption_keys) + 1, "sites with keys in the neighbourhood")
        self._directory = {
            name: (directory.encryption_keys[name], directory.masking_keys[name])
            for name in directory.encryption_keys
        }
        reply = self._seal_secret_shares()
        self._stage = SiteStage.SHARED
        return reply

    def _check_signed(self, directory: KeyDirectory, name: str) -> None:
        """With peer identities, a neighbour's keys count only if that neighbour signed them."""
        if self._peer_keys is None:
            return
        advert = AdvertiseKeys(
            directory.session,
            name,
            directory.encryption_keys[name],
            directory.masking_keys[name],
            directory.signatures.get(name, b""),
        )
        try:
            verify(self._peer_keys[name], advert.signed_bytes(), advert.signature)
        except (KeyError, SignatureError):
            raise ProtocolError(
                f"the keys given for {name!r} are not signed by {name!r}'s identity key"
            ) from None

    def _seal_secret_shares(self) -> bytes:
        params, me = self._params, self._me
        holders = params.shareholders_of(me)
        seed_shares = split(self._self_seed, len(holders), params.threshold)
        key_shares = split(self._masking.private_bytes(), len(holders), params.threshold)
        sealed: dict[str, bytes] = {}
        for holder, seed_share, key_share in zip(holders, seed_shares, key_shares, strict=True):
            if holder == me:
                self._held[me] = (seed_share, key_share)
            elif holder in self._directory:
                key = share_key(
                    self._encryption, self._directory[holder][0], session=params.session, me=me, peer=holder
                )
                sealed[holder] = seal_shares(key, params.session, me, holder, seed_share, key_share)
        return EncryptedShares(params.session, me, sealed).to_bytes()

    def _on_inbox(self, message: bytes) -> bytes:
        """Round 2: authenticate every neighbour's shares, then upload the masked vector."""
        inbox = ShareInbox.from_bytes(message)
        self._check_addressed(inbox.session, inbox.receiver)
        if len(set(inbox.ciphertexts.values())) != len(inbox.ciphertexts):
            raise ProtocolError("the inbox repeats a ciphertext")
        params, me = self._params, self._me
        for sender, sealed in sorted(inbox.ciphertexts.items()):
            if sender == me:
                raise ProtocolError("the inbox holds shares from this site itself")
            self._check_peer(sender, "inbox")
            if sender not in self._directory:
                raise ProtocolError(f"the inbox holds shares from {sender!r}, which advertised no keys")
            key = share_key(
                self._encryption, self._directory[sender][0], session=params.session, me=me, peer=sender
            )
            self._held[sender] = open_shares(
                key, params.session, sender, me, sealed, params.share_x(sender, me)
            )
        self._require_threshold(len(inbox.ciphertexts) + 1, "sites with shares in the neighbourhood")
        masked = self._masked_vector(sorted(inbox.ciphertexts))
        self._stage = SiteStage.UPLOADED
        return MaskedInput(params.session, me, masked).to_bytes()

    def _masked_vector(self, peers: Iterable[str]) -> npt.NDArray[Any]:
        """y = x + PRG(b_u) + sum over peers v of sign(u, v) PRG(s_uv), modulo 2^r."""
        plus, minus = [self._self_seed], list[bytes]()
        for peer in peers:
            seed = pairwise_seed(
                self._masking, self._directory[peer][1], session=self._params.session, me=self._me, peer=peer
            )
            (plus if adds_pairwise_mask(self._me, peer) else minus).append(seed)
        masked = np.array(self._vector, copy=True)
        add_streams(masked, plus, minus)
        return masked

    def _on_unmask(self, message: bytes) -> bytes:
        """Round 3: release b shares of alive sites and s shares of dropped ones, after every check."""
        request = UnmaskRequest.from_bytes(message)
        self._check_addressed(request.session, request.receiver)
        alive, dropped = set(request.alive), set(request.dropped)
        if self._me in dropped:
            raise ProtocolError("the unmask request lists this site as dropped")
        if alive & dropped:
            raise ProtocolError(
                f"the unmask request lists {sorted(alive & dropped)} as both alive and dropped"
            )
        for name in sorted(alive | dropped):
            self._check_peer(name, "unmask request")
            if name not in self._held:
                raise ProtocolError(
                    f"the unmask request names {name!r}, whose shares this site never received"
                )
        if self._me not in alive:
            raise ProtocolError("the unmask request does not list this site as alive")
        self._require_threshold(len(alive), "alive sites in the neighbourhood")
        reply = UnmaskReply(
            self._params.session,
            self._me,
            {name: self._held[name][0].y_bytes() for name in sorted(alive)},
            {name: self._held[name][1].y_bytes() for name in sorted(dropped)},
        )
        self._stage, self._held = SiteStage.DONE, {}
        return reply.to_bytes()
