"""Loading site data, with the checks a person needs before a run starts: every site's at once in a
simulation (`load_sites`), one site's own in a deployed site node (`load_site`), the same loader and
preprocessing either way.

All loading and validation happens before anything is written, so a bad file stops the run with a clear
error naming the site and file, and the run directory is never half written.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from fedward.config import FederationConfig, PrivacyUnit, SiteConfig
from fedward.core.canonical import canonical_bytes
from fedward.documents.dataset import (
    LABELS_FILE,
    DocumentSet,
    dataset_fingerprint,
    load_document_folder,
)
from fedward.documents.pipeline import Pipeline, PipelineSpec
from fedward.errors import ConfigError, DataError
from fedward.site.data import LocalData, with_validation
from fedward.tabular import load_table

__all__ = ["LoadedSite", "load_site", "load_sites", "pipeline_spec", "preprocessing_sha256"]


@dataclass(frozen=True)
class LoadedSite:
    name: str
    data: LocalData
    rejected: tuple[tuple[str, str], ...] = ()  # (file, reason) of pages the preprocessing refused
    fingerprint: str = ""  # hash of the file names and sizes (never content), for update manifests
    # (file, reason) of listed files that could not be read at all (broken, truncated, encrypted)
    unreadable: tuple[tuple[str, str], ...] = ()


def pipeline_spec(cfg: FederationConfig) -> PipelineSpec:
    """The `[data]` preprocessing steps of a documents federation, as a hashable spec."""
    d = cfg.data
    return PipelineSpec(
        min_dpi=d.min_dpi, image_size=d.image_size, correct_orientation=d.correct_orientation, deskew=d.deskew
    )


def preprocessing_sha256(cfg: FederationConfig) -> str | None:
    """The hash of the preprocessing a site's update manifest names; None for tabular data."""
    return pipeline_spec(cfg).sha256() if cfg.federation.task == "documents" else None


def load_sites(cfg: FederationConfig, progress: Callable[[str], None] | None = None) -> list[LoadedSite]:
    loader = _load_documents if cfg.federation.task == "documents" else _load_tabular
    sites = []
    for site in cfg.sites:
        if progress is not None:
            progress(site.name)
        sites.append(_validation_split(cfg, _check_patients(cfg, site, loader(cfg, site))))
    _check_federation(cfg, sites)
    return sites


def load_site(cfg: FederationConfig, name: str) -> LoadedSite:
    """One site's data, as its own node loads it in a deployment (the checks across sites are the
    coordinator's, from what the sites describe)."""
    site = next((s for s in cfg.sites if s.name == name), None)
    if site is None:
        raise DataError(f"site {name!r} is not one of the federation's [[sites]]")
    loader = _load_documents if cfg.federation.task == "documents" else _load_tabular
    loaded = _validation_split(cfg, _check_patients(cfg, site, loader(cfg, site)))
    if len(loaded.data.train_y) == 0:
        raise DataError(f"site {name}: no usable training rows", where=site.train)
    if len(loaded.data.test_y) == 0:
        raise DataError(f"site {name}: no usable test rows", where=site.test)
    return loaded


def _check_patients(cfg: FederationConfig, site: SiteConfig, loaded: LoadedSite) -> LoadedSite:
    """`[privacy] unit = "patient"` bounds each patient's influence, so every site must say which
    patient each training record belongs to."""
    if cfg.privacy.unit != PrivacyUnit.PATIENT or loaded.data.train_patients:
        return loaded
    hint = (
        "add a 'patient' column to labels.csv"
        if cfg.federation.task == "documents"
        else "set [data] patient_column to the column holding each row's patient key"
    )
    raise DataError(
        f"site {site.name}: [privacy] unit = 'patient' but its training data names no patients",
        where=site.train,
        hint=f"{hint}, or set [privacy] unit = 'record'",
    )


def _validation_split(cfg: FederationConfig, loaded: LoadedSite) -> LoadedSite:
    """With `[personalization]` on, the site's validation split is carved here, before any training, so
    the federation never trains on the records that later choose between the models."""
    p = cfg.personalization
    if not p.enabled:
        return loaded
    data = with_validation(loaded.data, p.validation_fraction, cfg.federation.seed, loaded.name)
    return replace(loaded, data=data)


def _load_tabular(cfg: FederationConfig, site: SiteConfig) -> LoadedSite:
    d = cfg.data
    try:
        train = load_table(site.train, d.label, d.patient_column, d.missing)
        test = load_table(site.test, d.label, d.patient_column, d.missing)
    except DataError as exc:  # name the site as well as the file, line and column
        raise DataError(f"{exc} (site {site.name})", where=exc.where, hint=exc.hint) from None
    if test.features != train.features:
        raise DataError(
            f"site {site.name}: test columns {list(test.features)} differ from train columns "
            f"{list(train.features)}",
            where=site.test,
        )
    fingerprint = _fingerprint({"train": _file_size(site.train), "test": _file_size(site.test)})
    data = LocalData(train.x, train.y, test.x, test.y, train.features, train_patients=train.patients)
    return LoadedSite(site.name, data, (), fingerprint)


def _load_documents(cfg: FederationConfig, site: SiteConfig) -> LoadedSite:
    pipeline = Pipeline(pipeline_spec(cfg))
    train = load_document_folder(site.train, pipeline, workers=cfg.data.workers)
    test = load_document_folder(site.test, pipeline, workers=cfg.data.workers)
    rejected = tuple(
        (_page_name(split, r.file, r.page, multi), r.reason)
        for split, loaded in (("train", train), ("test", test))
        for r in loaded.rejected
        for multi in [_multi_page(loaded, r.file)]
    )
    unreadable = tuple(
        (f"{split}/{u.file}", u.reason)
        for split, loaded in (("train", train), ("test", test))
        for u in loaded.unreadable
    )
    if bool(train.senders) != bool(test.senders):
        has, lacks = (site.test, site.train) if test.senders else (site.train, site.test)
        raise DataError(
            f"site {site.name}: {has / LABELS_FILE} has a sender column and {lacks / LABELS_FILE} has not",
            where=lacks / LABELS_FILE,
            hint="give both splits a sender column (empty cells for unknown senders), or neither",
        )
    data = LocalData(
        train.images.astype(np.float32, copy=False),
        train.labels,
        test.images.astype(np.float32, copy=False),
        test.labels,
        train_senders=train.senders,
        test_senders=test.senders,
        train_patients=train.patients,
        test_quality=test.quality,
    )
    fingerprint = _fingerprint(
        {"train": dataset_fingerprint(site.train), "test": dataset_fingerprint(site.test)}
    )
    return LoadedSite(site.name, data, rejected, fingerprint, unreadable)


def _multi_page(loaded: DocumentSet, file: str) -> bool:
    return any(r.file == file and r.page > 1 for r in loaded.rejected) or any(
        f == file and p > 1 for f, p in zip(loaded.files, loaded.pages, strict=True)
    )


def _page_name(split: str, file: str, page: int, multi: bool) -> str:
    """`split/file`, with `#page=N` for a page of a multi-page file (the PDF fragment convention)."""
    return f"{split}/{file}#page={page}" if multi else f"{split}/{file}"


def _file_size(path: Path) -> list[str | int]:
    return [path.name, path.stat().st_size]


def _fingerprint(parts: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_bytes(parts)).hexdigest()


def _check_federation(cfg: FederationConfig, sites: list[LoadedSite]) -> None:
    """Same columns everywhere, every site non-empty, and test sets larger than the class count."""
    by_name = {s.name: s for s in cfg.sites}
    first = sites[0]
    classes = set().union(*(set(s.data.train_y) | set(s.data.test_y) for s in sites))
    if len(classes) < 2:
        raise DataError(
            f"the sites' data has {len(classes)} class(es) in total; at least 2 are needed",
            where=by_name[first.name].train,
            hint=f"is [data] label = {cfg.data.label!r} right?",
        )
    _check_tiers(cfg, classes)
    for s in sites:
        paths = by_name[s.name]
        # under [data] missing = "impute" the union of the sites' columns is the feature set
        if s.data.features != first.data.features and cfg.data.missing != "impute":
            raise DataError(
                f"site {s.name}: columns differ from site {first.name}'s",
                where=paths.train,
                hint="every site's CSV must have the same columns in the same order, or set "
                '[data] missing = "impute" (a column a site lacks is then missing in all its rows)',
            )
        if len(s.data.train_y) == 0:
            raise DataError(f"site {s.name}: no usable training rows", where=paths.train)
        if len(s.data.test_y) < len(classes):
            raise DataError(
                f"site {s.name}: {len(s.data.test_y)} test rows, fewer than the {len(classes)} classes",
                where=paths.test,
                hint="give every site a test set larger than the number of classes",
            )


def _check_tiers(cfg: FederationConfig, classes: set[str]) -> None:
    """Every class `[validation] tiers` names must be one of the sites' classes: a misspelt class would
    leave its tier silently empty."""
    for tier, names in cfg.validation.tiers.items():
        unknown = sorted(set(names) - classes)
        if unknown:
            raise ConfigError(
                f"[validation] 'tiers.{tier}': {', '.join(map(repr, unknown))} is not a class of any "
                "site's data",
                where="[validation] tiers",
                hint=f"the classes are: {', '.join(sorted(classes))}",
            )
