"""The measured-runs section: one row per strategy x domain, and per strategy.

- `runs_table`: test perplexity before and after fine-tuning, FLOPs per bucket, the served
  model's generic pretraining tokens per parameter (`pretraining_tokens_per_param`),
  parameters served and wall time, seeds averaged;
- `strategy_summary`: the macro-average over domains (the paper's §3.2 convention: mean
  per-token NLL per domain, averaged over domains, exponentiated) and a rank within the cap;
- `measured_domain_costs`: measured FLOPs over N domains (Eq. 1).

pandas and numpy only; no torch.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from planner.reports.common import paper_name, strategy_order

__all__ = ["PAPER_TOKENS_PER_PARAM", "measured_domain_costs", "measured_findings",
           "pretraining_tokens", "pretraining_tokens_per_param", "runs_table",
           "strategy_summary"]

#: generic pretraining tokens per parameter of the paper's small model: 45B-180B tokens
#: (Table 8's SLM rows, 100-400 GPUh) over 126M parameters (Table 6), rounded (issue 12)
PAPER_TOKENS_PER_PARAM = (360.0, 1440.0)
#: cost components that hold the served model's own generic pretraining, as the strategies
#: name them (`Cost.components`): small / large / mixture / hypernetwork, the distillation
#: student, importance sampling's resampled pretraining (charged to specialization)
_PRETRAINING_COMPONENTS = ("pretraining", "pretraining_student", "is_pretraining")


def _mapping(value: Any) -> Mapping[str, Any]:
    """A stored dict field (a dict, or JSON text from a CSV export); {} otherwise."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, Mapping) else {}


def pretraining_tokens(record: Mapping[str, Any]) -> float:
    """Generic tokens the served model was pretrained on, from a stored run record.

    The served model's pretraining FLOPs (its cost component: ``pretraining``, the
    distillation student's ``pretraining_student``, importance sampling's
    ``is_pretraining``; else the record's ``pretraining_flops``) over its training FLOPs
    per token (3 x ``inference_flops_per_token``: `strategies.machinery.flops`, Kaplan et
    al. 2020). A mixture serves one expert: the tokens of that expert
    (``info["expert_tokens"]``), else the total over ``info["n_experts"]``. The projected
    network's pretraining is counted per token of the served model (its projection adds
    well under 1%). Returns 0.0 for a model with no pretraining, NaN when the record lacks
    the FLOPs per token.
    """
    per_token = 3.0 * float(record.get("inference_flops_per_token") or float("nan"))
    if not per_token > 0:
        return float("nan")
    comps = _mapping(record.get("cost_components"))
    found = [float(comps[c]) for c in _PRETRAINING_COMPONENTS if c in comps]
    flops = found[0] if found else float(record.get("pretraining_flops") or 0.0)
    info = _mapping(record.get("info"))
    expert, per_expert = info.get("expert"), info.get("expert_tokens")
    if isinstance(per_expert, list) and isinstance(expert, int) and 0 <= expert < len(per_expert):
        return float(per_expert[expert])
    tokens = flops / per_token
    n_experts = info.get("n_experts")
    return tokens / n_experts if isinstance(n_experts, int) and n_experts > 0 else tokens


def pretraining_tokens_per_param(record: Mapping[str, Any]) -> float:
    """`pretraining_tokens` over the served model's parameters (``inference_params``): the
    regime a run was measured in (the paper's small model: 360-1,440,
    `PAPER_TOKENS_PER_PARAM`). NaN when either is unknown."""
    params = float(record.get("inference_params") or float("nan"))
    tokens = pretraining_tokens(record)
    return tokens / params if params > 0 and not math.isnan(tokens) else float("nan")


def runs_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per scale x strategy x domain: measured perplexity and cost per bucket.

    Repeated runs (seeds) are averaged: perplexity as exp(mean NLL), FLOPs and wall time as
    means; ``test_ppl_min`` / ``test_ppl_max`` are the spread over the seeds (``seeds``),
    ``seed_ppl`` maps each seed to its perplexity (mean over its runs), and
    ``converged`` counts the runs whose fine-tune converged (``"3/3"``; its best step was
    not its last; empty for runs stored before fine-tunes were recorded).
    ``finetune_gain_pct`` is how much fine-tuning lowered the test perplexity;
    ``within_cap`` says whether the served model fits the scale's inference cap (the small
    model's parameter count, as in the paper).

    Args:
        runs: the results store's frame (`planner.experiments.store.load_runs`).
    """
    cols = ["scale", "strategy", "paper_name", "domain", "n_runs", "test_ppl",
            "test_ppl_min", "test_ppl_max", "seeds", "seed_ppl", "converged",
            "test_ppl_before_finetune", "finetune_gain_pct", "pretraining_flops",
            "pretraining_tokens_per_param",
            "specialization_flops", "inference_params", "pretraining_params",
            "inference_flops_per_token", "within_cap", "wall_s", "workers", "tries"]
    if runs is None or len(runs) == 0:
        return pd.DataFrame(columns=cols)
    frame = runs.copy()
    frame = frame[pd.to_numeric(frame["test_ppl"], errors="coerce").notna()]
    if len(frame) == 0:
        return pd.DataFrame(columns=cols)
    num = ["test_ppl", "test_nll", "test_ppl_before_finetune", "pretraining_flops",
           "specialization_flops", "inference_params", "pretraining_params",
           "inference_flops_per_token", "wall_s"]
    for c in num:
        frame[c] = pd.to_numeric(frame[c], errors="coerce") if c in frame else np.nan
    nll = np.where(frame["test_nll"].notna(), frame["test_nll"], np.log(frame["test_ppl"]))
    frame = frame.assign(_nll=nll, _nll_before=np.log(frame["test_ppl_before_finetune"]),
                         _tpp=[pretraining_tokens_per_param(r)
                               for r in frame.to_dict(orient="records")])
    rows = []
    for (scale, strategy, domain), g in frame.groupby(["scale", "strategy", "domain"],
                                                      sort=False):
        after = float(np.exp(g["_nll"].mean()))
        before = float(np.exp(g["_nll_before"].mean())) if g["_nll_before"].notna().any() \
            else float("nan")
        seeds = pd.to_numeric(g["seed"], errors="coerce") if "seed" in g else None
        per_seed = (g.assign(_seed=seeds).groupby("_seed")["_nll"].mean()
                    if seeds is not None and seeds.notna().all() else g["_nll"])
        seed_ppl = ({int(k): float(np.exp(v)) for k, v in per_seed.items()}
                    if seeds is not None and seeds.notna().all() else {})
        conv = g["converged"].dropna() if "converged" in g else pd.Series(dtype=object)
        rows.append({
            "scale": scale, "strategy": strategy, "paper_name": paper_name(strategy),
            "domain": domain, "n_runs": len(g), "test_ppl": after,
            "test_ppl_min": float(np.exp(per_seed.min())),
            "test_ppl_max": float(np.exp(per_seed.max())),
            "seeds": ",".join(str(k) for k in sorted(seed_ppl)),
            "seed_ppl": seed_ppl,
            "converged": (f"{int(conv.astype(bool).sum())}/{len(g)}" if len(conv) else ""),
            # who ran the runs (``worker@host`` as the store records it) and the most tries
            # any of them took (a worker that died: retried by another, issue 15)
            "workers": _workers(g),
            "tries": (int(pd.to_numeric(g["tries"], errors="coerce").max())
                      if "tries" in g and pd.to_numeric(g["tries"], errors="coerce").notna().any()
                      else np.nan),
            "test_ppl_before_finetune": before,
            "finetune_gain_pct": 100.0 * (before - after) / before if before > 0 else np.nan,
            "pretraining_flops": g["pretraining_flops"].mean(),
            "pretraining_tokens_per_param": g["_tpp"].mean(),
            "specialization_flops": g["specialization_flops"].mean(),
            "inference_params": int(g["inference_params"].max()),
            "pretraining_params": g["pretraining_params"].max(),
            "inference_flops_per_token": g["inference_flops_per_token"].mean(),
            "within_cap": _within_cap(str(scale), int(g["inference_params"].max())),
            "wall_s": g["wall_s"].mean(),
        })
    out = pd.DataFrame(rows, columns=cols)
    order = {s: i for i, s in enumerate(strategy_order(out["strategy"]))}
    domains = {d: i for i, d in enumerate(dict.fromkeys(out["domain"]))}
    out = out.assign(_s=out["strategy"].map(order), _d=out["domain"].map(domains))
    return out.sort_values(["scale", "_s", "_d"]).drop(columns=["_s", "_d"]).reset_index(
        drop=True)


def _within_cap(scale: str, n_params: int) -> bool | None:
    """The paper's inference cap is the small model: a served model may not exceed it."""
    from domains.errors import SpecplanError
    from strategies.machinery.scales import get_scale

    try:
        cap = get_scale(scale).small.n_params
    except SpecplanError:
        return None
    return n_params <= cap


def _workers(g: pd.DataFrame) -> str:
    """The distinct workers (with their host when the store has it) of a group of runs."""
    if "worker" not in g:
        return ""
    names = [str(w) for w in g["worker"].dropna().unique() if str(w)]
    return ", ".join(sorted(names))


def strategy_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per scale x strategy: macro-average perplexity over its domains, and costs.

    ``macro_ppl`` = exp(mean over domains of log perplexity): the paper's macro-average
    (§3.2), every domain weighing the same. ``rank`` orders the strategies within the
    inference cap by it (those over the cap get no rank). With several seeds,
    ``macro_ppl_min`` / ``macro_ppl_max`` are the spread of the per-seed macro-averages
    (seeds run on every domain; ``n_seeds``), and ``within_noise`` says whether the
    strategy's min-max interval overlaps the rank-1 strategy's (so their order is not
    established by these seeds; the rank-1 row itself is left empty).
    """
    cols = ["scale", "strategy", "paper_name", "n_domains", "macro_ppl", "macro_ppl_min",
            "macro_ppl_max", "n_seeds", "within_noise",
            "macro_ppl_before_finetune", "pretraining_flops", "pretraining_tokens_per_param",
            "specialization_flops", "inference_params", "within_cap", "converged", "wall_s",
            "rank"]
    if len(table) == 0:
        return pd.DataFrame(columns=cols)
    rows = []
    for (scale, strategy), g in table.groupby(["scale", "strategy"], sort=False):
        before = g["test_ppl_before_finetune"]
        lo, hi, n_seeds = _macro_spread(g)
        rows.append({
            "scale": scale, "strategy": strategy, "paper_name": paper_name(strategy),
            "n_domains": len(g), "macro_ppl": float(np.exp(np.log(g["test_ppl"]).mean())),
            "macro_ppl_min": lo, "macro_ppl_max": hi, "n_seeds": n_seeds,
            "macro_ppl_before_finetune": (float(np.exp(np.log(before).mean()))
                                          if before.notna().all() else np.nan),
            # the shared bucket is paid once; the per-domain bucket is a mean over domains
            "pretraining_flops": g["pretraining_flops"].max(),
            "pretraining_tokens_per_param": (g["pretraining_tokens_per_param"].max()
                                             if "pretraining_tokens_per_param" in g
                                             else np.nan),
            "specialization_flops": g["specialization_flops"].mean(),
            "inference_params": int(g["inference_params"].max()),
            "within_cap": bool(g["within_cap"].all()) if g["within_cap"].notna().all()
            else None,
            "converged": _converged_total(g),
            "wall_s": g["wall_s"].sum(),
        })
    out = pd.DataFrame(rows)
    out["rank"] = pd.array([pd.NA] * len(out), dtype="Int64")
    out["within_noise"] = pd.array([None] * len(out), dtype=object)
    for scale, g in out.groupby("scale"):
        capped = g[g["within_cap"].fillna(True).astype(bool)].sort_values("macro_ppl")
        for r, idx in enumerate(capped.index, start=1):
            out.loc[idx, "rank"] = r
        if len(capped) and capped["n_seeds"].iloc[0] > 1:
            best = capped.iloc[0]
            for idx in capped.index[1:]:
                row = out.loc[idx]
                if row["n_seeds"] > 1:
                    out.at[idx, "within_noise"] = bool(
                        row["macro_ppl_min"] <= best["macro_ppl_max"])
    return out[cols].reset_index(drop=True)


def _converged_total(g: pd.DataFrame) -> str:
    """``"8/9"``: converged fine-tunes over runs, summed over the domains' ``converged``
    cells (``""`` when none recorded it)."""
    cells = [str(c) for c in g.get("converged", pd.Series(dtype=object)).dropna()
             if "/" in str(c)]
    if not cells:
        return ""
    ok = sum(int(c.split("/")[0]) for c in cells)
    return f"{ok}/{sum(int(c.split('/')[1]) for c in cells)}"


def _macro_spread(g: pd.DataFrame) -> tuple[float, float, int]:
    """(min, max, number) of the per-seed macro-averages over the seeds that ran on every
    domain of `g` (one `runs_table` group); (nan, nan, 0) when no seed ran on all."""
    maps = [m for m in g["seed_ppl"]] if "seed_ppl" in g else []
    if not maps or not all(isinstance(m, dict) and m for m in maps):
        return float("nan"), float("nan"), 0
    common = set.intersection(*(set(m) for m in maps))
    if not common:
        return float("nan"), float("nan"), 0
    macros = [float(np.exp(np.mean([np.log(m[k]) for m in maps]))) for k in sorted(common)]
    return min(macros), max(macros), len(macros)



def measured_domain_costs(table: pd.DataFrame,
                          n_domains: Sequence[int] = (1, 3, 7, 20, 50)) -> pd.DataFrame:
    """Measured FLOPs over N domains per strategy: pretraining + N x mean specialization."""
    cols = ["scale", "strategy", "n_domains", "pretraining", "specialization_per_domain",
            "total", "unit"]
    summary = strategy_summary(table)
    rows = [{"scale": r.scale, "strategy": r.strategy, "n_domains": int(n),
             "pretraining": float(r.pretraining_flops),
             "specialization_per_domain": float(r.specialization_flops),
             "total": float(r.pretraining_flops) + n * float(r.specialization_flops),
             "unit": "flops"}
            for r in summary.itertuples() for n in n_domains]
    return pd.DataFrame(rows, columns=cols)



def measured_findings(summary: pd.DataFrame, table: pd.DataFrame) -> list[str]:
    """What the measured runs show, in sentences built only from them (`specplan demo`
    prints them; the report shows them above the summary table), per scale:

    - the best strategy within the inference cap (macro perplexity, min-max over seeds),
      and which strategies are within noise of it (their min-max intervals overlap);
    - whether the strategies within the cap had equal pretraining compute (within 10%);
      when not, the ranking among those at the best one's pretraining FLOPs;
    - how many fine-tunes converged (ended by early stopping), and which strategies have
      runs that did not;
    - the regime: generic pretraining tokens per served parameter per strategy
      (`pretraining_tokens_per_param`), against the paper's 360-1,440
      (`PAPER_TOKENS_PER_PARAM`).

    Args:
        summary: `strategy_summary` of `table`.
        table: `runs_table` of the runs.
    """
    out: list[str] = []
    scales = list(dict.fromkeys(summary["scale"])) if len(summary) else []
    for scale in scales:
        lines = _findings_at(summary[summary["scale"] == scale],
                             table[table["scale"] == scale])
        out += [f"At scale {scale!r}: {ln}" for ln in lines] if len(scales) > 1 else lines
    return out


def _findings_at(summary: pd.DataFrame, table: pd.DataFrame) -> list[str]:
    out: list[str] = []
    ranked = summary.dropna(subset=["rank"]).sort_values("rank")
    n_seeds = 0
    if len(ranked):
        best = ranked.iloc[0]
        n_seeds = int(best.n_seeds) if best.n_seeds == best.n_seeds else 0
        spread = (f", {best.macro_ppl_min:.2f}-{best.macro_ppl_max:.2f} over {n_seeds} seeds"
                  if n_seeds > 1 else " (one seed: no spread)")
        out.append(f"Best measured within the inference cap (the small model's size): "
                   f"{best.strategy} (macro perplexity {best.macro_ppl:.2f}{spread}).")
        ties = [str(r.strategy) for r in ranked.iloc[1:].itertuples() if r.within_noise is True]
        if ties:
            out.append(f"Within noise of it (min-max over seeds overlap): {', '.join(ties)}; "
                       "their order is not established by these runs.")
        elif n_seeds > 1 and len(ranked) > 1:
            out.append("No other strategy within the cap overlaps it over the seeds.")
        pre = ranked["pretraining_flops"].astype(float)
        if len(ranked) > 1 and pre.max() > 1.1 * max(pre.min(), 1.0):
            parts = ", ".join(f"{r.strategy} {float(r.pretraining_flops):.3g}"
                              for r in ranked.itertuples())
            out.append(f"Not at equal pretraining compute (pretraining FLOPs: {parts}): the "
                       "ranking compares strategies at the budgets each was given.")
            ref = float(best.pretraining_flops)
            peers = [r for r in ranked.itertuples()
                     if abs(float(r.pretraining_flops) - ref) <= 0.1 * max(ref, 1.0)]
            if len(peers) > 1:
                out.append(f"At {best.strategy}'s pretraining compute ({ref:.3g} FLOPs, within "
                           "10%): " + ", ".join(f"{r.strategy} {r.macro_ppl:.2f}"
                                                for r in peers) + ".")
            else:
                out.append(f"No other strategy within the cap had {best.strategy}'s "
                           f"pretraining compute ({ref:.3g} FLOPs, within 10%).")
            late = [str(r.strategy) for r in ranked.itertuples()
                    if float(r.pretraining_flops) == 0.0
                    and float(r.pretraining_tokens_per_param or 0.0) > 0.0]
            if late:
                out.append(f"{', '.join(late)}: pretrained after the domain is known, so "
                           "charged to specialization (0 pretraining FLOPs).")
        elif len(ranked) > 1:
            out.append("The strategies within the cap had equal pretraining compute "
                       "(within 10%).")
    conv = [(str(r.strategy), str(r.converged)) for r in summary.itertuples()
            if "/" in str(getattr(r, "converged", ""))]
    if conv:
        ok = sum(int(c.split("/")[0]) for _, c in conv)
        total = sum(int(c.split("/")[1]) for _, c in conv)
        line = (f"Fine-tunes that converged (ended by early stopping, best step before the "
                f"last): {ok} of {total}.")
        bad = [f"{s} {c}" for s, c in conv if c.split("/")[0] != c.split("/")[1]]
        if bad:
            line += f" Not all converged: {', '.join(bad)}."
        out.append(line)
    tpp = [(str(r.strategy), float(r.pretraining_tokens_per_param))
           for r in summary.itertuples()
           if float(getattr(r, "pretraining_tokens_per_param", float("nan")) or 0.0) > 0.0]
    if tpp:
        top = max(v for _, v in tpp)
        lo, hi = PAPER_TOKENS_PER_PARAM
        out.append("Pretraining regime, generic tokens per served parameter: "
                   + ", ".join(f"{s} {v:.2g}" for s, v in tpp)
                   + f" (a mixture: its served expert's share). The paper's small model sees "
                   f"{lo:,.0f}-{hi:,.0f}, {lo / top:,.0f}x or more beyond the most here: the "
                   "orderings above are this regime's, not the paper's.")
    return out
