"""Render a report's blocks as one self-contained HTML page.

The page loads nothing: its style sheet is inline, and its plots are inline SVG
elements, so it opens the same from a results directory copied anywhere, with no
network access.
"""

from __future__ import annotations

import html
import re

from recovery_lab.report_document import (
    Block,
    BulletList,
    Code,
    Heading,
    Image,
    Links,
    Paragraph,
    Table,
)

REPORT_HTML_FILE = "report.html"

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 78em;
       padding: 0 1em; color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
h3 { font-size: 1.05em; margin-top: 1.5em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left;
         white-space: nowrap; }
th { background: #f3f3f3; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
td.bad { color: #b2182b; font-weight: bold; }
figure { margin: 0.5em 0 1.5em; }
figure svg { max-width: 100%; height: auto; }
figcaption { font-size: 0.85em; color: #555; }
pre { background: #f6f6f6; padding: 0.6em; overflow-x: auto; }
nav a { margin-right: 1em; }
"""

# Cell values that mark a failure and are shown in red.
BAD_CELLS = frozenset({"NO", "FAIL", "gave_up", "crashed", "timed_out", "failed"})


def _inline(text: str) -> str:
    """Escape text and turn Markdown-style `code` spans into <code> elements."""
    escaped = html.escape(text)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)


def _anchor(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _table(block: Table) -> list[str]:
    lines = ["<table>", "<thead><tr>"]
    lines += [f"<th>{html.escape(title)}</th>" for title in block.header]
    lines += ["</tr></thead>", "<tbody>"]
    for row in block.rows:
        cells = []
        for index, cell in enumerate(row):
            classes = []
            if index in block.numeric:
                classes.append("number")
            failed_ratio = block.header[index] == "correct" and _is_failed_ratio(cell)
            if cell in BAD_CELLS or failed_ratio:
                classes.append("bad")
            attribute = f' class="{" ".join(classes)}"' if classes else ""
            cells.append(f"<td{attribute}>{html.escape(cell)}</td>")
        lines.append("<tr>" + "".join(cells) + "</tr>")
    lines += ["</tbody>", "</table>"]
    return lines


def _is_failed_ratio(cell: str) -> bool:
    """Return whether a ``passed/total`` cell counts fewer passes than runs."""
    match = re.fullmatch(r"(\d+)/(\d+)", cell)
    return match is not None and match.group(1) != match.group(2)


def render_html(blocks: list[Block]) -> str:
    """Render blocks as a complete HTML document.

    Returns:
        The page, titled after the first level-1 heading.

    """
    title = next(
        (b.text for b in blocks if isinstance(b, Heading) and b.level == 1), "Report"
    )
    sections = [b.text for b in blocks if isinstance(b, Heading) and b.level == 2]
    body: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            level = min(block.level, 6)
            anchor = f' id="{_anchor(block.text)}"' if level == 2 else ""
            body.append(f"<h{level}{anchor}>{html.escape(block.text)}</h{level}>")
            if level == 1 and sections:
                links = " ".join(
                    f'<a href="#{_anchor(s)}">{html.escape(s)}</a>' for s in sections
                )
                body.append(f"<nav>{links}</nav>")
        elif isinstance(block, Paragraph):
            if block.text:
                body.append(f"<p>{_inline(block.text)}</p>")
        elif isinstance(block, BulletList):
            body.append("<ul>")
            body += [f"<li>{_inline(item)}</li>" for item in block.items]
            body.append("</ul>")
        elif isinstance(block, Table):
            body += _table(block)
        elif isinstance(block, Image):
            body += [
                "<figure>",
                block.plot.svg,
            ]
            if block.caption:
                body.append(f"<figcaption>{_inline(block.caption)}</figcaption>")
            body.append("</figure>")
        elif isinstance(block, Code):
            body.append(f"<pre>{html.escape(block.text)}</pre>")
        elif isinstance(block, Links):
            body.append("<ul>")
            body += [
                f'<li><a href="{html.escape(target)}">{html.escape(text)}</a></li>'
                for text, target in block.items
            ]
            body.append("</ul>")
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            f"<title>{html.escape(title)}</title>",
            f"<style>{STYLE}</style>",
            "</head>",
            "<body>",
            *body,
            "</body>",
            "</html>",
            "",
        ]
    )
