"""A deployed site's start (`deployment.site`): deny by default without a policy file, the explicit
accept-any-task opt-in, and `[[faults]]` only behind the test-only switch. All of it is decided before
the site loads data or connects anywhere."""

import logging
from pathlib import Path

import numpy as np
import pytest

from fedward.cli.app import main
from fedward.config import FaultConfig
from fedward.deployment import load_kit_config, load_site_kit
from fedward.deployment.site import TEST_FAULTS_ENV, run_site_kit, site_handler, site_policy
from fedward.errors import ConfigError, DataError
from fedward.run.faults import FaultySite
from fedward.site import LocalData, Site
from fedward.site.policy import SitePolicy

NO_POLICY = "haukeland"  # kit_harness gives only st-olav a policy file


@pytest.fixture(autouse=True)
def _fedward_logging():
    """The CLI points the `fedward` loggers at this test's stderr and stops propagation: undo it after."""
    logger = logging.getLogger("fedward")
    saved = logger.handlers[:], logger.propagate, logger.level
    yield
    logger.handlers[:], logger.propagate, logger.level = saved[0], saved[1], saved[2]


def _cli(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_a_site_without_a_policy_file_refuses_to_start_and_says_how_to_fix_it(kits: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        run_site_kit(kits / NO_POLICY)
    text = caught.value.render()
    assert "no policy file" in text and "deny by default" in text
    assert "--accept-any-task" in text and "docs/deployment.md" in text and "[policy]" in text


def test_the_refusal_exits_2_from_the_cli(kits: Path, capsys) -> None:
    assert _cli(["site", "run", str(kits / NO_POLICY)]) == 2
    err = capsys.readouterr().err
    assert "haukeland has no policy file" in err and "--accept-any-task" in err


def test_accept_any_task_gets_past_the_policy_gate(kits: Path, capsys, caplog) -> None:
    """Power check for the refusal: the same kit with the flag goes on to load its data (which this
    harness never wrote, so the next error is the data's, not the policy's)."""
    with caplog.at_level(logging.WARNING, logger="fedward.site"), pytest.raises(DataError):
        run_site_kit(kits / NO_POLICY, accept_any_task=True)
    assert any(getattr(r, "event", None) == "accept_any_task" for r in caplog.records)
    assert _cli(["site", "run", str(kits / NO_POLICY), "--accept-any-task"]) == 2
    err = capsys.readouterr().err
    assert "has no policy file" not in err and "haukeland-train.csv: file not found" in err
    assert '"event":"accept_any_task"' in err  # the JSON log line says the site accepts any task


def test_the_opt_in_is_the_marked_built_in_policy(kits: Path) -> None:
    kit = load_site_kit(kits / NO_POLICY)
    policy = site_policy(load_kit_config(kit), kit, accept_any_task=True)
    assert policy == SitePolicy.accept_any_task() and policy.accepts_any_task
    assert policy.sha256() != SitePolicy.simulation_default().sha256()


def test_a_policy_file_and_the_flag_together_are_refused(kits: Path) -> None:
    kit = load_site_kit(kits / "st-olav")
    with pytest.raises(ConfigError, match="has a policy file"):
        site_policy(load_kit_config(kit), kit, accept_any_task=True)


def _site() -> Site:
    data = np.asarray([[0.0], [1.0]], np.float32)
    return Site(NO_POLICY, LocalData(data, ("a", "b"), data, ("a", "b"), ("f",)))


def test_faults_run_only_behind_the_test_only_switch(kits: Path, caplog) -> None:
    kit = load_site_kit(kits / NO_POLICY)
    cfg = load_kit_config(kit)
    site = _site()
    assert site_handler(site, cfg, kit, test_faults=False) is site  # no [[faults]]: the site itself
    faulty = cfg.model_copy(update={"faults": [FaultConfig(site=NO_POLICY, round=1, stage="before_train")]})
    with pytest.raises(ConfigError, match=r"\[\[faults\]\]") as caught:
        site_handler(site, faulty, kit, test_faults=False)
    assert TEST_FAULTS_ENV in caught.value.render()
    with caplog.at_level(logging.WARNING, logger="fedward.site"):
        assert isinstance(site_handler(site, faulty, kit, test_faults=True), FaultySite)
    assert any("TEST-ONLY" in r.getMessage() for r in caplog.records)
