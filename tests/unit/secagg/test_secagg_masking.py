"""Masks cancel exactly: the coordinator's result is the ring sum of the inputs (Bonawitz et al. 2017)."""

from __future__ import annotations

import numpy as np
import pytest
from secagg_harness import make_params, new_session, run_session

from fedward.secagg import MaskedInput


@pytest.mark.parametrize("ring_bits", [32, 64])
@pytest.mark.parametrize("length", [1, 7, 1000])
@pytest.mark.parametrize("n", range(2, 13))
def test_masks_cancel_for_the_complete_graph(n: int, length: int, ring_bits: int) -> None:
    session = run_session(make_params(n, length=length, ring_bits=ring_bits), seed=n * length)
    result = session.coordinator.result()
    assert result.dtype == session.params.dtype
    np.testing.assert_array_equal(result, session.exact_sum(session.params.sites))
    assert session.coordinator.survivors == session.params.sites
    assert session.coordinator.recovered == ()


@pytest.mark.parametrize("ring_bits", [32, 64])
@pytest.mark.parametrize(("n", "degree"), [(20, 6), (20, 5), (21, 5), (15, 2), (30, 8)])
def test_masks_cancel_for_sparse_secagg_plus_graphs(n: int, degree: int, ring_bits: int) -> None:
    session = run_session(make_params(n, degree=degree, length=1000, ring_bits=ring_bits), seed=n)
    np.testing.assert_array_equal(session.coordinator.result(), session.exact_sum(session.params.sites))


def test_values_near_the_ring_boundary_wrap_correctly() -> None:
    params = make_params(4, length=3, ring_bits=32)
    top = np.array([0xFFFFFFFF, 0x80000000, 0], dtype=np.uint32)
    session = new_session(params, {name: top for name in params.sites})
    for name in params.sites:
        session.coordinator.receive(name, session.sites[name].start())
    for _ in range(3):
        session.deliver(session.coordinator.advance())
    assert session.coordinator.advance() == {}
    np.testing.assert_array_equal(
        session.coordinator.result(), (top.astype(np.uint64) * 4 % 2**32).astype(np.uint32)
    )


@pytest.mark.parametrize("ring_bits", [32, 64])
def test_power_check_each_uploaded_vector_is_actually_masked(ring_bits: int) -> None:
    """Without this, 'masks cancel' would also pass for a protocol that never masks."""
    params = make_params(5, length=1000, ring_bits=ring_bits)
    session = new_session(params)
    for name in params.sites:
        session.coordinator.receive(name, session.sites[name].start())
    session.deliver(session.coordinator.advance())
    for name, message in session.coordinator.advance().items():
        masked = MaskedInput.from_bytes(session.sites[name].receive(message)).vector
        assert np.mean(masked == session.vectors[name]) < 0.01
