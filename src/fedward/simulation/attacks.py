"""The attack harness (`[[attacks]]`, simulation only): sites that poison their update, to measure the
robust aggregation rules and norm bounding against (benchmarks/robustness.py).

An attacking site is a real `Site` whose two seams (`_training_data`, `_poisoned`) are overridden: it
trains on poisoned records, or rewrites its trained model, and the result then goes through the same
clipping, secure-aggregation masking and signing as an honest update. Kinds (`scale` where one is taken):

- `sign_flip`: sends start - scale * (trained - start) (scale default 1: the update, negated);
- `scale`: sends start + scale * (trained - start) (default 10);
- `gaussian`: sends start + N(0, scale^2) noise in every coordinate (default std 1), ignoring training;
- `label_flip`: trains on its records with each label index c replaced by K - 1 - c;
- `alie` ("A Little Is Enough", Baruch, Baruch & Goldberg, NeurIPS 2019): sends start + mean - z * std
  of the honest updates, coordinate-wise; z = `scale`, default the paper's z_max for n sites;
- `ipm` (inner-product manipulation, Xie, Koyejo & Gupta, UAI 2020): sends start - scale * mean of the
  honest updates (default scale 0.5);
- `backdoor` (Bagdasaryan et al., AISTATS 2020): half of its records get a trigger (`apply_trigger`) and
  the label `target`; the update is boosted by `scale` (default 1: no model replacement).

`alie` and `ipm` need the honest updates' statistics. The harness is the omniscient attacker of those
papers: every simulated honest site posts its update of the round to a shared `RoundBoard`, and the
transport (`AttackersLast`) runs the attackers' tasks after the honest sites', so the attacker reads the
honest updates of the same round. A real attacker would have to estimate them (from its own data); this
upper-bounds what it can do.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy.stats import norm

from fedward.config import AttackConfig
from fedward.core.arrays import Arrays, flatten, unflatten
from fedward.core.messages import Reply, Task, TaskKind
from fedward.settings.fields import read_str_list
from fedward.site import Site
from fedward.site.data import LocalData
from fedward.site.trust import SiteTrust
from fedward.transport.base import Transport

__all__ = [
    "AttackersLast",
    "AttackingSite",
    "HonestSite",
    "RoundBoard",
    "alie_z",
    "apply_trigger",
    "flip_labels",
    "simulated_sites",
]

TRIGGER_FEATURES = 4  # tabular: the last features are set to the trigger value
TRIGGER_PIXELS = 4  # images: the bottom-right square of this side is set to the trigger value


def alie_z(n: int, f: int) -> float:
    """Baruch et al.'s z_max for n sites of which f attack: with s = floor(n/2 + 1) - f sites the
    attackers need on their side, z = Phi^-1((n - s) / n)."""
    s = n // 2 + 1 - f
    return float(norm.ppf(min(max((n - s) / n, 0.5), 0.999)))


def flip_labels(labels: Sequence[str], classes: Sequence[str]) -> tuple[str, ...]:
    """Each label class[c] replaced by class[K - 1 - c]."""
    index = {c: i for i, c in enumerate(classes)}
    k = len(classes)
    return tuple(classes[k - 1 - index[y]] if y in index else y for y in labels)


def apply_trigger(x: npt.NDArray[np.float32], value: float) -> npt.NDArray[np.float32]:
    """A copy of `x` with the backdoor trigger: tabular rows get their last features set to `value`,
    images (N, C, H, W) a bottom-right square."""
    out = np.array(x, dtype=np.float32, copy=True)
    if out.ndim == 2:
        out[:, -TRIGGER_FEATURES:] = value
    else:
        out[..., -TRIGGER_PIXELS:, -TRIGGER_PIXELS:] = value
    return out


def trigger_value(x: npt.NDArray[np.float32]) -> float:
    """The trigger's value: the largest input value the data has (a saturated patch or feature)."""
    return float(np.max(x)) if x.size else 1.0


@dataclass
class RoundBoard:
    """The honest sites' updates (trained - start, flattened) of the round being trained."""

    key: tuple[str, int] = ("", 0)
    updates: dict[str, npt.NDArray[np.float64]] = field(default_factory=dict)

    def post(self, task: Task, update: npt.NDArray[np.float64]) -> None:
        key = (task.run_id, task.round)
        if key != self.key:
            self.key, self.updates = key, {}
        self.updates[task.site] = update

    def honest(self, task: Task) -> npt.NDArray[np.float64]:
        """The round's honest updates stacked (one row per site); ValueError if none were posted."""
        if self.key != (task.run_id, task.round) or not self.updates:
            raise ValueError(f"no honest update of round {task.round} to attack from")
        return np.stack([self.updates[s] for s in sorted(self.updates)])


class HonestSite(Site):
    """A simulated honest site that posts its update to the board (for the omniscient attacker)."""

    def __init__(self, name: str, data: LocalData, trust: SiteTrust | None, board: RoundBoard) -> None:
        super().__init__(name, data, trust)
        self._board = board

    def _poisoned(self, task: Task, start: Arrays, trained: Arrays) -> Arrays:
        self._board.post(task, flatten(trained) - flatten(start))
        return trained


class AttackingSite(Site):
    """A simulated site that carries out `attack` from its `from_round` on; see the module docstring."""

    def __init__(
        self,
        name: str,
        data: LocalData,
        trust: SiteTrust | None,
        attack: AttackConfig,
        board: RoundBoard,
        num_sites: int,
        num_attackers: int,
    ) -> None:
        super().__init__(name, data, trust)
        self.attack, self._board = attack, board
        self._n, self._f = num_sites, num_attackers
        self._rng = np.random.default_rng(zlib.crc32(name.encode()))

    def _active(self, task: Task) -> bool:
        return task.round >= self.attack.from_round

    def _training_data(self, task: Task) -> tuple[npt.NDArray[np.float32], tuple[str, ...]]:
        x, y = self.data.train_x, self.data.train_y
        if not self._active(task) or self.attack.kind not in ("label_flip", "backdoor"):
            return x, y
        classes = read_str_list(task.config, "classes")
        if self.attack.kind == "label_flip":
            return x, flip_labels(y, classes)
        half = np.arange(len(y)) % 2 == 0
        poisoned = np.where(half.reshape(-1, *([1] * (x.ndim - 1))), apply_trigger(x, trigger_value(x)), x)
        target = classes[self.attack.target]
        return poisoned.astype(np.float32), tuple(
            target if h else lab for h, lab in zip(half, y, strict=True)
        )

    def _poisoned(self, task: Task, start: Arrays, trained: Arrays) -> Arrays:
        if not self._active(task):
            return trained
        kind, s = self.attack.kind, self.attack.scale
        w0 = flatten(start)
        delta = flatten(trained) - w0
        if kind == "sign_flip":
            out = w0 - (1.0 if s is None else s) * delta
        elif kind in ("scale", "backdoor"):
            out = w0 + (10.0 if s is None and kind == "scale" else (s or 1.0)) * delta
        elif kind == "gaussian":
            out = w0 + self._rng.normal(0.0, 1.0 if s is None else s, size=w0.shape)
        elif kind == "alie":
            honest = self._board.honest(task)
            z = alie_z(self._n, self._f) if s is None else s
            out = w0 + honest.mean(axis=0) - z * honest.std(axis=0)
        elif kind == "ipm":
            out = w0 - (0.5 if s is None else s) * self._board.honest(task).mean(axis=0)
        else:  # label_flip acts on the data only
            return trained
        return unflatten(out, start)


class AttackersLast:
    """A transport that sends the attackers' tasks after everyone else's (two exchanges), so the
    omniscient attackers see the honest updates of the same round; replies keep the tasks' order."""

    def __init__(self, inner: Transport, attackers: frozenset[str]) -> None:
        self._inner, self._attackers = inner, attackers

    @property
    def sites(self) -> Sequence[str]:
        return self._inner.sites

    def exchange(self, tasks: Sequence[Task], deadline_s: float | None) -> Mapping[str, Reply]:
        if not any(t.kind is TaskKind.FIT and t.site in self._attackers for t in tasks):
            return self._inner.exchange(tasks, deadline_s)
        honest = [t for t in tasks if t.site not in self._attackers]
        attacking = [t for t in tasks if t.site in self._attackers]
        replies = {**self._inner.exchange(honest, deadline_s), **self._inner.exchange(attacking, deadline_s)}
        return {t.site: replies[t.site] for t in tasks}

    def close(self) -> None:
        self._inner.close()


def simulated_sites(
    names_data: Sequence[tuple[str, LocalData]],
    trusts: Mapping[str, SiteTrust],
    attacks: Sequence[AttackConfig],
) -> tuple[list[Site], frozenset[str]]:
    """The simulation's sites (attackers where `attacks` says) and the attackers' names."""
    board = RoundBoard()
    by_site = {a.site: a for a in attacks}
    n = len(names_data)
    sites: list[Site] = []
    for name, data in names_data:
        trust = trusts.get(name)
        if name in by_site:
            sites.append(AttackingSite(name, data, trust, by_site[name], board, n, len(by_site)))
        elif attacks:
            sites.append(HonestSite(name, data, trust, board))
        else:
            sites.append(Site(name, data, trust))
    return sites, frozenset(by_site)
