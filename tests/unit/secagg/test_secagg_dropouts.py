"""Dropouts at every stage: the sum of the survivors whenever t remain, `AbortError` otherwise.

Bonawitz et al. (CCS 2017, section 4) tolerate any pattern of dropouts that leaves at least t sites at
each round; SecAgg+ (Bell et al., CCS 2020) needs t live shareholders in each neighbourhood. The
expected outcome is recomputed here from first principles, independently of the coordinator's code.
"""

from __future__ import annotations

import hashlib
import itertools
import random

import numpy as np
import pytest
from secagg_harness import Drops, make_params, run_session

from fedward.secagg import AbortError, SessionParams

STAGES = ("before_advertise", "before_shares", "before_upload", "after_upload")


def _check(params: SessionParams, drops: Drops, succeeds: bool, survivors: set[str]) -> None:
    if not succeeds:
        with pytest.raises(AbortError):
            run_session(params, drops)
        return
    session = run_session(params, drops)
    coordinator = session.coordinator
    assert set(coordinator.survivors) == survivors
    np.testing.assert_array_equal(coordinator.result(), session.exact_sum(sorted(survivors)))
    assert set(coordinator.dropped_after_upload) == set(drops.after_upload)
    assert set(coordinator.dropped_before_upload) == set(drops.before_upload)


def _complete_graph_outcome(sites: tuple[str, ...], t: int, drops: Drops) -> tuple[bool, set[str]]:
    remaining, counts = set(sites), []
    for stage in range(4):
        remaining -= drops.at(stage)
        counts.append(len(remaining))
    survivors = set(sites) - drops.before_advertise - drops.before_shares - drops.before_upload
    return min(counts) >= t, survivors


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("n", range(2, 8))
def test_every_dropout_subset_at_one_stage(n: int, stage: str) -> None:
    params = make_params(n)
    for size in range(n + 1):
        for dropped in itertools.combinations(params.sites, size):
            drops = Drops(**{stage: frozenset(dropped)})
            _check(params, drops, *_complete_graph_outcome(params.sites, params.threshold, drops))


def test_every_assignment_of_dropout_stages_for_four_sites() -> None:
    params = make_params(4)
    for assignment in itertools.product(range(5), repeat=4):
        groups = {
            stage: frozenset(s for s, a in zip(params.sites, assignment, strict=True) if a == i + 1)
            for i, stage in enumerate(STAGES)
        }
        drops = Drops(**groups)
        _check(params, drops, *_complete_graph_outcome(params.sites, params.threshold, drops))


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize(("n", "t"), [(3, 2), (3, 3), (5, 3), (5, 5), (7, 4), (7, 6)])
def test_threshold_boundary(n: int, t: int, stage: str) -> None:
    params = make_params(n, threshold=t)
    exactly_t = Drops(**{stage: frozenset(params.sites[t:])})
    session = run_session(params, exactly_t)
    survivors = params.sites[:t] if stage != "after_upload" else params.sites
    np.testing.assert_array_equal(session.coordinator.result(), session.exact_sum(survivors))
    with pytest.raises(AbortError):
        run_session(params, Drops(**{stage: frozenset(params.sites[t - 1 :])}))


def _sparse_outcome(params: SessionParams, drops: Drops) -> tuple[bool, set[str]]:
    """Who is left at each stage, with sites refusing when their neighbourhood is below t."""
    t, graph = params.threshold, params.graph

    def near(site: str, group: set[str]) -> int:
        return len(set(graph[site]) & group) + 1

    u1 = set(params.sites) - drops.before_advertise
    u2 = {s for s in u1 if near(s, u1) >= t} - drops.before_shares
    u3 = {s for s in u2 if near(s, u2) >= t} - drops.before_upload
    u4 = {s for s in u3 if near(s, u3) >= t} - drops.after_upload
    ok = min(len(u1), len(u2), len(u3), len(u4)) >= t
    ok = ok and all(near(u, u4) >= t for u in u3)
    ok = ok and all(len(set(graph[w]) & u4) >= t for w in u2 - u3 if set(graph[w]) & u3)
    return ok, u3


@pytest.mark.parametrize(("n", "degree", "rate"), [(20, 6, 0.06), (20, 6, 0.12), (16, 4, 0.05), (12, 5, 0.1)])
def test_sparse_graph_dropouts_match_the_neighbourhood_rule(n: int, degree: int, rate: float) -> None:
    params = make_params(
        n, degree=degree, length=11, session=hashlib.sha256(f"{n}/{degree}".encode()).digest()
    )
    rng = random.Random(n * 1000 + degree)
    outcomes = set()
    for _ in range(25):
        left = list(params.sites)
        groups = {}
        for stage in STAGES:
            groups[stage] = frozenset(s for s in left if rng.random() < rate)
            left = [s for s in left if s not in groups[stage]]
        drops = Drops(**groups)
        succeeds, survivors = _sparse_outcome(params, drops)
        outcomes.add(succeeds)
        _check(params, drops, succeeds, survivors)
    assert True in outcomes


def test_sparse_graph_aborts_when_one_neighbourhood_is_too_thin() -> None:
    params = make_params(20, degree=6)
    target = params.sites[0]
    holders = [s for s in params.shareholders_of(target) if s != target]
    # The target uploads, then all but t - 2 of its neighbours go silent: its self mask is lost.
    drops = Drops(after_upload=frozenset(holders[: len(holders) - (params.threshold - 2)]))
    with pytest.raises(AbortError, match=r"cannot reconstruct the self-mask seed"):
        run_session(params, drops)
