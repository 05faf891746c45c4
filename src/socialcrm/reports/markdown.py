"""Markdown tables, and rendering measured tables into an experiment's README."""

from __future__ import annotations

import re
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
