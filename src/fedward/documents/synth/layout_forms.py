"""Forms: consent forms (statements with checkboxes and several signature lines), insurance claims
(a dense grid of ruled cells with itemized service lines) and prescriptions (an Rx block in the upper part
of an otherwise empty sheet).
"""

from __future__ import annotations

import dataclasses

from fedward.documents.synth import blocks as b
from fedward.documents.synth import prose
from fedward.documents.synth import vocabulary as v
from fedward.documents.synth.context import PageContext
from fedward.documents.synth.fonts import FAMILIES, load_font
from fedward.documents.synth.letterhead import letterhead

__all__ = ["consent_form", "insurance_claim", "prescription"]


def consent_form(ctx: PageContext) -> None:
    """Consent to a procedure: fill-in details, risks, statements to tick or initial, signatures."""
    y = letterhead(ctx)
    y = b.title(ctx, y, prose.choose(ctx.rng, _CONSENT_TITLES), center=True)
    y = _fill_in(ctx, y)
    procedure = prose.choose(ctx.rng, v.CONSENT_PROCEDURES)
    b.labelled(ctx, ctx.left, y, "Proposed procedure", procedure)
    y += ctx.step(ctx.fonts.body.size) * 3 // 2
    risks = ", ".join(prose.sample(ctx.rng, v.RISKS, 5))
    y = b.paragraph(
        ctx,
        y,
        f"Serious or frequently occurring risks: {risks}. The intended benefits and "
        "the alternatives, including no treatment, have been discussed.",
    )
    y = b.heading(ctx, y, "Patient statement")
    statements = prose.sample(ctx.rng, v.CONSENT_STATEMENTS, 6)
    y = _statements(ctx, y, statements)
    labels = [
        "Signature of patient",
        "Date",
        "Signature of witness",
        "Date",
        "Signature of health professional",
        "Date",
    ]
    col = ctx.width * 3 // 5
    for i in range(0, len(labels), 2):
        if y > ctx.limit - ctx.pt(46):
            break
        b.signature(ctx, ctx.left, y, col - ctx.pt(20), labels[i], signed=i < 4 or ctx.chance(0.7))
        y = b.signature(ctx, ctx.left + col, y, ctx.width - col, labels[i + 1], signed=False)


_CONSENT_TITLES = (
    "CONSENT FOR OPERATION OR PROCEDURE",
    "PATIENT AGREEMENT TO TREATMENT",
    "INFORMED CONSENT FORM",
)


def _fill_in(ctx: PageContext, y: int) -> int:
    """Patient details written on underlined blanks, two per row."""
    c, f, p = ctx.canvas, ctx.fonts.small, ctx.patient
    step = round(c.line_height(f) * 2.1)
    items = [
        ("Patient name", p.name, "name"),
        ("Date of birth", p.dob, "dob"),
        ("Hospital no.", p.mrn, "mrn"),
        ("Telephone", p.phone, "phone"),
        ("Address", p.address, "address"),
    ]
    half = ctx.width // 2
    for i, (label, value, kind) in enumerate(items):
        x = ctx.left + (i % 2) * half
        top = y + (i // 2) * step
        end = ctx.right if i == 4 else x + half - ctx.pt(12)
        c.text(x, top, f"{label}:", f)
        vx = x + c.width_of(f"{label}: ", f)
        c.text(vx + ctx.pt(4), top, value, f, kind=kind)
        c.hline(vx, end, top + c.line_height(f) + ctx.pt(1))
    return y + 3 * step + ctx.pt(4)


def _statements(ctx: PageContext, y: int, statements: list[str]) -> int:
    """Statements with a checkbox in front (0), Yes/No boxes behind (1) or an initials box (2)."""
    c, f = ctx.canvas, ctx.fonts.body
    size = ctx.pt(9)
    right_w = ctx.pt(70) if ctx.variant else 0
    for text in statements:
        if y > ctx.limit - ctx.pt(120):
            break
        if ctx.variant == 0:
            b.checkbox(ctx, ctx.left, y, size, ctx.chance(0.85))
            end = c.paragraph(
                ctx.left + size * 2, y, ctx.width - size * 2, text, f, leading=ctx.hospital.leading
            )
        else:
            end = c.paragraph(ctx.left, y, ctx.width - right_w, text, f, leading=ctx.hospital.leading)
            x = ctx.right - right_w + ctx.pt(8)
            if ctx.variant == 1:
                tick_yes = ctx.chance(0.9)
                for j, word in enumerate(("Yes", "No")):
                    c.text(x + j * ctx.pt(32), y, word, ctx.fonts.small)
                    b.checkbox(ctx, x + j * ctx.pt(32) + ctx.pt(18), y, size, tick_yes == (j == 0))
            else:
                c.rect((x, y - ctx.pt(2), ctx.right, y + ctx.pt(14)), outline=c.ink)
        y = end + ctx.pt(6)
    return y + ctx.pt(8)


def insurance_claim(ctx: PageContext) -> None:
    """A claim form filling the page: title bar, coverage checkboxes, ruled boxes of patient and insured
    details, diagnosis codes, itemized service lines, totals and the provider's signature."""
    y = letterhead(ctx, compact=True) if ctx.variant != 1 else ctx.top
    c = ctx.canvas
    insurer = prose.choose(ctx.rng, v.INSURERS)
    bar_h = c.line_height(ctx.fonts.heading) + ctx.pt(8)
    c.rect((ctx.left, y, ctx.right, y + bar_h), fill=c.ink)
    title = "HEALTH INSURANCE CLAIM FORM"
    c.text(ctx.left + ctx.pt(6), y + ctx.pt(4), title, ctx.fonts.heading, fill=c.paper)
    c.text_right(ctx.right - ctx.pt(6), y + ctx.pt(4), insurer.upper(), ctx.fonts.small_bold, fill=c.paper)
    y = _coverage(ctx, y + bar_h + ctx.pt(6))
    y = b.kv_grid(ctx, y, _claim_items(ctx, insurer), cols=3 if ctx.variant != 2 else 2, boxed=True)
    codes = [code for _, code in prose.sample(ctx.rng, v.DIAGNOSES, 4)]
    pointers: list[b.Item] = [(f"21.{chr(65 + i)}", code, None) for i, code in enumerate(codes)]
    y = b.kv_grid(ctx, y - ctx.pt(6), pointers, cols=4, boxed=True)
    y, total = _service_lines(ctx, y, len(codes))
    _claim_totals(ctx, y, total)


def _claim_items(ctx: PageContext, insurer: str) -> list[b.Item]:
    """The numbered boxes about the patient, the insured and the referral."""
    p, fake = ctx.patient, ctx.fake
    return [
        ("1. Patient name", p.name, "name"),
        ("2. Birth date", p.dob, "dob"),
        ("3. Sex", p.sex, None),
        ("4. Insured ID", str(fake.bothify("???#########")).upper(), None),
        ("5. Patient address", p.address, "address"),
        ("6. Telephone", p.phone, "phone"),
        ("7. Patient account / MRN", p.mrn, "mrn"),
        ("8. Relationship", "Self", None),
        ("9. Group no.", str(fake.numerify("G-######")), None),
        ("10. Plan", insurer, None),
        ("11. Employer", str(fake.company()), None),
        ("12. Prior auth.", str(fake.bothify("PA####??")).upper(), None),
        ("13. Date of claim", p.doc_date, None),
        ("14. Onset date", p.date(int(ctx.rng.integers(3, 60))), None),
        ("17. Referring provider", ctx.clinician(), None),
        ("17b. NPI", str(fake.numerify("##########")), None),
    ]


def _coverage(ctx: PageContext, y: int) -> int:
    """The row of coverage-type checkboxes under the title bar (one ticked)."""
    c, f = ctx.canvas, ctx.fonts.small
    kinds = ("Medicare", "Medicaid", "Tricare", "Group health plan", "Other")
    ticked = int(ctx.rng.integers(len(kinds)))
    size, row_h = ctx.pt(8), round(c.line_height(f) * 1.9)
    c.rect((ctx.left, y, ctx.right, y + row_h), outline=c.ink)
    step = ctx.width // len(kinds)
    for i, kind in enumerate(kinds):
        x = ctx.left + i * step + ctx.pt(4)
        b.checkbox(ctx, x, y + (row_h - size) // 2, size, i == ticked)
        c.text(x + size + ctx.pt(4), y + (row_h - c.line_height(f)) // 2, kind, f)
    return y + row_h + ctx.pt(6)


def _service_lines(ctx: PageContext, y: int, n_codes: int) -> tuple[int, float]:
    """Itemized services, then blank numbered rows down to the totals.
    Returns the y below the table and the total charge."""
    count = int(ctx.rng.integers(3, 8))
    rows = [
        _service_row(ctx, i, cpt, price, n_codes)
        for i, (_, cpt, price) in enumerate(prose.sample(ctx.rng, v.PROCEDURES, count))
    ]
    total = sum(float(row[6].replace(",", "")) for row in rows)
    row_h = round(ctx.canvas.line_height(ctx.fonts.small) * 1.55)
    room = (ctx.limit - ctx.pt(130) - y) // row_h - 2
    rows += [[str(i + 1)] + [" "] * 8 for i in range(count, max(count, min(room, 16)))]
    cols = [
        b.Column("#", 0.4),
        b.Column("Date of service", 1.6),
        b.Column("POS", 0.6),
        b.Column("CPT", 1.0),
        b.Column("Mod", 0.6),
        b.Column("Dx", 0.5),
        b.Column("Charges", 1.3, "r"),
        b.Column("Units", 0.7, "r"),
        b.Column("Rendering NPI", 1.6),
    ]
    y = b.heading(ctx, y, "24. Services, procedures and supplies")
    return b.table(ctx, y, cols, rows, style="grid"), total


def _service_row(ctx: PageContext, index: int, cpt: str, price: int, n_codes: int) -> list[str]:
    """One service line: number, date, place, CPT, modifier, diagnosis pointer, charge, units, NPI."""
    units = int(ctx.rng.integers(1, 3))
    modifier = prose.choose(ctx.rng, ("", "25", "59", "GT"))
    pointer = chr(65 + int(ctx.rng.integers(n_codes)))
    place = "11" if ctx.chance(0.6) else "22"
    npi = str(ctx.fake.numerify("##########"))
    return [
        str(index + 1),
        ctx.patient.doc_date,
        place,
        cpt,
        modifier,
        pointer,
        f"{price * units:,.2f}",
        str(units),
        npi,
    ]


def _claim_totals(ctx: PageContext, y: int, total: float) -> None:
    """Total, paid and balance boxes, and the physician's signature box beside them."""
    c = ctx.canvas
    paid = round(total * float(ctx.rng.choice([0.0, 0.2, 0.5])), 2)
    items: list[b.Item] = [
        ("28. Total charge", f"{total:,.2f}", None),
        ("29. Amount paid", f"{paid:,.2f}", None),
        ("30. Balance due", f"{total - paid:,.2f}", None),
    ]
    y = b.kv_grid(ctx, y, items, cols=3, boxed=True)
    if y > ctx.limit - ctx.pt(60):
        return
    half = ctx.width // 2
    c.rect((ctx.left, y, ctx.right, y + ctx.pt(56)), outline=c.ink)
    c.vline(ctx.left + half, y, y + ctx.pt(56))
    b.signature(ctx, ctx.left + ctx.pt(6), y, half - ctx.pt(30), "31. Signature of physician or supplier")
    c.text(ctx.left + half + ctx.pt(6), y + ctx.pt(6), "33. Billing provider", ctx.fonts.tiny)
    c.text(ctx.left + half + ctx.pt(6), y + ctx.pt(18), ctx.hospital.display_name, ctx.fonts.small)
    c.text(ctx.left + half + ctx.pt(6), y + ctx.pt(30), ctx.hospital.street, ctx.fonts.small)


def prescription(ctx: PageContext) -> None:
    """A prescription: the Rx block fills only the top of the sheet, as a pad page scanned whole."""
    y = frame_top = letterhead(ctx, compact=True)
    if ctx.variant == 1:
        y = b.title(ctx, y, "PRESCRIPTION")
    pad = ctx.pt(10)
    y = _rx_block(dataclasses.replace(ctx, left=ctx.left + pad, right=ctx.right - pad), y + pad)
    c = ctx.canvas
    if ctx.variant != 1:
        c.rect(
            (ctx.left, frame_top, ctx.right, y + pad),
            outline=c.ink,
            width=ctx.pt(1.5 if ctx.variant else 0.8),
        )
    if ctx.variant == 2:
        cut = " ".join("-" * 20) + "  Pharmacy use only  " + " ".join("-" * 20)
        c.text(ctx.left, y + pad * 3, cut, ctx.fonts.small)


def _rx_block(ctx: PageContext, y: int) -> int:
    """Patient, the Rx symbol, the drugs, substitution boxes and the prescriber's signature."""
    c, p = ctx.canvas, ctx.patient
    y = b.patient_block(ctx, y, [("Date", p.doc_date), ("Prescriber", ctx.clinician())])
    c.text(ctx.left, y, "Rx", load_font(FAMILIES["dejavu_serif"].bold, ctx.pt(34)))
    tail = (ctx.left + ctx.pt(16), y + ctx.pt(30), ctx.left + ctx.pt(34), y + ctx.pt(44))
    c.draw.line(tail, fill=c.ink, width=ctx.pt(3))
    y = _rx_lines(ctx, y + ctx.pt(8))
    b.checkbox(ctx, ctx.left, y, ctx.pt(9), ctx.chance(0.5))
    c.text(ctx.left + ctx.pt(14), y, "Substitution permitted", ctx.fonts.small)
    b.checkbox(ctx, ctx.left + ctx.pt(150), y, ctx.pt(9), False)
    c.text(ctx.left + ctx.pt(164), y, "Dispense as written", ctx.fonts.small)
    return b.signature(ctx, ctx.left + ctx.width // 2, y + ctx.pt(8), ctx.width // 2, "Prescriber signature")


def _rx_lines(ctx: PageContext, y: int) -> int:
    """One to three drugs: name and strength, directions (in a pen-like italic), quantity and refills."""
    c = ctx.canvas
    x = ctx.left + ctx.pt(64)
    step = ctx.step(ctx.fonts.body.size)
    for name, strength, form in prose.sample(ctx.rng, v.DRUGS, int(ctx.rng.integers(1, 4))):
        c.text(x, y, f"{name} {strength} {form}", ctx.fonts.bold)
        c.text(x + ctx.pt(10), y + step, f"Sig: {prose.choose(ctx.rng, v.SIGS)}", ctx.fonts.italic)
        qty = int(ctx.rng.choice([14, 28, 30, 56, 60, 90]))
        c.text(
            x + ctx.pt(10),
            y + 2 * step,
            f"Disp: #{qty}     Refills: {int(ctx.rng.integers(0, 4))}",
            ctx.fonts.body,
        )
        y += 3 * step + ctx.pt(6)
    return y + ctx.pt(10)
