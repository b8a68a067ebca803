"""A pipeline run's report: sections of tables, figures and notes, written as one
self-contained HTML file (figures inlined as PNG data URIs), a Markdown twin (figures beside
it in ``report_files/``) and ``report.json`` (the same content, so a later step can add a
section and write the report again).

Example::

    report = RunReport("kpdistill run", [Section("Baselines", tables=[Table(["model"], [["bm25"]])])])
    paths = save_report(report, run_dir)        # report.html, report.md, report.json
    report = load_report(run_dir / "report.json")
"""

from __future__ import annotations

import base64
import html
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPORT_HTML, REPORT_MD, REPORT_JSON, FIGURES_DIR = (
    "report.html", "report.md", "report.json", "report_files")


@dataclass
class Table:
    headers: list[str]
    rows: list[list]
    caption: str = ""


@dataclass
class Figure:
    name: str  # file stem: letters, digits, '-' and '_'
    caption: str
    png_base64: str

    @classmethod
    def from_png(cls, name: str, caption: str, png: bytes) -> Figure:
        return cls(name, caption, base64.b64encode(png).decode("ascii"))


@dataclass
class Section:
    title: str
    notes: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)


@dataclass
class RunReport:
    title: str
    sections: list[Section] = field(default_factory=list)
    subtitle: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> RunReport:
        sections = [Section(s["title"], list(s.get("notes", [])),
                            [Table(**t) for t in s.get("tables", [])],
                            [Figure(**f) for f in s.get("figures", [])])
                    for s in d.get("sections", [])]
        return cls(d["title"], sections, d.get("subtitle", ""))

    def section(self, title: str) -> Section | None:
        return next((s for s in self.sections if s.title == title), None)

    def replace_section(self, section: Section) -> None:
        """Put ``section`` where the section of the same title is, or at the end."""
        for i, s in enumerate(self.sections):
            if s.title == section.title:
                self.sections[i] = section
                return
        self.sections.append(section)


def cell_text(value) -> str:
    """Numbers to 3 decimals (integers as they are), NaN / None as an em dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(report: RunReport, figures_dir: str = FIGURES_DIR,
                    inline_figures: bool = False) -> str:
    """Markdown; figures link to ``figures_dir/<name>.png`` or, inlined, to data URIs."""
    lines = [f"# {report.title}", ""]
    if report.subtitle:
        lines += [report.subtitle, ""]
    for s in report.sections:
        lines += [f"## {s.title}", ""]
        for note in s.notes:
            lines += [note, ""]
        for t in s.tables:
            if t.caption:
                lines += [f"*{t.caption}*", ""]
            lines.append("| " + " | ".join(_md_escape(h) for h in t.headers) + " |")
            lines.append("|" + "---|" * len(t.headers))
            lines += ["| " + " | ".join(_md_escape(cell_text(c)) for c in row) + " |"
                      for row in t.rows]
            lines.append("")
        for f in s.figures:
            src = (f"data:image/png;base64,{f.png_base64}" if inline_figures
                   else f"{figures_dir}/{f.name}.png")
            lines += [f"![{f.caption}]({src})", "", f"*{f.caption}*", ""]
    return "\n".join(lines).rstrip() + "\n"


_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:70rem;
padding:0 1rem;color:#1b1f24;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.25rem;margin-top:2rem;
border-bottom:1px solid #d0d7de;padding-bottom:.3rem}
.subtitle{color:#57606a;margin-top:0}
table{border-collapse:collapse;margin:.6rem 0 1rem;font-size:.9rem}
th,td{border:1px solid #d0d7de;padding:.25rem .6rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.num{text-align:right;font-variant-numeric:tabular-nums}
caption{caption-side:top;text-align:left;font-style:italic;color:#57606a;padding-bottom:.2rem}
figure{display:inline-block;margin:.5rem 1rem .5rem 0;max-width:100%}figure img{max-width:100%;
border:1px solid #d0d7de}figcaption{font-size:.85rem;color:#57606a}
nav a{margin-right:.8rem}
"""


def _html_cell(value) -> str:
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    cls = ' class="num"' if numeric else ""
    return f"<td{cls}>{html.escape(cell_text(value))}</td>"


def render_html(report: RunReport) -> str:
    esc = html.escape
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{esc(report.title)}</title><style>{_CSS}</style></head><body>",
           f"<h1>{esc(report.title)}</h1>"]
    if report.subtitle:
        out.append(f'<p class="subtitle">{esc(report.subtitle)}</p>')
    out.append("<nav>" + "".join(f'<a href="#s{i}">{esc(s.title)}</a>'
                                 for i, s in enumerate(report.sections)) + "</nav>")
    for i, s in enumerate(report.sections):
        out.append(f'<section id="s{i}"><h2>{esc(s.title)}</h2>')
        out += [f"<p>{esc(note)}</p>" for note in s.notes]
        for t in s.tables:
            out.append("<table>")
            if t.caption:
                out.append(f"<caption>{esc(t.caption)}</caption>")
            out.append("<tr>" + "".join(f"<th>{esc(h)}</th>" for h in t.headers) + "</tr>")
            out += ["<tr>" + "".join(_html_cell(c) for c in row) + "</tr>" for row in t.rows]
            out.append("</table>")
        for f in s.figures:
            out.append(f'<figure><img alt="{esc(f.caption)}" '
                       f'src="data:image/png;base64,{f.png_base64}">'
                       f"<figcaption>{esc(f.caption)}</figcaption></figure>")
        out.append("</section>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def save_report(report: RunReport, directory: Path | str) -> dict[str, Path]:
    """Write report.html, report.md (+ report_files/*.png) and report.json into ``directory``."""
    d = Path(directory)
    figures = d / FIGURES_DIR
    figures.mkdir(parents=True, exist_ok=True)
    for s in report.sections:
        for f in s.figures:
            (figures / f"{f.name}.png").write_bytes(base64.b64decode(f.png_base64))
    paths = {"html": d / REPORT_HTML, "markdown": d / REPORT_MD, "json": d / REPORT_JSON}
    paths["html"].write_text(render_html(report), encoding="utf-8")
    paths["markdown"].write_text(render_markdown(report), encoding="utf-8")
    paths["json"].write_text(json.dumps(report.to_dict()), encoding="utf-8")
    return paths


def load_report(path: Path | str) -> RunReport:
    return RunReport.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
