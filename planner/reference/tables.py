"""The paper's published numbers, shipped as data files with their source.

Every table of Grangier et al. (arXiv 2402.01093v2) that the planner uses lives in
``planner/reference/*.csv``; ``planner/reference/README.md`` cites each one. With these
files alone, `specplan recommend` answers at the paper's scale without any training.

Two ways in:
- `read_records(name)`: rows as dicts with numbers already converted (stdlib ``csv``);
  this is what the cold `specplan recommend` path uses, so it never pays for pandas.
- `load_table(name)`: the same table as a `pandas.DataFrame` (pandas imported lazily),
  plus long-format views for analysis (`table8_long`, `perplexity_observations`).

Example:
    >>> from planner.reference import load_table
    >>> t8 = load_table("table8")
    >>> float(t8.loc[(t8.strategy == "large") & (t8.pretraining_gpuh == 600), "ppl_1M"].iloc[0])
    14.5
"""

from __future__ import annotations

import csv
import functools
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from planner.exceptions import ReferenceDataError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CALIBRATION_STRATEGIES",
    "REFERENCE_DIR",
    "SOURCES",
    "TABLES",
    "DOMAIN_TOKEN_COLUMNS",
    "knob_measurements",
    "load_table",
    "perplexity_observations",
    "read_records",
    "table8_long",
]

REFERENCE_DIR = Path(__file__).resolve().parent

#: short name -> file stem in ``planner/reference``
TABLES: dict[str, str] = {
    "table2": "table2_throughput",
    "table3": "table3_budget_limits",
    "table4": "table4_baselines",
    "table5": "table5_expert_selection",
    "table7": "table7_parameters",
    "table8": "table8_main",
    "table9": "table9_top_cluster_fraction",
    "table10": "table10_cluster_entropy",
    "figures": "figure_facts",
    "accelerators": "accelerators",
}

_PAPER = "Grangier et al., arXiv 2402.01093v2"
#: file stem -> citation
SOURCES: dict[str, str] = {
    "table2_throughput": f"{_PAPER}, Table 2 (GPUh per 1B tokens on A100)",
    "table3_budget_limits": f"{_PAPER}, Table 3 (upper limits on training budget, GPUh)",
    "table4_baselines": f"{_PAPER}, Table 4 (baselines, macro-average Pile PPL)",
    "table5_expert_selection": f"{_PAPER}, Table 5 (mixture expert selection, 1M tokens)",
    "table7_parameters": f"{_PAPER}, Tables 1 and 7 (pretraining / inference parameters)",
    "table8_main": f"{_PAPER}, Table 8 (main comparison at fixed pretraining cost)",
    "table9_top_cluster_fraction": f"{_PAPER}, Table 9 (share of the top cluster)",
    "table10_cluster_entropy": f"{_PAPER}, Table 10 (cluster-histogram entropy)",
    "figure_facts": f"{_PAPER}, Figures 4-7, 10, 11 and the text; figure-derived or stated "
                    "facts with their precision",
    "accelerators": "vendor datasheets (peak rates) and typical cloud prices",
}

#: Table 2's rows that calibrate the MFU curve: the paper's small (126M) and large (771M)
#: model, in that order
CALIBRATION_STRATEGIES = ("small", "large")

#: column of the wide perplexity tables -> in-domain training tokens
DOMAIN_TOKEN_COLUMNS: dict[str, int] = {"ppl_1M": 1_000_000, "ppl_8M": 8_000_000,
                                        "ppl_64M": 64_000_000}

_TEXT_COLUMNS = frozenset({"strategy", "paper_name", "phase", "note", "bucket", "selection",
                           "rule", "source", "domain", "id", "quantity", "unit", "precision",
                           "name", "peak_source", "price_note"})


def _stem(name: str) -> str:
    stem = TABLES.get(name, name)
    if stem not in SOURCES:
        raise ReferenceDataError(
            f"unknown reference table {name!r}; choose one of: {', '.join(TABLES)}"
        )
    return stem


def _coerce(column: str, value: str) -> Any:
    if column in _TEXT_COLUMNS:
        return value
    if value == "":
        return None
    try:
        number = float(value)
    except ValueError:
        return value
    return int(number) if number.is_integer() and "." not in value and "e" not in value \
        else number


@functools.cache
def _read(stem: str) -> tuple[dict[str, Any], ...]:
    path = REFERENCE_DIR / f"{stem}.csv"
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = [{k: _coerce(k, v) for k, v in row.items()} for row in csv.DictReader(f)]
    except OSError as err:
        raise ReferenceDataError(f"reference table {path} cannot be read: {err}") from err
    if not rows:
        raise ReferenceDataError(f"reference table {path} is empty")
    return tuple(rows)


def read_records(name: str) -> list[dict[str, Any]]:
    """Rows of a reference table as dicts (numbers converted, empty cells -> None).

    Args:
        name: a short name (``table8``) or a file stem (``table8_main``).
    """
    return [dict(row) for row in _read(_stem(name))]


def load_table(name: str) -> pd.DataFrame:
    """A reference table as a DataFrame; ``df.attrs["source"]`` holds its citation."""
    import pandas as pd

    stem = _stem(name)
    df = pd.DataFrame(read_records(stem))
    df.attrs["source"] = SOURCES[stem]
    df.attrs["path"] = str(REFERENCE_DIR / f"{stem}.csv")
    return df


def table8_long() -> pd.DataFrame:
    """Table 8 in long format: one row per (strategy, pretraining GPUh, domain tokens)."""
    import pandas as pd

    return pd.DataFrame(_table8_rows())


def _table8_rows() -> list[dict[str, Any]]:
    out = []
    for row in read_records("table8"):
        for column, n_tokens in DOMAIN_TOKEN_COLUMNS.items():
            out.append({"strategy": row["strategy"], "pretraining_gpuh": row["pretraining_gpuh"],
                        "n_domain_tokens": n_tokens, "test_ppl": row[column],
                        "row": f"{row['strategy']}@{row['pretraining_gpuh']}",
                        "source": "Table 8"})
    return out


def perplexity_observations() -> list[dict[str, Any]]:
    """Every published or figure-derived fine-tuned perplexity the performance model uses.

    Each record: strategy, pretraining_gpuh, specialization_gpuh (None where the paper's
    fine-tuning schedule applies), n_domain_tokens, test_ppl, low / high (the figure-derived
    range, None for table values), precision, source, row (the Table 8 row id).

    Table 4's SLM and LLM rows are left out: their pretraining compute is only bounded
    ("under 650 GPUh"), and the SLM row repeats Table 8's 400-GPUh row; they serve as a
    consistency check instead (tests). Table 4's SLM-nopt row is the only source for it.
    """
    obs = []
    for rec in _table8_rows():
        obs.append({**rec, "specialization_gpuh": None, "low": None, "high": None,
                    "precision": "table"})
    for row in read_records("table4"):
        if row["strategy"] != "small_nopt":
            continue
        for column, n_tokens in DOMAIN_TOKEN_COLUMNS.items():
            obs.append({"strategy": "small_nopt", "pretraining_gpuh": 0.0,
                        "specialization_gpuh": None, "n_domain_tokens": n_tokens,
                        "test_ppl": row[column], "low": None, "high": None,
                        "precision": "table", "source": "Table 4", "row": "small_nopt"})
    facts = {r["id"]: r for r in read_records("figures")}
    spec_gpuh = facts["is_spec_gpuh"]["value"]
    for r in read_records("figures"):
        if r["strategy"] == "importance_sampling" and r["quantity"] == "test_ppl":
            obs.append({"strategy": "importance_sampling", "pretraining_gpuh": 0.0,
                        "specialization_gpuh": spec_gpuh,
                        "n_domain_tokens": r["n_domain_tokens"], "test_ppl": r["value"],
                        "low": r["low"], "high": r["high"], "precision": r["precision"],
                        "source": r["source"], "row": "importance_sampling"})
    for o in obs:
        if not (isinstance(o["test_ppl"], (int, float)) and math.isfinite(o["test_ppl"])):
            raise ReferenceDataError(f"bad perplexity in reference data: {o}")
    return obs


def figure_fact(fact_id: str) -> dict[str, Any]:
    """One row of ``figure_facts.csv`` by id (e.g. ``is_spec_gpuh``)."""
    for row in _read("figure_facts"):
        if row["id"] == fact_id:
            return dict(row)
    raise ReferenceDataError(f"no figure fact {fact_id!r} in figure_facts.csv")


def knob_measurements(strategy: str) -> list[dict[str, Any]]:
    """Perplexities the paper measured for `strategy` outside its main configuration.

    Each record: params (the strategy parameters of the measurement), pretraining_gpuh,
    n_domain_tokens, test_ppl, source. Today: Table 5 for the mixture (64 experts, ~600
    GPUh, 1M tokens: the three expert-selection rules); empty for the other strategies.
    """
    if strategy != "mixture":
        return []
    return [{"params": {"n_experts": int(r["n_experts"]), "selection": r["selection"]},
             "pretraining_gpuh": float(r["pretraining_gpuh"]),
             "n_domain_tokens": float(r["n_domain_tokens"]), "test_ppl": float(r["ppl"]),
             "source": "Table 5"} for r in read_records("table5")]
