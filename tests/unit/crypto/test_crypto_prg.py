"""The AES-256-CTR PRG: a known answer, determinism, independence of seeds, and strict inputs."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from fedward.crypto import expand, expand_into
from fedward.crypto.prg import _CHUNK

SEED = bytes(range(32))


def _reference(seed: bytes, nbytes: int) -> bytes:
    encryptor = Cipher(algorithms.AES(seed), modes.CTR(bytes(16))).encryptor()
    return encryptor.update(bytes(nbytes)) + encryptor.finalize()


def test_known_answer_aes256_zero_key_zero_block() -> None:
    """FIPS-197-style KAT: AES-256 of the zero block under the zero key."""
    stream = expand(bytes(32), 4, np.uint32)
    assert stream.tobytes() == bytes.fromhex("dc95c078a2408989ad48a21492842087")


@pytest.mark.parametrize("dtype", [np.uint32, np.uint64])
@pytest.mark.parametrize("n", [0, 1, 3, _CHUNK // 4 - 1, _CHUNK // 4, _CHUNK // 4 + 1, 3 * _CHUNK // 8 + 5])
def test_matches_a_one_shot_ctr_keystream_little_endian(n: int, dtype: type) -> None:
    stream = expand(SEED, n, dtype)
    assert stream.dtype == np.dtype(dtype) and stream.shape == (n,) and stream.flags.writeable
    expected = np.frombuffer(
        _reference(SEED, n * np.dtype(dtype).itemsize), dtype=np.dtype(dtype).newbyteorder("<")
    )
    np.testing.assert_array_equal(stream, expected)


def test_deterministic_and_seed_separated() -> None:
    np.testing.assert_array_equal(expand(SEED, 1000, np.uint64), expand(SEED, 1000, np.uint64))
    other = expand(bytes(31) + b"\x01", 1000, np.uint64)
    assert np.mean(other == expand(SEED, 1000, np.uint64)) == 0.0
    assert expand(SEED, 10, np.uint32).tobytes() == expand(SEED, 5, np.uint64).tobytes()
    np.testing.assert_array_equal(expand(SEED, 10, np.uint32)[:4], expand(SEED, 4, np.uint32))


def test_big_endian_output_holds_the_same_values() -> None:
    out = np.empty(9, dtype=">u4")
    expand_into(SEED, out)
    np.testing.assert_array_equal(out.astype(np.uint32), expand(SEED, 9, np.uint32))


def test_expand_into_overwrites_the_buffer() -> None:
    out = np.full(100, 7, dtype=np.uint64)
    expand_into(SEED, out)
    np.testing.assert_array_equal(out, expand(SEED, 100, np.uint64))


def test_bits_are_balanced() -> None:
    bits = np.unpackbits(expand(SEED, 1 << 16, np.uint32).view(np.uint8))
    assert abs(bits.mean() - 0.5) < 0.005


@pytest.mark.parametrize(
    ("call", "reason"),
    [
        (lambda: expand(bytes(31), 4, np.uint32), "32 bytes"),
        (lambda: expand(bytes(33), 4, np.uint32), "32 bytes"),
        (lambda: expand(SEED, 4, np.int32), "uint32 or uint64"),
        (lambda: expand(SEED, 4, np.float64), "uint32 or uint64"),
        (lambda: expand(SEED, -1, np.uint32), "negative"),
        (lambda: expand_into(SEED, np.zeros(8, np.uint32)[::2]), "C-contiguous"),
        (lambda: expand_into(SEED, np.frombuffer(bytes(16), np.uint32)), "writable"),
    ],
)
def test_invalid_inputs_are_refused(call: Callable[[], object], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        call()
