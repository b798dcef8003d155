"""FedAvg (McMahan et al. 2017) and FedProx (Li et al. 2020).

FedAvg's next model is the sample-weighted mean of the sites' models. FedProx aggregates the same way;
what differs is site training, which adds the proximal term (mu/2)||w - w_global||^2 to the local loss.
The strategy only carries `mu` to the sites in `site_config`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from fedward.aggregation.base import Strategy
from fedward.core.arrays import Arrays, FloatArray
from fedward.core.messages import JSONScalar

__all__ = ["FedAvg", "FedProx"]


class FedAvg(Strategy):
    name = "fedavg"

    def aggregate(
        self, global_params: Mapping[str, FloatArray], mean_params: Mapping[str, FloatArray]
    ) -> Arrays:
        # the mean is freshly computed for this round, so it can become the new global model as is
        return {k: np.asarray(v, dtype=np.float32) for k, v in mean_params.items()}


class FedProx(FedAvg):
    name = "fedprox"

    def __init__(self, mu: float = 0.01) -> None:
        if mu < 0:
            raise ValueError(f"fedprox mu must be >= 0, got {mu}")
        self.mu = mu

    def site_config(self) -> dict[str, JSONScalar]:
        return {"proximal_mu": self.mu}
