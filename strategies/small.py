"""`small` (the paper's SLM): pretrain the small model on generic text, fine-tune it on
the domain with early stopping. The main baseline (paper §2.2, Table 4).

- pretraining bucket: the small model's generic pretraining (shared by all domains);
- specialization bucket: the early-stopped fine-tune;
- inference: the small model.
"""

from __future__ import annotations

from strategies.base import PlanningPrior
from strategies.machinery.pretrain_finetune import PretrainFinetuneStrategy


class SmallStrategy(PretrainFinetuneStrategy):
    """Small model, generic pretraining, then fine-tuning (SLM).

    Args:
        scale: `tiny`, `demo` or `paper`.
        seed: model init and batch order.
        n_pretrain_tokens: generic pretraining tokens (default: the scale's).
        finetune_lr: fine-tuning learning rate (default: the scale's).

    Example:
        >>> from strategies.small import SmallStrategy
        >>> cost = SmallStrategy(scale="paper").estimate_cost(n_domain_tokens=8_000_000)
        >>> cost.inference_params < 130_000_000
        True
    """

    name = "small"
    paper_name = "SLM"
    artifact_family = "small_large"  # shares pretraining artifacts (worker scheduling)
    summary = "pretrain the small model on generic text, fine-tune on the domain"
    charging = {
        "pretraining": "small model on generic text (shared)",
        "specialization": "early-stopped fine-tune of the small model",
        "inference": "small model",
    }

    @classmethod
    def planning_prior(cls) -> PlanningPrior:
        """How the planner models SLM at the paper's scale."""
        return PlanningPrior(kind="reference", confidence="high", baseline=True,
                             source="Table 8 (SLM rows, 100-400 GPUh; early-stopped fine-tunes)")
