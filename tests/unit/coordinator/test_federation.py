"""The round loop with real sites and with sites that fail, time out or send garbage."""

import time

import numpy as np
import pytest

from fedward.aggregation import WeightedMean
from fedward.aggregation.fedavg import FedAvg
from fedward.coordinator import FederationPlan, run_federation
from fedward.core.arrays import arrays_from_bytes, arrays_to_bytes
from fedward.core.messages import Reply, ReplyStatus, Task, TaskKind
from fedward.errors import FederationError
from fedward.settings import TrainSettings
from fedward.site import LocalData, Site
from fedward.transport import InMemoryTransport


def _data(seed: int, n: int = 40) -> LocalData:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    y = tuple("yes" if v > 0 else "no" for v in x[:, 0] + 0.1 * rng.normal(size=n))
    return LocalData(x[:30], y[:30], x[30:], y[30:], ("a", "b", "c"))


def _plan(**kw) -> FederationPlan:
    base = dict(
        run_id="r",
        model_name="logistic",
        rounds=3,
        seed=1,
        train=TrainSettings(epochs=1, batch_size=8, lr=0.1, momentum=0.0),
    )
    base.update(kw)
    return FederationPlan(**base)


class Broken:
    """A site that behaves until `fail_from`, then raises, sleeps past the deadline or sends garbage."""

    def __init__(self, site: Site, mode: str) -> None:
        self.site, self.mode = site, mode

    @property
    def name(self) -> str:
        return self.site.name

    def handle(self, task: Task) -> Reply:
        if task.kind is not TaskKind.FIT:
            return self.site.handle(task)
        if self.mode == "raise":
            raise RuntimeError("disk full")
        if self.mode == "slow":
            time.sleep(0.5)
            return self.site.handle(task)
        reply = self.site.handle(task)
        params = arrays_from_bytes(reply.parameters)
        if self.mode == "nan":
            params[next(iter(params))][...] = np.nan
        elif self.mode == "shape":
            params = {k: np.zeros(3, np.float32) for k in params}
        return Reply(
            reply.run_id,
            reply.round,
            reply.site,
            reply.kind,
            reply.status,
            arrays_to_bytes(params),
            reply.num_samples,
        )


def _sites(n: int = 3) -> list[Site]:
    return [Site(f"site{i}", _data(i)) for i in range(n)]


def test_federation_learns_and_reports_every_site():
    transport = InMemoryTransport(_sites())
    result = run_federation(transport, _plan(rounds=5), FedAvg())
    assert result.rounds_completed == 5
    assert set(result.final.evaluation) == {"site0", "site1", "site2"}
    assert result.final.pooled["accuracy"] > 0.7
    assert result.setup.classes == ["no", "yes"]


def test_same_seed_same_model_bytes():
    a = run_federation(InMemoryTransport(_sites()), _plan(), FedAvg())
    b = run_federation(InMemoryTransport(_sites()), _plan(), FedAvg())
    assert arrays_to_bytes(a.params) == arrays_to_bytes(b.params)
    c = run_federation(InMemoryTransport(_sites()), _plan(seed=2), FedAvg())
    assert arrays_to_bytes(a.params) != arrays_to_bytes(c.params)


@pytest.mark.parametrize("mode", ["raise", "nan", "shape"])
def test_a_failing_site_is_recorded_and_the_round_goes_on(mode):
    sites = _sites()
    handlers = [sites[0], sites[1], Broken(sites[2], mode)]
    result = run_federation(InMemoryTransport(handlers), _plan(min_sites=2), FedAvg())
    assert result.rounds_completed == 3
    outcome = result.rounds[0].outcomes["site2"]
    assert outcome.status == "failed" and outcome.error
    assert all(r.outcomes["site0"].status == "ok" for r in result.rounds)


def test_garbage_is_never_averaged_in():
    """A site sending NaNs or wrong shapes leaves exactly the model a site that sent nothing leaves."""
    sites = _sites()
    runs = [
        run_federation(InMemoryTransport([sites[0], sites[1], Broken(sites[2], mode)]), _plan(), FedAvg())
        for mode in ("raise", "nan", "shape")
    ]
    assert (
        arrays_to_bytes(runs[0].params) == arrays_to_bytes(runs[1].params) == arrays_to_bytes(runs[2].params)
    )
    healthy = run_federation(InMemoryTransport(sites), _plan(), FedAvg())
    assert arrays_to_bytes(healthy.params) != arrays_to_bytes(runs[0].params)  # power: site2 does matter


def test_a_slow_site_times_out_without_failing_the_round():
    sites = _sites()
    transport = InMemoryTransport([sites[0], sites[1], Broken(sites[2], "slow")], workers=3)
    result = run_federation(transport, _plan(rounds=1, deadline_s=0.25, min_sites=2), FedAvg())
    assert result.rounds[0].outcomes["site2"].status == "timeout"
    assert result.rounds[0].aggregated
    transport.close()


def test_round_below_min_sites_keeps_the_model_and_says_why():
    sites = _sites()
    handlers = [sites[0], Broken(sites[1], "raise"), Broken(sites[2], "raise")]
    result = run_federation(InMemoryTransport(handlers), _plan(rounds=2, min_sites=1), FedAvg())
    assert result.rounds_completed == 2
    with pytest.raises(FederationError, match="no round completed"):
        run_federation(InMemoryTransport(handlers), _plan(rounds=2, min_sites=2), FedAvg())


def test_sites_with_different_columns_are_refused():
    other = _data(5)
    odd = LocalData(other.train_x, other.train_y, other.test_x, other.test_y, ("a", "b", "zzz"))
    transport = InMemoryTransport([*_sites(2), Site("odd", odd)])
    with pytest.raises(FederationError, match="odd"):
        run_federation(transport, _plan(), FedAvg())


def test_site_refuses_a_task_for_another_site():
    site = _sites(1)[0]
    reply = site.handle(Task("r", 1, "someone_else", TaskKind.DESCRIBE))
    assert reply.status is ReplyStatus.FAILED and "someone_else" in (reply.error or "")


class _BuggyAccumulatorFedAvg(FedAvg):
    """A coordinator-side bug: the accumulator raises on every update."""

    def accumulator(self, start=None):
        class Buggy(WeightedMean):
            def add(self, arrays, weight):
                raise RuntimeError("accumulator bug")

        return Buggy()


def test_a_coordinator_bug_stops_the_run_instead_of_being_blamed_on_the_sites():
    """Regression: every error while folding a reply used to become the site's 'unusable update'."""
    with pytest.raises(RuntimeError, match="accumulator bug"):
        run_federation(InMemoryTransport(_sites()), _plan(rounds=1), _BuggyAccumulatorFedAvg())
    # while a site's malformed payload is still only that site's failure (power: the same run, no bug)
    sites = _sites()
    result = run_federation(
        InMemoryTransport([*sites[:2], Broken(sites[2], "shape")]), _plan(rounds=1), FedAvg()
    )
    assert result.rounds[0].outcomes["site2"].error.startswith("unusable update: parameters do not match")
