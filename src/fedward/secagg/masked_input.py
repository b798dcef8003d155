"""The masked-input message: a small fixed header and the raw little-endian ring vector.

This is the one large message of secure aggregation (Bonawitz et al., CCS 2017, round 2): for a model of
a million parameters it carries 4 or 8 MB, so it is not JSON. Layout (all integers little-endian):

  magic  b"FWSAMI\\x00\\x01"   8 bytes (name and format version)
  ring_bits                   1 byte (32 or 64)
  session length              1 byte, then the session id
  sender length               2 bytes, then the sender's name in UTF-8
  vector length               8 bytes (number of elements)
  zero padding                so that the vector starts at a multiple of 8 bytes
  vector                      length * ring_bits / 8 bytes

`from_bytes` returns a read-only view into the message bytes, without copying the vector.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from fedward.secagg import wire
from fedward.secagg.errors import ProtocolError

__all__ = ["MAGIC", "MaskedInput"]

MAGIC = b"FWSAMI\x00\x01"
_FIXED = struct.Struct("<8sBB")
_LENGTH = struct.Struct("<Q")
_NAME_LENGTH = struct.Struct("<H")
_WIRE_DTYPES: dict[int, np.dtype[Any]] = {32: np.dtype("<u4"), 64: np.dtype("<u8")}
_MAX_LENGTH = 1 << 31


@dataclass(frozen=True)
class MaskedInput:
    """Round 2 reply: the sender's vector plus all of its masks, in the ring."""

    session: bytes
    sender: str
    vector: npt.NDArray[Any]

    def to_bytes(self) -> bytes:
        ring_bits = self.vector.dtype.itemsize * 8
        wire_dtype = _WIRE_DTYPES[ring_bits]
        if self.vector.dtype.newbyteorder("=") != wire_dtype.newbyteorder("=") or self.vector.ndim != 1:
            raise ValueError(f"a masked input is a 1-D uint32 or uint64 vector, got {self.vector.dtype}")
        sender = self.sender.encode()
        head = _FIXED.pack(MAGIC, ring_bits, len(self.session)) + self.session
        head += _NAME_LENGTH.pack(len(sender)) + sender + _LENGTH.pack(len(self.vector))
        head += bytes(-len(head) % 8)
        body: bytes = self.vector.astype(wire_dtype, copy=False).tobytes()
        return head + body

    @classmethod
    def from_bytes(cls, data: bytes) -> MaskedInput:
        """Parse strictly: magic, ring size, field lengths, zero padding and exact total size."""
        if len(data) < _FIXED.size or data[:8] != MAGIC:
            raise ProtocolError("not a masked-input message (bad magic)")
        _, ring_bits, session_length = _FIXED.unpack_from(data)
        if ring_bits not in _WIRE_DTYPES:
            raise ProtocolError(f"masked input ring_bits must be 32 or 64, got {ring_bits}")
        offset = _FIXED.size
        session, offset = data[offset : offset + session_length], offset + session_length
        (sender_length,) = _unpack(_NAME_LENGTH, data, offset)
        offset += _NAME_LENGTH.size
        sender_bytes, offset = data[offset : offset + sender_length], offset + sender_length
        (length,) = _unpack(_LENGTH, data, offset)
        offset += _LENGTH.size
        padding = -offset % 8
        if data[offset : offset + padding] != bytes(padding) or not 1 <= length <= _MAX_LENGTH:
            raise ProtocolError("masked input has bad padding or a vector length out of range")
        offset += padding
        dtype = _WIRE_DTYPES[ring_bits]
        if len(data) != offset + length * dtype.itemsize:
            raise ProtocolError(
                f"masked input is {len(data)} bytes, expected {offset + length * dtype.itemsize}"
            )
        vector = np.frombuffer(data, dtype=dtype, count=length, offset=offset).astype(
            dtype.newbyteorder("="), copy=False
        )
        return cls(session=session, sender=_sender(sender_bytes), vector=vector)


def _unpack(layout: struct.Struct, data: bytes, offset: int) -> tuple[int, ...]:
    if len(data) < offset + layout.size:
        raise ProtocolError("masked input is truncated")
    return layout.unpack_from(data, offset)


def _sender(raw: bytes) -> str:
    try:
        return wire.check_site_name(raw.decode("utf-8"), "masked input sender")
    except UnicodeDecodeError as exc:
        raise ProtocolError("masked input sender is not UTF-8") from exc
