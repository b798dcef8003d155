"""A site's local data as the site node sees it: feature arrays and string labels, train and test, and
the validation split a site carves from its training records for personalization (`with_validation`).

Document sites may also know who sent each page (`sender`, from labels.csv) and whose it is (`patient`):
the sender tuples say which test records come from a sender the site's own training records hold (seen)
and which do not (unseen); the patient keys are carried for the privacy unit. Both are empty when the
site's labels.csv has no such column, and always for tabular data.

Labels stay strings at the site; the coordinator sends the federation's class list with each task and
the site maps its labels onto it, so no site has to know another site's classes in advance.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

__all__ = ["LocalData", "encode_labels", "with_validation"]


@dataclass(frozen=True)
class LocalData:
    """`train_x`/`test_x` are float32: `[n, features]` for tabular data, `[n, 1, s, s]` for page images."""

    train_x: npt.NDArray[np.float32]
    train_y: tuple[str, ...]
    test_x: npt.NDArray[np.float32]
    test_y: tuple[str, ...]
    features: tuple[str, ...] = ()
    # held out of every training run (federation, fine-tuning, the site's own model) to choose between
    # them; empty unless personalization carved it (`with_validation`)
    val_x: npt.NDArray[np.float32] | None = None
    val_y: tuple[str, ...] = ()
    # per record, in the same order as the labels ("" an unknown sender); empty: no sender column
    train_senders: tuple[str, ...] = ()
    test_senders: tuple[str, ...] = ()
    val_senders: tuple[str, ...] = ()
    # per training record, the site-local patient key; empty: no patient column
    train_patients: tuple[str, ...] = ()
    val_patients: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name, values, labels in (
            ("train_senders", self.train_senders, self.train_y),
            ("test_senders", self.test_senders, self.test_y),
            ("val_senders", self.val_senders, self.val_y),
            ("train_patients", self.train_patients, self.train_y),
            ("val_patients", self.val_patients, self.val_y),
        ):
            if values and len(values) != len(labels):
                raise ValueError(f"{name}: {len(values)} entries for {len(labels)} records")

    @property
    def has_senders(self) -> bool:
        """Whether the site knows its test records' senders (its labels.csv has a sender column)."""
        return bool(self.test_senders)

    @property
    def seen_senders(self) -> frozenset[str]:
        """The known senders of every training record, the validation split included: a test record
        whose sender is here comes from a sender this hospital has already seen."""
        return frozenset(s for s in self.train_senders + self.val_senders if s)

    @property
    def standardizable(self) -> bool:
        """Tabular features get the federated standardization; images are normalized by the pipeline."""
        return self.train_x.ndim == 2

    @property
    def all_train(self) -> tuple[npt.NDArray[np.float32], tuple[str, ...]]:
        """Every training record, the validation split included (what a model refit after the choice and
        the simulation's baselines train on)."""
        if self.val_x is None or not self.val_y:
            return self.train_x, self.train_y
        return np.concatenate([self.train_x, self.val_x]), self.train_y + self.val_y


def with_validation(data: LocalData, fraction: float, seed: int, site: str) -> LocalData:
    """`data` with `fraction` of its training records moved to a validation split: stratified by label
    (each class with at least two records gives round(fraction * n), at least one, and keeps at least one
    for training), drawn by a generator seeded from `seed` and the site's name, so the split is the same
    in a simulation and in the deployed site."""
    labels = np.asarray(data.train_y)
    digest = int.from_bytes(hashlib.sha256(site.encode()).digest()[:8], "big")
    rng = np.random.default_rng([seed, digest])
    held: list[int] = []
    for label in sorted(set(data.train_y)):
        rows = np.flatnonzero(labels == label)
        if len(rows) < 2:
            continue
        take = min(max(1, round(fraction * len(rows))), len(rows) - 1)
        held.extend(int(i) for i in rng.permutation(rows)[:take])
    val = np.zeros(len(labels), dtype=bool)
    val[held] = True
    keep = np.flatnonzero(~val)
    out = np.flatnonzero(val)

    def pick(values: tuple[str, ...], rows: npt.NDArray[np.intp]) -> tuple[str, ...]:
        return tuple(values[i] for i in rows) if values else ()

    return replace(
        data,
        train_x=data.train_x[keep],
        train_y=pick(data.train_y, keep),
        val_x=data.train_x[out],
        val_y=pick(data.train_y, out),
        train_senders=pick(data.train_senders, keep),
        val_senders=pick(data.train_senders, out),
        train_patients=pick(data.train_patients, keep),
        val_patients=pick(data.train_patients, out),
    )


def encode_labels(labels: Sequence[str], classes: Sequence[str]) -> npt.NDArray[np.int64]:
    """Map string labels to class indices; a label outside `classes` is an error naming it."""
    index = {c: i for i, c in enumerate(classes)}
    try:
        return np.fromiter((index[label] for label in labels), dtype=np.int64, count=len(labels))
    except KeyError as exc:
        raise ValueError(f"label {exc.args[0]!r} is not one of the federation's classes") from None
