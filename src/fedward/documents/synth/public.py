"""The public pretraining corpus: synthetic pages of fictional hospitals and outside senders that no
federation the generator writes ever has, for training a base document model before federation begins.

Disjoint by construction, in two ways (tested in tests/unit/documents/test_synth_public.py):

- Names and identities. `PUBLIC_CAST` has its own hospitals (`PUBLIC_HOSPITALS`) and its own pool of
  outside senders (`PUBLIC_SENDER_NAMES`), none of whose slugs or display names is a federation's
  (`HOSPITAL_NAMES` and their `_2`, `_3`... forms, `SENDER_NAMES`); a printer's letterhead, address, web
  address and identifier formats derive from its name and its own seeded draws. `check_disjoint` refuses to
  generate otherwise (fail closed, should someone edit a list).
- Random draws. `PUBLIC_CAST` has the seed domain `PUBLIC_DOMAIN` (cast.py): every SeedSequence input of a
  public corpus has `PUBLIC_DOMAIN` as its second entropy word, where a federation's has a stream number,
  so no profile, style, template-variant, class-mix, exposure, sender, label or page draw of a public corpus
  starts from the same SeedSequence input as any federation's, for any pair of seeds. The one 32-bit value
  drawn per page (its Faker seed) can still coincide by chance (about pages^2 / 2**32); two pages then share
  fake patient details, never their layout, style or rendering draws.

What the public corpus does share with every federation is the generator's code: the eight document
classes, their three template variants, the style options and the eight scanner archetypes. That is the
generic knowledge of what such documents look like, which a public base model is meant to carry (Tramer &
Boneh 2021, "Differentially Private Learning Needs Better Features (or Much More Data)": features learned on
public data let a private model learn from few records).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from fedward.documents.synth.cast import Cast
from fedward.documents.synth.generate import SiteSummary, generate_federation
from fedward.documents.synth.hospitals import FEDERATION_HOSPITALS, HOSPITAL_NAMES, HospitalNames
from fedward.documents.synth.senders import SENDER_NAMES, SenderSettings

__all__ = [
    "PUBLIC_CAST",
    "PUBLIC_DOMAIN",
    "PUBLIC_HOSPITALS",
    "PUBLIC_SENDERS",
    "PUBLIC_SENDER_NAMES",
    "check_disjoint",
    "generate_public_corpus",
]

PUBLIC_DOMAIN = 0x50554231  # "PUB1": the public corpus's seed domain (cast.py)

PUBLIC_HOSPITALS = HospitalNames(
    slugs=(
        "ashford_teaching",
        "bellmont_county",
        "carrow_infirmary",
        "dunmore_medical",
        "elmridge_university",
        "foxhall_regional",
        "glenside_community",
        "harwick_general",
    ),
    display=(
        "Ashford Teaching Hospital",
        "Bellmont County Hospital",
        "Carrow Infirmary",
        "Dunmore Medical Center",
        "Elmridge University Hospital",
        "Foxhall Regional Hospital",
        "Glenside Community Hospital",
        "Harwick General Hospital",
    ),
    locales=("en_GB", "en_US", "en_GB", "en_US", "en_GB", "en_US", "en_US", "en_GB"),
)

PUBLIC_SENDER_NAMES: dict[str, tuple[str, ...]] = {
    "gp_practice": (
        "Abbey Road Surgery",
        "Kestrel Lane Medical Practice",
        "Thornbury Health Centre",
        "Valley View Family Practice",
        "Copperfield Group Practice",
        "Lindenwood Surgery",
    ),
    "insurer": (
        "Keystone Health Assurance",
        "Pinnacle Care Insurance",
        "Harbourside Mutual",
        "Evergreen Health Plan",
        "Summerset Insurance Group",
        "Landmark Health Cover",
    ),
    "laboratory": (
        "Vantage Clinical Laboratory",
        "Silverline Pathology",
        "Crossroads Diagnostics Lab",
        "Meadowgate Laboratories",
        "Ironbridge Reference Lab",
        "Bluewater Path Services",
    ),
    "imaging_centre": (
        "Horizon Imaging Centre",
        "Clearview Radiology",
        "Northfield Diagnostic Imaging",
        "Saltmarsh Scan Centre",
        "Kingfisher MRI and CT",
        "Brightwater Imaging",
    ),
    "clinic": (
        "Juniper Specialist Clinic",
        "Ravenswood Private Hospital",
        "Oakhurst Rehabilitation Centre",
        "Seaview Day Surgery",
        "Larchmont Cardiology Clinic",
        "Stonebridge Orthopaedic Centre",
    ),
}

PUBLIC_CAST = Cast(hospitals=PUBLIC_HOSPITALS, senders=PUBLIC_SENDER_NAMES, domain=PUBLIC_DOMAIN)

# Every sender of the public pool, each in all three form versions: the encoder sees many layouts.
PUBLIC_SENDERS = SenderSettings(per_kind=6, versions=3)


def _slug(display: str) -> str:
    return "_".join(display.lower().split())


def _federation_slug(slug: str) -> bool:
    """Whether `slug` is, or could be, a federation hospital's: a name of HOSPITAL_NAMES, or one with `_k`."""
    return any(re.fullmatch(rf"{re.escape(base)}(_\d+)?", slug) for base in HOSPITAL_NAMES)


def check_disjoint(sites: int) -> None:
    """Refuse (ValueError) a public corpus of `sites` hospitals that shares a hospital's or a sender's name
    with any federation the generator writes, whatever its number of hospitals."""
    hospitals = [PUBLIC_HOSPITALS.name(i) for i in range(sites)]
    displays = [PUBLIC_HOSPITALS.display_name(i) for i in range(sites)]
    senders = [n for names in PUBLIC_SENDER_NAMES.values() for n in names]
    taken = {_slug(n) for names in SENDER_NAMES.values() for n in names}
    clashes = [h for h in hospitals if _federation_slug(h)]
    clashes += [d for d in displays if any(d == b or d.startswith(f"{b} - Site ") for b in _DISPLAY_BASES)]
    clashes += [s for s in senders if _slug(s) in taken or _federation_slug(_slug(s))]
    if clashes:
        raise ValueError(f"the public corpus shares names with a federation's: {sorted(clashes)}")


_DISPLAY_BASES = FEDERATION_HOSPITALS.display


def generate_public_corpus(
    out: Path,
    sites: int,
    pages: int,
    seed: int,
    *,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> list[SiteSummary]:
    """Write a public corpus of `sites` hospitals x `pages` pages under `out`, laid out as a federation is
    (generate.py), with the public cast, its seed domain and its own sender pool (`PUBLIC_SENDERS`)."""
    check_disjoint(sites)
    return generate_federation(
        out, sites, pages, seed, workers=workers, progress=progress, senders=PUBLIC_SENDERS, cast=PUBLIC_CAST
    )
