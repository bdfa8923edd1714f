"""Compare the mixture's three expert-selection rules on one domain (the paper's Table 5).

    .venv/bin/python benchmarks/compare_expert_selection.py --domain biomedical --scale tiny

The experts are pretrained once (cached artifacts); each rule then picks and fine-tunes
its expert. Prints, per rule: the chosen expert, its test perplexity before and after
fine-tuning, the number of fine-tunes and the specialization FLOPs. The paper (64 experts,
1M tokens): most frequent cluster 17.32, best pretrained loss 17.05, fine-tune all and
keep the best 16.98 PPL (at 64x the fine-tuning cost).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from strategies.mixture import SELECTIONS


def compare(domain_name: str, scale: str, n_experts: int | None, seed: int,
            root: str | None, progress: bool, params: dict[str, Any] | None = None,
            ) -> list[dict[str, Any]]:
    from domains import get_domain
    from planner.experiments.runner import configure_threads
    from strategies.machinery.workspace import Workspace
    from strategies.mixture import MixtureStrategy

    configure_threads(scale)
    ws = Workspace(scale, root=root, seed=seed, progress=progress)
    domain = get_domain(domain_name)
    rows = []
    for rule in SELECTIONS:
        t0 = time.perf_counter()
        s = MixtureStrategy(scale=scale, seed=seed, n_experts=n_experts, selection=rule,
                            **(params or {}))
        s.pretrain(ws)  # the first rule trains the experts; the others load them
        model = s.specialize(domain, ws)
        result = s.evaluate(model, domain, ws)
        info = model.info
        rows.append({
            "selection": rule, "expert": info["expert"], "n_experts": info["n_experts"],
            "top_cluster": info["top_cluster"], "top_share": info["top_cluster_share"],
            "entropy": info["cluster_entropy"],
            "ppl_before_finetune": info["test_ppl_before_finetune"],
            "ppl": result.perplexity, "n_finetunes": info.get("n_finetunes", 1),
            "specialization_flops": model.cost.specialization_flops,
            "pretraining_flops": model.cost.pretraining_flops,
            "expert_valid_losses": info.get("expert_valid_losses"),
            "expert_finetuned_valid_losses": info.get("expert_finetuned_valid_losses"),
            "wall_s": time.perf_counter() - t0,
        })
    return rows


def format_rows(rows: list[dict[str, Any]], domain: str, scale: str) -> str:
    r0 = rows[0]
    out = [f"mixture on {domain} ({scale}): {r0['n_experts']} experts; domain histogram "
           f"entropy {r0['entropy']:.2f} nats, top cluster {r0['top_cluster']} "
           f"({r0['top_share']:.2f})",
           f"{'selection':<14} {'expert':>6} {'PPL before FT':>13} {'PPL':>8} "
           f"{'fine-tunes':>10} {'spec. FLOPs':>11}"]
    for r in rows:
        out.append(f"{r['selection']:<14} {r['expert']:>6} {r['ppl_before_finetune']:>13.2f} "
                   f"{r['ppl']:>8.2f} {r['n_finetunes']:>10} {r['specialization_flops']:>11.3g}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--domain", default="biomedical")
    p.add_argument("--scale", default="tiny")
    p.add_argument("--n-experts", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--param", action="append", metavar="KEY=VALUE",
                   help="another MixtureStrategy parameter, e.g. n_pretrain_tokens=900000")
    p.add_argument("--root", default=None, help="artifact folder (default: the specplan cache)")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    from planner.cli.commands._common import parse_params

    rows = compare(args.domain, args.scale, args.n_experts, args.seed, args.root,
                   not args.quiet, parse_params(args.param))
    print(json.dumps(rows, indent=2) if args.json else format_rows(rows, args.domain, args.scale))
    return 0


if __name__ == "__main__":
    sys.exit(main())
