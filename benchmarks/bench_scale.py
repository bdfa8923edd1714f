"""Benchmarks of issue 14 (real scale). Each prints one JSON line; report them with the
command and say the machine was shared.

    python benchmarks/bench_scale.py tokenize [--tokens 100e6] [--docs-per-shard 50000]
    python benchmarks/bench_scale.py kmeans [--rows 1000000] [--dim 384] [--k 1024]
                                            [--backends sklearn,faiss]
    python benchmarks/bench_scale.py select [--tokens 20e6] [--docs-per-shard 50000]
    python benchmarks/bench_scale.py embed [--docs 512] [--batch-sizes 16,32,64,128]
    python benchmarks/bench_scale.py ddp [--processes 2] [--steps 30] [--scale demo]

- tokenize: a generated corpus of about `--tokens` tokens of the project tokenizer (words
  drawn from a Zipf law, documents of 50-400 words; the number of shards is set from the
  tokens per document measured on the first shard) tokenized into memory-mapped token
  files (`domains.token_files.write_token_files`, shards, the tokenizers batch API)
  against the tokenizers library's own `encode_batch_fast` of the same text kept in RAM;
  tokens/s and the peak RSS of each (separate processes, so the peaks do not mix). The
  token files are also written for a quarter of the corpus: their peak RSS should not
  change with the size (one shard at a time). The token-files time includes generating
  each shard's text (the batch run reports its own generation time, excluded from its
  rate).
- kmeans: generated unit vectors (64 blobs) in a memory-mapped ``.npy``, clustered by
  each backend in its own process (`clustering.minibatch_kmeans`: scikit-learn;
  `clustering.faiss_kmeans` when faiss is installed); wall time and peak RSS of each,
  the memory map's writing excluded.
- select: what the strategies do with a generic corpus on disk (item "no step holds a
  corpus in RAM"), for a generated corpus of `--tokens` and of a quarter of that: draw as
  many documents as the corpus holds, with replacement (importance sampling's resampling),
  copy them into token files (`token_files.select_token_files`), read every block of the
  copy through `BlockView` 128 rows at a time (the training loop's reads), and decode
  20,000 documents' texts (`DocumentTexts`, what the embedder reads). Peak RSS of a fresh
  process doing only that, per size: it should not grow with the corpus.
- embed: `embeddings.embed_texts` (specplan) against raw transformers (AutoModel, mean
  pooling, no sort by length) at several batch sizes: documents/s on this device, and
  each one's best batch size.
- ddp: the training loop's tokens/s with 1 process and with N gloo processes (torchrun)
  at the same global batch; the ratio N processes / 1 process (both on all cores).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _status_mb(field: str) -> float | None:
    """A memory field of Linux's /proc/self/status in MB (`VmHWM`, `RssAnon`), or None
    where there is no such file or field."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _peak_rss_mb() -> float:
    """This process's peak RSS in MB: Linux's VmHWM, which starts afresh at exec (the
    `ru_maxrss` of a child can carry its parent's peak from before the exec); elsewhere
    `ru_maxrss`."""
    peak = _status_mb("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_anon_mb() -> float:
    """Anonymous resident memory now (Linux RssAnon, MB): what the process itself holds,
    without the file pages of memory maps, which the kernel reclaims at will; 0 elsewhere."""
    anon = _status_mb("RssAnon")
    return anon if anon is not None else 0.0


def _shard_docs(i: int, n_docs: int) -> list[str]:
    """Generated shard `i`: `n_docs` documents of 50-400 words from a Zipf law over 20k words."""
    import numpy as np

    rng = np.random.default_rng(i)
    vocab = np.array([f"w{j}" for j in range(20000)])
    return [" ".join(vocab[np.minimum(rng.zipf(1.3, int(rng.integers(50, 400))), 20000) - 1])
            for _ in range(n_docs)]


def _tokens_per_doc(tok: object) -> float:
    """Project-tokenizer tokens per generated document (eos included), on shard 0's first
    2,000 documents."""
    from domains.tokenizer import encode_documents

    sample = _shard_docs(0, 2000)
    return encode_documents(sample, tok).n_tokens / len(sample)


def _n_shards(args: argparse.Namespace, tokens_per_doc: float) -> int:
    return max(1, round(args.tokens / (tokens_per_doc * args.docs_per_shard)))


def _child(mode: str, args: argparse.Namespace, tokens: float | None = None
           ) -> dict[str, float]:
    """Run one tokenization measurement in a fresh process (clean peak RSS)."""
    cmd = [sys.executable, __file__, "tokenize-child", mode, "--tokens",
           str(tokens or args.tokens), "--docs-per-shard", str(args.docs_per_shard)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def tokenize_child(mode: str, args: argparse.Namespace) -> None:
    from domains.token_files import write_token_files
    from domains.tokenizer import get_tokenizer

    tok = get_tokenizer(8192)
    per_doc = _tokens_per_doc(tok)
    shards = _n_shards(args, per_doc)
    rss0 = _peak_rss_mb()
    if mode == "batch":  # the tokenizers library on the whole corpus held in RAM
        t0 = time.perf_counter()
        docs = [d for i in range(shards) for d in _shard_docs(i, args.docs_per_shard)]
        gen = time.perf_counter() - t0
        t0 = time.perf_counter()
        ids = tok.backend_tokenizer.encode_batch_fast(docs, add_special_tokens=False)
        n = sum(len(e.ids) for e in ids)
    else:  # token files: each shard generated, tokenized, written, dropped
        gen = 0.0
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            inputs = [(f"gen{i}", lambda i=i: _shard_docs(i, args.docs_per_shard))
                      for i in range(shards)]
            files = write_token_files(Path(tmp) / "tf", inputs, tok)
            n = files.n_tokens - files.n_docs  # without the eos ids, as in the batch count
    wall = time.perf_counter() - t0
    print(json.dumps({"mode": mode, "shards": shards, "docs_per_shard": args.docs_per_shard,
                      "tokens_per_doc": round(per_doc, 1), "tokens": n,
                      "wall_s": round(wall, 2),
                      "tokens_per_s": round(n / wall), "text_generation_s": round(gen, 2),
                      "peak_rss_mb": round(_peak_rss_mb()), "rss_at_start_mb": round(rss0)}))


def bench_tokenize(args: argparse.Namespace) -> None:
    res = {m: _child(m, args) for m in ("files", "batch")}
    res["files_quarter_corpus"] = _child("files", args, tokens=args.tokens / 4)
    ratio = res["files"]["tokens_per_s"] / res["batch"]["tokens_per_s"]
    print(json.dumps({"bench": "tokenize", "target_tokens": args.tokens,
                      "files_vs_batch_tokens_per_s": round(ratio, 2), **res}))


def kmeans_child(args: argparse.Namespace) -> None:
    """One backend over the memory map `args.path`, in a fresh process (clean peak RSS)."""
    import numpy as np

    from strategies.machinery.clustering import large_kmeans

    emb = np.load(args.path, mmap_mode="r")
    rss0 = _peak_rss_mb()
    t0 = time.perf_counter()
    _, labels = large_kmeans(emb, args.k, seed=0, backend=args.backend)
    wall = time.perf_counter() - t0
    print(json.dumps({"backend": args.backend, "wall_s": round(wall, 1),
                      "peak_rss_mb": round(_peak_rss_mb()), "rss_before_mb": round(rss0),
                      "clusters_used": int(len(set(labels.tolist())))}))


def select_child(args: argparse.Namespace) -> None:
    """Write (mode "write") or read back (mode "read") the generated corpus in `args.dir`."""
    import numpy as np

    from domains.token_files import (
        BlockView,
        DocumentTexts,
        TokenFiles,
        select_token_files,
        write_token_files,
    )
    from domains.tokenizer import get_tokenizer

    tok = get_tokenizer(8192)
    folder = Path(args.dir) / "tf"
    if args.mode == "write":
        shards = _n_shards(args, _tokens_per_doc(tok))
        write_token_files(folder, [(f"gen{i}", lambda i=i: _shard_docs(i, args.docs_per_shard))
                                   for i in range(shards)], tok)
        return
    rss0 = _peak_rss_mb()
    t0 = time.perf_counter()
    files = TokenFiles(folder)
    draws = np.random.default_rng(0).integers(0, files.n_docs, files.n_docs)
    sel = select_token_files(files, [draws], Path(args.dir) / "select")
    t_select = time.perf_counter() - t0
    anon = [_rss_anon_mb()]
    view, total = BlockView(sel, 1024), 0
    t0 = time.perf_counter()
    for lo in range(0, len(view), 128):
        total += int(view[np.arange(lo, min(len(view), lo + 128))].sum())
        if lo % (128 * 16) == 0:
            anon.append(_rss_anon_mb())
    t_blocks = time.perf_counter() - t0
    t0 = time.perf_counter()
    chars = 0
    for i, t in enumerate(DocumentTexts(files, tok, np.arange(min(20_000, files.n_docs)))):
        chars += len(t)
        if i % 1024 == 0:
            anon.append(_rss_anon_mb())
    t_texts = time.perf_counter() - t0
    print(json.dumps({"corpus_tokens": files.n_tokens, "docs": files.n_docs,
                      "selected_tokens": sel.n_tokens, "select_s": round(t_select, 1),
                      "blocks": len(view), "read_blocks_s": round(t_blocks, 1),
                      "decoded_chars": chars, "decode_20k_docs_s": round(t_texts, 1),
                      "peak_rss_mb": round(_peak_rss_mb()), "rss_at_start_mb": round(rss0),
                      "max_sampled_rss_anon_mb": round(max(anon))}))


def bench_select(args: argparse.Namespace) -> None:
    runs = []
    for tokens in (args.tokens / 4, args.tokens):
        with tempfile.TemporaryDirectory() as tmp:
            for mode in ("write", "read"):
                out = subprocess.run(
                    [sys.executable, __file__, "select-child", mode, "--dir", tmp, "--tokens",
                     str(tokens), "--docs-per-shard", str(args.docs_per_shard)],
                    capture_output=True, text=True, check=True,
                    env={**os.environ, "PYTHONPATH": str(ROOT)})
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(json.dumps({"bench": "select", "runs": runs}))


def bench_kmeans(args: argparse.Namespace) -> None:
    import importlib.util

    import numpy as np

    backends = [b for b in args.backends.split(",")
                if b != "faiss" or importlib.util.find_spec("faiss") is not None]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "emb.npy"
        arr = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32,
                                        shape=(args.rows, args.dim))
        rng = np.random.default_rng(0)
        centers = rng.normal(size=(64, args.dim)).astype(np.float32)
        for s in range(0, args.rows, 100_000):
            m = min(args.rows, s + 100_000) - s
            x = centers[rng.integers(0, 64, m)] + rng.normal(0, 0.5, (m, args.dim))
            arr[s : s + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
        arr.flush()
        del arr
        runs = []
        for b in backends:
            out = subprocess.run([sys.executable, __file__, "kmeans-child", "--path", str(path),
                                  "--k", str(args.k), "--backend", b],
                                 capture_output=True, text=True, check=True,
                                 env={**os.environ, "PYTHONPATH": str(ROOT)})
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(json.dumps({"bench": "kmeans", "rows": args.rows, "dim": args.dim, "k": args.k,
                      "memmap_mb": round(args.rows * args.dim * 4 / 2**20), "runs": runs,
                      "skipped": [b for b in args.backends.split(",") if b not in backends]}))


def bench_embed(args: argparse.Namespace) -> None:
    import torch
    import torch.nn.functional as F
    from transformers import AutoModel, AutoTokenizer

    from domains import get_domain
    from strategies.machinery.embeddings import embed_texts, model_dir

    docs = get_domain("biomedical").documents("train")[: args.docs]
    out: dict[str, object] = {"bench": "embed", "docs": len(docs),
                              "threads": torch.get_num_threads()}
    tok = AutoTokenizer.from_pretrained(str(model_dir()))
    model = AutoModel.from_pretrained(str(model_dir())).eval()
    for bs in [int(b) for b in args.batch_sizes.split(",")]:
        t0 = time.perf_counter()
        embed_texts(docs, batch_size=bs, cache=False)
        ours = len(docs) / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        with torch.inference_mode():
            for s in range(0, len(docs), bs):
                enc = tok(docs[s : s + bs], padding=True, truncation=True, max_length=128,
                          return_tensors="pt")
                h = model(**enc).last_hidden_state
                m = enc["attention_mask"].unsqueeze(-1).float()
                F.normalize((h * m).sum(1) / m.sum(1), dim=-1)
        raw = len(docs) / (time.perf_counter() - t0)
        out[f"bs{bs}"] = {"specplan_docs_per_s": round(ours, 1),
                          "raw_transformers_docs_per_s": round(raw, 1)}
    rows = {k: v for k, v in out.items() if k.startswith("bs") and isinstance(v, dict)}
    for who in ("specplan", "raw_transformers"):
        best = max(rows, key=lambda k: rows[k][f"{who}_docs_per_s"])
        out[f"best_{who}"] = {"batch_size": int(best[2:]),
                              "docs_per_s": rows[best][f"{who}_docs_per_s"]}
    print(json.dumps(out))


def _ddp_child(args: argparse.Namespace) -> None:
    import torch

    from strategies.machinery import distributed as dist
    from strategies.machinery.models import build_model
    from strategies.machinery.scales import get_scale
    from strategies.machinery.training import TrainConfig, train

    spec = get_scale(args.scale).small
    model = build_model(spec)
    data = torch.randint(0, spec.vocab_size, (512, spec.n_ctx),
                         generator=torch.Generator().manual_seed(0))
    cfg = TrainConfig(lr=1e-3, batch_size=args.batch, max_steps=args.steps, progress=False)
    r = train(model, data, cfg)
    if dist.is_main_process():
        print(json.dumps({"processes": dist.world_size(), "tokens": r.tokens,
                          "wall_s": round(r.wall_s, 2),
                          "tokens_per_s": round(r.tokens / r.wall_s)}))


def bench_ddp(args: argparse.Namespace) -> None:
    """1 process on 1 thread, 1 process on all cores, N processes on cores / N threads each."""
    cores = os.cpu_count() or 1
    res = []
    for n, threads in ((1, 1), (1, cores), (args.processes, max(1, cores // args.processes))):
        base = [sys.executable, __file__, "ddp-child", "--scale", args.scale, "--steps",
                str(args.steps), "--batch", str(args.batch)]
        cmd = base if n == 1 else [sys.executable, "-m", "torch.distributed.run",
                                   "--standalone", "--nproc_per_node", str(n), *base[1:]]
        p = subprocess.run(cmd, capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONPATH": str(ROOT),
                                "OMP_NUM_THREADS": str(threads)})
        row = json.loads([ln for ln in p.stdout.splitlines() if ln.startswith("{")][-1])
        res.append({**row, "threads_per_process": threads})
    print(json.dumps({"bench": "ddp", "scale": args.scale, "global_batch": args.batch,
                      "runs": res, f"ratio_{args.processes}p_vs_1p_all_cores": round(
                          res[2]["tokens_per_s"] / res[1]["tokens_per_s"], 2),
                      f"ratio_{args.processes}p_vs_1p_1_thread": round(
                          res[2]["tokens_per_s"] / res[0]["tokens_per_s"], 2)}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True)
    t = sub.add_parser("tokenize")
    tc = sub.add_parser("tokenize-child")
    tc.add_argument("mode", choices=["files", "batch"])
    for q in (t, tc):
        q.add_argument("--tokens", type=float, default=100e6)
        q.add_argument("--docs-per-shard", type=int, default=50_000)
    sl = sub.add_parser("select")
    slc = sub.add_parser("select-child")
    slc.add_argument("mode", choices=["write", "read"])
    slc.add_argument("--dir", required=True)
    for q in (sl, slc):
        q.add_argument("--tokens", type=float, default=20e6)
        q.add_argument("--docs-per-shard", type=int, default=50_000)
    k = sub.add_parser("kmeans")
    k.add_argument("--rows", type=int, default=1_000_000)
    k.add_argument("--dim", type=int, default=384)
    k.add_argument("--k", type=int, default=1024)
    k.add_argument("--backends", default="sklearn,faiss")
    kc = sub.add_parser("kmeans-child")
    kc.add_argument("--path", required=True)
    kc.add_argument("--k", type=int, required=True)
    kc.add_argument("--backend", required=True)
    e = sub.add_parser("embed")
    e.add_argument("--docs", type=int, default=512)
    e.add_argument("--batch-sizes", default="16,32,64,128")
    d = sub.add_parser("ddp")
    dc = sub.add_parser("ddp-child")
    for q in (d, dc):
        q.add_argument("--processes", type=int, default=2)
        q.add_argument("--steps", type=int, default=30)
        q.add_argument("--batch", type=int, default=8)
        q.add_argument("--scale", default="demo")
    args = p.parse_args()
    {"tokenize": bench_tokenize, "tokenize-child": lambda a: tokenize_child(a.mode, a),
     "select": bench_select, "select-child": select_child,
     "kmeans": bench_kmeans, "kmeans-child": kmeans_child, "embed": bench_embed, "ddp": bench_ddp,
     "ddp-child": _ddp_child}[args.what](args)


if __name__ == "__main__":
    main()
