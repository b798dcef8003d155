"""The shared pool of outside senders: GP practices, insurers, laboratories, imaging centres and clinics.

Much of what a hospital scans was written elsewhere: GP referral letters and prescriptions, insurers' claim
forms, outside laboratories' and imaging centres' reports, other clinics' discharge summaries. Every
hospital of a federation draws on the same pool of such senders, each with its own house style (letterhead,
fonts, identifier formats, template variants) drawn from the seed, and each sending only the document
classes it writes. A sender's form versions are redesigns: a later version prints some of its classes with
another template variant and restyles headings, tables and patient blocks, keeping the letterhead (the
brand). This is what other hospitals may already have seen when a sender is new to one of them, the
situation where federation helps a hospital (Kairouz et al. 2021, "Advances and Open Problems in Federated
Learning", section 3.1: feature shift across clients and over time).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from fedward.documents.synth.classes import DOCUMENT_CLASSES, TEMPLATE_VARIANTS
from fedward.documents.synth.hospitals import (
    HospitalProfile,
    ScannerProfile,
    draw_identity,
    draw_style,
    style_permutations,
)

__all__ = ["SENDER_KINDS", "SENDER_NAMES", "Sender", "SenderSettings", "make_pool", "received"]

_POOL_STREAM = 3

# What each kind of outside sender writes, and the fictional names of a federation's senders of that kind.
SENDER_KINDS: dict[str, tuple[str, ...]] = {
    "gp_practice": ("referral_letter", "prescription"),
    "insurer": ("insurance_claim",),
    "laboratory": ("lab_report", "pathology_report"),
    "imaging_centre": ("radiology_report",),
    "clinic": ("discharge_summary", "referral_letter"),
}
SENDER_NAMES: dict[str, tuple[str, ...]] = {
    "gp_practice": (
        "Oakfield Surgery",
        "Millbrook Medical Practice",
        "Harbour Family Practice",
        "Elm Street Health Centre",
        "Brookside Family Medicine",
        "Ashdown Group Practice",
    ),
    "insurer": (
        "Meridian Health Insurance",
        "Crestline Assurance",
        "Beacon Mutual Health",
        "Northstar Health Plan",
        "Tidewater Insurance Group",
        "Unity Care Plan",
    ),
    "laboratory": (
        "Apex Diagnostics Laboratory",
        "Clearwater Pathology Services",
        "Sterling Clinical Labs",
        "Quarry Hill Laboratories",
        "Bayside Reference Laboratory",
        "Granite Path Lab",
    ),
    "imaging_centre": (
        "Summit Imaging Centre",
        "Lighthouse Radiology",
        "Parkway Diagnostic Imaging",
        "Orchard Scan Clinic",
        "Beaconsfield MRI and CT",
        "Riverbend Imaging",
    ),
    "clinic": (
        "Cedar Grove Specialist Clinic",
        "Fernhill Private Hospital",
        "Willow Bank Rehabilitation Centre",
        "Redcliffe Day Surgery",
        "Moorland Cardiology Clinic",
        "Highfield Orthopaedic Centre",
    ),
}
_LOCALES = ("en_GB", "en_US")
_RESTYLED = ("heading_style", "table_style", "patient_block")


@dataclass(frozen=True)
class SenderSettings:
    """How a federation's hospitals receive pages from the shared pool of outside senders.

    - `per_kind`: senders of each kind in the pool (at most 6);
    - `versions`: form versions per sender (1: senders never redesign their forms);
    - `outside_share`: chance that a page of a class outside senders write came from outside;
    - `alpha`: Dirichlet concentration of a hospital's exposure to the senders (smaller: more skewed);
    - `absent_rate`: chance that a sender never sends to a given hospital;
    - `arriving_rate`: chance that a sender present at a hospital starts sending only in its test period
      (a new referral or contract relationship);
    - `arrival_boost`: weight multiplier of newly arrived senders in the test period (new relationships
      start busy);
    - `rollout_end`: a sender's next form version reaches each hospital at a time uniform in
      (0.1, `rollout_end`) on the hospital's timeline, where training covers [0, 1 - test share) and the
      test split the rest; beyond 1 means some hospitals never see the new version.
    """

    per_kind: int = 4
    versions: int = 2
    outside_share: float = 0.75
    alpha: float = 0.5
    absent_rate: float = 0.25
    arriving_rate: float = 0.5
    arrival_boost: float = 4.0
    rollout_end: float = 1.5

    def __post_init__(self) -> None:
        """Reject settings that cannot describe a pool (ValueError naming the setting)."""
        _check_int("per_kind", self.per_kind, 1, min(len(n) for n in SENDER_NAMES.values()))
        _check_int("versions", self.versions, 1, TEMPLATE_VARIANTS)
        for name in ("outside_share", "absent_rate", "arriving_rate"):
            _check_range(name, getattr(self, name), 0.0, 1.0)
        for name in ("alpha", "arrival_boost", "rollout_end"):
            _check_range(name, getattr(self, name), 1e-6, math.inf)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _check_int(name: str, value: int, low: int, high: int) -> None:
    if not (isinstance(value, int) and low <= value <= high):
        raise ValueError(f"senders.{name} must be an integer from {low} to {high}, got {value!r}")


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and low <= value <= high):
        raise ValueError(f"senders.{name} must be a finite number from {low:g} to {high:g}, got {value!r}")


@dataclass(frozen=True)
class Sender:
    """One outside sender: a slug, its kind, the classes it writes, and one print identity per form
    version (a `HospitalProfile` whose scanner and people's-marks rates are placeholders: the receiving
    hospital's replace them, see `received`)."""

    name: str
    kind: str
    classes: tuple[str, ...]
    versions: tuple[HospitalProfile, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "classes": list(self.classes),
            "versions": [_identity_json(v) for v in self.versions],
        }


def _identity_json(profile: HospitalProfile) -> dict[str, Any]:
    """A version's print identity as JSON, without the placeholder fields."""
    data = profile.to_json()
    for key in ("class_mix", "stamp_rate", "handwriting_rate", "scanner"):
        data.pop(key)
    return data


def make_pool(
    seed: int, settings: SenderSettings, names_by_kind: Mapping[str, tuple[str, ...]] = SENDER_NAMES
) -> tuple[Sender, ...]:
    """The pool of outside senders for one seed: `per_kind` senders of every kind, drawn from
    `names_by_kind` (a public pretraining corpus has its own names, documents/synth/public.py)."""
    root = np.random.default_rng(np.random.SeedSequence([seed, _POOL_STREAM]))
    perms = style_permutations(root)
    pool: list[Sender] = []
    for kind, classes in SENDER_KINDS.items():
        names = names_by_kind[kind]
        for i in root.permutation(len(names))[: settings.per_kind]:
            rng = np.random.default_rng(np.random.SeedSequence([seed, _POOL_STREAM, len(pool) + 1]))
            first = _first_version(names[int(i)], classes, perms, len(pool), rng)
            versions = [first]
            for _ in range(settings.versions - 1):
                versions.append(_redesign(versions[-1], classes, perms, rng))
            pool.append(Sender(_slug(names[int(i)]), kind, classes, tuple(versions)))
    return tuple(pool)


def _slug(display: str) -> str:
    return "_".join(display.lower().split())


def _first_version(
    display: str,
    classes: tuple[str, ...],
    perms: dict[str, np.ndarray[Any, Any]],
    index: int,
    rng: np.random.Generator,
) -> HospitalProfile:
    """A sender's house style, drawn like a hospital's (so senders differ from each other the same way)."""
    locale = _LOCALES[int(rng.integers(len(_LOCALES)))]
    prefix = "".join(w[0] for w in display.split()[:3]).upper()
    return HospitalProfile(
        name=_slug(display),
        display_name=display,
        locale=locale,
        paper="a4" if locale == "en_GB" else "letter",
        **draw_style(perms, index, rng),
        **draw_identity(_slug(display), locale, prefix, perms, index, rng),
        form_prefix=prefix,
        variants=tuple(int(v) for v in rng.integers(0, TEMPLATE_VARIANTS, len(DOCUMENT_CLASSES))),
        class_mix=tuple(1.0 / len(classes) if c in classes else 0.0 for c in DOCUMENT_CLASSES),
        stamp_rate=0.0,
        handwriting_rate=0.0,
        scanner=ScannerProfile("placeholder", 100),
    )


def _redesign(
    previous: HospitalProfile,
    classes: tuple[str, ...],
    perms: dict[str, np.ndarray[Any, Any]],
    rng: np.random.Generator,
) -> HospitalProfile:
    """The next form version: every class the sender writes moves to another template variant, and the
    headings, tables and patient block are restyled; the letterhead and identity stay."""
    variants = list(previous.variants)
    for c in classes:
        k = DOCUMENT_CLASSES.index(c)
        variants[k] = (variants[k] + 1 + int(rng.integers(TEMPLATE_VARIANTS - 1))) % TEMPLATE_VARIANTS
    restyled = draw_style(perms, int(rng.integers(1, 1000)), rng)
    return dataclasses.replace(
        previous, variants=tuple(variants), **{key: restyled[key] for key in _RESTYLED}
    )


def received(version: HospitalProfile, hospital: HospitalProfile) -> HospitalProfile:
    """How a sender's page looks once it reaches `hospital`: the sender's print identity, captured by the
    hospital's scanner and stamped and annotated by the hospital's staff."""
    return dataclasses.replace(
        version,
        scanner=hospital.scanner,
        stamp_rate=hospital.stamp_rate,
        handwriting_rate=hospital.handwriting_rate,
    )
