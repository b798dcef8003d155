"""Per-hospital profiles: house style, patient identifiers, document mix and scanner, drawn from a seed.

The synthetic federation is useful only if its sites differ the way real hospitals do (label skew and
feature shift, Kairouz et al. 2021, "Advances and Open Problems in Federated Learning", section 3.1).
Each hospital gets a scanner archetype fixed by its index (so any federation mixes clean office scans,
fax gateways, sloppy flatbeds, JPEG sheet feeders), and house-style attributes (fonts, letterhead, heading
and table styles, margins, identifier formats, template variants, class mix) drawn from the seed, spread
by seeded permutations so that neighbouring hospitals never share everything.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
from faker import Faker

from fedward.documents.synth.classes import DOCUMENT_CLASSES, TEMPLATE_VARIANTS

__all__ = [
    "FEDERATION_HOSPITALS",
    "HOSPITAL_NAMES",
    "HospitalNames",
    "HospitalProfile",
    "ScannerProfile",
    "draw_identity",
    "draw_style",
    "hospital_name",
    "make_profiles",
    "style_permutations",
]

HOSPITAL_NAMES: tuple[str, ...] = (
    "st_marys",
    "northgate",
    "riverside",
    "kingsbridge",
    "lakeview",
    "hillcrest",
    "westmoor",
    "eastbay",
)
_DISPLAY = (
    "St Mary's Hospital",
    "Northgate Medical Center",
    "Riverside General Hospital",
    "Kingsbridge Royal Infirmary",
    "Lakeview Community Hospital",
    "Hillcrest Health",
    "Westmoor University Hospital",
    "Eastbay Regional Medical Center",
)
_LOCALE = ("en_GB", "en_US", "en_US", "en_GB", "en_US", "en_US", "en_GB", "en_US")
_PROFILE_STREAM = 0


@dataclass(frozen=True)
class ScannerProfile:
    """How a hospital's pages are captured: resolution, geometry, degradations and file format.
    The defaults describe a clean, straight office scan saved as PNG."""

    kind: str
    dpi: int
    format: str = "png"  # "png" or "jpeg"
    jpeg_quality: int = 0
    low_dpi: int = 0  # resolution of the occasional low-resolution (fax-mode) page
    low_dpi_rate: float = 0.0
    skew_sd: float = 0.5  # degrees; the skew is normal(0, skew_sd) clipped to +-10
    orientation_rate: float = 0.0  # share of pages turned by 90, 180 or 270 degrees
    blur: float = 0.0  # Gaussian radius in pixels (0: none)
    noise: int = 0  # amplitude of uniform sensor noise, in grey levels
    binarize: str = "none"  # "none", "threshold" or "dither"
    threshold: int = 0
    background_cut: int = 256  # grey levels above this become white (background suppression; 256: off)
    paper_grey: int = 255
    bed_grey: int = 255  # what shows where the skewed page leaves the scanner bed uncovered
    contrast: float = 1.0  # 1.0: full; less squeezes tones toward mid grey (worn copier)
    shading: float = 0.0  # strength of uneven illumination
    speckle: float = 0.0  # mean number of dust specks per page
    streaks: int = 0  # most vertical streaks per page


# One archetype per hospital index: together they span what a real federation's sites send.
# fmt: off
_SCANNERS = (
    ScannerProfile("office_mfp", 150, skew_sd=0.6, noise=6, background_cut=228, paper_grey=250, bed_grey=250,
                   speckle=2),
    ScannerProfile("fax_gateway", 100, low_dpi=72, low_dpi_rate=0.05, skew_sd=1.2, orientation_rate=0.01,
                   blur=0.6, noise=30, binarize="threshold", threshold=150, speckle=30, streaks=1),
    ScannerProfile("sheetfed_jpeg", 120, "jpeg", 38, skew_sd=2.0, orientation_rate=0.03, blur=0.7, noise=10,
                   paper_grey=242, bed_grey=45, shading=0.05, speckle=5),
    ScannerProfile("sloppy_flatbed", 150, "jpeg", 70, skew_sd=3.5, orientation_rate=0.04, noise=5,
                   paper_grey=246, bed_grey=90, contrast=0.95, shading=0.12, speckle=3),
    ScannerProfile("dither_fax", 100, low_dpi=66, low_dpi_rate=0.04, skew_sd=1.5, orientation_rate=0.01,
                   noise=12, binarize="dither", background_cut=215, speckle=15),
    ScannerProfile("digital_export", 150, skew_sd=0.1),
    ScannerProfile("old_copier", 120, "jpeg", 55, skew_sd=1.5, blur=1.0, noise=14, paper_grey=226,
                   bed_grey=200, contrast=0.8, shading=0.08, speckle=8, streaks=3),
    ScannerProfile("phone_capture", 100, "jpeg", 32, skew_sd=3.0, orientation_rate=0.02, blur=0.8, noise=8,
                   paper_grey=236, bed_grey=120, contrast=0.95, shading=0.2, speckle=2),
)
# fmt: on

_FONTS = (
    "dejavu_sans",
    "dejavu_serif",
    "stix",
    "computer_modern",
    "computer_modern_sans",
    "typewriter",
    "dejavu_sans",
    "dejavu_serif",
)
_HEAD_FONTS = ("dejavu_sans", "dejavu_serif", "stix", "computer_modern")
_LETTERHEADS = ("band", "logo_left", "centered", "split")
_LOGOS = ("cross", "circle_cross", "shield", "diamond", "leaf", "waves", "square_h", "star")
_HEADINGS = ("bar", "underline", "caps", "boxed")
_TABLES = ("grid", "zebra", "rules")
_PATIENT_BLOCKS = ("sticker", "inline", "table")
_MARGINS = (40.0, 50.0, 58.0, 66.0, 74.0)
_MRN = (
    "{P}#######",
    "{P}-###-###-#",
    "##########",
    "####-####-##",
    "{P}/######/?",
    "M########",
    "######-{P}?",
    "1########",
)
_NAME_FORMATS = ("last_first", "first_last", "upper_last_first", "title_first_last")
_DATES = {"en_US": ("%m/%d/%Y", "%b %d, %Y", "%Y-%m-%d"), "en_GB": ("%d/%m/%Y", "%d %b %Y", "%d.%m.%Y")}
_PHONES = {
    "en_US": ("(###) ###-####", "###-###-####", "###.###.####"),
    "en_GB": ("0#### ######", "0### ### ####", "+44 #### ######"),
}


@dataclass(frozen=True)
class HospitalProfile:
    """Everything that makes one hospital's pages look like that hospital's."""

    name: str
    display_name: str
    locale: str
    paper: str  # "letter" or "a4"
    body_font: str
    heading_font: str
    body_pt: float
    leading: float
    margin_pt: float
    letterhead: str
    logo: str
    heading_style: str
    table_style: str
    patient_block: str
    accent_grey: int
    shade_grey: int
    ink_grey: int
    date_format: str
    name_format: str
    mrn_format: str
    phone_format: str
    street: str
    city_line: str
    phone: str
    web: str
    form_prefix: str
    variants: tuple[int, ...]  # template variant per class, in DOCUMENT_CLASSES order
    class_mix: tuple[float, ...]  # expected class shares, in DOCUMENT_CLASSES order
    stamp_rate: float
    handwriting_rate: float
    scanner: ScannerProfile

    def to_json(self) -> dict[str, Any]:
        """The profile as plain JSON data (class-indexed tuples become dicts keyed by class)."""
        data = dataclasses.asdict(self)
        data["variants"] = dict(zip(DOCUMENT_CLASSES, self.variants, strict=True))
        data["class_mix"] = {c: round(p, 6) for c, p in zip(DOCUMENT_CLASSES, self.class_mix, strict=True)}
        return data

    def summary(self) -> dict[str, Any]:
        """The few facts a person wants in a one-line description of the site's data."""
        s = self.scanner
        return {
            "display_name": self.display_name,
            "paper": self.paper,
            "scanner": s.kind,
            "dpi": s.dpi,
            "format": s.format,
            "skew_sd": s.skew_sd,
            "orientation_rate": s.orientation_rate,
            "low_dpi_rate": s.low_dpi_rate,
            "binarize": s.binarize,
            "body_font": self.body_font,
        }


@dataclass(frozen=True)
class HospitalNames:
    """The hospitals a generator draws, by index: slug, display name and locale of entry `index mod n`; past
    the n entries the slugs get `_2`, `_3`... and the display names ` - Site 2`, ` - Site 3`..."""

    slugs: tuple[str, ...]
    display: tuple[str, ...]
    locales: tuple[str, ...]

    def name(self, index: int) -> str:
        base = self.slugs[index % len(self.slugs)]
        round_ = index // len(self.slugs)
        return base if round_ == 0 else f"{base}_{round_ + 1}"

    def display_name(self, index: int) -> str:
        base = self.display[index % len(self.display)]
        return base if index < len(self.display) else f"{base} - Site {index // len(self.display) + 1}"

    def locale(self, index: int) -> str:
        return self.locales[index % len(self.locales)]


FEDERATION_HOSPITALS = HospitalNames(HOSPITAL_NAMES, _DISPLAY, _LOCALE)


def hospital_name(index: int) -> str:
    """The slug of hospital `index`: the eight names, then `<name>_2`, `<name>_3`... for more sites."""
    return FEDERATION_HOSPITALS.name(index)


def make_profiles(
    seed: int, sites: int, hospitals: HospitalNames = FEDERATION_HOSPITALS
) -> list[HospitalProfile]:
    """Draw the profiles of `sites` hospitals for one seed (same seed, same profiles); `hospitals` names
    them (a public pretraining corpus has its own, documents/synth/public.py)."""
    root = np.random.default_rng(np.random.SeedSequence([seed, _PROFILE_STREAM]))
    perms = style_permutations(root)
    return [_profile(seed, i, perms, hospitals) for i in range(sites)]


def style_permutations(rng: np.random.Generator) -> dict[str, np.ndarray[Any, Any]]:
    """One seeded permutation per style attribute: printers with consecutive indices that pick through the
    same permutations never share an option (hospitals use one set, outside senders another)."""
    return {key: rng.permutation(len(options)) for key, options in _STYLE_OPTIONS.items()}


_STYLE_OPTIONS: dict[str, tuple[str, ...] | tuple[float, ...]] = {
    "font": _FONTS,
    "head": _HEAD_FONTS,
    "letterhead": _LETTERHEADS,
    "logo": _LOGOS,
    "heading": _HEADINGS,
    "table": _TABLES,
    "block": _PATIENT_BLOCKS,
    "margin": _MARGINS,
    "mrn": _MRN,
    "name": _NAME_FORMATS,
}


def _pick(perms: dict[str, np.ndarray[Any, Any]], key: str, index: int) -> Any:
    """Hospital `index`'s option for one style attribute: consecutive hospitals get distinct options."""
    options = _STYLE_OPTIONS[key]
    return options[int(perms[key][index % len(options)])]


def _profile(
    seed: int, index: int, perms: dict[str, np.ndarray[Any, Any]], hospitals: HospitalNames
) -> HospitalProfile:
    """One hospital's profile from its own seeded stream."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, _PROFILE_STREAM, index + 1]))
    locale, name, display = hospitals.locale(index), hospitals.name(index), hospitals.display_name(index)
    prefix = "".join(w[0] for w in display.replace("'", "").split()[:3]).upper()
    return HospitalProfile(
        name=name,
        display_name=display,
        locale=locale,
        paper="a4" if locale == "en_GB" else "letter",
        **draw_style(perms, index, rng),
        **draw_identity(name, locale, prefix, perms, index, rng),
        form_prefix=prefix,
        variants=tuple(int(v) for v in rng.integers(0, TEMPLATE_VARIANTS, len(DOCUMENT_CLASSES))),
        class_mix=tuple(float(p) for p in rng.dirichlet(np.full(len(DOCUMENT_CLASSES), 1.3))),
        stamp_rate=round(float(rng.uniform(0.05, 0.45)), 2),
        handwriting_rate=round(float(rng.uniform(0.05, 0.5)), 2),
        scanner=_jitter(_SCANNERS[index % len(_SCANNERS)], rng),
    )


def draw_style(
    perms: dict[str, np.ndarray[Any, Any]], index: int, rng: np.random.Generator
) -> dict[str, Any]:
    """The house style of printer `index`: fonts, sizes, margins, letterhead, headings, tables, tones."""
    return {
        "body_font": _pick(perms, "font", index),
        "heading_font": _pick(perms, "head", index),
        "body_pt": round(float(rng.uniform(8.5, 10.8)), 1),
        "leading": round(float(rng.uniform(1.2, 1.5)), 2),
        "margin_pt": _pick(perms, "margin", index),
        "letterhead": _pick(perms, "letterhead", index),
        "logo": _pick(perms, "logo", index),
        "heading_style": _pick(perms, "heading", index),
        "table_style": _pick(perms, "table", index),
        "patient_block": _pick(perms, "block", index),
        "accent_grey": int(rng.integers(40, 130)),
        "shade_grey": int(rng.integers(205, 236)),
        "ink_grey": int(rng.integers(0, 45)),
    }


def draw_identity(
    name: str,
    locale: str,
    prefix: str,
    perms: dict[str, np.ndarray[Any, Any]],
    index: int,
    rng: np.random.Generator,
) -> dict[str, Any]:
    """How the printer writes dates, names, MRNs and phones, and its own (fictional) address."""
    fake = Faker(locale)
    fake.seed_instance(int(rng.integers(2**31)))
    return {
        "date_format": _DATES[locale][int(rng.integers(3))],
        "name_format": _pick(perms, "name", index),
        "mrn_format": str(_pick(perms, "mrn", index)).replace("{P}", prefix[:2]),
        "phone_format": _PHONES[locale][int(rng.integers(3))],
        "street": str(fake.street_address()).replace("\n", ", "),
        "city_line": _city_line(fake, locale),
        "phone": str(fake.numerify(_PHONES[locale][0])),
        "web": f"www.{name.replace('_', '')}.{_tld(locale)}",
    }


def _city_line(fake: Any, locale: str) -> str:
    """The city/postcode line of an address in the hospital's locale."""
    if locale == "en_GB":
        return f"{fake.city()} {fake.postcode()}"
    return f"{fake.city()}, {fake.state_abbr()} {fake.postcode()}"


def _tld(locale: str) -> str:
    return "nhs.uk" if locale == "en_GB" else "org"


def _jitter(scanner: ScannerProfile, rng: np.random.Generator) -> ScannerProfile:
    """Vary an archetype a little per seed, so two federations' scanners are alike but not equal."""
    quality = scanner.jpeg_quality + int(rng.integers(-5, 6)) if scanner.format == "jpeg" else 0
    return dataclasses.replace(
        scanner,
        skew_sd=round(scanner.skew_sd * float(rng.uniform(0.8, 1.25)), 3),
        noise=max(0, scanner.noise + int(rng.integers(-2, 3))) if scanner.noise else 0,
        jpeg_quality=quality,
    )
