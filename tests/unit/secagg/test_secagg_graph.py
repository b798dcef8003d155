"""The SecAgg+ neighbour graph (Bell et al., CCS 2020): symmetric, regular, session-derived."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fedward.secagg import neighbours, shareholders


def _sites(n: int) -> list[str]:
    return [f"site-{i:03d}" for i in range(n)]


def _expected_degree(n: int, degree: int) -> int:
    if degree >= n - 1:
        return n - 1
    return degree + 1 if degree % 2 and n % 2 else degree


def _connected(graph: dict[str, tuple[str, ...]]) -> bool:
    start = next(iter(graph))
    seen, todo = {start}, [start]
    while todo:
        for other in graph[todo.pop()]:
            if other not in seen:
                seen.add(other)
                todo.append(other)
    return len(seen) == len(graph)


@given(n=st.integers(2, 40), degree=st.integers(1, 45), session=st.binary(min_size=16, max_size=32))
def test_graph_is_symmetric_regular_and_loop_free(n: int, degree: int, session: bytes) -> None:
    graph = neighbours(_sites(n), degree, session)
    assert set(graph) == set(_sites(n))
    for site, peers in graph.items():
        assert site not in peers
        assert list(peers) == sorted(set(peers))
        assert len(peers) == _expected_degree(n, degree)
        assert all(site in graph[peer] for peer in peers)
        assert shareholders(site, graph) == tuple(sorted((*peers, site)))
    if degree >= 2 or n == 2:
        assert _connected(graph)


def test_complete_graph_when_the_degree_reaches_n_minus_one() -> None:
    sites = _sites(6)
    graph = neighbours(sites, 5, b"s" * 32)
    assert graph == neighbours(sites, 50, b"t" * 32)
    assert all(len(peers) == 5 for peers in graph.values())


def test_graph_depends_on_the_session_only() -> None:
    sites = _sites(20)
    graph = neighbours(sites, 6, b"a" * 32)
    assert graph == neighbours(list(reversed(sites)), 6, b"a" * 32)
    others = [neighbours(sites, 6, hashlib.sha256(bytes([i])).digest()) for i in range(5)]
    assert any(other != graph for other in others)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="duplicates"):
        neighbours(["a", "a", "b"], 1, b"s")
    with pytest.raises(ValueError, match="at least 1"):
        neighbours(["a", "b"], 0, b"s")
