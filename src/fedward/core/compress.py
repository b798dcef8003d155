"""Compressed model updates on the wire: what a site sends instead of its whole float32 model.

`[compression] kind` in the federation file:

- `none`: the site sends its trained model (float32), as always.
- `int8`: the update (trained - start) per tensor, symmetric 8-bit: `q` (int8, every tensor's entries
  in sorted-name order) and `scale` (float32, one per tensor), `update = q * scale` tensor by tensor,
  `scale = max|update| / 127`. Every entry decodes within `scale / 2` of the true update (the
  rounding), about 4x fewer bytes.
- `topk`: the `ceil(topk_fraction * n)` largest-magnitude entries of the whole update (n entries over
  every tensor): `idx` (int32 positions in the sorted-name concatenation, ascending) and `val` (float32).
  Two tensors each, whatever the model: a per-tensor layout's header would cost more than the codes
  for small models.
  The site keeps what it did not send (the residual) and adds it to its next update (error feedback,
  Seide et al. 2014, Stich et al. 2018), so over rounds every coordinate's change is sent eventually.

Safetensors bytes (never pickle), read by the strict reader `tensors_from_bytes`. The coordinator's
`decode_update` checks everything a site controls (names, dtypes, shapes, index range and order,
the exact entry count, finite values and scales) and raises ValueError naming what is wrong.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Self

import numpy as np
import numpy.typing as npt

from fedward.core.arrays import Arrays, FloatArray, arrays_to_bytes, tensors_from_bytes
from fedward.core.messages import JSONValue

__all__ = [
    "COMPRESSION",
    "TOPK_FRACTION",
    "UNCOMPRESSED",
    "CompressionKind",
    "CompressionSettings",
    "decode_update",
    "encode_int8",
    "encode_topk",
    "topk_count",
]

CompressionKind = Literal["none", "int8", "topk"]
COMPRESSION, TOPK_FRACTION = "compression", "topk_fraction"  # the fit task's config keys
_KINDS: tuple[CompressionKind, ...] = ("none", "int8", "topk")
_LEVELS = 127  # int8 codes in [-127, 127]: symmetric, -128 is never written (and refused)


@dataclass(frozen=True)
class CompressionSettings:
    """How a fit task asks the site to send its update. `kind = "none"` adds nothing to the task config,
    so uncompressed runs send the tasks they always sent."""

    kind: CompressionKind = "none"
    topk_fraction: float = 0.01

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"task config {COMPRESSION!r}: unknown kind {self.kind!r}")
        if not 0 < self.topk_fraction <= 1:
            raise ValueError(f"task config {TOPK_FRACTION!r} must be in (0, 1], got {self.topk_fraction}")

    def to_config(self) -> dict[str, JSONValue]:
        if self.kind == "none":
            return {}
        if self.kind == "int8":
            return {COMPRESSION: self.kind}
        return {COMPRESSION: self.kind, TOPK_FRACTION: self.topk_fraction}

    @classmethod
    def from_config(cls, config: Mapping[str, JSONValue]) -> Self:
        kind = config.get(COMPRESSION, "none")
        fraction = config.get(TOPK_FRACTION, 0.01)
        if not isinstance(kind, str) or kind not in _KINDS:
            raise ValueError(f"task config {COMPRESSION!r}: unknown kind {kind!r}")
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)):
            raise ValueError(f"task config {TOPK_FRACTION!r} must be a number")
        return cls(kind, float(fraction))


UNCOMPRESSED = CompressionSettings()  # kind "none": the default everywhere


def topk_count(num_entries: int, fraction: float) -> int:
    """How many entries a top-k update keeps: ceil(fraction * n), at least one (none of none)."""
    return min(num_entries, max(1, math.ceil(fraction * num_entries))) if num_entries else 0


def _flat(update: Mapping[str, FloatArray]) -> tuple[list[str], npt.NDArray[np.float32]]:
    """The tensors' names in sorted order and one float32 vector of their entries in that order."""
    names = sorted(update)
    parts = [np.asarray(update[k], dtype=np.float32).reshape(-1) for k in names]
    return names, np.concatenate(parts) if parts else np.zeros(0, np.float32)


def _split(vector: npt.NDArray[np.float32], like: Mapping[str, Any]) -> Arrays:
    out: Arrays = {}
    offset = 0
    for name in sorted(like):
        shape = np.shape(like[name])
        n = math.prod(shape)
        out[name] = vector[offset : offset + n].reshape(shape)
        offset += n
    return out


def encode_int8(update: Mapping[str, FloatArray]) -> bytes:
    """Per-tensor symmetric 8-bit quantization of `update` (finite): `q` int8, every tensor's codes in
    sorted-name order, and `scale` float32, one per tensor in that order."""
    names = sorted(update)
    codes, scales = [], []
    for name in names:
        x = np.asarray(update[name], dtype=np.float64).reshape(-1)
        scale = np.float32((float(np.max(np.abs(x))) if x.size else 0.0) / _LEVELS)
        q = np.clip(np.rint(x / np.float64(scale)), -_LEVELS, _LEVELS) if scale > 0 else np.zeros(x.size)
        codes.append(q.astype(np.int8))
        scales.append(scale)
    q_all = np.concatenate(codes) if codes else np.zeros(0, np.int8)
    return arrays_to_bytes({"q": q_all, "scale": np.array(scales, dtype=np.float32)})


def encode_topk(update: Mapping[str, FloatArray], fraction: float) -> tuple[bytes, Arrays]:
    """The `topk_count` largest-magnitude entries of `update` over all its tensors (`idx` int32, ascending
    positions in the sorted-name concatenation; `val` float32), and the residual (`update` minus what is
    sent, to add to the next round's update)."""
    _, everything = _flat(update)
    k = topk_count(everything.size, fraction)
    keep = np.zeros(0, np.int64)
    if k:
        keep = np.sort(np.argpartition(np.abs(everything), everything.size - k)[everything.size - k :])
    payload = arrays_to_bytes({"idx": keep.astype(np.int32), "val": everything[keep]})
    rest = everything.copy()
    rest[keep] = 0.0
    return payload, _split(rest, update)


def decode_update(data: bytes, like: Mapping[str, FloatArray], settings: CompressionSettings) -> Arrays:
    """The update a compressed payload carries, as float32 tensors named and shaped like `like` (the
    global model); ValueError naming the first thing wrong with the site's bytes."""
    tensors = tensors_from_bytes(data)
    if settings.kind == "int8":
        return _decode_int8(tensors, like)
    if settings.kind == "topk":
        return _decode_topk(tensors, like, settings.topk_fraction)
    raise ValueError(f"decode_update: {settings.kind!r} is not a compressed kind")


def _expect_names(tensors: Mapping[str, Any], names: tuple[str, str]) -> None:
    if set(tensors) != set(names):
        raise ValueError(f"compressed update has tensors {sorted(tensors)[:4]}, expected {list(names)}")


def _decode_int8(tensors: Mapping[str, npt.NDArray[Any]], like: Mapping[str, FloatArray]) -> Arrays:
    _expect_names(tensors, ("q", "scale"))
    q, scale = tensors["q"], tensors["scale"]
    n, count = sum(a.size for a in like.values()), len(like)
    if q.dtype != np.int8 or q.shape != (n,):
        raise ValueError(f"tensor 'q': expected int8 of shape ({n},), got {q.dtype} {q.shape}")
    if scale.dtype != np.float32 or scale.shape != (count,):
        raise ValueError(f"tensor 'scale': expected float32 of shape ({count},), one per tensor")
    if not np.all(np.isfinite(scale)) or np.any(scale < 0):
        raise ValueError("tensor 'scale': scales must be finite and non-negative")
    if q.size and int(q.min()) < -_LEVELS:
        raise ValueError("tensor 'q': code -128 is outside the symmetric range")
    sizes = [like[k].size for k in sorted(like)]
    vector = q.astype(np.float32) * np.repeat(scale, sizes)
    if not np.all(np.isfinite(vector)):
        raise ValueError("tensor 'q': decodes to non-finite values")
    return _split(vector.astype(np.float32), like)


def _decode_topk(
    tensors: Mapping[str, npt.NDArray[Any]], like: Mapping[str, FloatArray], fraction: float
) -> Arrays:
    _expect_names(tensors, ("idx", "val"))
    idx, val = tensors["idx"], tensors["val"]
    n = sum(a.size for a in like.values())
    if idx.dtype != np.int32 or val.dtype != np.float32 or idx.ndim != 1 or val.shape != idx.shape:
        raise ValueError("tensors 'idx', 'val': expected int32 and float32 vectors of one length")
    k = topk_count(n, fraction)
    if idx.size != k:
        raise ValueError(f"top-k update carries {idx.size} entries, expected exactly {k}")
    _check_indices(idx, n)
    if not np.all(np.isfinite(val)):
        raise ValueError("tensor 'val' has non-finite values")
    dense = np.zeros(n, np.float32)
    dense[idx] = val
    return _split(dense, like)


def _check_indices(idx: npt.NDArray[np.int32], size: int) -> None:
    """Ascending, distinct, within the update: a negative index would silently overwrite the last
    entries, one past the end would crash the coordinator, a repeated one hide an entry."""
    if idx.size and (int(idx[0]) < 0 or int(idx[-1]) >= size or np.any(np.diff(idx) <= 0)):
        raise ValueError(f"tensor 'idx': indices must be ascending, distinct, in [0, {size})")
