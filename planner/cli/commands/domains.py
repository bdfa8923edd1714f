"""`specplan domains`: the domains, their sources, documents, tokens, licence and provenance.

The rows come from `domains.stats.describe_domains`; this module only parses and formats.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from domains.tokenizer import DEFAULT_VOCAB_SIZE, MIN_VOCAB_SIZE
from planner.cli.commands._common import add_files_options, count_arg, domain_refs, emit_json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--domain",
        action="append",
        metavar="NAME|NAME=PATH",
        dest="domains",
        help="show only this domain: a built-in name, or NAME=PATH for your own file or folder "
        "(.txt = one document per file, .jsonl, .csv, .parquet; .gz accepted); repeatable "
        "(default: every built-in domain)",
    )
    parser.add_argument(
        "--source",
        metavar="NAME",
        help="source for the built-in domains: packaged (default, offline), files (the larger "
        "corpora in ../shared/data) or hf (streamed public datasets)",
    )
    parser.add_argument(
        "--vocab-size",
        type=count_arg("--vocab-size", minimum=MIN_VOCAB_SIZE, maximum=10_000_000),
        default=DEFAULT_VOCAB_SIZE,
        metavar="N",
        help="vocabulary of the project tokenizer used to count tokens "
        f"(default {DEFAULT_VOCAB_SIZE})",
    )
    parser.add_argument(
        "--no-tokens",
        action="store_true",
        help="skip token counts (no tokenizer training or tokenization on a cold cache)",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    add_files_options(parser)
    parser.add_argument(
        "--clusters", type=count_arg("--clusters", maximum=100_000), metavar="K",
        help="also show each domain's cluster histogram entropy (nats) and top-cluster share "
        "for K k-means clusters fitted on the generic corpus (the paper's Tables 9 and 10; "
        "embeds up to 3,000 generic and 1,000 documents per domain, cached)",
    )


def run(args: argparse.Namespace) -> int:
    from domains.stats import describe_domains  # import here: `specplan --help` stays fast

    rows = describe_domains(
        domain_refs(list(args.domains), args) if args.domains else None,
        source=args.source,
        text_field=args.text_field,
        tokens=not args.no_tokens,
        vocab_size=args.vocab_size,
    )
    if args.clusters is not None:
        _add_cluster_stats(args, rows)
    if args.json:
        emit_json(rows)
    else:
        print(format_table(rows, vocab_size=args.vocab_size))
        if args.clusters is not None:
            print(format_cluster_table(rows))
    return 0


def _add_cluster_stats(args: argparse.Namespace, rows: list[dict[str, Any]]) -> None:
    """Add a "clusters" entry to each row (strategies.machinery.clustering: `domains` never imports
    `strategies`, so the command joins the two)."""
    from domains import get_domain
    from domains.spec import BUILTIN_DOMAINS
    from strategies.machinery.clustering import domain_cluster_table

    names = domain_refs(list(args.domains), args) if args.domains else list(BUILTIN_DOMAINS)
    doms = []
    for n in names:
        own_files = "=" in n or args.source == "files"
        doms.append(get_domain(n, None if "=" in n else args.source,
                               text_field=args.text_field if own_files else None))
    for row, stats in zip(rows, domain_cluster_table(doms, args.clusters, progress=True)):
        row["clusters"] = stats


def format_cluster_table(rows: list[dict[str, Any]]) -> str:
    """Entropy (nats) and top-cluster share of each domain's cluster histogram."""
    k = rows[0]["clusters"]["k"] if rows else 0
    out = [f"\nclusters: k={k} k-means clusters of the generic corpus (all-MiniLM-L6-v2 "
           "embeddings); entropy in nats; a diffuse domain (high entropy) is a warning sign "
           "for mixture and hypernetwork",
           f"{'domain':<12}  {'docs':>5}  {'entropy':>7}  {'top share':>9}  {'top cluster':>11}"]
    for r in rows:
        c = r["clusters"]
        out.append(f"{r['name']:<12}  {c['n_docs']:>5}  {c['entropy']:>7.2f}  "
                   f"{c['top_share']:>9.2f}  {c['top_cluster']:>11}")
    return "\n".join(out)


def _split_cols(key: str, title: str) -> list[tuple[str, Callable[[dict[str, Any]], str]]]:
    def getter(split: str) -> Callable[[dict[str, Any]], str]:
        return lambda r: "-" if r[key] is None else f"{r[key][split]:,}"

    return [(f"{title} {s}", getter(s)) for s in ("train", "valid", "test")]


def format_table(rows: list[dict[str, Any]], *, vocab_size: int = DEFAULT_VOCAB_SIZE) -> str:
    """A fixed-width table (one row per domain), then each domain's licence and provenance."""
    columns: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
        ("domain", lambda r: r["name"]),
        ("source", lambda r: r["source"]),
        *_split_cols("documents", "docs"),
        *_split_cols("tokens", "tokens"),
    ]
    cells = [[get(r) for _, get in columns] for r in rows]
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, (h, _) in enumerate(columns)]

    def line(values: list[str]) -> str:
        # names left-aligned, counts right-aligned
        return "  ".join(
            v.ljust(w) if i < 2 else v.rjust(w) for i, (v, w) in enumerate(zip(values, widths))
        ).rstrip()

    out = [line([h for h, _ in columns]), line(["-" * w for w in widths])]
    out += [line(c) for c in cells]
    if any(r["tokens"] is not None for r in rows):
        out.append(
            f"\ntokens: project byte-level BPE, {vocab_size:,} vocabulary, "
            "one end-of-text token per document included"
        )
    for r in rows:
        out.append(f"\n{r['name']} ({r['source']}): {r['description']}")
        out.append(f"  licence:    {r['licence']}")
        out.append(f"  provenance: {r['provenance']}")
    return "\n".join(out)
