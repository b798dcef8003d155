import pytest
from hypothesis import given
from hypothesis import strategies as st

from fedward.coordinator import select_sites

SITES = [f"s{i}" for i in range(10)]


@given(st.floats(0.01, 1.0), st.integers(1, 10), st.integers(0, 2**32 - 1), st.integers(1, 100))
def test_selection_size_order_and_determinism(fraction, min_sites, seed, rnd):
    chosen = select_sites(SITES, fraction, min_sites, seed=seed, round_=rnd)
    assert len(chosen) >= min(min_sites, len(SITES))
    assert chosen == [s for s in SITES if s in chosen]  # keeps the roster order
    assert chosen == select_sites(SITES, fraction, min_sites, seed=seed, round_=rnd)


def test_selection_varies_by_round():
    picks = {tuple(select_sites(SITES, 0.3, 1, seed=1, round_=r)) for r in range(1, 20)}
    assert len(picks) > 5


def test_fraction_must_be_valid():
    with pytest.raises(ValueError):
        select_sites(SITES, 0.0, 1, seed=0, round_=1)
