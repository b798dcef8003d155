"""A pseudorandom generator: a 32-byte seed expanded into a vector of ring elements.

The keystream is AES-256 in counter mode (NIST SP 800-38A) over an all-zero plaintext, read as
little-endian unsigned integers. This is the PRG of secure aggregation (Bonawitz et al., CCS 2017,
section 4): masks are `PRG(seed)` in the ring Z_{2^32} or Z_{2^64}.

Nonce choice: the initial counter block is all zeros. That is safe because every seed drives exactly
one stream: pairwise seeds come out of HKDF with the session and both site names in `info`, and
self-mask seeds are fresh random bytes per session. Never expand the same seed for two purposes.

Speed: the keystream is written straight into the caller's buffer (`update_into`), a zero chunk at a
time, so an 8 MB vector costs one pass of AES-NI (about 1 ms) and no temporary allocation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

__all__ = ["SEED_BYTES", "expand", "expand_into"]

SEED_BYTES = 32
"""Length of a PRG seed (an AES-256 key)."""

_NONCE = bytes(16)
_CHUNK = 1 << 18
_ZEROS = bytes(_CHUNK)
_DTYPES = (np.dtype(np.uint32), np.dtype(np.uint64))


def expand(seed: bytes, n: int, dtype: npt.DTypeLike) -> npt.NDArray[Any]:
    """A fresh writable array of `n` pseudorandom `uint32` or `uint64` values derived from `seed`."""
    if n < 0:
        raise ValueError(f"cannot expand to a negative length {n}")
    out = np.empty(n, dtype=_checked_dtype(dtype))
    expand_into(seed, out)
    return out


def expand_into(seed: bytes, out: npt.NDArray[Any]) -> None:
    """Overwrite the C-contiguous `uint32`/`uint64` array `out` with the keystream of `seed`."""
    _checked_dtype(out.dtype)
    if len(seed) != SEED_BYTES:
        raise ValueError(f"a PRG seed is {SEED_BYTES} bytes, got {len(seed)}")
    if not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError("the PRG output buffer must be C-contiguous and writable")
    encryptor = Cipher(algorithms.AES(seed), modes.CTR(_NONCE)).encryptor()
    target = out.reshape(-1).view(np.uint8).data
    total = len(target)
    for offset in range(0, total, _CHUNK):
        size = min(_CHUNK, total - offset)
        zeros = _ZEROS if size == _CHUNK else _ZEROS[:size]
        encryptor.update_into(zeros, target[offset : offset + size])
    if out.dtype.byteorder == ">" or (out.dtype.byteorder == "=" and not np.little_endian):
        out.byteswap(inplace=True)  # the stream is defined little-endian on every host


def _checked_dtype(dtype: npt.DTypeLike) -> np.dtype[Any]:
    resolved = np.dtype(dtype)
    if resolved.newbyteorder("=") not in _DTYPES:
        raise ValueError(f"the PRG yields uint32 or uint64 values, not {resolved}")
    return resolved
