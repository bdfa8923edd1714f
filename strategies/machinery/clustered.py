"""Defaults shared by the clustered strategies (`importance_sampling`, `mixture`,
`hypernetwork`): the number of clusters k and the generic pretraining token budget are
parameters that fall back to the scale's values when left at None (the clustered
counterpart of `PretrainFinetuneStrategy._pretrain_tokens` in
`strategies.machinery.pretrain_finetune`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from strategies.machinery.scales import Scale


class ClusteredMixin:
    """Resolves a clustered strategy's None-defaulting parameters against a `Scale`.

    Mix in before `Strategy`. It has no `__init__` and no parameters of its own, so
    `get_params`, `clone` and `pretrain_key` (read from the strategy's `__init__`
    signature) are unchanged.

    Class attributes:
        _clusters_param: the `__init__` parameter holding k (``n_clusters``, ``n_experts``).
        _clusters_default: the `Scale` field k defaults to (``n_clusters``,
            ``n_clusters_is``).
    """

    _clusters_param: ClassVar[str] = "n_clusters"
    _clusters_default: ClassVar[str] = "n_clusters"
    n_pretrain_tokens: int | None

    def _n_clusters(self, scale: Scale) -> int:
        """k: the strategy's parameter, else the scale's default."""
        k = getattr(self, self._clusters_param)
        return k if k is not None else getattr(scale, self._clusters_default)

    def _pretrain_tokens(self, scale: Scale) -> int:
        """Generic pretraining tokens: `n_pretrain_tokens`, else the scale's
        `pretrain_tokens` (the small model's budget)."""
        if self.n_pretrain_tokens is not None:
            return self.n_pretrain_tokens
        return scale.pretrain_tokens
