"""The measured-runs section: one row per strategy x domain, and per strategy.

- `runs_table`: test perplexity before and after fine-tuning, FLOPs per bucket, parameters
  served and wall time, seeds averaged;
- `strategy_summary`: the macro-average over domains (the paper's §3.2 convention: mean
  per-token NLL per domain, averaged over domains, exponentiated) and a rank within the cap;
- `measured_domain_costs`: measured FLOPs over N domains (Eq. 1).

pandas and numpy only; no torch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from planner.reports.common import paper_name, strategy_order

__all__ = ["measured_domain_costs", "runs_table", "strategy_summary"]


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
    frame = frame.assign(_nll=nll, _nll_before=np.log(frame["test_ppl_before_finetune"]))
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
            "macro_ppl_before_finetune", "pretraining_flops", "specialization_flops",
            "inference_params", "within_cap", "wall_s", "rank"]
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
            "specialization_flops": g["specialization_flops"].mean(),
            "inference_params": int(g["inference_params"].max()),
            "within_cap": bool(g["within_cap"].all()) if g["within_cap"].notna().all()
            else None,
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

