"""Which prompts the teacher continues: candidates, hardness, and the s1-style selection.

Candidates are the training documents that lie inside the domain data budget (the first
`n_domain_tokens` tokens of the train split: the domain data size is a hard constraint, so
prompts never come from text the other strategies cannot see). A prompt is the first
`prompt_tokens` project tokens of a document, decoded back to text.

Selection (`select_prompts`):

- ``"random"``: a seeded random sample;
- ``"curated"``: in the spirit of s1 (Muennighoff et al. 2025, "s1: Simple test-time
  scaling": ~1,000 examples chosen for difficulty and diversity), round-robin over the
  domain's clusters, each turn taking the cluster's hardest remaining document (the highest
  mean next-token loss under the pretrained student). With at least as many prompts as
  non-empty clusters, every cluster is covered.

`select_prompts` and `coverage` are pure numpy; `candidate_prompts` and `student_losses`
need the workspace (and torch for the losses).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from domains.errors import SpecplanError

if TYPE_CHECKING:
    from domains import Domain
    from domains.tokenizer import TokenizedCorpus
    from strategies.machinery.generation import Prompt
    from strategies.machinery.workspace import Workspace

CURATION_METHODS = ("random", "curated")


def select_prompts(
    n: int,
    method: str,
    *,
    seed: int = 0,
    clusters: Sequence[int] | np.ndarray | None = None,
    hardness: Sequence[float] | np.ndarray | None = None,
) -> list[int]:
    """Choose `n` of the candidates (positions 0..len-1), in generation order.

    Args:
        n: how many to choose (at most the number of candidates).
        method: ``"random"`` or ``"curated"``.
        seed: the random sample's seed (and the tie-break of "curated").
        clusters: (n_candidates,) cluster label per candidate ("curated").
        hardness: (n_candidates,) difficulty per candidate, higher = harder ("curated").

    Returns:
        Candidate positions, without repeats.
    """
    if method not in CURATION_METHODS:
        raise SpecplanError(f"curation must be one of {CURATION_METHODS}, got {method!r}")
    if method == "random":
        if hardness is None and clusters is None:
            raise SpecplanError("random selection needs the number of candidates")
        m = len(hardness if hardness is not None else clusters)  # type: ignore[arg-type]
        _check_n(n, m)
        return [int(i) for i in np.random.default_rng(seed).permutation(m)[:n]]
    if clusters is None or hardness is None:
        raise SpecplanError("curated selection needs cluster labels and hardness scores")
    labels = np.asarray(clusters)
    hard = np.asarray(hardness, dtype=np.float64)
    if labels.shape != hard.shape:
        raise ValueError(f"clusters {labels.shape} and hardness {hard.shape} differ in shape")
    _check_n(n, len(labels))
    # per cluster, candidates sorted hardest first (ties: a seeded shuffle, not position)
    tie = np.random.default_rng(seed).permutation(len(labels))
    queues = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        order = np.lexsort((tie[members], -hard[members]))  # last key is primary
        queues.append(members[order].tolist())
    # big clusters take their turn first, so a budget below the number of clusters
    # covers the largest ones
    queues.sort(key=len, reverse=True)
    chosen: list[int] = []
    depth = 0
    while len(chosen) < n:
        for q in queues:
            if depth < len(q):
                chosen.append(int(q[depth]))
                if len(chosen) == n:
                    break
        depth += 1
    return chosen


def _check_n(n: int, m: int) -> None:
    if n > m:
        raise SpecplanError(f"cannot choose {n} prompts out of {m} candidates")


def coverage(chosen: Sequence[int], clusters: Sequence[int] | np.ndarray) -> int:
    """How many distinct clusters the chosen candidates touch."""
    labels = np.asarray(clusters)
    return int(len(np.unique(labels[np.asarray(chosen, dtype=np.int64)])))


# ---------------------------------------------------------------------------- candidates
def candidate_docs(corpus: TokenizedCorpus, n_domain_tokens: int, prompt_tokens: int) -> list[int]:
    """Training documents that start inside the data budget and are long enough to give
    a `prompt_tokens` prompt (that much text before their eos) within it."""
    out = []
    for i in range(len(corpus)):
        start, end = int(corpus.offsets[i]), int(corpus.offsets[i + 1])
        if start + prompt_tokens > n_domain_tokens:
            break
        if end - start > prompt_tokens:  # prompt_tokens of text plus the eos at least
            out.append(i)
    return out


def candidate_prompts(domain: Domain, ws: Workspace, prompt_tokens: int) -> list[Prompt]:
    """Every candidate prompt of the domain (see the module docstring)."""
    from strategies.machinery.generation import Prompt

    corpus = ws.corpus(domain, "train")
    docs = candidate_docs(corpus, ws.n_domain_tokens, prompt_tokens)
    if not docs:
        raise SpecplanError(
            f"domain {domain.name!r} has no training document with more than "
            f"{prompt_tokens} tokens inside its {ws.n_domain_tokens:,}-token budget; "
            "lower prompt_tokens"
        )
    tok = ws.tokenizer
    return [Prompt(doc=i, text=tok.decode(corpus.doc(i)[:prompt_tokens].tolist()),
                   n_tokens=prompt_tokens) for i in docs]


def student_losses(model: Any, corpus: TokenizedCorpus, docs: Sequence[int],
                   *, batch_size: int = 32) -> tuple[np.ndarray, int]:
    """Mean next-token loss of `model` on the opening block of each document.

    Each document is scored on its first `n_ctx` tokens (the student's window), padded
    and masked, in fp32.

    Returns:
        (n_docs,) float64 losses, and the number of token positions run (for the cost).
    """
    import torch
    import torch.nn.functional as F

    t = int(model.config.n_positions)
    model.eval()
    losses = np.zeros(len(docs))
    n_positions = 0
    with torch.no_grad():
        for s in range(0, len(docs), batch_size):
            rows = [corpus.doc(i)[:t] for i in docs[s : s + batch_size]]
            width = max(len(r) for r in rows)
            ids = torch.zeros(len(rows), width, dtype=torch.long)
            mask = torch.zeros(len(rows), width, dtype=torch.bool)
            for j, r in enumerate(rows):
                ids[j, : len(r)] = torch.from_numpy(r.astype(np.int64))
                mask[j, : len(r)] = True
            logits = model(input_ids=ids, attention_mask=mask.long()).logits  # (B, T, V)
            nll = F.cross_entropy(logits[:, :-1].transpose(1, 2).float(), ids[:, 1:],
                                  reduction="none")  # (B, T-1)
            valid = mask[:, 1:].float()
            losses[s : s + len(rows)] = ((nll * valid).sum(1) / valid.sum(1).clamp(min=1)).numpy()
            n_positions += int(ids.numel())
    return losses, n_positions
