"""Adaptive server optimizers FedAdagrad, FedAdam and FedYogi (Reddi et al., "Adaptive Federated
Optimization", ICLR 2021, Algorithm 2).

The pseudo-gradient is delta = mean(site models) - global. With moments m and v:
    m <- beta1 * m + (1 - beta1) * delta
    v <- v + delta^2                                        (Adagrad)
    v <- v - (1 - beta2) * delta^2 * sign(v - delta^2)      (Yogi)
    v <- beta2 * v + (1 - beta2) * delta^2                  (Adam)
    w <- w + eta * m / (sqrt(v) + tau)
v starts at tau^2 as in the paper. Moments are float32 and kept per tensor; a restarted coordinator
rebuilds them by replaying its journal through `aggregate`, so they are never saved on their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np

from fedward.aggregation.base import Strategy
from fedward.core.arrays import Arrays, FloatArray

__all__ = ["FedAdagrad", "FedAdam", "FedOpt", "FedYogi"]


class FedOpt(Strategy):
    rule: ClassVar[str]

    def __init__(
        self, server_lr: float = 0.01, beta1: float = 0.9, beta2: float = 0.99, tau: float = 1e-3
    ) -> None:
        if server_lr <= 0 or tau <= 0 or not (0 <= beta1 < 1) or not (0 <= beta2 < 1):
            raise ValueError("need server_lr > 0, tau > 0 and 0 <= beta1, beta2 < 1")
        self.server_lr, self.beta1, self.beta2, self.tau = server_lr, beta1, beta2, tau
        self._m: Arrays = {}
        self._v: Arrays = {}
        self.steps = 0

    def aggregate(
        self, global_params: Mapping[str, FloatArray], mean_params: Mapping[str, FloatArray]
    ) -> Arrays:
        if not self._m:
            self._m = {k: np.zeros_like(v) for k, v in global_params.items()}
            self._v = {k: np.full_like(v, self.tau**2) for k, v in global_params.items()}
        out: Arrays = {}
        for k, w in global_params.items():
            delta = (mean_params[k] - w).astype(np.float32, copy=False)
            m = self._m[k]
            m *= np.float32(self.beta1)
            m += np.float32(1 - self.beta1) * delta
            self._v[k] = self._second_moment(self._v[k], delta * delta)
            step = np.float32(self.server_lr) * m / (np.sqrt(self._v[k]) + np.float32(self.tau))
            out[k] = (w + step).astype(np.float32, copy=False)
        self.steps += 1
        return out

    def _second_moment(self, v: FloatArray, d2: FloatArray) -> FloatArray:
        b2 = np.float32(self.beta2)
        if self.rule == "adagrad":
            return v + d2
        if self.rule == "yogi":
            out: FloatArray = v - (np.float32(1) - b2) * d2 * np.sign(v - d2)
            return out
        adam: FloatArray = b2 * v + (np.float32(1) - b2) * d2
        return adam


class FedAdagrad(FedOpt):
    name = "fedadagrad"
    rule = "adagrad"


class FedAdam(FedOpt):
    name = "fedadam"
    rule = "adam"


class FedYogi(FedOpt):
    name = "fedyogi"
    rule = "yogi"
