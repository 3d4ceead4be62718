"""The report rendered as Markdown and as one self-contained HTML page."""

from __future__ import annotations

import html
from collections.abc import Sequence

from registry_pipeline.core.builders.system_health._charts import Chart
from registry_pipeline.core.builders.system_health._sections import Section


def _md_cell(text: str) -> str:
    """Text safe in Markdown: one line, HTML escaped (renderers pass raw HTML), pipes escaped."""
    flat = html.escape(" ".join(text.split()), quote=False)
    return flat.replace("\\", "\\\\").replace("|", "\\|").replace("`", "\\`")


def render_markdown(sections: Sequence[Section], as_of: str) -> str:
    """The report as Markdown."""
    out = ["# System Health Report v0.1", "", f"- generated_utc: `{_md_cell(as_of)}`", ""]
    for section in sections:
        out += [f"## {section.title}", ""]
        out += [f"- {_md_cell(note)}" for note in section.notes]
        if section.notes:
            out.append("")
        if section.headers:
            out.append("| " + " | ".join(section.headers) + " |")
            out.append("|" + "---|" * len(section.headers))
            out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in section.rows]
            out.append("")
    return "\n".join(out)


_CSS = (
    "body{font-family:system-ui,sans-serif;margin:2rem;color:#1b1b1b}"
    "table{border-collapse:collapse;margin:0 0 1.5rem}"
    "th,td{border:1px solid #bbb;padding:.25rem .5rem;text-align:left;vertical-align:top}"
    "th{background:#eee}"
    "td.yes{background:#fde2e1}td.unknown{background:#fff4d6}td.no{background:#e3f4e4}"
    "figure{margin:0 0 1.5rem}figcaption{color:#555;margin-top:.25rem}"
    "svg.chart{max-width:100%;height:auto;display:block}"
)


def render_html(sections: Sequence[Section], as_of: str, charts: Sequence[Chart] = ()) -> str:
    """The report as one self-contained HTML page (inline CSS and SVG only, all text escaped);
    `charts` come after the first section (the headline: what needs attention), under "At a
    glance"."""
    esc = html.escape
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>System Health Report v0.1</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>System Health Report v0.1</h1>",
        f"<p>generated_utc: <code>{esc(as_of)}</code></p>",
    ]
    for index, section in enumerate(sections):
        if index == min(1, len(sections) - 1) and charts:  # after the headline, before the rest
            out.append("<h2>At a glance</h2>")
            for chart in charts:
                caption = f"<strong>{esc(chart.title)}</strong>. {esc(chart.caption)}"
                out += ["<figure>", chart.svg, f"<figcaption>{caption}</figcaption></figure>"]
        out.append(f"<h2>{esc(section.title)}</h2>")
        if section.notes:
            out.append("<ul>" + "".join(f"<li>{esc(n)}</li>" for n in section.notes) + "</ul>")
        if section.headers:
            out.append("<table><thead><tr>")
            out.append("".join(f"<th>{esc(h)}</th>" for h in section.headers))
            out.append("</tr></thead><tbody>")
            alarm = [header in section.alarms for header in section.headers]
            out += [
                "<tr>" + "".join(_td(c, a) for c, a in zip(row, alarm, strict=True)) + "</tr>"
                for row in section.rows
            ]
            out.append("</tbody></table>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _td(cell: str, alarm: bool) -> str:
    """A table cell; in a column whose `yes` is bad news (`Section.alarms`) a drift value gets a
    class so the CSS can colour it: red for drift, amber for unknown, green for none."""
    css = f' class="{cell}"' if alarm and cell in ("yes", "unknown", "no") else ""
    return f"<td{css}>{html.escape(cell)}</td>"
