"""The site-side page preprocessing pipeline: its specification, its identity, and one page through it.

A `PipelineSpec` is every parameter that changes the output; `spec.sha256()` hashes its canonical JSON
together with `PIPELINE_VERSION` (bumped whenever the code in `preprocess` or `rotation` changes what it
produces), so a ledger entry can name exactly which preprocessing a site ran. `Pipeline.process` runs the
steps of `fedward.documents.preprocess` and `fedward.documents.rotation` on one page and returns a
`PageResult`: the upright, cropped page as a float32 ink map (0 = paper, 1 = ink), or a rejection with
its reason. Rejected pages are never used
silently: their `image` is None.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
from PIL import Image

from fedward.documents import preprocess as steps
from fedward.documents.quality import PageQuality, measure_quality
from fedward.documents.rotation import estimate_rotation
from fedward.errors import ConfigError

__all__ = ["PIPELINE_VERSION", "PageResult", "Pipeline", "PipelineSpec"]

PIPELINE_VERSION = "fedward.documents.pipeline/1"


@dataclass(frozen=True)
class PipelineSpec:
    """Parameters of page preprocessing; all of them enter `sha256()`.

    min_dpi: pages scanned below this resolution are rejected.
    image_size: side of the square output image in pixels.
    correct_orientation: detect and undo 90/180/270 degree turns.
    deskew: detect and undo small rotations up to +-max_skew_deg.
    page_width_in: assumed page width (short side) when the image has no dpi metadata; 8.4 sits between
        A4 (8.27) and letter (8.5).
    working_dpi: resolution at which rotation and content box are measured (speed versus precision).
    crop_margin: margin around the content box, as a fraction of its longer side.
    cover_scanner_bed: paint paper over dark scanner-bed areas that a skewed page leaves uncovered.
    flatten_illumination: divide out uneven lighting before the ink threshold.
    erase_streaks: paint out scanner streaks (dark lines through the whole height of the scan).
    """

    min_dpi: int = 90
    image_size: int = 64
    correct_orientation: bool = True
    deskew: bool = True
    max_skew_deg: float = 12.0
    page_width_in: float = 8.4
    working_dpi: int = 100
    crop_margin: float = 0.02
    cover_scanner_bed: bool = True
    flatten_illumination: bool = True
    erase_streaks: bool = True

    def __post_init__(self) -> None:
        for field in fields(self):  # also makes 8 and 8.0 the same spec, with the same hash
            object.__setattr__(
                self, field.name, _typed(field.name, str(field.type), getattr(self, field.name))
            )
        _require(1 <= self.min_dpi <= 2400, "min_dpi", "between 1 and 2400")
        _require(8 <= self.image_size <= 1024, "image_size", "between 8 and 1024")
        _require(0.0 <= self.max_skew_deg <= 44.0, "max_skew_deg", "between 0 and 44")
        _require(1.0 <= self.page_width_in <= 100.0, "page_width_in", "between 1 and 100")
        _require(20 <= self.working_dpi <= 600, "working_dpi", "between 20 and 600")
        _require(0.0 <= self.crop_margin <= 0.5, "crop_margin", "between 0 and 0.5")

    def to_dict(self) -> dict[str, Any]:
        """The fields plus `version`: what a ledger records."""
        return {"version": PIPELINE_VERSION, **asdict(self)}

    def canonical_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    def sha256(self) -> str:
        """Hex SHA-256 of the canonical JSON: the identity of this preprocessing."""
        return hashlib.sha256(self.canonical_json().encode("utf-8")).hexdigest()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PipelineSpec:
        """Inverse of `to_dict`; unknown keys, another code version and wrong types are errors."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known - {"version"})
        if unknown:
            raise ConfigError(
                f"unknown pipeline key(s): {', '.join(unknown)}",
                where="pipeline",
                hint=f"known: {sorted(known)}",
            )
        version = data.get("version", PIPELINE_VERSION)
        if version != PIPELINE_VERSION:
            raise ConfigError(
                f"pipeline version {version!r} is not this code's {PIPELINE_VERSION!r}",
                where="pipeline.version",
                hint="rerun preprocessing with this version, or use the fedward release that wrote it",
            )
        return cls(**{name: value for name, value in data.items() if name in known})


def _require(ok: bool, key: str, what: str) -> None:
    if not ok:
        raise ConfigError(f"{key} must be {what}", where=f"pipeline.{key}")


def _typed(name: str, type_name: str, value: Any) -> Any:
    """Check a value against the field's declared type; an int is accepted (as a float) for a float field."""
    if type_name == "bool":
        ok = isinstance(value, bool)
    elif type_name == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        value = float(value) if ok else value
    if not ok:
        raise ConfigError(f"{name} must be a {type_name}, got {value!r}", where=f"pipeline.{name}")
    return value


@dataclass(frozen=True)
class PageResult:
    """One page after preprocessing.

    image: float32 [image_size, image_size], ink in [0, 1] (0 = paper); None when the page was rejected.
    dpi / dpi_source: the resolution the check used and whether it came from metadata or was estimated.
    estimated_orientation / estimated_skew_deg: the rotation that was undone (counter-clockwise positive;
        the content had been turned by orientation + skew); None when not measured.
    quality: dpi, skew, paper noise and fax-like binarization as measured here, for validation's quality
        bands; measuring it does not change the image, so it is outside `PIPELINE_VERSION`.
    """

    file: str
    image: steps.FloatArray | None
    dpi: float
    dpi_source: str
    estimated_orientation: int | None
    estimated_skew_deg: float | None
    accepted: bool
    reason: str | None
    quality: PageQuality | None = None  # the page's measured quality (documents/quality.py); None: rejected


class Pipeline:
    """Runs the preprocessing steps of one `PipelineSpec`; stateless, so safe to share across pages."""

    def __init__(self, spec: PipelineSpec | None = None) -> None:
        self.spec = spec if spec is not None else PipelineSpec()

    def process(self, image: Image.Image, *, file: str) -> PageResult:
        """Check resolution, then turn upright, crop and resize; `file` only labels the result."""
        spec = self.spec
        resolution = steps.page_resolution(image, page_width_in=spec.page_width_in)
        if resolution.dpi < spec.min_dpi:
            why = (
                f"resolution {round(resolution.dpi, 1):g} dpi ({resolution.source}) is below the minimum "
                f"of {spec.min_dpi} dpi"
            )
            return self._rejected(file, resolution, why)
        full = steps.to_greyscale(image)
        grey, levels = self._clean_grey(full, resolution)
        ink = steps.ink_pixels(np.asarray(grey), levels)
        if ink is None:
            return self._rejected(file, resolution, "blank page: no ink found")
        max_skew = spec.max_skew_deg if spec.deskew else 0.0
        rotation = estimate_rotation(ink, max_skew_deg=max_skew, orientation=spec.correct_orientation)
        box = steps.content_box(ink, rotation)
        out = steps.render_upright(grey, levels, rotation, box, size=spec.image_size, margin=spec.crop_margin)
        return PageResult(
            file=file,
            image=out,
            dpi=resolution.dpi,
            dpi_source=resolution.source,
            estimated_orientation=rotation.orientation,
            estimated_skew_deg=rotation.skew_deg,
            accepted=True,
            reason=None,
            quality=measure_quality(np.asarray(full), resolution.dpi, rotation.skew_deg, levels.threshold),
        )

    def _clean_grey(
        self, full: Image.Image, resolution: steps.Resolution
    ) -> tuple[Image.Image, steps.InkLevels]:
        """Grey at the working resolution with bed, uneven lighting and streaks removed; its ink levels."""
        spec = self.spec
        grey, _ = steps.reduce_to_dpi(full, resolution.dpi, spec.working_dpi)
        if spec.cover_scanner_bed:
            grey = steps.cover_scanner_bed(grey)
        if spec.flatten_illumination:
            grey = steps.flatten_illumination(grey)
        levels = steps.ink_levels(np.asarray(grey))
        if spec.erase_streaks:
            grey = steps.erase_streaks(grey, levels)
        return grey, levels

    @staticmethod
    def _rejected(file: str, resolution: steps.Resolution, reason: str) -> PageResult:
        return PageResult(
            file=file,
            image=None,
            dpi=resolution.dpi,
            dpi_source=resolution.source,
            estimated_orientation=None,
            estimated_skew_deg=None,
            accepted=False,
            reason=reason,
        )
