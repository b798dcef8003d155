"""The personalization step, after the last round: every admitted site is sent the final global model
and the run's initial model, fine-tunes and trains its own, and answers with figures only.

What comes back per site (site/node.py `_personalize`): test confusion counts per candidate it shares
(global, personalized, local), their validation scores, the epochs each kept, and the model it
recommends. The personalized and local models never leave the site. A site that fails or shares only
the global model's figures (differential privacy with its own policy) is recorded as such; the run does
not fail for it. Pooled figures per candidate come from the sum of the shared confusion matrices.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from fedward.core.arrays import Arrays, arrays_from_bytes, arrays_to_bytes
from fedward.core.messages import JSONValue, Reply, Task, TaskKind
from fedward.core.metrics import metrics_from_confusion
from fedward.settings import PersonalizeSettings, TrainSettings

__all__ = ["PersonalizationResult", "SitePersonalization", "personalization_tasks", "read_replies"]

ARMS = ("global", "personalized", "local")


@dataclass(frozen=True)
class SitePersonalization:
    test: dict[str, dict[str, float]]  # per candidate the site shared: its test figures
    validation: dict[str, dict[str, float]]
    epochs: dict[str, int]
    recommended: str | None  # None: the site kept its choice to itself
    n_validation: int
    confusion: dict[str, npt.NDArray[np.int64]]


@dataclass
class PersonalizationResult:
    sites: dict[str, SitePersonalization] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)

    def pooled(self, arm: str, classes: Sequence[str]) -> dict[str, float]:
        """Figures of one candidate over the test records of every site that shared it."""
        cms = [s.confusion[arm] for s in self.sites.values() if arm in s.confusion]
        if not cms:
            return {}
        return metrics_from_confusion(np.sum(cms, axis=0), classes)


def personalization_tasks(
    run_id: str,
    rnd: int,
    sites: Sequence[str],
    model_bytes: bytes,
    config: Mapping[str, JSONValue],
    per_site: Mapping[str, Mapping[str, JSONValue]],
    context: bytes,
    initial: Arrays,
    train: TrainSettings,
    settings: PersonalizeSettings,
) -> list[Task]:
    """One PERSONALIZE task per site: the final model, the run's shared config with the training and
    personalization settings, and a context holding the standardization and the initial model."""
    scale = arrays_from_bytes(context) if context else {}
    ctx = arrays_to_bytes({**scale, **{f"init/{k}": v for k, v in initial.items()}})
    shared = {**config, **train.to_config(), **TrainSettings.seed_config(train.seed), **settings.to_config()}
    return [
        Task(run_id, rnd, s, TaskKind.PERSONALIZE, model_bytes, {**shared, **per_site[s]}, ctx) for s in sites
    ]


def read_replies(replies: Mapping[str, Reply], classes: Sequence[str]) -> PersonalizationResult:
    """Each site's reply, checked: a failed reply or malformed figures are that site's failure."""
    out = PersonalizationResult()
    for site, reply in replies.items():
        if not reply.ok:
            out.failures[site] = reply.error or reply.status
            continue
        try:
            out.sites[site] = _site(reply, len(classes))
        except (ValueError, KeyError, TypeError) as exc:
            out.failures[site] = f"unusable personalization reply: {exc}"
    return out


def _site(reply: Reply, k: int) -> SitePersonalization:
    info = reply.info
    arrays = arrays_from_bytes(reply.parameters, dtype=np.float64)
    confusion: dict[str, npt.NDArray[np.int64]] = {}
    for arm, cm in arrays.items():
        if arm not in ARMS or cm.shape != (k, k) or (cm < 0).any() or not np.all(cm == np.round(cm)):
            raise ValueError(f"confusion {arm!r} is not a {k}x{k} count matrix of a known candidate")
        confusion[arm] = cm.astype(np.int64)
    test, validation, epochs = _figures(info, "test"), _figures(info, "validation"), _figures(info, "epochs")
    if "global" not in confusion or not set(test) == set(validation) == set(epochs) == set(confusion):
        raise ValueError("figures and confusion counts name different candidates")
    recommended = info.get("recommended")
    if recommended is not None and recommended not in confusion:
        raise ValueError(f"recommends {recommended!r}, not one of the candidates it reported")
    n_val = info.get("n_validation")
    if not isinstance(n_val, int) or isinstance(n_val, bool) or n_val < 0:
        raise ValueError("n_validation must be a count")
    return SitePersonalization(
        test,
        validation,
        {a: _count(f"epochs/{a}", e[""]) for a, e in epochs.items()},
        recommended if isinstance(recommended, str) else None,
        n_val,
        confusion,
    )


def _figures(info: Mapping[str, JSONValue], prefix: str) -> dict[str, dict[str, float]]:
    """The `prefix/ARM/FIGURE` keys of a reply's info as {arm: {figure: value}} (`prefix/ARM`: figure
    "")."""
    out: dict[str, dict[str, float]] = {}
    for key, value in info.items():
        head, _, rest = key.partition("/")
        if head != prefix:
            continue
        arm, _, figure = rest.partition("/")
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f"{key} must be a finite number")
        out.setdefault(arm, {})[figure] = float(value)
    return out


def _count(key: str, value: float) -> int:
    if value < 0 or value != int(value):
        raise ValueError(f"{key} must be a count")
    return int(value)
