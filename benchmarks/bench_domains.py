"""Time loading and tokenizing every built-in domain, cold and cached.

    .venv/bin/python benchmarks/bench_domains.py            # packaged sources, fresh cache
    .venv/bin/python benchmarks/bench_domains.py --files    # also the ../shared/data corpora

"cold" starts from an empty cache folder (a temporary one unless --cache is given);
"cached" drops the in-memory copies and reads the disk cache again. Tokens are counted with
the project tokenizer (byte-level BPE, 8k vocabulary by default), whose training time is
reported on its own line. Also prints the UTF-8 bytes per token, the ratio the hf source's
approximate token cap assumes (domains.sources.hf.BYTES_PER_TOKEN).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from typing import Any


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab-size", type=int, default=8192)
    parser.add_argument("--cache", help="cache folder (default: a fresh temporary folder)")
    parser.add_argument(
        "--files", action="store_true", help="also legal and news from ../shared/data"
    )
    args = parser.parse_args()
    tmp = None
    if args.cache is None:
        tmp = tempfile.TemporaryDirectory(prefix="specplan-bench-")
        args.cache = tmp.name
    os.environ["SPECPLAN_CACHE"] = args.cache
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")

    from domains import get_domain
    from domains.base import clear_memory_cache
    from domains.tokenizer import get_tokenizer, tokenize_split

    cases = [(n, "packaged") for n in ("generic", "biomedical", "legal", "news")]
    if args.files:
        cases += [("legal", "files"), ("news", "files")]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"cache: {args.cache}  cpus: {os.cpu_count()}  load average: {load} (wall-clock times)")

    loads = {}
    for name, source in cases:
        d = get_domain(name, source)
        _, cold = timed(d.n_documents)
        clear_memory_cache()
        d = get_domain(name, source)
        _, warm = timed(d.n_documents)
        loads[(name, source)] = (d, cold, warm)

    tok, t_tok = timed(lambda: get_tokenizer(args.vocab_size))
    print(
        f"tokenizer: byte-level BPE, vocab {len(tok):,}, trained on generic train in {t_tok:.1f} s"
    )

    header = (
        f"{'domain':<11}{'source':<9}{'docs train/valid/test':>24}{'tokens train/valid/test':>34}"
        f"{'B/tok':>6}{'load cold':>10}{'cached':>8}{'tok cold':>9}{'cached':>8}"
    )
    print(header)
    print("-" * len(header))
    for (name, source), (d, cold, warm) in loads.items():
        counts, tok_cold, tok_warm, n_bytes = {}, 0.0, 0.0, 0
        for split in ("train", "valid", "test"):
            tc, t = timed(lambda: tokenize_split(d, split, tok))
            _, t2 = timed(lambda: tokenize_split(d, split, tok))
            counts[split], tok_cold, tok_warm = tc.n_tokens, tok_cold + t, tok_warm + t2
            n_bytes += sum(len(doc.encode()) for doc in d.documents(split))
        docs = d.n_documents()
        n_docs = sum(docs.values())
        ratio = n_bytes / (sum(counts.values()) - n_docs)  # eos tokens excluded
        print(
            f"{name:<11}{source:<9}"
            f"{'/'.join(f'{docs[s]:,}' for s in docs):>24}"
            f"{'/'.join(f'{counts[s]:,}' for s in counts):>34}"
            f"{ratio:6.2f}{cold:9.2f}s{warm:7.2f}s{tok_cold:8.2f}s{tok_warm:7.2f}s"
        )
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
