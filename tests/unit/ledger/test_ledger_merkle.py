"""RFC 9162 / RFC 6962 Merkle trees: known-answer roots and proofs, every proof for every tree up to 64
leaves, and every single mutation of every proof rejected (the verifier accepts only the honest proof)."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from fedward.ledger import (
    EMPTY_ROOT,
    MerkleAccumulator,
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_hash,
    verify_consistency,
    verify_inclusion,
)

VECTORS = json.loads((Path(__file__).parents[2] / "vectors" / "merkle-rfc6962.json").read_text())
RFC_LEAVES = [leaf_hash(bytes.fromhex(h)) for h in VECTORS["leaves_hex"]]
MAX = 64
LEAVES = [leaf_hash(f"entry {i}".encode()) for i in range(MAX)]
ROOTS = [root_hash(LEAVES[:n]) for n in range(MAX + 1)]

# Proofs over the RFC test leaves, as in transparency-dev/merkle's testdata (inclusion of leaf 0 in 8,
# consistency 1 -> 8 and 6 -> 8).
KNOWN_PATH_0_OF_8 = [
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
]
KNOWN_CONSISTENCY_6_TO_8 = [
    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
]


@functools.cache
def path_of(i: int, n: int) -> list[bytes]:
    return inclusion_proof(LEAVES[:n], i)


@functools.cache
def proof_of(m: int, n: int) -> list[bytes]:
    return consistency_proof(LEAVES[:n], m)


def reference_mth(leaves: Sequence[bytes]) -> bytes:
    """MTH written straight from RFC 9162 section 2.1.1, recursion and slices, for comparison."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + reference_mth(leaves[:k]) + reference_mth(leaves[k:])).digest()


def test_rfc6962_roots_for_sizes_0_to_8() -> None:
    assert len(VECTORS["roots_by_size"]) == 9
    for size, expected in VECTORS["roots_by_size"].items():
        assert root_hash(RFC_LEAVES[: int(size)]).hex() == expected
    assert EMPTY_ROOT.hex() == VECTORS["roots_by_size"]["0"]


def test_known_proofs_over_rfc_leaves() -> None:
    assert [p.hex() for p in inclusion_proof(RFC_LEAVES, 0)] == KNOWN_PATH_0_OF_8
    assert [p.hex() for p in consistency_proof(RFC_LEAVES, 1)] == KNOWN_PATH_0_OF_8
    assert [p.hex() for p in consistency_proof(RFC_LEAVES, 6)] == KNOWN_CONSISTENCY_6_TO_8


def test_leaf_and_node_hashes_are_domain_separated() -> None:
    assert leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
    assert node_hash(b"a" * 32, b"b" * 32) == hashlib.sha256(b"\x01" + b"a" * 32 + b"b" * 32).digest()
    # a two-leaf tree's root is not the leaf hash of its children's concatenation (second preimage)
    assert root_hash(LEAVES[:2]) != leaf_hash(LEAVES[0] + LEAVES[1])


def test_roots_and_accumulator_match_the_rfc_definition() -> None:
    acc = MerkleAccumulator()
    for n in range(MAX + 1):
        assert ROOTS[n] == reference_mth(LEAVES[:n]) == acc.root()
        assert acc.size == n
        if n < MAX:
            acc.append(LEAVES[n])


def _flip(digest: bytes) -> bytes:
    return bytes([digest[0] ^ 0x01]) + digest[1:]


def _flipped(proof: list[bytes]) -> Iterator[list[bytes]]:
    """Each hash of the proof with one bit flipped, then the proof shortened and lengthened."""
    for i in range(len(proof)):
        for position in (0, 31):
            changed = bytearray(proof[i])
            changed[position] ^= 0x01
            yield [*proof[:i], bytes(changed), *proof[i + 1 :]]
    if proof:
        yield proof[:-1]
        yield proof[1:]
    yield [*proof, LEAVES[0]]
    yield [LEAVES[0], *proof]


def _rejected(verify: Callable[..., None], *args: object) -> None:
    with pytest.raises(ProofError):
        verify(*args)


@pytest.mark.parametrize("n", range(1, MAX + 1))
def test_every_inclusion_proof_verifies_and_every_mutation_fails(n: int) -> None:
    for i in range(n):
        proof = path_of(i, n)
        verify_inclusion(LEAVES[i], i, n, proof, ROOTS[n])
        for bad in _flipped(proof):
            _rejected(verify_inclusion, LEAVES[i], i, n, bad, ROOTS[n])
        for j in range(n + 1):  # wrong index (n itself is out of range)
            if j != i:
                _rejected(verify_inclusion, LEAVES[i], j, n, proof, ROOTS[n])
        for m in range(i + 1, MAX + 1):  # wrong size, claimed with that size's true root
            if m != n and proof != path_of(i, m):
                _rejected(verify_inclusion, LEAVES[i], i, m, proof, ROOTS[m])
        _rejected(verify_inclusion, LEAVES[(i + 1) % MAX], i, n, proof, ROOTS[n])  # wrong leaf
        _rejected(verify_inclusion, LEAVES[i], i, n, proof, _flip(ROOTS[n]))  # wrong root


@pytest.mark.parametrize("n", range(1, MAX + 1))
def test_every_consistency_proof_verifies_and_every_mutation_fails(n: int) -> None:
    for m in range(n + 1):
        proof = proof_of(m, n)
        verify_consistency(m, n, ROOTS[m], ROOTS[n], proof)
        for bad in _flipped(proof):
            _rejected(verify_consistency, m, n, ROOTS[m], ROOTS[n], bad)
        for m2 in range(MAX + 1):  # wrong old size, with that size's true root
            if m2 != m and (m2 > n or proof != proof_of(m2, n)):
                _rejected(verify_consistency, m2, n, ROOTS[m2], ROOTS[n], proof)
        for n2 in range(m, MAX + 1):  # wrong new size, with that size's true root
            if n2 != n and proof != proof_of(m, n2):
                _rejected(verify_consistency, m, n2, ROOTS[m], ROOTS[n2], proof)
        _rejected(verify_consistency, m, n, _flip(ROOTS[m]), ROOTS[n], proof)
        if m > 0:  # every tree extends the empty tree, whatever its root
            _rejected(verify_consistency, m, n, ROOTS[m], _flip(ROOTS[n]), proof)


def test_a_different_history_has_no_consistency_proof() -> None:
    forked = [*LEAVES[:5], leaf_hash(b"rewritten"), *LEAVES[6:10]]
    proof = consistency_proof(forked, 8)
    verify_consistency(8, 10, root_hash(forked[:8]), root_hash(forked), proof)
    _rejected(verify_consistency, 8, 10, ROOTS[8], root_hash(forked), proof)
    _rejected(verify_consistency, 8, 10, ROOTS[8], root_hash(forked), consistency_proof(LEAVES[:10], 8))


@pytest.mark.parametrize(
    "call",
    [
        lambda: verify_inclusion(LEAVES[0], 0, 0, [], EMPTY_ROOT),  # empty tree holds nothing
        lambda: verify_inclusion(LEAVES[0], -1, 4, inclusion_proof(LEAVES[:4], 0), ROOTS[4]),
        lambda: verify_inclusion(LEAVES[0][:31], 0, 1, [], ROOTS[1]),  # short leaf hash
        lambda: verify_inclusion(LEAVES[0], 0, 2, [b"x" * 33], ROOTS[2]),  # long proof hash
        lambda: verify_consistency(5, 4, ROOTS[5], ROOTS[4], []),  # shrinking
        lambda: verify_consistency(0, 4, ROOTS[1], ROOTS[4], []),  # empty tree with a wrong root
        lambda: verify_consistency(0, 4, EMPTY_ROOT, ROOTS[4], [ROOTS[4]]),  # size 0 takes no proof
        lambda: verify_consistency(4, 4, ROOTS[4], ROOTS[4], [ROOTS[4]]),  # equal sizes take no proof
        lambda: verify_consistency(3, 4, ROOTS[3], ROOTS[4], []),  # a real step with no proof
    ],
)
def test_edge_cases_fail_closed(call: Callable[[], None]) -> None:
    _rejected(call)


def test_proof_generation_refuses_out_of_range() -> None:
    with pytest.raises(ValueError):
        inclusion_proof(LEAVES[:4], 4)
    with pytest.raises(ValueError):
        consistency_proof(LEAVES[:4], 5)


def test_large_trees_are_cheap() -> None:
    """10k leaves: proofs are O(log n) long and built in O(n) hashing (benchmarks time it; this pins size)."""
    leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(10_000)]
    acc = MerkleAccumulator()
    for leaf in leaves:
        acc.append(leaf)
    root = acc.root()
    assert root == root_hash(leaves)
    for i in (0, 4095, 4096, 9_999):
        proof = inclusion_proof(leaves, i)
        assert len(proof) <= 14
        verify_inclusion(leaves[i], i, 10_000, proof, root)
    proof = consistency_proof(leaves, 6_000)
    verify_consistency(6_000, 10_000, root_hash(leaves[:6_000]), root, proof)
