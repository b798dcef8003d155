"""Merkle tree hashes, inclusion and consistency proofs of RFC 9162 section 2.1 (= RFC 6962 section 2.1).

The tree over n leaves is the RFC's: leaf hash SHA-256(0x00 || data), interior node SHA-256(0x01 || left ||
right), split at the largest power of two below n; the empty tree hashes to SHA-256(""). The 0x00/0x01
prefixes keep a leaf from ever being read as a node (second-preimage resistance).

Everything here takes leaf *hashes*, so callers hash their entries once. Proof generation follows the
recursive PATH (2.1.3.1) and SUBPROOF (2.1.4.1) definitions; each proof costs O(n) hashes (the sibling
subtrees it names cover the tree once), never O(n^2). Verification is the RFC's iterative algorithms
(2.1.3.2 and 2.1.4.2) and fails closed: `verify_*` returns None or raises `ProofError`.
`MerkleAccumulator` keeps the O(log n) "compact range" of perfect subtrees, so a growing log knows its
root after every append without rehashing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from fedward.ledger.errors import ProofError

__all__ = [
    "EMPTY_ROOT",
    "HASH_BYTES",
    "MerkleAccumulator",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root_hash",
    "verify_consistency",
    "verify_inclusion",
]

HASH_BYTES = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """MTH({d}) = SHA-256(0x00 || d) (RFC 9162 section 2.1.1)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right), an interior node (RFC 9162 section 2.1.1)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly below n (n >= 2): where RFC 9162 splits a tree of n leaves."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleAccumulator:
    """An append-only tree that knows its root: a stack of perfect subtrees (the "compact range").

    The root of n leaves folds these subtrees right to left, which is exactly RFC 9162's tree: its left
    subtree at every split is the perfect one of the largest power of two below n.
    """

    def __init__(self) -> None:
        self._stack: list[tuple[int, bytes]] = []  # (subtree size, hash), sizes strictly decreasing
        self._size = 0

    @property
    def size(self) -> int:
        return self._size

    def append(self, hashed_leaf: bytes) -> None:
        size, top = 1, hashed_leaf
        while self._stack and self._stack[-1][0] == size:
            left_size, left = self._stack.pop()
            size, top = left_size + size, node_hash(left, top)
        self._stack.append((size, top))
        self._size += 1

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        acc = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            acc = node_hash(left, acc)
        return acc


def _subtree_root(leaves: Sequence[bytes], start: int, end: int) -> bytes:
    acc = MerkleAccumulator()
    for i in range(start, end):
        acc.append(leaves[i])
    return acc.root()


def root_hash(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) over leaf hashes; the empty tree is SHA-256 of the empty string (RFC 9162 2.1.1)."""
    return _subtree_root(leaf_hashes, 0, len(leaf_hashes))


def _path(m: int, leaves: Sequence[bytes], start: int, end: int) -> list[bytes]:
    n = end - start
    if n == 1:
        return []
    k = _split(n)
    if m < k:
        return [*_path(m, leaves, start, start + k), _subtree_root(leaves, start + k, end)]
    return [*_path(m - k, leaves, start + k, end), _subtree_root(leaves, start, start + k)]


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """PATH(index, D[n]) of RFC 9162 section 2.1.3.1: the audit path from leaf `index` to the root."""
    if not 0 <= index < len(leaf_hashes):
        raise ValueError(f"leaf index {index} is outside a tree of {len(leaf_hashes)} leaves")
    return _path(index, leaf_hashes, 0, len(leaf_hashes))


def _subproof(m: int, leaves: Sequence[bytes], start: int, end: int, whole: bool) -> list[bytes]:
    n = end - start
    if m == n:
        return [] if whole else [_subtree_root(leaves, start, end)]
    k = _split(n)
    if m <= k:
        return [*_subproof(m, leaves, start, start + k, whole), _subtree_root(leaves, start + k, end)]
    return [*_subproof(m - k, leaves, start + k, end, False), _subtree_root(leaves, start, start + k)]


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int) -> list[bytes]:
    """PROOF(old_size, D[n]) of RFC 9162 section 2.1.4.1: that the first `old_size` leaves are a prefix.

    Empty when `old_size` is 0 or n: the empty tree is a prefix of every tree, and a tree of itself.
    """
    n = len(leaf_hashes)
    if not 0 <= old_size <= n:
        raise ValueError(f"old size {old_size} is outside 0..{n}")
    if old_size in (0, n):
        return []
    return _subproof(old_size, leaf_hashes, 0, n, True)


def _check_hashes(what: str, hashes: Sequence[bytes]) -> None:
    for i, h in enumerate(hashes):
        if not isinstance(h, bytes) or len(h) != HASH_BYTES:
            raise ProofError(f"{what} hash #{i} is not {HASH_BYTES} bytes")


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Return None when `proof` shows leaf `index` with hash `leaf_hash` in the tree of `tree_size`
    leaves with head `root`; raise `ProofError` otherwise (RFC 9162 section 2.1.3.2)."""
    _check_hashes("inclusion", [leaf_hash, root, *proof])
    if not 0 <= index < tree_size:
        raise ProofError(f"leaf index {index} is outside a tree of {tree_size} leaves")
    fn, sn, r = index, tree_size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("inclusion proof is shorter than the path to the root")
    if r != root:
        raise ProofError(f"inclusion proof of leaf {index} does not lead to the root of {tree_size} leaves")


def _trivial_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Sizes 0 and equal sizes, which RFC 9162's algorithm leaves out: the proof must be empty."""
    if proof:
        raise ProofError(f"consistency proof from {old_size} to {new_size} leaves must be empty")
    if old_size == 0 and old_root != EMPTY_ROOT:
        raise ProofError("the root of the empty tree is SHA-256 of the empty string")
    if old_size == new_size and old_root != new_root:
        raise ProofError(f"two different roots for the same tree size {old_size}")


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Return None when `proof` shows the tree of `old_size` leaves (root `old_root`) is a prefix of the
    tree of `new_size` leaves (root `new_root`); raise `ProofError` otherwise (RFC 9162 2.1.4.2)."""
    _check_hashes("consistency", [old_root, new_root, *proof])
    if not 0 <= old_size <= new_size:
        raise ProofError(f"old size {old_size} is not within 0..{new_size}")
    if old_size in (0, new_size):
        return _trivial_consistency(old_size, new_size, old_root, new_root, proof)
    path = [old_root, *proof] if old_size & (old_size - 1) == 0 else list(proof)
    if not path:
        raise ProofError("consistency proof is empty")
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is longer than the trees allow")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("consistency proof is shorter than the trees need")
    if fr != old_root or sr != new_root:
        raise ProofError(f"the tree of {old_size} leaves is not a prefix of the tree of {new_size} leaves")
    return None
