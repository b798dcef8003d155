"""The fictional patient of one page, printed in the hospital's own identifier and date formats.

Every detail comes from Faker (seeded per page) so nothing refers to a real person; the MRN pattern,
name order, date format and phone format follow the hospital profile, which is part of what makes one
hospital's documents look unlike another's.
"""

from __future__ import annotations

import datetime as dt
import string
from dataclasses import dataclass
from typing import Any

import numpy as np

from fedward.documents.synth.hospitals import HospitalProfile

__all__ = ["Patient", "format_date", "make_patient", "random_date"]

_EPOCH_START = dt.date(1930, 1, 1)
_DOC_START, _DOC_END = dt.date(2021, 1, 1), dt.date(2024, 12, 31)


@dataclass(frozen=True)
class Patient:
    """One fictional patient, with each detail already formatted the way this hospital prints it."""

    first: str
    last: str
    sex: str  # "F" or "M"
    title: str
    name: str
    mrn: str
    dob: str
    age: int
    street: str
    city_line: str
    phone: str
    doc_date: str
    doc_day: dt.date
    date_format: str

    def date(self, days_before: int = 0) -> str:
        """A date `days_before` the document date, in the hospital's format (admission dates etc.)."""
        return format_date(self.doc_day - dt.timedelta(days=days_before), self.date_format)

    @property
    def address(self) -> str:
        """The address on one line."""
        return f"{self.street}, {self.city_line}"

    @property
    def he(self) -> str:
        return "she" if self.sex == "F" else "he"

    @property
    def his(self) -> str:
        return "her" if self.sex == "F" else "his"

    @property
    def him(self) -> str:
        return "her" if self.sex == "F" else "him"


def format_date(day: dt.date, fmt: str) -> str:
    """A date in a hospital's format (strftime pattern)."""
    return day.strftime(fmt)


def random_date(fake: Any, start: dt.date, end: dt.date) -> dt.date:
    """A Faker date between two fixed dates (never relative to today, so pages are reproducible)."""
    value = fake.date_between_dates(date_start=start, date_end=end)
    return dt.date(value.year, value.month, value.day)


def make_patient(fake: Any, rng: np.random.Generator, hospital: HospitalProfile) -> Patient:
    """Draw a patient and the document date for one page."""
    sex = "F" if rng.random() < 0.52 else "M"
    first = str(fake.first_name_female() if sex == "F" else fake.first_name_male())
    last = str(fake.last_name())
    doc_day = random_date(fake, _DOC_START, _DOC_END)
    born = random_date(fake, _EPOCH_START, doc_day - dt.timedelta(days=365 * 18))
    age = doc_day.year - born.year - ((doc_day.month, doc_day.day) < (born.month, born.day))
    title = ("Mrs" if rng.random() < 0.5 else "Ms") if sex == "F" else "Mr"
    if hospital.locale == "en_US":
        title += "."
    city = (
        f"{fake.city()} {fake.postcode()}"
        if hospital.locale == "en_GB"
        else (f"{fake.city()}, {fake.state_abbr()} {fake.postcode()}")
    )
    return Patient(
        first=first,
        last=last,
        sex=sex,
        title=title,
        name=_name(first, last, title, hospital.name_format),
        mrn=str(fake.bothify(hospital.mrn_format, letters=string.ascii_uppercase)),
        dob=format_date(born, hospital.date_format),
        age=age,
        street=str(fake.street_address()).replace("\n", ", "),
        city_line=city,
        phone=str(fake.numerify(hospital.phone_format)),
        doc_date=format_date(doc_day, hospital.date_format),
        doc_day=doc_day,
        date_format=hospital.date_format,
    )


def _name(first: str, last: str, title: str, style: str) -> str:
    """The patient's name in the hospital's name format."""
    if style == "last_first":
        return f"{last}, {first}"
    if style == "upper_last_first":
        return f"{last.upper()}, {first}"
    if style == "title_first_last":
        return f"{title} {first} {last}"
    return f"{first} {last}"
