"""Small HTML building blocks of the reports: one self-contained page (inline CSS, inline SVG, no fetches)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1100px;
       color: #1d2327; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
p.sub { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin: 0.8em 0; }
th, td { padding: 3px 10px; border-bottom: 1px solid #eee; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.regression td { background: #fde2e4; font-weight: 600; }
tr.better td { background: #e3f4ec; }
.bad { color: #c1121f; font-weight: 600; } .good { color: #2a7d4f; font-weight: 600; }
figure.plot { margin: 0.5em 0; } figure.plot svg { max-width: 100%; height: auto; }
figcaption { color: #555; font-size: 0.92em; }
ul.problems { max-height: 18em; overflow: auto; font-family: ui-monospace, monospace; font-size: 0.9em; }
p.verdict { font-size: 2.2em; margin: 0.2em 0; letter-spacing: 0.05em; }
div.verdict-block { border: 1px solid #ddd; padding: 0.4em 1.2em; border-radius: 6px; }
"""


def page(title: str, subtitle: str, body: Iterable[str]) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            f"<h1>{escape(title)}</h1>\n<p class=\"sub\">{escape(subtitle)}</p>\n" + "\n".join(body)
            + "\n</body>\n</html>\n")


def cell(value: object) -> str:
    if isinstance(value, float):
        return f'<td class="num">{value:.4g}</td>'
    if isinstance(value, int):
        return f'<td class="num">{value}</td>'
    return f"<td>{escape('-' if value is None else str(value))}</td>"


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], row_classes: Sequence[str] | None = None) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    lines = []
    for index, row in enumerate(rows):
        css = row_classes[index] if row_classes and index < len(row_classes) else ""
        attr = f' class="{css}"' if css else ""
        lines.append(f"<tr{attr}>" + "".join(cell(v) for v in row) + "</tr>")
    return f"<table>\n<tr>{head}</tr>\n" + "\n".join(lines) + "\n</table>"


def section(anchor: str, title: str, *parts: str) -> str:
    return f'<section id="{escape(anchor)}">\n<h2>{escape(title)}</h2>\n' + "\n".join(parts) + "\n</section>"


def plot(svg: str, caption: str) -> str:
    return f'<figure class="plot">\n{svg}\n<figcaption>{escape(caption)}</figcaption>\n</figure>'


def paragraph(text: str, css: str = "") -> str:
    attr = f' class="{css}"' if css else ""
    return f"<p{attr}>{escape(text)}</p>"


def bullet_list(items: Sequence[str], limit: int = 200) -> str:
    shown = "".join(f"<li>{escape(item)}</li>" for item in items[:limit])
    more = f"<li>... and {len(items) - limit} more</li>" if len(items) > limit else ""
    return f'<ul class="problems">{shown}{more}</ul>'
