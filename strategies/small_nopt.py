"""`small_nopt` (the paper's SLM-nopt): no generic pretraining; the small model is
trained on the domain data only (paper Table 4: 227 PPL at 1M tokens vs 18 for SLM)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from strategies.base import PlanningPrior
from strategies.machinery.pretrain_finetune import PretrainFinetuneStrategy

if TYPE_CHECKING:
    from strategies.machinery.workspace import Workspace


class SmallNoPretrainStrategy(PretrainFinetuneStrategy):
    """Small model trained from scratch on the domain (SLM-nopt).

    Args:
        scale: `tiny`, `demo` or `paper`.
        seed: model init and batch order.
        n_pretrain_tokens: unused (kept so every baseline shares one signature).
        finetune_lr: learning rate on the domain (default: the scale's pretraining LR,
            since the model starts from random weights).
    """

    name = "small_nopt"
    paper_name = "SLM-nopt"
    summary = "no pretraining: train the small model on the domain data only"
    charging = {
        "pretraining": "nothing",
        "specialization": "training the small model from scratch on the domain",
        "inference": "small model",
    }

    @classmethod
    def planning_prior(cls) -> PlanningPrior:
        """How the planner models SLM-nopt at the paper's scale."""
        return PlanningPrior(kind="domain_only", like="small", confidence="low",
                             source="Table 4 (SLM-nopt: 227.1 / 45.6 / 17.6 PPL at 1M / 8M / 64M "
                                    "tokens); never better than SLM beyond its data")
    _pretrains = False

    def _finetune_overrides(self, ws: Workspace) -> dict[str, Any]:
        # From scratch: the pretraining learning rate (random weights need larger steps
        # than fine-tuning), same early-stopped schedule as the other strategies.
        return {"lr": self.finetune_lr or ws.scale.lr}
