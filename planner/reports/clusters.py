"""The domain-clusters section: each domain's cluster histogram, entropy and top-cluster
share as recorded by the runs that cluster (the paper's Tables 9-10), and a warning for a
diffuse domain (§5.3: on the two highest-entropy domains neither SLM-mix nor SLM-pn beats
SLM). pandas and numpy only; no torch.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from planner.performance.domain_prior import DIFFUSE_NORMALIZED_ENTROPY, min_documents
from planner.reports.common import mapping_cell

__all__ = ["DIFFUSE_MIN_K", "DIFFUSE_NORMALIZED_ENTROPY", "DIFFUSE_TOP_SHARE",
           "cluster_histograms", "cluster_notes", "cluster_table"]

#: A domain is flagged diffuse when its histogram's entropy is at least this share of the
#: maximum (ln k) *and* ...  At k = 16 the paper's Table 10 gives wikipedia 1.73 / ln 16 =
#: 0.62 and openwebtext2 0.79 (the two domains where mixtures and PN lose to SLM, §5.3)
#: against 0.15-0.57 for the other Pile domains, and c4 itself 0.98.
#: (defined once, with the domain prior that uses the same threshold:
#: `planner.performance.domain_prior.DIFFUSE_NORMALIZED_ENTROPY`)
#: ... its most frequent cluster holds less than this share of its documents (Table 9 at
#: k = 16: wikipedia .58, openwebtext2 .35). With few clusters the entropy share alone
#: flags too much: at k = 4 a domain with 65% of its documents in one cluster still has
#: 70% of the maximum entropy, yet one expert covers most of it.
DIFFUSE_TOP_SHARE = 0.6
#: ... and only with at least this many clusters: the paper's evidence is at k = 16 and
#: above, and at k = 4 its Table 9 does not separate the diffuse domains (wikipedia .71,
#: openwebtext2 .53 against freelaw .48, europarl .52).
DIFFUSE_MIN_K = 8


def cluster_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Each domain's cluster statistics, as recorded by the runs that cluster (one row per
    scale x domain x k; the first run that recorded it).

    Columns: ``scale``, ``domain``, ``k``, ``strategy`` (that recorded it), ``entropy``
    (nats), ``normalized_entropy`` (entropy / ln k, 1 = uniform), ``top_share``,
    ``histogram`` (list of k shares), ``n_docs`` (documents it was drawn from; None:
    unknown), ``diffuse`` and ``warning``. A histogram from fewer documents than
    `planner.performance.domain_prior.min_documents` (k) gets no diffuse verdict: its
    ``warning`` says so instead, as the per-domain advice falls back to the paper's average
    for it.
    """
    from planner.search.per_domain import histogram_documents

    cols = ["scale", "domain", "k", "strategy", "entropy", "normalized_entropy",
            "top_share", "histogram", "n_docs", "diffuse", "warning"]
    rows, seen = [], set()
    if runs is not None and len(runs):
        for rec in runs.to_dict("records"):
            info = mapping_cell(rec.get("info"))
            hist = info.get("cluster_histogram")
            if not isinstance(hist, (list, tuple)) or len(hist) < 2:
                continue
            p = np.asarray(hist, dtype=float)
            if not np.isfinite(p).all() or p.sum() <= 0:
                continue
            p = p / p.sum()
            k = len(p)
            key = (rec.get("scale"), rec.get("domain"), k)
            if key in seen:
                continue
            seen.add(key)
            nz = p[p > 0]
            ent = float(-(nz * np.log(nz)).sum())  # nats, as Table 10
            norm = ent / math.log(k)
            top = float(p.max())
            n_docs = histogram_documents(info, p.tolist())
            few = n_docs is not None and n_docs < min_documents(k)
            diffuse = (k >= DIFFUSE_MIN_K and norm >= DIFFUSE_NORMALIZED_ENTROPY
                       and top < DIFFUSE_TOP_SHARE and not few)
            warning = (_diffuse_warning(str(key[1]), k, ent, norm, top) if diffuse
                       else _few_documents(str(key[1]), k, n_docs) if few
                       and k >= DIFFUSE_MIN_K else "")
            rows.append({"scale": key[0], "domain": key[1], "k": k,
                         "strategy": rec.get("strategy"), "entropy": ent,
                         "normalized_entropy": norm, "top_share": top,
                         "histogram": p.tolist(), "n_docs": n_docs, "diffuse": diffuse,
                         "warning": warning})
    return pd.DataFrame(rows, columns=cols)


#: How a diffuse warning's advice clause starts (`planner.reports.domain_advice` replaces
#: the clause with the domain's own advice when there is one).
PREFER = "prefer "


def diffuse_preference() -> str:
    """The warning's generic advice: the declared baseline (the paper's SLM) or the
    strategies whose edge does not rest on one cluster (`DomainEdge` sensitivity
    ``cluster_resampling``), read from the registry."""
    from planner.performance.domain_prior import baseline_strategy, sensitive_to

    names = [n for n in (baseline_strategy(), *sensitive_to("cluster_resampling")) if n]
    return PREFER + " or ".join(names) + "." if names else ""


def _diffuse_warning(domain: str, k: int, ent: float, norm: float, top: float) -> str:
    return (f"domain {domain!r} is diffuse at k={k}: entropy {ent:.2f} nats "
            f"({norm:.0%} of the maximum), top cluster {top:.0%} of its documents. "
            "Mixtures and projected networks condition on one cluster: on the paper's two "
            "most diffuse domains (wikipedia, openwebtext2) neither beat a plain SLM "
            f"(§5.3, Table 10); {diffuse_preference()}")


#: How a few-documents note's last clause starts (`planner.reports.domain_advice`
#: replaces the clause with what the advice did for that domain).
NO_VERDICT = "no diffuse verdict"


def _few_documents(domain: str, k: int, n_docs: int | None) -> str:
    return (f"domain {domain!r}: its k={k} cluster histogram comes from {n_docs} "
            f"document(s), fewer than the minimum {min_documents(k)} (one per cluster): "
            f"{NO_VERDICT}; the per-domain advice does not use it.")


def cluster_notes(clusters: pd.DataFrame) -> list[str]:
    """At most one diffuse-domain warning per scale x domain, judged on the finest
    histogram recorded (the largest k: e.g. importance sampling's 16 clusters rather than
    the mixture's 4 experts at the demo scale)."""
    notes = []
    for _, g in clusters.groupby(["scale", "domain"], sort=False):
        row = g.sort_values("k").iloc[-1]
        if row["warning"]:
            notes.append(row["warning"])
    return notes


def cluster_histograms(clusters: pd.DataFrame) -> pd.DataFrame:
    """`cluster_table`'s histograms in long form: scale, domain, k, cluster, share."""
    rows = [{"scale": r.scale, "domain": r.domain, "k": r.k, "cluster": i, "share": float(s)}
            for r in clusters.itertuples() for i, s in enumerate(r.histogram)]
    return pd.DataFrame(rows, columns=["scale", "domain", "k", "cluster", "share"])
