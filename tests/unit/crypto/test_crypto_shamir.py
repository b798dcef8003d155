"""Shamir secret sharing over GF(2^521 - 1): every t-subset reconstructs, fewer never do."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fedward.crypto import SHARE_BYTES, SecretSharingError, Share, combine, split
from fedward.crypto.shamir import PRIME

CASES = [
    (1, 1),
    (2, 1),
    (2, 2),
    (3, 2),
    (3, 3),
    (4, 2),
    (4, 3),
    (5, 3),
    (6, 4),
    (7, 2),
    (7, 4),
    (7, 5),
    (7, 7),
]


@pytest.mark.parametrize(("n", "t"), CASES)
def test_every_subset_of_at_least_t_shares_reconstructs(n: int, t: int) -> None:
    secret = bytes(range(32))
    shares = split(secret, n, t)
    assert [share.x for share in shares] == list(range(1, n + 1))
    for size in range(t, n + 1):
        for subset in itertools.combinations(shares, size):
            assert combine(list(subset), t) == secret
            assert combine(list(reversed(subset)), t) == secret


@pytest.mark.parametrize(("n", "t"), [case for case in CASES if case[1] >= 2])
def test_t_minus_one_shares_never_reconstruct(n: int, t: int) -> None:
    secret = b"\x42" * 32
    shares = split(secret, n, t)
    for subset in itertools.combinations(shares, t - 1):
        with pytest.raises(SecretSharingError, match=f"need {t} shares"):
            combine(list(subset), t)
        try:  # lying about the threshold interpolates the wrong polynomial
            wrong: bytes | None = combine(list(subset), t - 1)
        except SecretSharingError:
            wrong = None
        assert wrong != secret


@given(
    secret=st.binary(max_size=64),
    n=st.integers(1, 12),
    data=st.data(),
)
def test_random_secrets_and_subsets_reconstruct(secret: bytes, n: int, data: st.DataObject) -> None:
    t = data.draw(st.integers(1, n))
    shares = split(secret, n, t)
    subset = data.draw(st.permutations(shares)).copy()[: data.draw(st.integers(t, n))]
    assert combine(subset, t) == secret


@pytest.mark.parametrize("secret", [b"", b"\x00", b"\x00" * 64, b"\x00\x01", b"\x01", b"\xff" * 64])
def test_leading_zero_bytes_and_extremes_survive(secret: bytes) -> None:
    assert combine(split(secret, 5, 3)[1:4], 3) == secret


def test_shares_serialize_to_fixed_width() -> None:
    for share in split(b"abc", 4, 2):
        raw = share.y_bytes()
        assert len(raw) == SHARE_BYTES
        assert Share.from_y_bytes(share.x, raw) == share


def test_a_corrupted_extra_share_is_detected() -> None:
    shares = split(b"secret", 5, 3)
    shares[4] = Share(shares[4].x, (shares[4].y + 1) % PRIME)
    with pytest.raises(SecretSharingError, match="inconsistent"):
        combine(shares, 3)
    assert combine(shares[:3], 3) == b"secret"


@pytest.mark.parametrize(
    ("call", "reason"),
    [
        (lambda: split(bytes(65), 3, 2), "at most 64"),
        (lambda: split(b"x", 3, 4), "t <= n"),
        (lambda: split(b"x", 3, 0), "t <= n"),
        (lambda: split(b"x", 70000, 2), "t <= n"),
        (lambda: combine(split(b"x", 3, 2)[:1] * 2, 2), "same x"),
        (lambda: combine(split(b"x", 3, 2), 0), "at least 1"),
        (lambda: Share(0, 5), "share x"),
        (lambda: Share(-1, 5), "share x"),
        (lambda: Share(1, PRIME), "outside the field"),
        (lambda: Share(1, -1), "outside the field"),
        (lambda: Share.from_y_bytes(1, bytes(65)), "66 bytes"),
        (lambda: Share.from_y_bytes(1, b"\xff" * 66), "outside the field"),
        (lambda: combine([Share(1, 3), Share(2, 4)], 2), "valid secret"),
        (lambda: combine([Share(1, 5), Share(2, 12)], 2), "valid secret"),
    ],
)
def test_invalid_inputs_are_refused(call: Callable[[], object], reason: str) -> None:
    with pytest.raises(SecretSharingError, match=reason):
        call()


def test_sharing_is_randomized() -> None:
    first, second = split(b"same", 3, 2), split(b"same", 3, 2)
    assert [s.y for s in first] != [s.y for s in second]
