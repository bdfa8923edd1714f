"""Standard `transformers` causal LMs built from a `ModelSpec` (no download)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel
from transformers.utils import logging as _hf_logging

from domains.errors import SpecplanError
from strategies.machinery.scales import ModelSpec

# Our models are built from config and fed unpadded blocks: the "loss_type" and
# "attention_mask" notices transformers prints for that are noise here.
_hf_logging.set_verbosity_error()


def gpt2_config(spec: ModelSpec, *, eos_token_id: int = 0) -> GPT2Config:
    """GPT-2 config for a spec. Dropout off: runs are deterministic and resumable, and
    the paper's regime (one pass over large generic data, early-stopped fine-tuning)
    does not need it."""
    return GPT2Config(
        vocab_size=spec.vocab_size,
        n_positions=spec.n_ctx,
        n_embd=spec.n_embd,
        n_layer=spec.n_layer,
        n_head=spec.n_head,
        n_inner=spec.n_inner,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=eos_token_id,
        eos_token_id=eos_token_id,
        pad_token_id=eos_token_id,
        tie_word_embeddings=True,
        # scaled_dot_product_attention: the flash / memory-efficient kernels on GPUs, no
        # (T, T) score matrix kept for backward (what the memory estimate assumes)
        attn_implementation="sdpa",  # type: ignore[call-arg]  # a PretrainedConfig kwarg
    )


def build_model(spec: ModelSpec, *, seed: int = 0, eos_token_id: int = 0) -> GPT2LMHeadModel:
    """A randomly initialized GPT-2 LM, identical for identical (spec, seed)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = GPT2LMHeadModel(gpt2_config(spec, eos_token_id=eos_token_id))
    return model


def count_params(model: torch.nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))


def load_model(path: str | Path, **kwargs: Any) -> Any:
    """Load a saved causal LM; a corrupt or truncated folder gives one clear error."""
    p = Path(path)
    if not p.exists():
        raise SpecplanError(f"model folder {p} does not exist")
    try:
        return AutoModelForCausalLM.from_pretrained(p, **kwargs)
    except Exception as err:  # safetensors/transformers raise many types on bad files
        raise SpecplanError(f"cannot load the model in {p}: {type(err).__name__}: {err}") from err
