"""Parameter and FLOP counting for GPT-2-style decoders. Pure arithmetic, no torch.

Conventions (Kaplan et al. 2020, "Scaling Laws for Neural Language Models", Table 1;
nanoGPT's `transformer_sizing.ipynb`):
- forward FLOPs per token ~= 2 * N + 2 * n_layer * n_ctx * d_model   (matmuls + attention)
- training FLOPs per token ~= 3 x forward (backward costs twice the forward) = 6N + attention
where N counts the non-embedding parameters plus the output projection (tied with the
input embedding, but the matmul still happens). Position embeddings are a lookup: free.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from strategies.machinery.scales import ModelSpec


def layer_params(spec: ModelSpec) -> int:
    """Parameters of one transformer block (GPT-2: biases and two LayerNorms included)."""
    d, f = spec.n_embd, spec.d_ff
    attn = 3 * d * d + 3 * d + d * d + d  # c_attn (qkv) + c_proj
    mlp = d * f + f + f * d + d  # c_fc + c_proj
    norms = 2 * 2 * d  # ln_1, ln_2 (weight + bias)
    return attn + mlp + norms


def mlp_params(spec: ModelSpec) -> int:
    """Parameters of one block's MLP (the part a projected network generates per expert)."""
    d, f = spec.n_embd, spec.d_ff
    return d * f + f + f * d + d


def n_params(spec: ModelSpec) -> int:
    """Total parameters of the HF `GPT2LMHeadModel` (tied input/output embeddings)."""
    d = spec.n_embd
    embeddings = spec.vocab_size * d + spec.n_ctx * d  # wte (tied with lm_head) + wpe
    return embeddings + spec.n_layer * layer_params(spec) + 2 * d  # + ln_f


def matmul_params(spec: ModelSpec) -> int:
    """Parameters that take part in a matmul per token: blocks + the output projection."""
    return spec.n_layer * layer_params(spec) + spec.vocab_size * spec.n_embd


def forward_flops_per_token(spec: ModelSpec, context: int | None = None) -> float:
    """FLOPs for one token's forward pass (2 per multiply-add), attention included."""
    t = spec.n_ctx if context is None else context
    # QK^T and attention-weighted V: 2 matmuls of (t x d) per layer, averaged over a
    # causal window ~ t/2 per token would halve this; we follow Kaplan and charge the full t.
    attention = 2 * spec.n_layer * t * spec.n_embd
    return 2.0 * matmul_params(spec) + attention


def train_flops_per_token(spec: ModelSpec, context: int | None = None) -> float:
    """Forward + backward FLOPs per training token (~6N + attention)."""
    return 3.0 * forward_flops_per_token(spec, context)


def train_flops(spec: ModelSpec, n_tokens: float) -> float:
    return train_flops_per_token(spec) * float(n_tokens)


def forward_flops(spec: ModelSpec, n_tokens: float) -> float:
    return forward_flops_per_token(spec) * float(n_tokens)
