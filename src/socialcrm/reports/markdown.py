"""Markdown tables, rendering measured tables into an experiment's README, and a
Markdown report as one self-contained HTML page."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from socialcrm.data.io import atomic_file


def to_markdown(df: pd.DataFrame, floats: str = "{:.3f}") -> str:
    """A GitHub-flavoured Markdown table (no extra dependency)."""

    def fmt(v: object) -> str:
        if isinstance(v, float | np.floating):
            return "" if np.isnan(v) else floats.format(v)
        if isinstance(v, int | np.integer):
            return f"{v:,}"
        return str(v)

    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


HTML_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem}}
table {{border-collapse: collapse; margin: 1rem 0}}
th, td {{border: 1px solid #ccc; padding: .25rem .6rem; text-align: right}}
th:first-child, td:first-child {{text-align: left}}
img {{max-width: 100%}}
</style></head><body>
{body}
</body></html>
"""


def to_html(markdown: str, images: Mapping[str, bytes], title: str = "report") -> str:
    """A Markdown report as one HTML page with its PNG images embedded.

    The MLflow UI shows an HTML artifact as a page but a Markdown file as text,
    with its image links as text too; embedding the images (base64 data URIs)
    keeps the page whole wherever it is opened.

    Parameters
    ----------
    markdown
        The report (CommonMark with GitHub tables).
    images
        File name (as the report links it, e.g. ``platforms.png``) -> PNG bytes.
    title
        The page title.
    """
    import base64

    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark").enable("table").render(markdown)

    def embed(match: re.Match) -> str:
        name = match.group(1)
        if name not in images:
            return match.group(0)
        data = base64.b64encode(images[name]).decode("ascii")
        return f'src="data:image/png;base64,{data}"'

    body = re.sub(r'src="([^"]+)"', embed, body)
    return HTML_PAGE.format(title=html_escape(title), body=body)


def html_escape(text: str) -> str:
    import html

    return html.escape(text, quote=True)


def plus_minus(mean: float, sd: float, digits: int = 3, signed: bool = False) -> str:
    """``"0.701 ± 0.009"`` (an undefined sd, e.g. from one seed, shows as 0; an undefined
    mean as an empty string)."""
    if np.isnan(mean):
        return ""
    sign = "+" if signed else ""
    return f"{mean:{sign}.{digits}f} ± {0.0 if np.isnan(sd) else sd:.{digits}f}"


def plus_minus_column(frame: pd.DataFrame, column: str, digits: int = 3) -> list[str]:
    """:func:`plus_minus` of ``frame[column]`` with ``frame[column + "_sd"]``, row by row."""
    pairs = zip(frame[column], frame[f"{column}_sd"], strict=True)
    return [plus_minus(m, sd, digits) for m, sd in pairs]


def render_into_readme(readme: Path, tables: str, section: str = "results") -> bool:
    """Replace the text between ``<!-- {section}:start -->`` and ``<!-- {section}:end -->``.

    The file is rewritten atomically (temporary file, then rename).

    Parameters
    ----------
    readme
        A Markdown file holding the two markers.
    tables
        Markdown to put between them.
    section
        Marker name.

    Returns
    -------
    bool
        Whether the file had the markers and was rewritten.
    """
    if not readme.is_file():
        return False
    start, end = f"<!-- {section}:start -->", f"<!-- {section}:end -->"
    text = readme.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), flags=re.DOTALL)
    if not pattern.search(text):
        return False
    with atomic_file(readme) as tmp:
        tmp.write_text(pattern.sub(lambda _: f"{start}\n{tables}\n{end}", text), encoding="utf-8")
    return True
