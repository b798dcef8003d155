"""Share ciphertexts: tampering and replay are refused (AES-GCM with session/sender/receiver bound).

Bonawitz et al. (CCS 2017, round 1) route secret shares through the coordinator under authenticated
encryption; without it the coordinator could swap or alter shares. Power checks decrypt the same
ciphertext as plain AES-CTR (GCM without its tag) to show the tampering would otherwise pass.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from secagg_harness import Session, advance_to, make_params, new_session

from fedward.crypto import KeyPair, SecretSharingError, Share, combine, split
from fedward.crypto.aead import NONCE_BYTES, TAG_BYTES
from fedward.secagg import ProtocolError, ShareInbox, SiteStage
from fedward.secagg.masking import frame, share_key
from fedward.secagg.shares import open_shares, parse_plaintext, seal_shares


def _inboxes(
    n: int = 5, degree: int | None = None, label: bytes = b"a"
) -> tuple[Session, dict[str, ShareInbox]]:
    params = make_params(n, degree=degree, session=hashlib.sha256(label).digest())
    session = new_session(params)
    messages = advance_to(session, 2)
    return session, {name: ShareInbox.from_bytes(message) for name, message in messages.items()}


def _refused(
    session: Session, inbox: ShareInbox, reason: str, raw: bytes | None = None, at: str | None = None
) -> None:
    site = session.sites[at or inbox.receiver]
    with pytest.raises(ProtocolError, match=reason):
        site.receive(raw if raw is not None else inbox.to_bytes())
    assert site.stage is SiteStage.REFUSED


def _with(inbox: ShareInbox, sender: str, ciphertext: bytes) -> ShareInbox:
    return replace(inbox, ciphertexts={**inbox.ciphertexts, sender: ciphertext})


@pytest.mark.parametrize("position", [0, NONCE_BYTES, NONCE_BYTES + 20, -TAG_BYTES - 1, -1])
def test_a_flipped_byte_in_a_share_ciphertext_is_refused(position: int) -> None:
    session, inboxes = _inboxes()
    inbox = inboxes["site-00"]
    sealed = bytearray(inbox.ciphertexts["site-01"])
    sealed[position] ^= 0x01
    _refused(session, _with(inbox, "site-01", bytes(sealed)), "failed authentication")


def test_truncated_ciphertext_is_refused() -> None:
    session, inboxes = _inboxes()
    inbox = inboxes["site-00"]
    _refused(session, _with(inbox, "site-01", inbox.ciphertexts["site-01"][:-1]), "failed authentication")


def test_replay_from_another_session_is_refused() -> None:
    session, inboxes = _inboxes(label=b"a")
    _, other_inboxes = _inboxes(label=b"b")
    inbox = inboxes["site-00"]
    _refused(
        session,
        _with(inbox, "site-01", other_inboxes["site-00"].ciphertexts["site-01"]),
        "failed authentication",
    )


def test_replay_to_another_receiver_is_refused() -> None:
    session, inboxes = _inboxes()
    stolen = inboxes["site-02"].ciphertexts["site-01"]  # made by site-01 for site-02
    _refused(session, _with(inboxes["site-00"], "site-01", stolen), "failed authentication")


def test_reflection_back_to_its_sender_is_refused() -> None:
    session, inboxes = _inboxes()
    own = inboxes["site-01"].ciphertexts["site-00"]  # site-00's shares for site-01, same pairwise key
    _refused(session, _with(inboxes["site-00"], "site-01", own), "failed authentication")


def test_a_duplicated_sender_is_refused() -> None:
    session, inboxes = _inboxes()
    inbox = inboxes["site-00"]
    body = inbox.to_bytes().decode()
    entry = f'"site-01":"{json.loads(body)["ciphertexts"]["site-01"]}"'
    doubled = body.replace(entry, entry + "," + entry, 1).encode()
    assert doubled != inbox.to_bytes()
    _refused(session, inbox, "repeats a key", raw=doubled)


def test_the_same_ciphertext_under_two_senders_is_refused() -> None:
    session, inboxes = _inboxes()
    inbox = inboxes["site-00"]
    _refused(session, _with(inbox, "site-02", inbox.ciphertexts["site-01"]), "repeats a ciphertext")


def test_shares_from_a_non_neighbour_are_refused() -> None:
    session, inboxes = _inboxes(n=9, degree=2, label=b"sparse")
    receiver = "site-00"
    inbox = inboxes[receiver]
    stranger = next(
        s for s in session.params.sites if s != receiver and s not in session.params.neighbours_of(receiver)
    )
    forged = os.urandom(len(next(iter(inbox.ciphertexts.values()))))
    _refused(session, _with(inbox, stranger, forged), "not a neighbour")


def test_an_inbox_addressed_elsewhere_or_for_another_session_is_refused() -> None:
    session, inboxes = _inboxes()
    _refused(session, inboxes["site-01"], "addressed to 'site-01', not 'site-00'", at="site-00")
    session, inboxes = _inboxes()
    _refused(session, replace(inboxes["site-00"], session=bytes(32)), "another session")


def _sealed_pair() -> tuple[bytes, bytes, list[Share], list[Share]]:
    sender, receiver = KeyPair.generate(), KeyPair.generate()
    key = share_key(sender, receiver.public, session=b"s" * 32, me="site-a", peer="site-b")
    seeds, keys = split(b"\x07" * 32, 3, 3), split(b"\x09" * 32, 3, 3)
    return key, seal_shares(key, b"s" * 32, "site-a", "site-b", seeds[1], keys[1]), seeds, keys


def _decrypt_without_tag(key: bytes, sealed: bytes) -> bytes:
    """GCM is CTR from counter block nonce || 2 (NIST SP 800-38D); drop the tag and skip the check."""
    counter = sealed[:NONCE_BYTES] + (2).to_bytes(4, "big")
    decryptor = Cipher(algorithms.AES(key), modes.CTR(counter)).decryptor()
    return decryptor.update(sealed[NONCE_BYTES:-TAG_BYTES]) + decryptor.finalize()


def test_power_check_tampering_goes_undetected_without_authentication() -> None:
    key, sealed, seeds, keys = _sealed_pair()
    plain = _decrypt_without_tag(key, sealed)
    assert parse_plaintext(plain, "site-a", "site-b", 2) == (
        seeds[1],
        keys[1],
    )  # the bypass decrypts faithfully
    tampered = bytearray(sealed)
    tampered[-TAG_BYTES - 1] ^= 0x01  # the last byte of the masking-key share
    forged_seed, forged_key = parse_plaintext(
        _decrypt_without_tag(key, bytes(tampered)), "site-a", "site-b", 2
    )
    assert forged_seed == seeds[1] and forged_key != keys[1]
    try:
        recovered: bytes | None = combine([keys[0], forged_key, keys[2]], 3)
    except SecretSharingError:
        recovered = None
    assert recovered != b"\x09" * 32
    with pytest.raises(ProtocolError, match="failed authentication"):
        open_shares(key, b"s" * 32, "site-a", "site-b", bytes(tampered), 2)


def test_plaintext_names_are_checked_even_under_the_right_key() -> None:
    key, sealed, seeds, keys = _sealed_pair()
    assert open_shares(key, b"s" * 32, "site-a", "site-b", sealed, 2) == (seeds[1], keys[1])
    plain = frame(b"site-b", b"site-a") + seeds[1].y_bytes() + keys[1].y_bytes()
    with pytest.raises(ProtocolError, match="another sender or receiver"):
        parse_plaintext(plain, "site-a", "site-b", 2)
