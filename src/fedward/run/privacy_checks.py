"""Privacy settings that can only be judged against the whole federation, checked before anything runs
or is written: the secure-aggregation ring must hold the sum of every site's update at full range, and
there must be enough sites per round for a threshold of at least two."""

from __future__ import annotations

import math
from pathlib import Path

from fedward.config import FederationConfig
from fedward.errors import ConfigError
from fedward.secagg import SecAggConfigError
from fedward.secagg.quantize import FixedPoint

__all__ = ["check_privacy_config"]


def check_privacy_config(cfg: FederationConfig, config_path: Path) -> None:
    p, f = cfg.privacy, cfg.federation
    if not p.secure_aggregation:
        return
    n = len(cfg.sites)
    per_round = min(n, max(f.min_sites, math.ceil(f.fraction * n)))
    if per_round < 2:
        raise ConfigError(
            f"[privacy] 'secure_aggregation' needs at least 2 sites per round; this federation has "
            f"{per_round}",
            where=config_path,
        )
    try:
        FixedPoint(p.clip_range, p.fixed_point_bits, p.ring_bits).check_capacity(per_round)
    except SecAggConfigError as exc:
        raise ConfigError(f"[privacy] {exc}", where=config_path) from None
