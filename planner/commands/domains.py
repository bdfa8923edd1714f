"""`specplan domains`: the domains, their sources, documents, tokens, licence and provenance.

The rows come from `domains.stats.describe_domains`; this module only parses and formats.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from domains.tokenizer import DEFAULT_VOCAB_SIZE


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
        "--text-field",
        metavar="FIELD",
        help="JSONL field / CSV or Parquet column holding the text (default: text)",
    )
    parser.add_argument(
        "--vocab-size",
        type=int,
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
    # Issue 4 adds `--clusters K` here: describe_domains(..., clusters=K) adds a "clusters"
    # entry to each row and format_table one more column.


def run(args: argparse.Namespace) -> int:
    from domains.stats import describe_domains  # import here: `specplan --help` stays fast

    rows = describe_domains(
        args.domains,
        source=args.source,
        text_field=args.text_field,
        tokens=not args.no_tokens,
        vocab_size=args.vocab_size,
    )
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
    else:
        print(format_table(rows, vocab_size=args.vocab_size))
    return 0


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
