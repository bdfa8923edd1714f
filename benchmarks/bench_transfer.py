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

The raw RMS is what `planner.performance.domain_prior.TRANSFER_SIGMA` is set from.
Prints a table and writes a JSON file with every number (``--out``).
"""

from __future__ import annotations

import argparse
import json
import math
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
    res = compare(runs, args.small, args.large)
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
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
