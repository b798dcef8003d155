"""Poisoning defences end to end (`fedward simulate`): attacked updates pass signing and secure aggregation
like honest ones; norm bounding stops a boosted attacker at the sites under secure aggregation and at the
coordinator without it; a robust rule whose tolerance the round's replies break keeps the old model and
says why; and `[[attacks]]` are refused where they must be. Each defence test has its power check: the
same attack with the defence off gets through."""

from pathlib import Path

import pytest
from federations import run_cli, tabular_federation

import fedward.coordinator.combine as combine
import fedward.site.node as node
from fedward.config import load_config
from fedward.simulation import simulate

SECURE = "[privacy]\nsecure_aggregation = true\n"


def _attack(site: str, kind: str, scale: float | None = None) -> str:
    extra = "" if scale is None else f"scale = {scale}\n"
    return f'[[attacks]]\nsite = "{site}"\nkind = "{kind}"\n{extra}'


def _run(tmp: Path, *, extra: str, strategy: str = "fedavg", sites: int = 3, rounds: int = 3):
    """`extra` goes right after the `[strategy]` table, so keys before any header are strategy keys."""
    cfg_path = tabular_federation(tmp / "data", rounds=rounds, sites=sites, extra=extra, strategy=strategy)
    cfg = load_config(cfg_path)
    return simulate(cfg, cfg_path, tmp / "run", baselines=False)


def _accuracy(result) -> float:
    return result.summary["metrics"]["federated"]["pooled"]["accuracy"]


BOOSTED = _attack("site_00", "sign_flip", 100.0)


def test_under_secure_aggregation_the_sites_norm_bound_stops_a_boosted_attacker(tmp_path):
    bounded = _run(tmp_path / "a", extra="norm_bound = 0.5\n" + SECURE + BOOSTED)
    assert bounded.summary["privacy"]["secure_aggregation"]["enabled"] is True
    # the attacked update was masked and signed like an honest one: every site contributed every round
    assert all(r.outcomes["site_00"].status == "ok" for r in bounded.federation.rounds)
    assert bounded.federation.rounds_completed == 3
    assert _accuracy(bounded) > 0.85
    # power check: the same attack without the bound wrecks the model
    unbounded = _run(tmp_path / "b", extra=SECURE + BOOSTED)
    assert all(r.outcomes["site_00"].status == "ok" for r in unbounded.federation.rounds)
    assert _accuracy(unbounded) < 0.75


def test_without_secure_aggregation_the_coordinator_enforces_norm_bound(tmp_path, monkeypatch):
    """A site that ignores the bound (its clip patched away) is clipped by the coordinator."""
    real = node.protect_update
    monkeypatch.setattr(
        node, "protect_update", lambda start, trained, dp, bound=None: real(start, trained, dp)
    )
    bounded = _run(tmp_path / "a", extra="norm_bound = 0.5\n" + BOOSTED)
    assert _accuracy(bounded) > 0.85
    # power check: with the coordinator's clip patched away too, the attack gets through
    monkeypatch.setattr(combine, "NormBounded", lambda acc, start, bound: acc)
    assert _accuracy(_run(tmp_path / "b", extra="norm_bound = 0.5\n" + BOOSTED)) < 0.75


def test_trimmed_mean_resists_what_moves_fedavg(tmp_path):
    robust = _run(
        tmp_path / "a",
        extra="trim_fraction = 0.2\nbyzantine_sites = 1\n" + _attack("site_00", "gaussian", 50.0),
        strategy="trimmed_mean",
        sites=5,
    )
    assert _accuracy(robust) > 0.85
    # power check: FedAvg under the same attack
    plain = _run(tmp_path / "b", extra=_attack("site_00", "gaussian", 50.0), sites=5)
    assert _accuracy(plain) < 0.8


def test_krum_keeps_the_model_when_too_few_sites_reply_for_its_tolerance(tmp_path):
    """Krum with f = 1 needs 5 replies; a site that drops out of round 1 leaves 4: the round keeps its
    model with the reason, and round 2 (all 5 back) aggregates."""
    fault = '[[faults]]\nsite = "site_02"\nround = 1\nstage = "before_train"\n'
    result = _run(tmp_path, extra="byzantine_sites = 1\n" + fault, strategy="krum", sites=5, rounds=2)
    first, second = result.federation.rounds
    assert not first.aggregated and "n >= 2f + 3 = 5" in (first.reason or "")
    assert second.aggregated


def test_attacks_in_a_config_with_deployment_exit_2_naming_the_table(tmp_path, capsys):
    extra = BOOSTED + '[deployment]\ncoordinator = "https://coordinator.example:8443"\n'
    cfg = tabular_federation(tmp_path, extra=extra)
    assert run_cli(["simulate", str(cfg), "--out", str(tmp_path / "run"), "--no-baselines"]) == 2
    err = capsys.readouterr().err
    assert "[[attacks]]" in err and str(cfg) in err


@pytest.mark.parametrize("rule", ["trimmed_mean", "krum", "multikrum", "centered_clip"])
def test_robust_rules_under_secure_aggregation_exit_2(tmp_path, capsys, rule):
    more = {"trimmed_mean": "trim_fraction = 0.4\n", "multikrum": "multikrum_m = 2\n"}.get(rule, "")
    extra = f"byzantine_sites = 0\n{more}" + SECURE
    cfg = tabular_federation(tmp_path, extra=extra, strategy=rule)
    assert run_cli(["simulate", str(cfg), "--out", str(tmp_path / "run"), "--no-baselines"]) == 2
    assert "which secure aggregation hides" in capsys.readouterr().err


def test_the_audit_refuses_an_update_whose_manifest_does_not_state_the_bound(tmp_path, monkeypatch, capsys):
    """Under secure aggregation the coordinator cannot see the clip; it requires each site's signed
    statement of the bound. A site that leaves it out is rejected; the power check is the run above,
    where every site states it and every update is accepted."""
    import fedward.site.trust as site_trust

    real = site_trust.UpdateManifest
    monkeypatch.setattr(site_trust, "UpdateManifest", lambda **kw: real(**{**kw, "norm_bound": None}))
    cfg_path = tabular_federation(tmp_path / "data", rounds=1, extra="norm_bound = 0.5\n" + SECURE)
    out = tmp_path / "run"
    assert run_cli(["simulate", str(cfg_path), "--out", str(out), "--no-baselines"]) == 2
    # every package was rejected before its masked input was used, so the session cannot unmask
    assert "only 0 sites sent their masked input" in capsys.readouterr().err
    assert not out.exists()
