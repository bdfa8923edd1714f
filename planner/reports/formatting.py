"""Text for people: how the report's tables show their cells (shared by the HTML page, the
PDF pages and the CLI's printed tables). No torch, no matplotlib.

    >>> from planner.reports.formatting import fmt_number, format_cell
    >>> fmt_number(float("nan")), fmt_number(329.591), format_cell(3.2e11, "flops")
    ('n/a', '329.59', '3.2e+11')
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from planner.costing.budget import format_params

if TYPE_CHECKING:
    import pandas as pd

    from planner.costing.budget import Budget

__all__ = ["TABLE_COLUMNS", "UNIT_LABELS", "budget_items", "display_url", "fmt_number",
           "format_cell", "json_cells", "json_default", "table_headers", "table_rows"]


#: how each budget unit is named in headers and axis labels
UNIT_LABELS = {"gpu_hours": "GPU-hours", "usd": "US dollars", "flops": "FLOPs"}


def display_url(url: str) -> str:
    """`url` with its password hidden (``postgresql://me:***@host/db``), for messages."""
    if "@" not in url or url.startswith("journal://"):
        return url
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL sqlalchemy can parse: hide what follows the user name
        head, _, tail = url.rpartition("@")
        scheme, sep, cred = head.partition("://")
        user = cred.split(":", 1)[0]
        return f"{scheme}{sep}{user}:***@{tail}" if ":" in cred else url


def fmt_number(value: Any, spec: str = ".2f", missing: str = "n/a") -> str:
    """`value` formatted with `spec` (``"eng"``: `planner.costing.numbers.format_number`,
    ``1.0e12`` rather than ``1e+12``), or `missing` when it is absent, NaN or not a number
    (a stored run's optional measurement)."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return missing
    if math.isnan(x):
        return missing
    if spec == "eng":
        from planner.costing.numbers import format_number

        return format_number(x)
    return format(x, spec)


def format_cell(value: Any, kind: str = "") -> str:
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
    if kind in ("ppl", "2f"):
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
    if kind == "ratio":
        return f"{float(value):.3g}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


# (column, header, kind) per table
TABLE_COLUMNS: dict[str, list[tuple[str, str, str]]] = {
    "domain_advice": [
        ("domain", "domain", ""), ("n_tokens", "train tokens", "int"), ("k", "k", ""),
        ("n_docs", "documents", "int"), ("normalized_entropy", "normalized entropy", "2f"),
        ("top_share", "top-cluster share", "share"), ("strategy", "choice", ""),
        ("predicted_ppl", "predicted ppl", "ppl"), ("low", "low", "ppl"),
        ("high", "high", "ppl"), ("set_strategy", "the set's", "")],
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
        ("pretraining_tokens_per_param", "pretraining tokens / served param", "ratio"),
        ("specialization_flops", "specialization FLOPs / domain", "flops"),
        ("inference_params", "served params", "params"), ("within_cap", "within cap", ""),
        ("converged", "converged", ""), ("wall_s", "wall s", "s")],
    "runs": [
        ("scale", "scale", ""), ("strategy", "strategy", ""), ("domain", "domain", ""),
        ("test_ppl", "test ppl", "ppl"), ("test_ppl_min", "min", "ppl"),
        ("test_ppl_max", "max", "ppl"), ("seeds", "seeds", ""),
        ("converged", "converged", ""),
        ("test_ppl_before_finetune", "before ft", "ppl"),
        ("finetune_gain_pct", "ft gain", "pct"),
        ("pretraining_flops", "pretraining FLOPs", "flops"),
        ("pretraining_tokens_per_param", "pretraining tokens / served param", "ratio"),
        ("specialization_flops", "specialization FLOPs", "flops"),
        ("inference_params", "served params", "params"),
        ("inference_flops_per_token", "FLOPs / token", "flops"), ("wall_s", "wall s", "s"),
        ("n_runs", "runs", "int"), ("workers", "run by (worker)", ""),
        ("tries", "most tries", "int")],
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


def table_rows(frame: pd.DataFrame, spec: Sequence[tuple[str, str, str]]) -> list[list[str]]:
    cols = [c for c, _, _ in spec if c in frame.columns]
    kinds = {c: k for c, _, k in spec}
    return [[format_cell(v, kinds[c]) for c, v in zip(cols, row, strict=True)]
            for row in frame[cols].itertuples(index=False, name=None)]


def table_headers(frame: pd.DataFrame, spec: Sequence[tuple[str, str, str]]) -> list[str]:
    unit = ""
    if "unit" in frame.columns and len(frame):
        unit = UNIT_LABELS.get(str(frame["unit"].iloc[0]), str(frame["unit"].iloc[0]))
    return [h.replace("{unit}", unit) for c, h, _ in spec if c in frame.columns]



def budget_items(budget: Budget) -> list[tuple[str, str]]:
    """The budget scenario as (label, value) pairs, in the paper's order."""
    b = budget
    return [("pretraining (once)", str(b.pretraining)),
            ("specialization (per domain)", str(b.specialization)),
            ("inference cap", str(b.inference)),
            ("domain data", f"{format_params(b.n_domain_tokens)} tokens per domain"),
            ("domains", str(b.n_domains)),
            ("total cap", str(b.total) if b.total is not None else "none"),
            ("accelerator", b.accelerator)]


def json_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` whose nested cells (dicts, lists, tuples) are JSON text, for flat
    formats (CSV, Parquet): the report's tables and the results store's export. Other
    cells, missing ones included, are left as they are."""
    flat = frame.copy()
    for col in flat.columns:
        if flat[col].map(_nested).any():
            flat[col] = flat[col].map(
                lambda v: json.dumps(v, default=json_default) if _nested(v) else v)
    return flat


def _nested(value: Any) -> bool:
    return isinstance(value, dict | list | tuple)


def json_default(value: Any) -> Any:
    """`json.dumps`'s ``default=`` for a stored record: numpy scalars as numbers, anything
    else as its repr."""
    item = getattr(value, "item", None)
    return item() if callable(item) else repr(value)
