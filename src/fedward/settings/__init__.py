"""Typed task settings: one frozen dataclass per concern that crosses from the coordinator to a site in a
task's config, written with `to_config` and read back strictly with `from_config` at the other end, so
mypy checks both ends and a missing or mistyped key fails with its name.

- `TrainSettings` (training.py): local training, plus how the per-site seed and FedProx's mu travel;
- `DpSettings` (dp.py): differential privacy, with `fedward.config.DpMode`;
- `LedgerEvidence` (evidence.py): the ledger evidence that lets a site check the model it is sent;
- `PersonalizeSettings` (personalization.py): what a personalization task asks of a site.
The secure-aggregation session has its own, `fedward.secagg.task.SecAggTask`.

The config on the wire is fixed byte for byte (sites hash and sign it, a deployed coordinator replays it
from its journal): each `to_config` writes exactly the keys, values and JSON types tasks carried before.
This package sits in the services layer and imports only `fedward.config` and `fedward.core`.
"""

from fedward.settings.dp import DpSettings
from fedward.settings.evidence import LedgerEvidence
from fedward.settings.personalization import PersonalizeSettings
from fedward.settings.training import TrainSettings

__all__ = ["DpSettings", "LedgerEvidence", "PersonalizeSettings", "TrainSettings"]
