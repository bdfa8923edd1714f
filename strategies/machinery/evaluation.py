"""Token-level perplexity: exp of the mean next-token NLL over every predicted token.

Test text is packed into non-overlapping blocks of the model's context; each block of T
tokens predicts T - 1 of them. The macro-average over domains (the paper's §3.2) is
`macro_perplexity`: mean NLL per domain, averaged, exponentiated.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from strategies.base import EvalResult


@torch.no_grad()
def perplexity(
    model: torch.nn.Module, blocks: torch.Tensor, *, batch_size: int = 32, split: str = "test"
) -> EvalResult:
    """Perplexity of a causal LM on (n, T) token blocks (fp32), on the model's device.
    Under several processes (`accelerate launch` / `torchrun`) each scores its share of the
    blocks and the sums are all-reduced: every process returns the same result."""
    from strategies.machinery import distributed as dist

    was_training = model.training
    model.eval()
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    share = dist.shard_rows(int(blocks.shape[0]))
    total_nll, total_tokens = 0.0, 0
    for i in range(share.start, share.stop, batch_size):
        ids = blocks[i : min(share.stop, i + batch_size)].to(device)
        logits = model(input_ids=ids).logits  # (B, T, V)
        nll = F.cross_entropy(
            logits[:, :-1].reshape(-1, logits.shape[-1]).float(),
            ids[:, 1:].reshape(-1),
            reduction="sum",
        )
        total_nll += float(nll)
        total_tokens += ids[:, 1:].numel()
    model.train(was_training)
    total_nll, tokens = dist.all_sum([total_nll, float(total_tokens)])
    total_tokens = int(tokens)
    mean = total_nll / max(total_tokens, 1)
    return EvalResult(perplexity=math.exp(mean), nll=mean, n_tokens=total_tokens, split=split)


def macro_perplexity(results: Sequence[EvalResult]) -> float:
    """The paper's macro-average: every domain weighs the same."""
    return math.exp(sum(r.nll for r in results) / len(results))
