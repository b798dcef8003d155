"""Wire formats: canonical JSON that rejects anything unexpected, and the raw masked-input frame."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from fedward.secagg import (
    AdvertiseKeys,
    EncryptedShares,
    KeyDirectory,
    MaskedInput,
    ProtocolError,
    ShareInbox,
    UnmaskReply,
    UnmaskRequest,
)

S = bytes(range(32))
K1, K2 = bytes(range(1, 33)), bytes(range(2, 34))
SHARE = (12345).to_bytes(66, "big")
CT = bytes(200)

SAMPLES: list[Any] = [
    AdvertiseKeys(S, "site-a", K1, K2),
    KeyDirectory(S, "site-a", {"site-b": K1, "site-c": K2}, {"site-b": K2, "site-c": K1}),
    EncryptedShares(S, "site-a", {"site-b": CT, "site-c": CT[:150]}),
    ShareInbox(S, "site-a", {"site-b": CT}),
    UnmaskRequest(S, "site-a", ("site-a", "site-b"), ("site-c",)),
    UnmaskReply(S, "site-a", {"site-a": SHARE, "site-b": SHARE}, {"site-c": SHARE}),
]


def _body(message: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(message.to_bytes())
    return body


def _encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


@pytest.mark.parametrize("message", SAMPLES, ids=lambda m: type(m).__name__)
def test_roundtrip_is_exact_and_canonical(message: Any) -> None:
    raw = message.to_bytes()
    assert type(message).from_bytes(raw) == message
    assert _encode(json.loads(raw)) == raw
    assert b" " not in raw and raw.startswith(b"{")


MUTATIONS: list[tuple[str, Callable[[dict[str, Any]], Any]]] = [
    ("unknown key", lambda b: {**b, "extra": 1}),
    ("missing key", lambda b: {k: v for k, v in b.items() if k != "session"}),
    ("wrong type tag", lambda b: {**b, "type": "secagg/other"}),
    ("wrong version", lambda b: {**b, "version": 2}),
    ("bool as version", lambda b: {**b, "version": True}),
    ("session not a string", lambda b: {**b, "session": 5}),
    ("bad base64", lambda b: {**b, "session": "!!!!"}),
    ("non-canonical base64", lambda b: {**b, "session": b["session"][:-2] + "B="}),
    ("oversize session", lambda b: {**b, "session": "A" * 200}),
    ("not an object", lambda b: [b]),
]


@pytest.mark.parametrize("message", SAMPLES, ids=lambda m: type(m).__name__)
@pytest.mark.parametrize(("what", "mutate"), MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_malformed_json_is_refused(message: Any, what: str, mutate: Callable[[dict[str, Any]], Any]) -> None:
    with pytest.raises(ProtocolError):
        type(message).from_bytes(_encode(mutate(_body(message))))


@pytest.mark.parametrize("message", SAMPLES, ids=lambda m: type(m).__name__)
def test_non_canonical_spellings_are_refused(message: Any) -> None:
    body = _body(message)
    spellings = [
        json.dumps(body, sort_keys=True).encode(),  # spaces
        json.dumps(dict(reversed(list(body.items()))), separators=(",", ":")).encode(),  # key order
        message.to_bytes() + b"\n",
        message.to_bytes().replace(b'"version":1', b'"version":1.0'),
        message.to_bytes().replace(b"site-a", b"site-\\u0061", 1),
    ]
    for raw in spellings:
        if raw != message.to_bytes():
            with pytest.raises(ProtocolError):
                type(message).from_bytes(raw)


@pytest.mark.parametrize(
    ("message", "field", "value"),
    [
        (SAMPLES[0], "sender", "x" * 129),
        (SAMPLES[0], "sender", ""),
        (SAMPLES[0], "sender", "bad\nname"),
        (SAMPLES[0], "encryption_key", "AAAA"),
        (SAMPLES[1], "masking_keys", {"site-b": "AAAA"}),
        (SAMPLES[1], "masking_keys", {"site-b": K1.hex(), "site-c": K2.hex()}),
        (SAMPLES[2], "ciphertexts", {"site-b": "A" * 20000}),
        (SAMPLES[2], "ciphertexts", ["site-b"]),
        (SAMPLES[4], "alive", ["site-b", "site-a"]),
        (SAMPLES[4], "alive", ["site-a", "site-a"]),
        (SAMPLES[4], "dropped", "site-c"),
        (SAMPLES[5], "key_shares", {"site-c": "AAAA"}),
        (SAMPLES[5], "key_shares", {"site-c": "/" * 88}),
        (SAMPLES[5], "key_shares", {"site-a": base64.b64encode(SHARE).decode()}),
    ],
)
def test_wrong_field_values_are_refused(message: Any, field: str, value: Any) -> None:
    with pytest.raises(ProtocolError):
        type(message).from_bytes(_encode({**_body(message), field: value}))


def test_nan_and_duplicate_keys_are_refused() -> None:
    raw = SAMPLES[0].to_bytes()
    with pytest.raises(ProtocolError, match="constant NaN"):
        AdvertiseKeys.from_bytes(raw.replace(b'"version":1', b'"version":NaN'))
    with pytest.raises(ProtocolError, match="repeats a key"):
        AdvertiseKeys.from_bytes(raw[:-1] + b',"version":1}')
    with pytest.raises(ProtocolError, match="exceeds"):
        AdvertiseKeys.from_bytes(b" " * (17 << 20))
    with pytest.raises(ProtocolError, match="not valid JSON"):
        AdvertiseKeys.from_bytes(b"\xff\xfe")


@pytest.mark.parametrize("dtype", [np.uint32, np.uint64])
@pytest.mark.parametrize("length", [1, 3, 1000])
@pytest.mark.parametrize("sender", ["a", "site-01", "hôpital-ü"])
def test_masked_input_roundtrip(dtype: type, length: int, sender: str) -> None:
    vector = np.arange(length, dtype=dtype) * dtype(
        0x9E3779B97F4A7C15 % (1 << (8 * np.dtype(dtype).itemsize))
    )
    raw = MaskedInput(S, sender, vector).to_bytes()
    header = len(raw) - vector.nbytes
    assert header % 8 == 0 and header <= 64 + len(sender.encode())
    assert raw[header:] == vector.astype(np.dtype(dtype).newbyteorder("<")).tobytes()
    parsed = MaskedInput.from_bytes(raw)
    assert parsed.session == S and parsed.sender == sender
    np.testing.assert_array_equal(parsed.vector, vector)
    assert parsed.vector.dtype == np.dtype(dtype)
    assert not parsed.vector.flags.writeable  # a view into the message, not a copy
    assert np.shares_memory(parsed.vector, np.frombuffer(raw, np.uint8))


def test_masked_input_is_cheap_for_a_million_elements() -> None:
    vector = np.arange(1_000_000, dtype=np.uint64)
    raw = MaskedInput(S, "site-01", vector).to_bytes()
    assert len(raw) - vector.nbytes <= 64


def _masked() -> bytes:
    return MaskedInput(S, "site-a", np.arange(5, dtype=np.uint32)).to_bytes()


@pytest.mark.parametrize(
    ("corrupt", "reason"),
    [
        (lambda raw: b"XXSAMI\x00\x01" + raw[8:], "bad magic"),
        (lambda raw: raw[:4], "bad magic"),
        (lambda raw: raw[:8] + b"\x10" + raw[9:], "ring_bits"),
        (lambda raw: raw[:-1], "expected"),
        (lambda raw: raw + b"\x00", "expected"),
        (lambda raw: raw[:20], "truncated"),
        (lambda raw: raw[: len(raw) - 20 - 1] + b"\x01" + raw[len(raw) - 20 :], "padding"),
        (lambda raw: raw.replace(b"site-a", b"site-\xff"), "UTF-8"),
        (lambda raw: raw.replace(b"site-a", b"site\n1"), "printable"),
    ],
)
def test_malformed_masked_input_is_refused(corrupt: Callable[[bytes], bytes], reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason):
        MaskedInput.from_bytes(corrupt(_masked()))


def test_masked_input_length_field_must_match() -> None:
    raw = bytearray(_masked())
    offset = 8 + 2 + 32 + 2 + len(b"site-a")
    raw[offset : offset + 8] = (6).to_bytes(8, "little")
    with pytest.raises(ProtocolError, match="expected"):
        MaskedInput.from_bytes(bytes(raw))
    raw[offset : offset + 8] = (0).to_bytes(8, "little")
    with pytest.raises(ProtocolError, match="length out of range"):
        MaskedInput.from_bytes(bytes(raw))


def test_masked_input_rejects_non_ring_vectors() -> None:
    with pytest.raises(ValueError, match="uint32 or uint64"):
        MaskedInput(S, "a", np.zeros(3, np.int32)).to_bytes()
    with pytest.raises(ValueError, match="uint32 or uint64"):
        MaskedInput(S, "a", np.zeros((2, 2), np.uint32)).to_bytes()
