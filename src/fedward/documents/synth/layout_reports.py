"""Diagnostic reports: pathology (specimen list, a boxed final diagnosis, gross and microscopic text),
radiology (exam band, label/finding lines, numbered impression) and laboratory (a table of results).

The three share a report header but differ in their body: a framed block, ragged short lines, or a
regular grid of rows, which is what a thumbnail keeps.
"""

from __future__ import annotations

from fedward.documents.synth import blocks as b
from fedward.documents.synth import prose
from fedward.documents.synth import report_vocabulary as rv
from fedward.documents.synth import vocabulary as v
from fedward.documents.synth.context import PageContext
from fedward.documents.synth.letterhead import letterhead

__all__ = ["lab_report", "pathology_report", "radiology_report"]


def pathology_report(ctx: PageContext) -> None:
    """A surgical pathology report with the final diagnosis in a frame near the top."""
    y = letterhead(ctx)
    y = b.title(ctx, y, "SURGICAL PATHOLOGY REPORT", center=ctx.variant != 1)
    y = _accession(ctx, y)
    y = b.patient_block(ctx, y, [("Report date", ctx.patient.doc_date)])
    rng = ctx.rng
    cases = prose.sample(rng, rv.PATH_CASES, int(rng.integers(1, 4)))
    y = b.heading(ctx, y, "Specimens submitted")
    y = b.bullets(ctx, y, [f"{chr(65 + i)}. {spec}" for i, (spec, _, _) in enumerate(cases)])
    y = _diagnosis_box(ctx, y, cases)
    history = f"{prose.choose(rng, v.SYMPTOMS).capitalize()}. Query {prose.diagnosis(rng).lower()}."
    narrative = [
        ("Clinical history", history),
        ("Gross description", _gross(ctx, cases)),
        ("Microscopic description", " ".join(prose.sample(rng, rv.MICROSCOPY, 4))),
    ]
    y = b.sections(ctx, y, narrative, reserve=ctx.pt(50))
    attest = "I attest that I have personally examined the slides and made the diagnosis."
    ctx.canvas.text(ctx.left, y, attest, ctx.fonts.italic)
    b.signature(ctx, ctx.left, y + ctx.pt(4), ctx.pt(170), f"{ctx.clinician()}, Consultant Histopathologist")


def _accession(ctx: PageContext, y: int) -> int:
    """The specimen's accession details in a (usually ruled) three-column grid."""
    rng = ctx.rng
    accession = f"S{int(rng.integers(21, 25))}-{int(rng.integers(1000, 99999)):05d}"
    return b.kv_grid(
        ctx,
        y,
        [
            ("Accession", accession, None),
            ("Collected", ctx.patient.date(3), None),
            ("Received", ctx.patient.date(2), None),
            ("Clinician", ctx.clinician(), None),
            ("Source", prose.choose(rng, _SOURCES), None),
            ("Status", "FINAL", None),
        ],
        cols=3,
        boxed=ctx.variant != 2,
    )


def _diagnosis_box(ctx: PageContext, y: int, cases: list[tuple[str, str, str]]) -> int:
    """FINAL DIAGNOSIS in a frame: thick border, shaded or double-ruled by template variant."""
    c, pad = ctx.canvas, ctx.pt(8)
    lines: list[str] = []
    for i, (spec, diagnosis, _) in enumerate(cases):
        lines += [f"{chr(65 + i)}. {spec.upper()}:", f"    - {diagnosis.upper()}"]
    step = ctx.step(ctx.fonts.bold.size, 1.35)
    head = c.line_height(ctx.fonts.heading) + ctx.pt(6)
    bottom = y + 2 * pad + head + step * len(lines)
    box = (ctx.left, y, ctx.right, bottom)
    if ctx.variant == 1:
        c.rect(box, fill=ctx.hospital.shade_grey, outline=c.ink, width=ctx.pt(0.8))
    else:
        c.rect(box, outline=c.ink, width=ctx.pt(2.2))
        if ctx.variant == 2:
            inner = (box[0] + ctx.pt(3), box[1] + ctx.pt(3), box[2] - ctx.pt(3), box[3] - ctx.pt(3))
            c.rect(inner, outline=c.ink, width=ctx.pt(0.7))
    c.text(ctx.left + pad, y + pad, "FINAL DIAGNOSIS", ctx.fonts.heading)
    for i, line in enumerate(lines):
        c.text(ctx.left + pad, y + pad + head + i * step, line, ctx.fonts.bold)
    return bottom + ctx.pt(14)


def _gross(ctx: PageContext, cases: list[tuple[str, str, str]]) -> str:
    """The gross description of each specimen."""
    parts = [
        f"{chr(65 + i)}. Received in formalin labelled with the patient's name and '{spec.lower()}' is "
        f"{lead}. Representative sections are submitted in cassette {chr(65 + i)}1-{chr(65 + i)}"
        f"{int(ctx.rng.integers(2, 7))}."
        for i, (spec, _, lead) in enumerate(cases)
    ]
    return " ".join(parts)


_SOURCES = ("Day Surgery", "Endoscopy Unit", "Dermatology Clinic", "Main Theatres", "Breast Clinic")


def radiology_report(ctx: PageContext) -> None:
    """An imaging report: exam band, indication, technique, findings by region, numbered impression."""
    y = letterhead(ctx)
    y = b.title(
        ctx,
        y,
        prose.choose(ctx.rng, ("RADIOLOGY REPORT", "DIAGNOSTIC IMAGING REPORT")),
        center=ctx.variant == 2,
    )
    exam, region = prose.choose(ctx.rng, rv.IMAGING_EXAMS)
    y = _exam_band(ctx, y, exam)
    y = b.patient_block(
        ctx, y, [("Referrer", ctx.clinician()), ("Location", prose.choose(ctx.rng, _LOCATIONS))]
    )
    c, f = ctx.canvas, ctx.fonts.body
    step = ctx.step(f.size)
    for label, text in (
        ("CLINICAL INDICATION", prose.choose(ctx.rng, v.SYMPTOMS).capitalize() + "."),
        ("COMPARISON", prose.choose(ctx.rng, ("None available.", "Prior study of 2022."))),
    ):
        b.labelled(ctx, ctx.left, y, label, text)
        y += step
    y = b.paragraph(ctx, y + step // 2, f"TECHNIQUE: {prose.choose(ctx.rng, _TECHNIQUES)}")
    y = b.heading(ctx, y, "Findings")
    label_w = ctx.width // 4
    for label, text in rv.FINDING_LINES[region]:
        c.text(ctx.left, y, f"{label}:", ctx.fonts.bold)
        y = c.paragraph(ctx.left + label_w, y, ctx.width - label_w, text, f, leading=ctx.hospital.leading)
        y += step // 3
    y = b.heading(ctx, y + step // 2, "Impression")
    y = b.bullets(ctx, y, list(rv.IMPRESSIONS[region]), numbered=True, font=ctx.fonts.bold)
    c.text(
        ctx.left,
        y + step,
        f"Electronically signed by {ctx.clinician()}, Consultant Radiologist, {ctx.patient.doc_date}",
        ctx.fonts.small,
    )


def _exam_band(ctx: PageContext, y: int, exam: str) -> int:
    """The examination, accession and date on one shaded band (or a ruled box)."""
    c, pad = ctx.canvas, ctx.pt(5)
    h = c.line_height(ctx.fonts.bold) + 2 * pad
    if ctx.variant == 1:
        c.rect((ctx.left, y, ctx.right, y + h), outline=c.ink, width=ctx.pt(1))
    else:
        c.rect((ctx.left, y, ctx.right, y + h), fill=ctx.hospital.shade_grey)
    c.text(ctx.left + pad, y + pad, exam, ctx.fonts.bold)
    c.text_right(ctx.right - pad, y + pad, f"Acc# {int(ctx.rng.integers(10**7, 10**8))}", ctx.fonts.small)
    return y + h + ctx.pt(10)


_LOCATIONS = ("Emergency Department", "Outpatients", "Ward 4A", "Orthopaedic Clinic", "GP Direct Access")
_TECHNIQUES = (
    "Axial images were acquired from the vertex to the skull base without intravenous contrast.",
    "Frontal and lateral radiographs were obtained.",
    "Helical CT was performed following intravenous contrast with multiplanar reformats.",
    "Multiplanar multisequence MR imaging was performed.",
    "Greyscale and colour Doppler ultrasound was performed.",
)


def lab_report(ctx: PageContext) -> None:
    """A laboratory results report: identification block, then a table of results grouped by panel."""
    y = letterhead(ctx)
    y = b.title(ctx, y, prose.choose(ctx.rng, _LAB_TITLES), center=ctx.variant == 2)
    meta = [
        ("Collected", ctx.patient.date(1)),
        ("Specimen", prose.choose(ctx.rng, ("Blood", "Serum", "Plasma"))),
        ("Requested by", ctx.clinician()),
        ("Lab no", f"{int(ctx.rng.integers(10**6, 10**7))}"),
    ]
    y = b.patient_block(ctx, y, meta)
    row_h = round(ctx.canvas.line_height(ctx.fonts.small) * 1.55)
    rows_left = max(4, (ctx.limit - y - ctx.pt(60)) // row_h - 1)
    rows = _lab_rows(ctx, rows_left)
    y = b.table(ctx, y, _lab_columns(ctx.variant), rows)
    if y < ctx.limit - ctx.pt(30):
        ctx.canvas.text(
            ctx.left,
            y,
            f"H = above reference range   L = below reference range   Verified by: {ctx.clinician()}",
            ctx.fonts.small,
        )


_LAB_TITLES = ("LABORATORY REPORT", "LABORATORY RESULTS", "CUMULATIVE RESULTS REPORT", "PATHOLOGY RESULTS")


def _lab_columns(variant: int) -> list[b.Column]:
    """The result table's columns in this template variant."""
    if variant == 1:
        return [
            b.Column("Test", 3.2),
            b.Column("Result", 1.2, "r"),
            b.Column("Units", 1.4),
            b.Column("Reference range", 1.8),
            b.Column("Flag", 0.6),
        ]
    if variant == 2:
        return [
            b.Column("Analyte", 3.0),
            b.Column("Previous", 1.2, "r"),
            b.Column("Result", 1.2, "r"),
            b.Column("Flag", 0.6),
            b.Column("Units", 1.4),
            b.Column("Range", 1.6),
        ]
    return [
        b.Column("Test", 3.2),
        b.Column("Result", 1.2, "r"),
        b.Column("Flag", 0.6),
        b.Column("Units", 1.4),
        b.Column("Reference range", 1.8),
    ]


def _lab_rows(ctx: PageContext, budget: int) -> list[list[str]]:
    """Group heading rows and result rows for as many panels as fit `budget` rows."""
    rows: list[list[str]] = []
    order = ctx.rng.permutation(len(rv.LAB_PANELS))
    for index in order:
        panel, tests = rv.LAB_PANELS[int(index)]
        if len(rows) + 3 > budget:
            break
        rows.append([panel])
        for test in tests[: budget - len(rows)]:
            rows.append(_lab_row(ctx, test))
    return rows


def _lab_row(ctx: PageContext, test: rv.LabTest) -> list[str]:
    """One result row, usually within range, sometimes flagged high or low."""
    name, unit, low, high, decimals = test
    span = high - low
    value = (
        float(ctx.rng.uniform(low - 0.35 * span, high + 0.5 * span))
        if ctx.chance(0.25)
        else float(ctx.rng.uniform(low + 0.05 * span, high - 0.05 * span))
    )
    value = round(max(value, 0.0), decimals)
    flag = "H" if value > high else ("L" if value < low else "")
    result, previous = (
        f"{value:.{decimals}f}",
        f"{max(0.0, value * float(ctx.rng.uniform(0.8, 1.2))):.{decimals}f}",
    )
    ref = f"{low:.{decimals}f} - {high:.{decimals}f}"
    if ctx.variant == 1:
        return [name, result, unit, ref, flag]
    if ctx.variant == 2:
        return [name, previous, result, flag, unit, ref]
    return [name, result, flag, unit, ref]
