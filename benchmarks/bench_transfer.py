"""Does a small scale predict a larger one? Per-domain gains over `small`, fitted at one
scale, as predictions of the same gains (and their ordering) at a larger scale.

    specplan sweep --strategies small,mixture,hypernetwork,importance_sampling \\
        --domains biomedical,legal,news --scale tiny --seeds 0,1,2 --storage URL
    specplan sweep ... --scale demo --seeds 0,1 --storage URL
    .venv/bin/python benchmarks/bench_transfer.py --storage URL [--storage URL2 ...] \
        [--small tiny --large demo] [--out transfer.json]

For every domain and strategy with runs at both scales, the gain is the mean over seeds
of ln ppl_strategy - ln ppl_small (seeds paired; runs flagged not converged left out;
`planner.performance.domain_prior.measured_gains`). Reported:

- per domain: the ordering of the strategies by gain at each scale, and Kendall's tau
  between them (1: the small scale orders them as the larger one does);
- per strategy: the ordering of the domains by gain, and Kendall's tau;
- overall: Spearman's rho over every (domain, strategy) gain, the share with the same sign
  (beats `small` at both scales or at neither), and the transfer error: the RMS of
  (gain at the larger scale - gain at the small scale), in log perplexity, raw and with
  each strategy's mean gain removed (the domain effect alone).

The raw RMS is what `planner.performance.domain_prior.TRANSFER_SIGMA` is set from: it is
the log-sd of (gain at the larger scale - gain at the small scale), i.e. how far a
measured small-scale gain is from the same gain one scale up, which is the noise the
advice's Gaussian update adds to a measured gain's standard error. The benchmark prints
that arithmetic and the constant beside it.

Which scales: the issue asks for `tiny` -> the study scale. `specplan study` runs at
`tiny` (its preset), so the largest scale with stored runs in this project is `demo`
(`make demo`): the benchmark compares `tiny` with `demo` by default (`--small`,
`--large` choose others, e.g. a custom larger scale once runs exist). The jump from
`demo` to the paper's 126M models is not measured by anything here.

Prints what was compared (scales with their model sizes, domains, strategies, seeds),
the table, the rank agreement and the TRANSFER_SIGMA arithmetic; writes every number as
JSON (``--out``). Reads stored runs only: it trains nothing. Without runs at both
scales it says which are missing and how to produce them (exit 2).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from itertools import combinations
from pathlib import Path
from typing import Any


def kendall_tau(a: list[float], b: list[float]) -> float | None:
    """Kendall's tau-a of two equally long lists (None for fewer than 2 items)."""
    pairs = list(combinations(range(len(a)), 2))
    if not pairs:
        return None
    s = sum(math.copysign(1, (a[i] - a[j]) * (b[i] - b[j])) if (a[i] - a[j]) * (b[i] - b[j])
            else 0 for i, j in pairs)
    return s / len(pairs)


def spearman_rho(a: list[float], b: list[float]) -> float | None:
    from scipy.stats import spearmanr

    if len(a) < 3:
        return None
    return float(spearmanr(a, b).statistic)


def gains_at(runs: Any, scale: str) -> dict[tuple[str, str], Any]:
    from planner.performance.domain_prior import measured_gains

    sub = runs[runs["scale"] == scale]
    out = {}
    for domain in sorted(set(sub["domain"])):
        for name, g in measured_gains(sub, domain).items():
            out[(domain, name)] = g
    return out


def compare(runs: Any, small: str, large: str) -> dict[str, Any]:
    lo, hi = gains_at(runs, small), gains_at(runs, large)
    keys = sorted(set(lo) & set(hi))
    rows = [{"domain": d, "strategy": s, f"gain_{small}": lo[(d, s)].gain,
             f"se_{small}": lo[(d, s)].se, f"seeds_{small}": lo[(d, s)].n_seeds,
             f"gain_{large}": hi[(d, s)].gain, f"se_{large}": hi[(d, s)].se,
             f"seeds_{large}": hi[(d, s)].n_seeds} for d, s in keys]
    out: dict[str, Any] = {"small_scale": small, "large_scale": large, "pairs": rows,
                           "per_domain": {}, "per_strategy": {}}
    for group, other in (("domain", "strategy"), ("strategy", "domain")):
        for value in sorted({r[group] for r in rows}):
            sub = [r for r in rows if r[group] == value]
            a = [r[f"gain_{small}"] for r in sub]
            b = [r[f"gain_{large}"] for r in sub]
            out[f"per_{group}"][value] = {
                f"order_{small}": [sub[i][other] for i in sorted(range(len(a)),
                                                                 key=a.__getitem__)],
                f"order_{large}": [sub[i][other] for i in sorted(range(len(b)),
                                                                 key=b.__getitem__)],
                "kendall_tau": kendall_tau(a, b)}
    a = [r[f"gain_{small}"] for r in rows]
    b = [r[f"gain_{large}"] for r in rows]
    diffs = [y - x for x, y in zip(a, b)]
    means: dict[str, tuple[float, float]] = {}
    for s in {r["strategy"] for r in rows}:
        sub = [r for r in rows if r["strategy"] == s]
        means[s] = (sum(r[f"gain_{small}"] for r in sub) / len(sub),
                    sum(r[f"gain_{large}"] for r in sub) / len(sub))
    dev = [(r[f"gain_{large}"] - means[r["strategy"]][1])
           - (r[f"gain_{small}"] - means[r["strategy"]][0]) for r in rows]
    out["overall"] = {
        "n_pairs": len(rows),
        "spearman_rho": spearman_rho(a, b),
        "sign_agreement": (sum((x < 0) == (y < 0) for x, y in zip(a, b)) / len(rows)
                           if rows else None),
        "transfer_rms": math.sqrt(sum(d * d for d in diffs) / len(diffs)) if diffs else None,
        "transfer_rms_domain_effect": (math.sqrt(sum(d * d for d in dev) / len(dev))
                                       if dev else None),
    }
    return out


def scale_line(name: str, runs: Any = None) -> str:
    """`name` in words: the stored `small` runs' parameters and pretraining FLOPs, and the
    scale registry's data sizes (a name the registry does not know: the stored part only)."""
    from strategies.machinery.scales import get_scale

    parts = []
    if runs is not None and len(runs):
        sub = runs[(runs["scale"] == name) & (runs["strategy"] == "small")]
        if len(sub):
            parts.append(f"stored small runs: {sub['inference_params'].median() / 1e6:.2f}M "
                         f"parameters, {sub['pretraining_flops'].median():.3g} pretraining "
                         "FLOPs")
    try:
        sc = get_scale(name)
        parts.append(f"{sc.pretrain_tokens:,} generic pretraining tokens, "
                     f"{sc.domain_train_tokens:,} domain tokens (scale registry)")
    except Exception:  # noqa: BLE001 - a custom scale: the stored part only
        pass
    return f"{name} ({'; '.join(parts)})" if parts else name


def describe(res: dict[str, Any], runs: Any = None) -> list[str]:
    """What was compared and how TRANSFER_SIGMA follows, in lines."""
    from planner.performance.domain_prior import TRANSFER_SIGMA

    s, g = res["small_scale"], res["large_scale"]
    rows = res["pairs"]
    o = res["overall"]
    seeds = {k: sorted({r[f"seeds_{k}"] for r in rows}) for k in (s, g)}
    lines = [
        "Compared: each strategy's gain over small on each domain (mean over paired seeds "
        "of ln ppl_strategy - ln ppl_small; unconverged runs left out), measured at",
        f"  {scale_line(s, runs)}, seeds per gain {seeds[s]},",
        "as a prediction of the same gain at",
        f"  {scale_line(g, runs)}, seeds per gain {seeds[g]};",
        f"domains {sorted({r['domain'] for r in rows})}, strategies "
        f"{sorted({r['strategy'] for r in rows})}: {o['n_pairs']} (domain, strategy) pairs."]
    if o["n_pairs"]:
        rho = o["spearman_rho"]
        lines += [
            f"Rank agreement: Spearman rho {'n/a' if rho is None else f'{rho:+.2f}'} over "
            f"the {o['n_pairs']} gains; same sign at both scales "
            f"{o['sign_agreement']:.0%}; Kendall tau per domain and per strategy above.",
            f"TRANSFER_SIGMA: RMS over the {o['n_pairs']} pairs of (gain_{g} - gain_{s}) = "
            f"{o['transfer_rms']:.3f} log ppl (with each strategy's mean gain removed: "
            f"{o['transfer_rms_domain_effect']:.3f}); the constant in "
            f"planner/performance/domain_prior.py is {TRANSFER_SIGMA:.3f}"
            + (" (this measurement)." if abs(o["transfer_rms"] - TRANSFER_SIGMA) < 5e-4
               else ": update it and its provenance if these runs should replace "
                    "the ones it came from.")]
    return lines


def missing(runs: Any, scales: tuple[str, str]) -> list[str]:
    """The scales with no stored runs of `small` (the baseline every gain needs)."""
    have = set(runs.loc[runs["strategy"] == "small", "scale"]) if len(runs) else set()
    return [s for s in scales if s not in have]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage", required=True, action="append",
                        help="Optuna storage URL of the runs (repeatable: runs are pooled)")
    parser.add_argument("--small", default="tiny", help="the scale gains are fitted at")
    parser.add_argument("--large", default="demo", help="the scale they should predict")
    parser.add_argument("--out", default=None, help="JSON file for every number")
    args = parser.parse_args()
    import pandas as pd

    from planner.experiments.store import load_runs

    runs = pd.concat([load_runs(url) for url in args.storage], ignore_index=True)
    absent = missing(runs, (args.small, args.large))
    if absent:
        print(
            f"bench_transfer: no stored runs of small at scale(s) {', '.join(absent)}; "
            "produce them with `specplan sweep --strategies small,mixture,hypernetwork,"
            "importance_sampling --domains biomedical,legal,news --scale SCALE --seeds 0,1,2 "
            "--storage URL` (the module docstring), then pass that --storage",
            file=sys.stderr)
        raise SystemExit(2)
    res = compare(runs, args.small, args.large)
    res["compared"] = describe(res, runs)
    s, g = args.small, args.large
    print(f"{'domain':<12}{'strategy':<22}{'gain ' + s:>14}{'gain ' + g:>14}")
    for r in res["pairs"]:
        print(f"{r['domain']:<12}{r['strategy']:<22}"
              f"{r[f'gain_{s}']:>+8.3f} ({r[f'seeds_{s}']})"
              f"{r[f'gain_{g}']:>+10.3f} ({r[f'seeds_{g}']})")
    for group in ("per_domain", "per_strategy"):
        for name, v in res[group].items():
            tau = "n/a" if v["kendall_tau"] is None else f"{v['kendall_tau']:+.2f}"
            print(f"{group[4:]} {name}: {s} order {v[f'order_{s}']} / {g} order "
                  f"{v[f'order_{g}']}: Kendall tau {tau}")
    print("overall:", json.dumps(res["overall"]))
    print()
    for line in res["compared"]:
        print(line)
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
