"""The HTML building blocks of the run report: value formats, tables, figures, sections and the page.

Record values become text here: `esc` escapes with `html.escape` (so a hostile site name stays text) and
the number formats (`pct`, `pp`, `count`, `secs`) print a dash for anything that is not a finite number.
`td`, `row` and `section` take HTML, so record strings must pass through `esc` first; `table` headers and
`figure` texts are plain and escaped here. `document` wraps the sections in the one self-contained page:
inline CSS, no script and no external URL.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from string import Template
from typing import Any

from fedward.report import plots
from fedward.report.records import num

__all__ = [
    "count",
    "document",
    "esc",
    "figure",
    "pct",
    "pp",
    "row",
    "secs",
    "section",
    "shade",
    "table",
    "td",
]


def esc(value: Any) -> str:
    """`value` as escaped HTML text, or a dash for None."""
    return "–" if value is None else html.escape(str(value))


def pct(value: Any) -> str:
    """A fraction as a percentage with one decimal, or a dash."""
    number = num(value)
    return "–" if number is None else f"{100 * number:.1f}%"


def pp(delta: float) -> str:
    """A difference of fractions in signed percentage points."""
    return f"{100 * delta:+.1f} pp"


def count(value: Any) -> str:
    """A whole number with thousands separators, or a dash."""
    number = num(value)
    return "–" if number is None else f"{int(number):,}"


def secs(value: Any) -> str:
    """A duration in seconds, in milliseconds under one second, or a dash."""
    number = num(value)
    if number is None:
        return "–"
    return f"{1000 * number:.3g} ms" if number < 1 else f"{number:,.1f} s"


def shade(value: float, low: float, high: float) -> str:
    """A background from near white (low) to mid blue (high); dark text stays readable on every step."""
    t = 0.5 if high <= low else min(1.0, max(0.0, (value - low) / (high - low)))
    r, g, b = (round(a + (z - a) * t) for a, z in zip((247, 251, 255), (107, 174, 214), strict=True))
    return f"background:rgb({r},{g},{b})"


def td(content: str, cls: str = "", style: str = "") -> str:
    """A table cell around `content` (HTML)."""
    attributes = (f' class="{cls}"' if cls else "") + (f' style="{style}"' if style else "")
    return f"<td{attributes}>{content}</td>"


def row(cells: Iterable[str], cls: str = "") -> str:
    """A table row of cells from `td`."""
    attribute = f' class="{cls}"' if cls else ""
    return f"<tr{attribute}>{''.join(cells)}</tr>"


def table(headers: Sequence[str], rows: Iterable[str], cls: str = "") -> str:
    """A table in a scrolling box; `headers` are plain text (escaped here), rows are HTML from `row`."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join(rows)
    attribute = f' class="{cls}"' if cls else ""
    grid = f"<table{attribute}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    return f'<div class="scroll">{grid}</div>'


def figure(uri: str, alt: str, caption: str) -> str:
    """A figure from `plots` (a PNG data URI) with its alternative text and caption (plain text)."""
    width, height = round(plots.WIDTH_IN * plots.DPI), round(plots.HEIGHT_IN * plots.DPI)
    return (
        f'<figure><img src="{uri}" alt="{esc(alt)}" width="{width}" height="{height}">'
        f"<figcaption>{esc(caption)}</figcaption></figure>"
    )


def section(title: str, body: str, anchor: str) -> str:
    """A titled section of the page; `body` is HTML."""
    return f'<section id="{anchor}"><h2>{esc(title)}</h2>\n{body}\n</section>'


def document(title: str, body: str, version: Any) -> str:
    """The complete HTML5 page: `body` (HTML) under `title`, with a footer naming the fedward version."""
    return _PAGE.substitute(title=esc(title), css=_CSS, body=body, version=esc(version))


_CSS = """
body{margin:0;background:#eef0f3;color:#1d232b;
  font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1040px;margin:0 auto;padding:24px 32px 40px;background:#fff;min-height:100vh}
h1{font-size:1.6rem;margin:0 0 .8rem}
h2{font-size:1.2rem;margin:2.2rem 0 .7rem;padding-bottom:.25rem;border-bottom:1px solid #d8dde3}
h3{font-size:1rem;margin:1.4rem 0 .2rem}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:.15rem 1.2rem;margin:0}
dl.meta dt{color:#5b6673}
dl.meta dd{margin:0;overflow-wrap:anywhere}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.86em}
code.error{white-space:pre-wrap;overflow-wrap:anywhere}
.scroll{overflow-x:auto}
table{border-collapse:collapse;margin:.4rem 0 .8rem;font-size:.9rem;font-variant-numeric:tabular-nums}
th,td{padding:.3rem .65rem;text-align:right;border-bottom:1px solid #e3e7eb;vertical-align:top}
th{background:#eef1f4;font-weight:600}
th:first-child,td:first-child,td.text{text-align:left}
tbody tr:nth-child(even){background:#f7f8fa}
tr.total td{font-weight:600;background:#eef1f4}
tr.worst td:first-child{font-weight:600}
tbody tr.chosen td{background:#dafbe1;font-weight:600}
td.gain-pos{color:#116329;background:#dafbe1}
td.gain-neg{color:#a40e26;background:#ffebe9}
td.gain-flat{color:#5b6673}
table.matrix td.diag{outline:2px solid #1d232b;outline-offset:-2px;font-weight:600}
.badge{display:inline-block;padding:0 .4rem;border-radius:.6rem;background:#ffe7c2;color:#7a4100;
  font-size:.8em}
.callout{border-left:4px solid #d4760b;background:#fff6e8;padding:.5rem .8rem}
.warn{color:#a40e26;font-weight:600}
.ok{color:#116329}
.note,figcaption{color:#5b6673;font-size:.85rem}
figure{margin:1rem 0}
img{max-width:100%;height:auto}
footer{margin-top:2.5rem;color:#5b6673;font-size:.8rem}
"""

_PAGE = Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title>
<style>$css</style>
</head>
<body>
<main>
$body
<footer>Generated by fedward $version. Self-contained: no scripts and no external resources.</footer>
</main>
</body>
</html>
""")
