"""The state shared by everything that prints one page: canvas, fonts, hospital, patient, generators.

Templates and blocks take a `PageContext` instead of a long argument list; it holds no global state,
and its generators (numpy and Faker) are seeded for this page alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from fedward.documents.synth.canvas import Canvas
from fedward.documents.synth.fonts import Typeset
from fedward.documents.synth.hospitals import HospitalProfile
from fedward.documents.synth.patient import Patient

__all__ = ["PageContext"]


@dataclass
class PageContext:
    """One page being printed. `left`..`bottom` are the text margins in pixels."""

    canvas: Canvas
    fonts: Typeset
    hospital: HospitalProfile
    patient: Patient
    rng: np.random.Generator
    fake: Any
    variant: int
    left: int
    right: int
    top: int
    bottom: int

    @property
    def width(self) -> int:
        """Width of the text block in pixels."""
        return self.right - self.left

    @property
    def limit(self) -> int:
        """The lowest y the document body may reach (the footer lies below it)."""
        return self.bottom - self.canvas.line_height(self.fonts.tiny) - self.pt(16)

    def pt(self, points: float) -> int:
        """Points to pixels at this page's resolution."""
        return self.canvas.pt(points)

    def step(self, font_size: float, leading: float | None = None) -> int:
        """Baseline-to-baseline distance for a font size, with the hospital's leading by default."""
        return round(font_size * (self.hospital.leading if leading is None else leading))

    def clinician(self) -> str:
        """A fictional clinician's name, as printed under a signature."""
        return f"Dr {str(self.fake.first_name())[0]}. {self.fake.last_name()}"

    def chance(self, p: float) -> bool:
        """True with probability `p` (drawn from the page's generator)."""
        return bool(self.rng.random() < p)
