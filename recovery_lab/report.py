"""Write a study's report, report.md and report.html, and its terminal table."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.table import Table

from recovery_lab.report_document import (
    Block,
    BulletList,
    Code,
    Heading,
    Image,
    Links,
    Paragraph,
    build_document,
)
from recovery_lab.report_document import Table as TableBlock
from recovery_lab.report_html import REPORT_HTML_FILE, render_html
from recovery_lab.report_plots import build_plots
from recovery_lab.report_tables import SUMMARY_COLUMNS, summary_row
from recovery_lab.results import StudyResults
from recovery_lab.stats import group_runs

REPORT_FILE = "report.md"


@dataclass(frozen=True)
class ReportFiles:
    """The files of a written report.

    Attributes:
        markdown: report.md.
        html: report.html, self-contained.

    """

    markdown: Path
    html: Path


def comparison_table(study: StudyResults) -> Table:
    """Build the table printed at the end of ``run``: one row per strategy and mode.

    Each metric is the median over the runs that completed, followed by the
    minimum and maximum when they differ.
    """
    table = Table(title=f"Scenario {study.scenario.get('name', '?')}")
    for column in SUMMARY_COLUMNS:
        numeric = column not in ("strategy", "mode")
        table.add_column(column, justify="right" if numeric else "left", no_wrap=True)
    groups = group_runs(study)
    for group in groups:
        table.add_row(*summary_row(groups, group))
    return table


def _markdown_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(blocks: list[Block]) -> str:
    """Render report blocks as Markdown; plots are linked by their relative path."""
    lines: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            lines += ["#" * block.level + " " + block.text, ""]
        elif isinstance(block, Paragraph):
            if block.text:
                lines += [block.text, ""]
        elif isinstance(block, BulletList):
            lines += [f"- {item}" for item in block.items] + [""]
        elif isinstance(block, TableBlock):
            lines.append("| " + " | ".join(block.header) + " |")
            lines.append(
                "|"
                + "".join(
                    "---:|" if i in block.numeric else "---|"
                    for i in range(len(block.header))
                )
            )
            lines += [
                "| " + " | ".join(_markdown_cell(cell) for cell in row) + " |"
                for row in block.rows
            ]
            lines.append("")
        elif isinstance(block, Image):
            lines += [f"![{block.caption or block.plot.path}]({block.plot.path})", ""]
            if block.caption:
                lines += [block.caption, ""]
        elif isinstance(block, Code):
            lines += ["```", block.text, "```", ""]
        elif isinstance(block, Links):
            lines += [f"- [{text}]({target})" for text, target in block.items] + [""]
    return "\n".join(lines)


def write_report(results_dir: Path, study: StudyResults) -> ReportFiles:
    """Draw the plots and write report.md and report.html into a results directory.

    Returns:
        The paths of both reports.

    """
    plots = build_plots(results_dir, study)
    blocks = build_document(study, plots)
    markdown = results_dir / REPORT_FILE
    markdown.write_text(render_markdown(blocks))
    page = results_dir / REPORT_HTML_FILE
    page.write_text(render_html(blocks))
    return ReportFiles(markdown=markdown, html=page)
