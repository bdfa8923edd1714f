"""Writes a `planner.reports.report.Report` as one self-contained HTML file and as a PDF.

- HTML: a single file with inline CSS and every figure embedded as a base64 PNG; it makes
  no network request, so it can be mailed or opened offline. Every piece of text that can
  come from the user or the runs (domain and strategy names, storage URL, provenance,
  notes) goes through `html.escape`.
- PDF: the same content with matplotlib's `PdfPages` (no other dependency): text pages
  for the recommendation and the tables, then one page per figure.

    >>> from planner.reports.render import write_report          # doctest: +SKIP
    >>> write_report(report, "report/", formats=("html", "pdf"))  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import html
import io
import math
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from planner.reports.report import Report

__all__ = ["FORMATS", "FigureSpec", "figures", "render_html", "write_html", "write_pdf",
           "write_report"]

FORMATS = ("html", "pdf", "csv")
DEFAULT_FORMATS = ("html", "pdf")
_DPI = 110


# ------------------------------------------------------------------------------ figures
@dataclass(frozen=True)
class FigureSpec:
    """One figure of the report: a title, a caption, and how to draw it."""

    key: str
    title: str
    caption: str
    draw: Callable[[], Figure]


def _new_figure(width: float = 7.6, height: float = 4.4) -> tuple[Figure, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.add_subplot()


def figures(report: Report) -> list[FigureSpec]:
    """The report's figures, in order (only those with data)."""
    from planner.reports import plots

    b = report.budget
    specs: list[FigureSpec] = []

    def one(key: str, title: str, caption: str, fn: Callable[[Any], Any],
            size: tuple[float, float] = (7.6, 4.4)) -> None:
        def draw() -> Figure:
            fig, ax = _new_figure(*size)
            fn(ax)
            return fig

        specs.append(FigureSpec(key, title, caption, draw))

    if len(report.decision_map):
        one("decision_map", "Decision map",
            f"Best strategy at the inference cap {b.inference} and "
            f"{b.n_domain_tokens / 1e6:g}M domain tokens, over pretraining x specialization "
            "budgets (the paper's Figure 1). The star is your budget.",
            lambda ax: plots.plot_decision_map(
                report.decision_map, ax,
                point=(b.pretraining.amount, b.specialization.amount)), (8.2, 4.8))
    for axis in ("pretraining", "specialization"):
        sub = report.budget_curves
        if len(sub) and (sub["axis"] == axis).any():
            amount = getattr(b, axis).amount

            def curve(ax: Axes, axis: str = axis, amount: float = amount) -> Axes:
                return plots.plot_budget_curves(report.budget_curves, axis, ax, point=amount)

            one(f"curve_{axis}", f"Perplexity vs {axis} budget",
                f"Each strategy's best predicted perplexity (90% band) as the {axis} budget "
                "varies, the other budgets fixed. A strategy is drawn only where it fits.",
                curve)
    if len(report.domain_costs):
        one("domain_costs", "Cost over N domains (planned)",
            f"Total cost of each strategy's configuration for your budget as the number of "
            f"domains grows (paper's Eq. 1), on {b.accelerator}.",
            lambda ax: plots.plot_cost_over_domains(report.domain_costs, ax))
    for scale in dict.fromkeys(report.runs["scale"]) if len(report.runs) else []:
        sub = report.runs[report.runs["scale"] == scale]

        def scale_runs(ax: Axes, sub: pd.DataFrame = sub) -> Axes:
            return plots.plot_runs(sub, ax)

        one(f"runs_{scale}", f"Measured runs at scale {scale!r}",
            "Test perplexity of each specialized model (bars) and of its starting point "
            "before fine-tuning (black ticks).",
            scale_runs, (8.4, 4.4))
        mdc = report.measured_domain_costs
        mdc = mdc[mdc["scale"] == scale]
        if len(mdc):

            def measured_costs(ax: Axes, mdc: pd.DataFrame = mdc) -> Axes:
                return plots.plot_cost_over_domains(mdc, ax)

            one(f"measured_costs_{scale}", f"Measured FLOPs over N domains at scale {scale!r}",
                "Measured pretraining FLOPs plus N x the mean measured specialization FLOPs.",
                measured_costs)
    if len(report.cluster_histograms):
        one("clusters", "Domain cluster histograms",
            "Share of each domain's documents in each generic-corpus cluster. A flat "
            "histogram (high entropy) is a warning sign for mixtures and projected networks.",
            lambda ax: plots.plot_cluster_histograms(report.cluster_histograms, ax,
                                                     clusters=report.clusters))
    if len(report.measured_vs_predicted):
        one("model_check", "Performance model: predicted vs measured",
            "Each point is predicted by the model fitted without it (leave-one-out): your "
            "runs (circles, 90% band) and the paper's Table 8 rows (squares).",
            lambda ax: plots.plot_measured_vs_predicted(report.measured_vs_predicted, ax),
            (7.6, 5.0))
    return specs


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI)
    return buf.getvalue()


# ------------------------------------------------------------------------------ tables
def _fmt(value: Any, kind: str = "") -> str:
    """One cell as text: FLOPs in scientific notation, perplexities to 2 decimals."""
    if value is None:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return ""
    try:
        import pandas as pd

        if value is pd.NA:
            return ""
    except ImportError:  # pragma: no cover
        pass
    if isinstance(value, bool):
        return "yes" if value else "no"
    if kind == "flops":
        return f"{float(value):.3g}"
    if kind == "ppl":
        return f"{float(value):.2f}"
    if kind == "pct":
        return f"{float(value):.1f}%"
    if kind == "share":
        return f"{float(value):.0%}"
    if kind == "params":
        from planner.costing.budget import format_params

        return format_params(float(value))
    if kind == "int":
        return f"{int(value):,}"
    if kind == "s":
        return f"{float(value):.0f}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


# (column, header, kind) per table
_TABLES: dict[str, list[tuple[str, str, str]]] = {
    "recommendation_frame": [
        ("rank", "#", ""), ("strategy", "strategy", ""), ("paper_name", "paper", ""),
        ("predicted_ppl", "predicted ppl", "ppl"), ("low", "low", "ppl"),
        ("high", "high", "ppl"), ("status", "status", ""),
        ("total", "total over N domains ({unit})", "g"),
        ("reason", "why", "")],
    "summary": [
        ("scale", "scale", ""), ("rank", "rank", ""), ("strategy", "strategy", ""),
        ("paper_name", "paper", ""), ("n_domains", "domains", "int"),
        ("macro_ppl", "macro ppl", "ppl"),
        ("macro_ppl_min", "min over seeds", "ppl"), ("macro_ppl_max", "max over seeds", "ppl"),
        ("n_seeds", "seeds", "int"), ("within_noise", "within noise of #1", ""),
        ("macro_ppl_before_finetune", "before fine-tuning", "ppl"),
        ("pretraining_flops", "pretraining FLOPs", "flops"),
        ("specialization_flops", "specialization FLOPs / domain", "flops"),
        ("inference_params", "served params", "params"), ("within_cap", "within cap", ""),
        ("wall_s", "wall s", "s")],
    "runs": [
        ("scale", "scale", ""), ("strategy", "strategy", ""), ("domain", "domain", ""),
        ("test_ppl", "test ppl", "ppl"), ("test_ppl_min", "min", "ppl"),
        ("test_ppl_max", "max", "ppl"), ("seeds", "seeds", ""),
        ("converged", "converged", ""),
        ("test_ppl_before_finetune", "before ft", "ppl"),
        ("finetune_gain_pct", "ft gain", "pct"),
        ("pretraining_flops", "pretraining FLOPs", "flops"),
        ("specialization_flops", "specialization FLOPs", "flops"),
        ("inference_params", "served params", "params"),
        ("inference_flops_per_token", "FLOPs / token", "flops"), ("wall_s", "wall s", "s"),
        ("n_runs", "runs", "int")],
    "clusters": [
        ("scale", "scale", ""), ("domain", "domain", ""), ("k", "k", "int"),
        ("entropy", "entropy (nats)", "ppl"), ("normalized_entropy", "of max", "share"),
        ("top_share", "top cluster", "share"), ("diffuse", "diffuse", ""),
        ("strategy", "recorded by", "")],
    "measured_vs_predicted": [
        ("scale", "scale", ""), ("strategy", "strategy", ""), ("domain", "domain", ""),
        ("measured", "measured", "ppl"), ("predicted", "predicted", "ppl"),
        ("low", "low", "ppl"), ("high", "high", "ppl"), ("in_band", "in band", ""),
        ("error_pct", "error", "pct"), ("method", "method", "")],
    "claims": [
        ("claim", "claim", ""), ("paper", "paper", ""),
        ("measured", "measured: mean [min-max] over seeds", ""), ("verdict", "verdict", ""),
        ("seeds", "seeds", "")],
    "provenance": [
        ("domain", "domain", ""), ("source", "source", ""), ("licence", "licence", ""),
        ("documents", "documents (train / valid / test)", ""),
        ("provenance", "provenance", "")],
}


def _rows(frame: pd.DataFrame, spec: Sequence[tuple[str, str, str]]) -> list[list[str]]:
    cols = [c for c, _, _ in spec if c in frame.columns]
    kinds = {c: k for c, _, k in spec}
    return [[_fmt(v, kinds[c]) for c, v in zip(cols, row, strict=True)]
            for row in frame[cols].itertuples(index=False, name=None)]


def _headers(frame: pd.DataFrame, spec: Sequence[tuple[str, str, str]]) -> list[str]:
    from planner.reports.plots import UNIT_LABELS

    unit = ""
    if "unit" in frame.columns and len(frame):
        unit = UNIT_LABELS.get(str(frame["unit"].iloc[0]), str(frame["unit"].iloc[0]))
    return [h.replace("{unit}", unit) for c, h, _ in spec if c in frame.columns]


def _html_table(frame: pd.DataFrame, name: str, *, limit: int | None = None) -> str:
    if frame is None or len(frame) == 0:
        return "<p class='muted'>No data.</p>"
    spec = _TABLES[name]
    body = frame if limit is None else frame.head(limit)
    head = "".join(f"<th>{html.escape(h)}</th>" for h in _headers(body, spec))
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>"
                   for r in _rows(body, spec))
    more = (f"<p class='muted'>{len(frame) - limit} more rows not shown.</p>"
            if limit is not None and len(frame) > limit else "")
    return f"<div class='scroll'><table><thead><tr>{head}</tr></thead>" \
           f"<tbody>{rows}</tbody></table></div>{more}"


# ------------------------------------------------------------------------------ HTML
_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;color:#1b1f24;
background:#f6f7f9;line-height:1.45}
main{max-width:1080px;margin:0 auto;padding:24px 28px 48px;background:#fff}
h1{font-size:1.7em;margin:.2em 0}h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid
#d8dde3;padding-bottom:.2em}
.muted{color:#5d6670;font-size:.92em}
.card{border:1px solid #cfd6de;border-left:6px solid #2f6fb3;border-radius:6px;padding:12px 16px;
background:#f3f8fd;margin:16px 0}
.card .big{font-size:1.3em;font-weight:600}
.warn{border-left-color:#c77700;background:#fff7e8}
table{border-collapse:collapse;font-size:.86em;margin:8px 0}
th,td{border:1px solid #d8dde3;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#eef1f4}tbody tr:nth-child(even){background:#fafbfc}
.scroll{overflow-x:auto}
figure{margin:18px 0}figure img{max-width:100%;height:auto;border:1px solid #e3e7eb}
figcaption{font-size:.9em;color:#4a535c}
pre{background:#f3f5f7;padding:10px;overflow-x:auto;font-size:.82em;border-radius:4px}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 14px;margin:8px 0}
dt{font-weight:600}dd{margin:0}
"""


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _budget_items(report: Report) -> list[tuple[str, str]]:
    b = report.budget
    return [("pretraining (once)", str(b.pretraining)),
            ("specialization (per domain)", str(b.specialization)),
            ("inference cap", str(b.inference)),
            ("domain data", f"{b.n_domain_tokens / 1e6:g}M tokens per domain"),
            ("domains", str(b.n_domains)),
            ("total cap", str(b.total) if b.total is not None else "none"),
            ("accelerator", b.accelerator)]


def _headline(report: Report) -> str:
    rec = report.recommendation
    if rec is None:
        return "<div class='card warn'><div class='big'>No strategy fits this budget.</div>" \
               + "".join(f"<p>{_esc(n)}</p>" for n in report.notes[:1]) + "</div>"
    lo, hi = rec.interval
    reasons = "".join(f"<li>{_esc(r)}</li>" for r in rec.reasons)
    return (f"<div class='card'><div class='big'>Recommended: {_esc(rec.strategy)} "
            f"({_esc(rec.paper_name)})</div>"
            f"<p>Predicted perplexity <b>{rec.predicted_ppl:.2f}</b> (90% band {lo:.2f} to "
            f"{hi:.2f}; {_esc(rec.confidence)} confidence"
            f"{'; extrapolating' if rec.extrapolating else ''}). Cost: pretraining "
            f"{_esc(_bucket(rec.cost.pretraining, rec.budget.pretraining.unit))} once, "
            f"specialization {_esc(_bucket(rec.cost.specialization, rec.budget.pretraining.unit))}"
            f" per domain, {_esc(_bucket(rec.cost.total, rec.budget.pretraining.unit))} over "
            f"{rec.budget.n_domains} domain(s).</p><ul>{reasons}</ul></div>")


def _bucket(cost: Any, unit: str) -> str:
    from planner.costing.budget import format_amount

    return format_amount(cost.in_unit(unit), unit)


def render_html(report: Report) -> str:
    """The report as one self-contained HTML document (a string)."""
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
             f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
             f"<title>{_esc(report.title)}</title><style>{_CSS}</style></head><body><main>",
             f"<h1>{_esc(report.title)}</h1>",
             f"<p class='muted'>Generated {_esc(report.generated)}"
             + (f" from {_esc(report.storage)}" if report.storage else "")
             + f"; {len(report.runs)} measured strategy x domain results. Method: Grangier "
               "et al., <i>Specialized Language Models with Cheap Inference from Limited "
               "Domain Data</i> (arXiv 2402.01093).</p>",
             _headline(report)]
    parts.append("<h2>Budget scenario</h2><dl>" + "".join(
        f"<dt>{_esc(k)}</dt><dd>{_esc(v)}</dd>" for k, v in _budget_items(report)) + "</dl>")
    if report.notes:
        parts.append("<div class='card warn'><b>Warnings</b><ul>" + "".join(
            f"<li>{_esc(n)}</li>" for n in report.notes) + "</ul></div>")
    parts.append("<h2>Recommendation and runners-up</h2>")
    parts.append(_html_table(report.recommendation_frame, "recommendation_frame"))
    if report.recommendation_text:
        parts.append(f"<details><summary>Full recommendation (as <code>specplan recommend"
                     f"</code> prints it)</summary><pre>{_esc(report.recommendation_text)}"
                     "</pre></details>")
    figs = {f.key: f for f in figures(report)}
    for title, keys, tables in _sections(figs):
        parts.append(f"<h2>{_esc(title)}</h2>")
        parts.append(_EMPTY_NOTES.get(title, "") if _is_empty(report, title) else "")
        parts += [_html_figure(figs[k]) for k in keys if k in figs]
        parts += [_html_section_table(report, name) for name in tables]
    parts.append("<p class='muted'>specplan: which specialization method fits my budget? "
                 "This file is self-contained: no network access is needed to read it.</p>")
    parts.append("</main></body></html>")
    return "\n".join(p for p in parts if p)


_EMPTY_NOTES = {
    "The paper's orderings at this scale (specplan study)":
        "<p class='muted'>Not measured in this report: <code>specplan study --report DIR"
        "</code> writes a report with the claim table.</p>",
    "Measured runs": "<p class='muted'>No measured runs in this storage yet: run "
                     "<code>specplan demo</code> or <code>specplan run</code>.</p>",
    "Domain clusters": "<p class='muted'>No cluster statistics recorded: they come from runs "
                       "of importance_sampling, mixture or hypernetwork.</p>",
}


def _sections(figs: dict[str, FigureSpec]) -> list[tuple[str, list[str], list[str]]]:
    """(heading, figure keys, table names) in reading order."""
    return [
        ("Decision map", ["decision_map"], []),
        ("Perplexity vs budget", ["curve_pretraining", "curve_specialization"], []),
        ("Cost over N domains", ["domain_costs"], []),
        ("Measured runs", [k for k in figs if k.startswith(("runs_", "measured_costs_"))],
         ["summary", "runs"]),
        ("Domain clusters", ["clusters"], ["clusters"]),
        ("Performance model check", ["model_check"], ["measured_vs_predicted"]),
        ("The paper's orderings at this scale (specplan study)", [], ["claims"]),
        ("Data provenance", [], ["provenance"]),
    ]


def _is_empty(report: Report, title: str) -> bool:
    return ((title == "Measured runs" and not len(report.runs))
            or (title.endswith("(specplan study)") and not len(report.claims))
            or (title == "Domain clusters" and not len(report.clusters)))


def _html_section_table(report: Report, name: str) -> str:
    frame = getattr(report, name)
    if name in ("clusters", "summary", "runs", "claims") and not len(frame):
        return ""  # the section says so in words
    if name != "measured_vs_predicted" or not len(frame):
        return _html_table(frame, name)
    ref = frame[frame["source"] == "paper Table 8"]
    summary = (f"<p>Paper Table 8, leave-one-out: mean absolute error "
               f"{ref['error_pct'].abs().mean():.1f}% over {len(ref)} points.</p>"
               if len(ref) else "")
    return summary + _html_table(frame[frame["source"] == "your runs"], name)


def _html_figure(spec: FigureSpec) -> str:
    fig = spec.draw()
    data = base64.b64encode(_png(fig)).decode("ascii")
    return (f"<figure><img alt='{_esc(spec.title)}' src='data:image/png;base64,{data}'>"
            f"<figcaption><b>{_esc(spec.title)}.</b> {_esc(spec.caption)}</figcaption>"
            "</figure>")


def write_html(report: Report, path: str | Path) -> Path:
    """Write `render_html` to `path` (UTF-8); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(report), encoding="utf-8")
    return path


# ------------------------------------------------------------------------------ PDF
_PAGE = (8.27, 11.69)  # A4 portrait, inches
_LINES_PER_PAGE = 70
_CHARS_PER_LINE = 112


def _text_pages(title: str, lines: list[str], *, wrap: bool = True) -> list[list[str]]:
    """Lines split into pages; prose is wrapped, tables are not (their font shrinks to
    fit the widest row instead, see `_draw_text_page`)."""
    wrapped: list[str] = []
    for line in lines:
        wrapped += (textwrap.wrap(line, _CHARS_PER_LINE, subsequent_indent="    ",
                                  replace_whitespace=False, drop_whitespace=False) or [""]
                    if wrap else [line])
    pages, n = [], _LINES_PER_PAGE - 3
    for i in range(0, max(1, len(wrapped)), n):
        pages.append([title if i == 0 else f"{title} (continued)", "", *wrapped[i:i + n]])
    return pages


def _text_table(frame: pd.DataFrame, name: str) -> list[str]:
    if frame is None or len(frame) == 0:
        return ["(no data)"]
    spec = _TABLES[name]
    heads = _headers(frame, spec)
    rows = _rows(frame, spec)
    widths = [min(40, max(len(h), *(len(r[i]) for r in rows))) for i, h in enumerate(heads)]

    def line(cells: list[str]) -> str:
        return "  ".join(c[:w].ljust(w) for c, w in zip(cells, widths, strict=True))

    return [line(heads), "  ".join("-" * w for w in widths), *map(line, rows)]


def _draw_text_page(pdf: Any, lines: list[str]) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=_PAGE)
    width = max((len(line) for line in lines[1:]), default=1)
    # a monospace glyph is ~0.6 em wide; keep the text within 80% of the page width
    size = min(6.6, 0.80 * _PAGE[0] * 72 / (0.6 * max(width, 1)))
    fig.text(0.06, 0.96, lines[0], fontsize=13, weight="bold", va="top")
    fig.text(0.06, 0.93, "\n".join(lines[1:]), family="monospace", fontsize=size, va="top")
    pdf.savefig(fig)


def write_pdf(report: Report, path: str | Path) -> Path:
    """The report as a PDF: text pages (recommendation, tables), then the figures."""
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    intro = [f"Generated {report.generated}"
             + (f" from {report.storage}" if report.storage else ""), "",
             "Budget scenario:"]
    intro += [f"  {k}: {v}" for k, v in _budget_items(report)]
    intro += ["", *(report.recommendation_text.splitlines() or ["No strategy fits."])]
    if report.notes:
        intro += ["", "Warnings:", *(f"  - {n}" for n in report.notes)]
    pages = _text_pages(report.title, intro)
    pages += _text_pages("Recommendation and runners-up",
                         _text_table(report.recommendation_frame, "recommendation_frame"),
                         wrap=False)
    for title, name in (("Measured runs: summary per strategy", "summary"),
                        ("Measured runs per domain", "runs"),
                        ("Domain clusters", "clusters"),
                        ("Performance model check (your runs, leave-one-out)",
                         "measured_vs_predicted"),
                        ("Data provenance", "provenance")):
        frame = getattr(report, name)
        if name == "measured_vs_predicted" and len(frame):
            frame = frame[frame["source"] == "your runs"]
        pages += _text_pages(title, _text_table(frame, name), wrap=False)
    with PdfPages(path) as pdf:
        for lines in pages:
            _draw_text_page(pdf, lines)
        for spec in figures(report):
            fig = spec.draw()
            fig.suptitle(spec.title, fontsize=12, weight="bold")
            # keep the bottom strip free for the caption (constrained layout: rect)
            engine = fig.get_layout_engine()
            if not isinstance(engine, ConstrainedLayoutEngine):
                raise TypeError(f"figure {spec.key!r} must use constrained layout")
            engine.set(rect=(0, 0.09, 1, 0.91))
            fig.text(0.01, 0.01, textwrap.fill(spec.caption, 130), fontsize=7, va="bottom")
            pdf.savefig(fig)
        info = pdf.infodict()
        info["Title"] = report.title
        info["Subject"] = "specplan: which specialization method fits my budget?"
    return path


def write_report(report: Report, out: str | Path, *,
                 formats: Sequence[str] = DEFAULT_FORMATS,
                 ) -> list[Path]:
    """Write ``report.html`` / ``report.pdf`` / ``tables/*.csv`` under the folder `out`
    (`formats`: any of ``html``, ``pdf``, ``csv``); returns the paths."""
    from domains.errors import SpecplanError

    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise SpecplanError(f"--format: unknown format(s) {', '.join(unknown)}; "
                            f"choose from {', '.join(FORMATS)}")
    out = Path(out)
    written = []
    if "html" in formats:
        written.append(write_html(report, out / "report.html"))
    if "pdf" in formats:
        written.append(write_pdf(report, out / "report.pdf"))
    if "csv" in formats:
        written.extend(write_tables(report, out / "tables"))
    return written


def write_tables(report: Report, folder: str | Path) -> list[Path]:
    """Every table of the report as ``<folder>/<name>.csv`` (the numbers behind the
    figures, for a spreadsheet); nested cells (lists, dicts) as JSON. Returns the paths."""
    from planner.experiments.store import json_cells

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, frame in report.frames().items():
        path = folder / f"{name}.csv"
        json_cells(frame).to_csv(path, index=False)
        paths.append(path)
    return paths
