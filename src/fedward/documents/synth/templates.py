"""Printing one upright page of a given class for a given hospital, before it meets the scanner.

This module owns the registry from class name to layout function, the paper sizes, and the order of
printing: layout (which draws its own letterhead), footer, then people's marks (stamps, pen).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from fedward.documents.synth.canvas import Canvas, Field
from fedward.documents.synth.classes import DOCUMENT_CLASSES
from fedward.documents.synth.context import PageContext
from fedward.documents.synth.fonts import typeset
from fedward.documents.synth.hospitals import HospitalProfile
from fedward.documents.synth.layout_forms import consent_form, insurance_claim, prescription
from fedward.documents.synth.layout_letters import discharge_summary, referral_letter
from fedward.documents.synth.layout_reports import lab_report, pathology_report, radiology_report
from fedward.documents.synth.letterhead import footer
from fedward.documents.synth.marks import annotate
from fedward.documents.synth.patient import make_patient

__all__ = ["LAYOUTS", "PrintedPage", "page_size", "print_page"]

LAYOUTS: dict[str, Callable[[PageContext], None]] = {
    "referral_letter": referral_letter,
    "discharge_summary": discharge_summary,
    "consent_form": consent_form,
    "pathology_report": pathology_report,
    "lab_report": lab_report,
    "insurance_claim": insurance_claim,
    "prescription": prescription,
    "radiology_report": radiology_report,
}
assert tuple(LAYOUTS) == DOCUMENT_CLASSES, "every document class needs exactly one layout, in order"

_FORM_CODES = {
    "referral_letter": "CL-12",
    "discharge_summary": "DS-04",
    "consent_form": "CF-1",
    "pathology_report": "HP-220",
    "lab_report": "LB-17",
    "insurance_claim": "FIN-1500",
    "prescription": "RX-2",
    "radiology_report": "RAD-9",
}
_PAPER_INCHES = {"letter": (8.5, 11.0), "a4": (8.27, 11.69)}


@dataclass(frozen=True)
class PrintedPage:
    """An upright page as it left the printer (and the people who handled it), with its fields."""

    image: Image.Image
    fields: list[Field]


def page_size(paper: str, dpi: int) -> tuple[int, int]:
    """Pixel size of a sheet of `paper` ("letter" or "a4") scanned at `dpi`."""
    w, h = _PAPER_INCHES[paper]
    return round(w * dpi), round(h * dpi)


def print_page(
    hospital: HospitalProfile, label: str, dpi: int, rng: np.random.Generator, fake: Any
) -> PrintedPage:
    """Print one page of class `label` in `hospital`'s house style at `dpi`."""
    canvas = Canvas(page_size(hospital.paper, dpi), dpi, hospital.scanner.paper_grey, hospital.ink_grey)
    margin = canvas.pt(hospital.margin_pt)
    ctx = PageContext(
        canvas=canvas,
        fonts=typeset(hospital.body_font, hospital.heading_font, hospital.body_pt, dpi),
        hospital=hospital,
        patient=make_patient(fake, rng, hospital),
        rng=rng,
        fake=fake,
        variant=hospital.variants[DOCUMENT_CLASSES.index(label)],
        left=margin,
        right=canvas.width - margin,
        top=round(margin * 0.75),
        bottom=canvas.height - round(margin * 0.6),
    )
    LAYOUTS[label](ctx)
    footer(ctx, _FORM_CODES[label])
    annotate(
        canvas,
        rng,
        (ctx.left, ctx.top, ctx.right, ctx.bottom),
        hospital.stamp_rate,
        hospital.handwriting_rate,
    )
    return PrintedPage(canvas.image, canvas.fields)
