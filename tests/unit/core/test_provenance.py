"""The task hash covers the task definition and nothing per site or per round. `fedward.core` sits below
`fedward.settings`, so provenance names the per-site keys itself; these tests keep the two in step."""

import dataclasses

from fedward.config import PrivacyConfig, StrategyConfig
from fedward.core import provenance
from fedward.core.provenance import code_identity, task_definition, task_sha256
from fedward.settings import DpSettings, LedgerEvidence, TrainSettings
from fedward.settings.dp import NOISE_MULTIPLIER, NOISE_STD
from fedward.settings.training import SEED

MODEL = {"model": "mlp", "input_dim": 4, "num_classes": 2, "hidden": [8], "channels": [16, 32, 64]}
TRAIN = TrainSettings.from_strategy(StrategyConfig(local_epochs=2, batch_size=16, max_grad_norm=5))
SITE_DP = PrivacyConfig(dp="site", noise_multiplier=1.2, secure_aggregation=True)
EVIDENCE = LedgerEvidence("checkpoint", "{}", "entry", 3, ("ab" * 32,))


def _fit_config(seed: int, noise_std: float, evidence: LedgerEvidence = EVIDENCE) -> dict:
    dp = DpSettings.from_privacy(SITE_DP, noise_std=noise_std)
    return {
        **MODEL,
        "classes": ["no", "yes"],
        **TRAIN.to_config(),
        **dp.to_config(),
        **evidence.to_config(),
        **TrainSettings.seed_config(seed),
    }


def test_provenance_leaves_out_exactly_the_per_site_settings():
    assert {SEED, NOISE_MULTIPLIER, NOISE_STD} == provenance._PER_SITE
    assert all(key.startswith(provenance._PER_ROUND_PREFIXES) for key in EVIDENCE.to_config())


def test_the_hash_is_the_same_for_every_site_and_round():
    other = dataclasses.replace(EVIDENCE, entry_index=9, inclusion=())
    assert task_sha256(_fit_config(1, 0.5)) == task_sha256(_fit_config(2, 0.7, other))
    dp_keys = {
        "dp",
        "dp_clip_norm",
        "dp_delta",
        "dp_target_epsilon",
        "dp_epsilon_budget",
        "secure_aggregation",
    }
    definition = set(task_definition(_fit_config(1, 0.5)))
    assert definition == {*MODEL, "classes", *TRAIN.to_config(), *dp_keys}


def test_the_hash_covers_the_training_and_privacy_definition():
    """Power check for the test above: the hash does move when the definition changes."""
    base = task_sha256(_fit_config(1, 0.5))
    assert task_sha256({**_fit_config(1, 0.5), **dataclasses.replace(TRAIN, lr=0.5).to_config()}) != base
    assert task_sha256({**_fit_config(1, 0.5), "dp_clip_norm": 2.0}) != base


def test_the_hash_is_pinned():
    """Typed settings write the same bytes as the dicts they replaced, so site policies that allow-list
    a task hash keep accepting the same runs."""
    assert task_sha256(_fit_config(1, 0.5)) == PINNED
    assert code_identity(_fit_config(1, 0.5))["task_sha256"] == PINNED


PINNED = (
    "5da7c57ea7ab488ab858e46284fd71194f2d5de96eecd7ee63b62b1ecf1dfbd2"  # computed with the pre-typed code
)
