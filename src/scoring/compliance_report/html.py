"""HTML building blocks of the report: sections, tables, figures, the page."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


@dataclass
class Section:
    """One section of the report: its anchor, title, HTML body and the data behind it."""

    id: str
    title: str
    body: str
    data: dict[str, pd.DataFrame] = field(default_factory=dict)


def _fmt(v: Any) -> str:
    """A cell as text: missing values as a dash, booleans as yes/no, integers as integers
    (also when a missing value turned their column to floats), other numbers to 4 decimals."""
    if (
        v is None
        or v is pd.NA
        or v is pd.NaT
        or (isinstance(v, float | np.floating) and np.isnan(v))
    ):
        return "–"
    if isinstance(v, bool | np.bool_):
        return "yes" if v else "no"
    if isinstance(v, int | np.integer):
        return str(int(v))
    if isinstance(v, float | np.floating):
        return f"{v:.4f}"
    return str(v)


def html_table(df: pd.DataFrame, source: str, caption: str = "") -> str:
    """An escaped HTML table tagged with the function that computed it."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>"
        for row in df.itertuples(index=False)
    )
    cap = f"{html.escape(caption)} " if caption else ""
    return (
        f"<table data-source='{html.escape(source)}'><caption>{cap}"
        f"<span class='src'>source: <code>{html.escape(source)}</code></span></caption>"
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def html_figure(png_b64: str, source: str, caption: str) -> str:
    """An inlined PNG tagged with the function that drew it."""
    return (
        f"<figure data-source='{html.escape(source)}'>"
        f"<img alt='{html.escape(caption)}' src='data:image/png;base64,{png_b64}'/>"
        f"<figcaption>{html.escape(caption)} <span class='src'>source: "
        f"<code>{html.escape(source)}</code></span></figcaption></figure>"
    )


def paragraph(text: str) -> str:
    return f"<p>{html.escape(text)}</p>"


def markdown_body(md: str, title: str = "") -> str:
    """Markdown (a model card) as an HTML fragment for a section: CommonMark with tables
    (markdown-it-py), raw HTML in the text escaped, `code` as ``<code>``, lines wrapped in
    the source joined into one paragraph, headings moved two levels down (``#`` -> ``h3``).
    ``title`` is unused (kept for callers)."""
    from markdown_it import MarkdownIt

    renderer = MarkdownIt("commonmark", {"html": False}).enable("table")
    renderer.add_render_rule("softbreak", lambda *args, **kwargs: " ")
    tokens = renderer.parse(md)
    for t in tokens:
        if t.type in ("heading_open", "heading_close"):
            t.tag = f"h{min(6, int(t.tag[1:]) + 2)}"
    return renderer.renderer.render(tokens, renderer.options, {})


CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:.6em 0 1.2em}td,th{border:1px solid #ccc;padding:2px 6px;
font-size:12px;text-align:left}caption{caption-side:bottom;font-size:11px;color:#555;
text-align:left}.src{color:#888}figure{margin:.5em 0 1.5em}img{max-width:100%}
nav li{display:inline;margin-right:1em}details{border:1px solid #ddd;padding:.3em .8em;
margin:.5em 0}h2{border-bottom:2px solid #345;padding-top:1em}
"""


def render_html(sections: list[Section], title: str, meta: dict[str, str]) -> str:
    """The whole page: title, metadata, table of contents, sections (no external resource)."""
    nav = "".join(f"<li><a href='#{s.id}'>{html.escape(s.title)}</a></li>" for s in sections)
    info = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in meta.items()
    )
    body = "".join(
        f"<section id='{s.id}'><h2>{html.escape(s.title)}</h2>{s.body}</section>" for s in sections
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><table>{info}</table><nav><ul>{nav}</ul></nav>"
        f"{body}</body></html>"
    )
