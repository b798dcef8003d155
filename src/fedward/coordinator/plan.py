"""What one run of the federation is asked to do: the plan every round reads (model and the file it
starts from, rounds, seed, training settings, class-weight mode, site sampling, deadline, privacy).

A plain frozen value with no behaviour, below `setup.py` and `federation.py`, so both can import it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fedward.config import PrivacyConfig
from fedward.core.compress import UNCOMPRESSED, CompressionSettings
from fedward.models import InitModel, UserCode
from fedward.release.gates import ReleaseGates
from fedward.settings import PersonalizeSettings, TrainSettings

__all__ = ["FederationPlan"]


@dataclass(frozen=True)
class FederationPlan:
    run_id: str
    model_name: str
    rounds: int
    seed: int
    train: TrainSettings  # the run-wide local training settings (each site's seed is added per task)
    hidden: tuple[int, ...] = (64,)
    channels: tuple[int, ...] = (16, 32, 64)
    fraction: float = 1.0
    min_sites: int = 1
    deadline_s: float | None = None
    eval_every: int = 1
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    federation: str = "fedward"
    config_sha256: str = "0" * 64
    init_model: InitModel | None = (
        None  # `[model] init`, read; None: the initial model is built from the seed
    )
    personalize: PersonalizeSettings | None = None  # after the last round; None: no personalization
    # `[strategy] class_weights`: the weights themselves come from the sites' label counts (setup.py)
    class_weights: str = "none"
    gates: ReleaseGates | None = None  # `[release]` gates on the final model (and its baseline); None: none
    compression: CompressionSettings = UNCOMPRESSED  # `[compression]`: how sites send updates
    # documents: the `[data]` page preprocessing spec (PipelineSpec.to_dict()), carried into the release
    preprocessing: Mapping[str, Any] | None = None
    model_code: UserCode | None = None  # `[model] code`, read (model_name "code"); None: a built-in model
    missing: str = "refuse"  # `[data] missing`: "impute" combines the sites' columns and imputes gaps
    target_accuracy: float = 0.95  # `[validation]`: the accuracy each site's confidence threshold aims at

    def evaluates(self, rnd: int) -> bool:
        """Is round `rnd` followed by an evaluation? Every `eval_every` rounds, and always the last."""
        return rnd % self.eval_every == 0 or rnd == self.rounds
