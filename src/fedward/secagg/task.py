"""How a round's secure-aggregation session travels in the fit task's config, and how a site turns its
update into the ring vector it masks.

The vector is `[weight * clip(update, -clip_range, clip_range), weight]` in fixed point: sites pre-scale
by their weight and contribute the weight, so the unmasked sum gives both the weighted update sum and
the total weight, and the weighted mean survives the mask. The weight is the site's sample count over
the largest site's (`weight_scale`), so it never exceeds 1 and the ring's capacity depends only on the
number of sites; under site-level DP every site weighs 1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, cast

import numpy as np
import numpy.typing as npt

from fedward.config import PrivacyConfig
from fedward.core.messages import JSONScalar, JSONValue
from fedward.secagg.graph import neighbours
from fedward.secagg.params import SessionParams
from fedward.secagg.quantize import FixedPoint

__all__ = ["SecAggTask", "secagg_threshold"]

_PREFIX = "secagg_"


def secagg_threshold(privacy: PrivacyConfig, n_sites: int) -> int:
    """t: how many of a site's shareholders (its neighbours and itself) must answer to unmask it.

    `[privacy] threshold` is a fraction of the largest shareholder set, at least 2 and more than half
    of it; it is capped at the smallest set (a SecAgg+ graph may have sets one apart)."""
    degree = _degree(privacy, n_sites)
    graph = neighbours([f"s{i}" for i in range(n_sites)], degree, b"")
    sizes = [len(members) + 1 for members in graph.values()]
    return min(min(sizes), max(2, math.ceil(privacy.threshold * max(sizes))))


def _degree(privacy: PrivacyConfig, n_sites: int) -> int:
    return n_sites - 1 if privacy.neighbours == 0 else min(privacy.neighbours, n_sites - 1)


@dataclass(frozen=True)
class SecAggTask:
    session: SessionParams
    quantizer: FixedPoint
    weight_scale: float
    uniform_weights: bool

    @classmethod
    def create(
        cls,
        privacy: PrivacyConfig,
        *,
        session: bytes,
        sites: Sequence[str],
        length: int,
        weight_scale: float,
        uniform_weights: bool,
    ) -> SecAggTask:
        n = len(sites)
        params = SessionParams(
            session=session,
            sites=tuple(sorted(sites)),
            threshold=secagg_threshold(privacy, n),
            degree=_degree(privacy, n),
            length=length,
            ring_bits=privacy.ring_bits,
        )
        quantizer = FixedPoint(privacy.clip_range, privacy.fixed_point_bits, privacy.ring_bits)
        quantizer.check_capacity(n)
        return cls(params, quantizer, weight_scale, uniform_weights)

    @staticmethod
    def in_config(config: Mapping[str, JSONValue]) -> bool:
        return f"{_PREFIX}session" in config

    def to_config(self) -> dict[str, JSONValue]:
        s, q = self.session, self.quantizer
        sites: list[JSONScalar] = list(s.sites)
        values: dict[str, JSONValue] = {
            "session": s.session.hex(),
            "sites": sites,
            "threshold": s.threshold,
            "degree": s.degree,
            "length": s.length,
            "ring_bits": q.ring_bits,
            "clip_range": q.clip_range,
            "frac_bits": q.frac_bits,
            "weight_scale": self.weight_scale,
            "uniform_weights": self.uniform_weights,
        }
        return {_PREFIX + k: v for k, v in values.items()}

    @classmethod
    def from_config(cls, config: Mapping[str, JSONValue]) -> SecAggTask:
        def get(key: str, kind: type | tuple[type, ...]) -> JSONValue:
            value = config.get(_PREFIX + key)
            if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
                raise ValueError(f"task config {_PREFIX + key!r} is missing or malformed: {value!r}")
            return value

        sites = get("sites", list)
        assert isinstance(sites, list)
        if not all(isinstance(x, str) for x in sites):
            raise ValueError(f"task config '{_PREFIX}sites' must list site names")
        ring_bits = cast(Literal[32, 64], get("ring_bits", int))
        params = SessionParams(
            session=bytes.fromhex(str(get("session", str))),
            sites=tuple(str(x) for x in sites),
            threshold=cast(int, get("threshold", int)),
            degree=cast(int, get("degree", int)),
            length=cast(int, get("length", int)),
            ring_bits=ring_bits,
        )
        quantizer = FixedPoint(
            float(cast(float, get("clip_range", (int, float)))), cast(int, get("frac_bits", int)), ring_bits
        )
        return cls(
            params,
            quantizer,
            float(cast(float, get("weight_scale", (int, float)))),
            bool(get("uniform_weights", bool)),
        )

    def weight(self, num_samples: int) -> float:
        """A site's weight in the ring: its sample count over `weight_scale`, at most 1 (1 when uniform)."""
        return 1.0 if self.uniform_weights else min(1.0, num_samples / self.weight_scale)

    def weight_total(self, counts: Sequence[int]) -> float:
        """The decoded weight sum honest sites with these sample counts give: each weight encoded in
        fixed point exactly as `encode_update` does, summed in the ring, decoded."""
        q = self.quantizer
        encoded = q.encode(np.array([self.weight(n) for n in counts], dtype=np.float64))
        ring_sum = np.array([encoded.sum(dtype=q.dtype)], dtype=q.dtype)
        return float(q.decode(ring_sum)[0])

    def encode_update(
        self, update: npt.NDArray[np.float64], num_samples: int
    ) -> npt.NDArray[np.unsignedinteger]:
        """The site's ring vector: its weight-scaled, range-clipped update followed by its weight."""
        if update.size != self.session.length - 1:
            raise ValueError(
                f"update has {update.size} values, the session expects {self.session.length - 1}"
            )
        weight = self.weight(num_samples)
        r = self.quantizer.clip_range
        values = np.empty(update.size + 1, dtype=np.float64)
        np.clip(update, -r, r, out=values[:-1])
        values[:-1] *= weight
        values[-1] = weight
        return self.quantizer.encode(values)
