"""Ed25519 known answers: RFC 8032 section 7.1 (TEST 1, 2, 3, 1024 and SHA(abc)) through fedward.crypto.

Ed25519 is deterministic, so the seed fixes the public key and each message fixes the signature. The
1023-byte message of TEST 1024 is reproduced exactly: its signature would not verify otherwise.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fedward.crypto import SignatureError, SigningKey, verify

VECTORS: list[dict[str, Any]] = json.loads((Path(__file__).parent / "rfc8032_ed25519.json").read_text())[
    "vectors"
]


def test_the_vector_file_holds_the_rfc_tests() -> None:
    names = [v["name"] for v in VECTORS]
    assert names[:4] == ["TEST 1", "TEST 2", "TEST 3", "TEST 1024"]
    assert [len(bytes.fromhex(v["message"])) for v in VECTORS[:4]] == [0, 1, 2, 1023]


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_rfc8032_vector(vector: dict[str, Any]) -> None:
    key = SigningKey.from_seed(bytes.fromhex(vector["secret_key"]))
    message, signature = bytes.fromhex(vector["message"]), bytes.fromhex(vector["signature"])
    assert key.public.hex() == vector["public_key"]
    assert key.sign(message).hex() == vector["signature"]
    verify(bytes.fromhex(vector["public_key"]), message, signature)


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_rfc8032_vector_altered_is_refused(vector: dict[str, Any]) -> None:
    public = bytes.fromhex(vector["public_key"])
    message, signature = bytes.fromhex(vector["message"]), bytes.fromhex(vector["signature"])
    with pytest.raises(SignatureError):
        verify(public, message + b"\x00", signature)
    for position in (0, 31, 32, 63):
        tampered = bytearray(signature)
        tampered[position] ^= 0x01
        with pytest.raises(SignatureError):
            verify(public, message, bytes(tampered))
    other = VECTORS[(VECTORS.index(vector) + 1) % len(VECTORS)]
    with pytest.raises(SignatureError):
        verify(bytes.fromhex(other["public_key"]), message, signature)
